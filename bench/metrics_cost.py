"""What metrics cost: cached reads and single appends against two copies of the real service
in the same run, one measuring (``DATELINE_METRICS=public``, as a scraped deployment counts)
and one not (``off``), each `dateline run --workers 2` on the same database.

Each round starts both copies afresh and measures them in turns, the order swapped every round
(on, off, then off, on); the projection runs beside them, in a process of its own. Each
figure is the median over the rounds of the measuring copy's rate over the other's from the
same round: the machine is shared, and a turn's neighbours are what it is fairly compared with.
The aim is a cost of at most 5%: a ratio of at least 0.95.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench import appends
from bench.harness import Rate, caught_up, fresh_database, measure, service, write_key

READ = "/v1/timeline?limit=20"
"""A page every reader asks for: after the first, each process answers it from its read cache."""
AIM = 0.95
MODES = ("on", "off")
_SETTING = {"on": "public", "off": "off"}


@dataclass
class MetricsSettings:
    rounds: int = 6
    seconds: float = 3.0
    readers: int = 64
    writers: int = 16
    results: dict[str, dict[str, list[Rate]]] = field(default_factory=dict)
    """Each measurement's rate, by kind (``cached reads``, ``appends``) and mode, in round order."""
    misses: list[int] = field(default_factory=list)
    """Measured reads the cache did not answer (the projection moved meanwhile)."""


async def cached_reads(base: str, readers: int, seconds: float, misses: list[int]) -> Rate:
    """``READ`` from ``readers`` keep-alive connections, once the projection has applied the
    appends before; each answer the cache did not give is counted in ``misses``."""
    await caught_up(base, 60)
    connector = aiohttp.TCPConnector(limit=readers)
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(20):  # each worker builds the page once
            async with http.get(f"{base}{READ}") as response:
                await response.read()

        async def read(_client: int, _n: int) -> int:
            async with http.get(f"{base}{READ}") as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"the read failed: {response.status}")
                if response.headers.get("Cache-Status") != "dateline; hit":
                    misses.append(1)
            return 1

        return await measure(readers, seconds, 10_000_000, read)


@contextlib.contextmanager
def _projecting(url: str) -> Iterator[None]:
    """``dateline projections run`` on ``url`` until the block ends."""
    dateline = str(Path(sys.executable).parent / "dateline")
    process = subprocess.Popen(
        [dateline, "projections", "run", "--poll", "0.05"], env={**os.environ, "DATABASE_URL": url}
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def run(server_url: str, settings: MetricsSettings) -> list[str]:
    results = settings.results = {"cached reads": {"on": [], "off": []}, "appends": {"on": [], "off": []}}
    with fresh_database(server_url) as url, _projecting(url):
        key = asyncio.run(write_key(url, "bench"))
        writing = appends.AppendSettings(seconds=settings.seconds)
        for turn in range(settings.rounds):
            order = MODES if turn % 2 == 0 else MODES[::-1]
            # Both copies started afresh each round, in that round's order: a copy started first
            # measured a few percent slower than its twin in runs where both were off.
            with ExitStack() as stack:
                bases = {mode: stack.enter_context(_copy(url, mode)) for mode in order}
                if turn == 0:
                    asyncio.run(appends._register_streams(bases["on"], key))
                for mode in order:
                    results["appends"][mode].append(
                        asyncio.run(appends.http_single(bases[mode], key, settings.writers, writing))
                    )
                # The appends moved the checkpoint: the reads' first answers rebuild the page.
                for mode in order[::-1]:
                    results["cached reads"][mode].append(
                        asyncio.run(
                            cached_reads(bases[mode], settings.readers, settings.seconds, settings.misses)
                        )
                    )
    return report(settings)


def _copy(url: str, mode: str) -> contextlib.AbstractContextManager[str]:
    """The service with metrics ``on`` or ``off``, its projection left to ``_projecting``: in a
    copy, it would make that copy the one that also projects every append."""
    return service(url, chosen={"DATELINE_METRICS": _SETTING[mode], "DATELINE_PROJECTIONS": "off"})


def report(settings: MetricsSettings) -> list[str]:
    lines = [
        f"What metrics cost: {settings.rounds} rounds of {settings.seconds:g} s, alternating; "
        "medians; ratio = with metrics / without, same round",
        f"{'measurement':14} {'with /s':>9} {'without /s':>11} {'p50 ms':>13} {'p99 ms':>13} {'ratio':>6}  aim",
    ]
    for kind, by_mode in settings.results.items():
        on, off = by_mode["on"], by_mode["off"]
        ratio = statistics.median(a.per_second / b.per_second for a, b in zip(on, off, strict=True))
        p50 = [statistics.median(rate.p50_ms for rate in by_mode[mode]) for mode in MODES]
        p99 = [statistics.median(rate.p99_ms for rate in by_mode[mode]) for mode in MODES]
        lines.append(
            f"{kind:14} {statistics.median(r.per_second for r in on):9.0f} "
            f"{statistics.median(r.per_second for r in off):11.0f} "
            f"{p50[0]:6.2f}/{p50[1]:<6.2f} {p99[0]:6.2f}/{p99[1]:<6.2f} {ratio:6.3f}  "
            f"{'met' if ratio >= AIM else 'missed'} (cost {1 - ratio:+.1%}; rounds: "
            + ", ".join(f"{a.per_second / b.per_second:.3f}" for a, b in zip(on, off, strict=True))
            + ")"
        )
    reads = sum(len(rate.latencies) for rates in settings.results["cached reads"].values() for rate in rates)
    lines.append(f"cached reads answered by the cache: {1 - len(settings.misses) / max(reads, 1):.2%}")
    return lines
