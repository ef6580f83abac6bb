"""The rebuild: how fast ``rebuild(url, newsroom)`` folds the whole log into a fresh read model,
next to the same snapshot reader and decoder over the same log with nothing applied; and the
plan of ``read_log``'s first page, which the live runner reads by."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from bench.harness import NEWSROOM, connected, postgres_cpu_seconds
from service.projections.engine import logged
from service.projections.rebuild import no_cycle_collection, rebuild
from service.store import events as log

REBUILD_AIM = 20_000.0  # events per second


@dataclass(frozen=True)
class Rebuilt:
    events: int
    seconds: float
    finished: bool
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "seconds": self.seconds,
            "events_per_second": self.per_second,
            "finished": self.finished,
            "cpu_seconds": self.cpu,
        }


async def timed_rebuild(url: str, seconds: float) -> Rebuilt:
    """``rebuild(url, newsroom)``, timed; cut short after ``seconds``, with how far it got, and the
    CPU time this process and the PostgreSQL server spent on it."""
    done = 0

    def progress(applied: int, _total: int) -> None:
        nonlocal done
        done = applied

    begin, python, postgres = time.perf_counter(), time.process_time(), await postgres_cpu_seconds(url)
    try:
        applied = await asyncio.wait_for(rebuild(url, NEWSROOM, progress=progress), seconds)
        finished = True
    except TimeoutError:
        applied, finished = done, False
    server = await postgres_cpu_seconds(url)
    cpu = {"python": time.process_time() - python}
    if server is not None and postgres is not None:
        cpu["postgres"] = server - postgres
    return Rebuilt(applied, time.perf_counter() - begin, finished, cpu)


async def read_log_only(url: str, seconds: float) -> Rebuilt:
    """The rebuild's baseline: the same snapshot reader and decoder over the same log, nothing
    applied (and, as in the rebuild, no cycle collector)."""
    finished = False
    async with connected(url) as conn:
        begin = time.perf_counter()
        with no_cycle_collection():
            async with log.LogSnapshot(conn) as snapshot:
                async for rows in snapshot.chunks(5000):
                    for row in rows:
                        logged(row)
                    if time.perf_counter() > begin + seconds:
                        break
                else:
                    finished = True
    return Rebuilt(snapshot.read, time.perf_counter() - begin, finished)


async def first_page_ms(url: str) -> dict[str, Any]:
    """One page of 2,000 from the log's start, as ``read_log`` reads it: time and plan. On a large
    log a page should walk ``events_in_commit_order`` and stop at the limit; a sort there means
    every page reads the whole rest of the log."""
    query = getattr(log, "_READ_LOG", None)  # private: the bench reads it to explain it, nothing more
    if not isinstance(query, str):
        return {}
    async with connected(url) as conn:
        plan = await conn.fetch(f"explain (analyze, format json) {query}", "0", 0, 2000)
    tree = msgspec.json.decode(plan[0][0])[0]
    nodes, found = [tree["Plan"]], []
    while nodes:
        node = nodes.pop()
        found.append(node["Node Type"])
        nodes.extend(node.get("Plans", []))
    return {"ms": tree["Execution Time"], "sorts": "Sort" in found, "nodes": found}
