"""Erasure on a large log: what sealing every event's texts costs, and whether an erasure and its
cleanup stall appends or reads.

``python -m bench.erasure [--events 1000000] [--seconds 600] [--quick]``, against one server in
one run (a throwaway embedded one, or ``DATABASE_URL``'s), loopback only:

1. **Sealing's cost, before and after in the same run.** The same generated log (same seed,
   ``bench/newsroom_log.py``, through the service's ``Appender``) is appended twice, into two
   databases: once as the service writes it (texts sealed, keys in ``event_keys``), once with the
   store's sealing step passed through (texts in clear, no keys: the log as it was before
   migration 0009). Each is then rebuilt (``rebuild(url, newsroom)``). Appends per second and the
   rebuild's events per second are printed side by side, with their ratio.
2. **No stall during an erasure.** On the sealed log, one writer appends a fact at a time and one
   reader reads, in turn, the log's last page (``read_log``) and the first page of the read
   model's global timeline, each timing every call; meanwhile an erasure of a fact is appended
   and the cleanup (``dateline erasures cleanup``, in a process of its own: key partitions
   compacted, every projection rebuilt and switched, a checkpoint) runs. The longest append and read during that window are the figures (aim:
   under 1 s), with how long the cleanup took, step by step.

``--database-url URL`` runs step 2 alone, on a database that already holds a log with its
projections built (a log generated before, or a newsroom's own copy upgraded to migration 0009):
to measure the stall and the cleanup at a million events without appending the log twice.

Every step is bounded by a count and by ``--seconds``. Results land in ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.harness import ROOT, connected, fresh_database, postgres_server, vacuum
from bench.newsroom_log import generate
from bench.rebuilds import timed_rebuild
from bench.timeline_reads import entity_slugs
from schemas import EventErased, FactReported
from schemas.common import EntityRef
from service.appender import Appender
from service.domain.appending import PlannedEvent
from service.domain.cursors import LogCursor
from service.projections.erasures import Cleanup
from service.store import events as log
from service.store import sealing
from service.store.database import create_pool

STALL_AIM = 1.0  # seconds
RESULTS = ROOT / "bench" / "results"


@contextmanager
def unsealed() -> Iterator[None]:
    """The store's sealing step passed through: texts written in clear, as before migration 0009."""
    sealed = log.sealed_events  # the bench swaps it to measure it, nothing more

    async def clear(
        conn: object, planned: Sequence[PlannedEvent], published: Sequence[object] = ()
    ) -> tuple[list[PlannedEvent], list[sealing.SealedKey]]:
        return list(planned), []

    log.sealed_events = clear
    try:
        yield
    finally:
        log.sealed_events = sealed


def _appended_and_rebuilt(url: str, events: int, seconds: float) -> dict[str, Any]:
    generated = asyncio.run(generate(url, events, entities=200, seed=7, seconds=seconds))
    asyncio.run(vacuum(url, ["events"]))
    rebuilt = asyncio.run(timed_rebuild(url, seconds))
    return {
        "events": generated.events,
        "appends_per_second": generated.per_second,
        "rebuild": rebuilt.summary(),
        "slugs": generated.slugs,
    }


class Timed:
    """Every call's duration, and when it started, for the window that matters."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    async def loop(self, call: Callable[[], Awaitable[object]], until: asyncio.Event) -> None:
        while not until.is_set():
            begin = time.perf_counter()
            await call()
            self.calls.append((begin, time.perf_counter() - begin))

    def longest(self, start: float, end: float) -> dict[str, float]:
        during = [took for began, took in self.calls if began + took >= start and began <= end]
        return {
            "calls": len(during),
            "longest_seconds": max(during, default=0.0),
            "p50_ms": 1000 * sorted(during)[len(during) // 2] if during else 0.0,
        }


_TIMELINE = """
select event_id from timeline_items
order by occurred_start desc, precision, position desc limit 50
"""


async def _during_erasure(url: str, slugs: list[str], seconds: float) -> dict[str, Any]:
    pool = await create_pool(url, max_size=4)
    writes, reads = Timed(), Timed()
    stop = asyncio.Event()
    rng = random.Random(11)
    try:
        async with Appender.running(pool) as appender, connected(url) as reader:
            facts = [
                row["id"]
                for row in await reader.fetch(
                    "select id from events where type = 'fact.reported' order by position desc limit 1000"
                )
            ]

            async def append() -> None:
                fact = FactReported(
                    occurred="2025-01",
                    headline={"en": f"Erasure bench fact {uuid.uuid4()}"},
                    entities=[EntityRef(slug=rng.choice(slugs), role="subject")],
                )
                await appender.append([fact], {"author": "bench"}, ["$"])

            async def read() -> None:
                head = await reader.fetchrow(
                    "select transaction_id::text::bigint as t, position from events order by position desc limit 1"
                )
                assert head is not None
                await log.read_log(reader, LogCursor(max(head["t"] - 50, 0), 0), 50)
                await reader.fetch(_TIMELINE)

            loops = [
                asyncio.create_task(writes.loop(append, stop)),
                asyncio.create_task(reads.loop(read, stop)),
            ]
            await asyncio.sleep(2)  # the loops' own pace first
            start = time.perf_counter()
            erasure = EventErased(event_id=rng.choice(facts), basis="bench", reference="bench")
            await appender.append([erasure], {"author": "bench"}, ["$"])
            erased = time.perf_counter()
            cleanup = await asyncio.wait_for(_cleanup_process(url), seconds)
            end = time.perf_counter()
            await asyncio.sleep(1)
            stop.set()
            await asyncio.gather(*loops)
    finally:
        await pool.close()
    return {
        "erasure_append_seconds": erased - start,
        "cleanup_seconds": end - erased,
        "cleanup": {
            "partitions": len(cleanup.partitions),
            "compact_seconds": cleanup.compact_seconds,
            "rebuild_seconds": cleanup.rebuild_seconds,
            "checkpoint_seconds": cleanup.checkpoint_seconds,
        },
        "appends": writes.longest(start, end),
        "reads": reads.longest(start, end),
        "phases": {
            name: {"appends": writes.longest(begin, until), "reads": reads.longest(begin, until)}
            for name, begin, until in _phases(start, erased, cleanup, end)
        },
    }


_CLEANED = re.compile(
    r"Compacted (\d+) key partitions in ([\d.]+) s, rebuilt .* in ([\d.]+) s, checkpoint in ([\d.]+) s"
)


async def _cleanup_process(url: str) -> Cleanup:
    """``dateline erasures cleanup`` in a process of its own, as an operator runs it: its fold
    does not share this process's event loop with the appends and reads being timed."""
    dateline = Path(sys.executable).parent / "dateline"
    process = await asyncio.create_subprocess_exec(
        dateline,
        "erasures",
        "cleanup",
        env={**os.environ, "DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    found = _CLEANED.search(out.decode())
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"the cleanup failed: {out.decode()}")
    partitions, compact, rebuild, checkpoint = found.groups()
    return Cleanup(
        [""] * int(partitions),
        {},
        compact_seconds=float(compact),
        rebuild_seconds=float(rebuild),
        checkpoint_seconds=float(checkpoint),
    )


def _phases(start: float, erased: float, cleanup: Cleanup, end: float) -> list[tuple[str, float, float]]:
    """When each step ran: the erasure's append, then the cleanup's three steps."""
    compacted = erased + cleanup.compact_seconds
    rebuilt = compacted + cleanup.rebuild_seconds
    return [
        ("erasure", start, erased),
        ("compact", erased, compacted),
        ("rebuild", compacted, rebuilt),
        ("checkpoint", rebuilt, end),
    ]


def run(server_url: str, events: int, seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {"events": events}
    with fresh_database(server_url) as url, unsealed():
        results["clear"] = _appended_and_rebuilt(url, events, seconds)
    with fresh_database(server_url) as url:
        results["sealed"] = _appended_and_rebuilt(url, events, seconds)
        results["during_erasure"] = asyncio.run(_during_erasure(url, results["sealed"]["slugs"], seconds))
    for side in ("clear", "sealed"):
        del results[side]["slugs"]
    return results


def run_on(url: str, seconds: float) -> dict[str, Any]:
    """Step 2 alone, on an existing database with its projections built."""
    slugs = asyncio.run(entity_slugs(url, "organization"))
    if not slugs:
        raise SystemExit("the database holds no organizations: is it a generated log, projected?")

    async def events() -> int:
        async with connected(url) as conn:
            return int(await conn.fetchval("select count(*) from events"))

    return {
        "events": asyncio.run(events()),
        "during_erasure": asyncio.run(_during_erasure(url, slugs, seconds)),
    }


def report(results: dict[str, Any]) -> list[str]:
    during = results["during_erasure"]
    lines = [f"log of {results['events']:,} events"]
    if "clear" in results:
        clear, sealed = results["clear"], results["sealed"]
        lines += [
            f"appends  clear {clear['appends_per_second']:,.0f}/s  sealed {sealed['appends_per_second']:,.0f}/s"
            f"  ratio {sealed['appends_per_second'] / max(clear['appends_per_second'], 1e-9):.2f}",
            f"rebuild  clear {clear['rebuild']['events_per_second']:,.0f}/s  "
            f"sealed {sealed['rebuild']['events_per_second']:,.0f}/s  ratio "
            f"{sealed['rebuild']['events_per_second'] / max(clear['rebuild']['events_per_second'], 1e-9):.2f}",
        ]
    lines += [
        f"erasure appended in {during['erasure_append_seconds'] * 1000:.0f} ms; cleanup {during['cleanup_seconds']:.1f} s"
        f" (compact {during['cleanup']['compact_seconds']:.2f} s of {during['cleanup']['partitions']} partitions,"
        f" rebuild {during['cleanup']['rebuild_seconds']:.1f} s, checkpoint {during['cleanup']['checkpoint_seconds']:.2f} s)",
    ]
    for name in ("appends", "reads"):
        figure = during[name]
        verdict = "met" if figure["longest_seconds"] < STALL_AIM else "missed"
        lines.append(
            f"{name} during the erasure and cleanup: {figure['calls']} calls, p50 {figure['p50_ms']:.1f} ms,"
            f" longest {figure['longest_seconds'] * 1000:.0f} ms (aim < {STALL_AIM:.0f} s: {verdict})"
        )
    for phase, figures in during["phases"].items():
        lines.append(
            f"  {phase}: longest append {figures['appends']['longest_seconds'] * 1000:.0f} ms,"
            f" longest read {figures['reads']['longest_seconds'] * 1000:.0f} ms"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.erasure", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=600.0, help="the bound of each step")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 events")
    parser.add_argument("--database-url", help="only the erasure and its cleanup, on this built database")
    args = parser.parse_args()
    events = 20_000 if args.quick else args.events
    if args.database_url:
        results = run_on(args.database_url, args.seconds)
    else:
        with postgres_server() as server_url:
            results = run(server_url, events, args.seconds)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (RESULTS / f"erasure-{stamp}.json").write_text(json.dumps(results, indent=2))
    print("\n".join(report(results)))
    print(f"Results: {RESULTS}/erasure-{stamp}.json")


if __name__ == "__main__":
    main()
