"""What the preview read model's twin costs the appends' fold: the runners fold every append twice
now, once into the newsroom's tables and once, over the log merged with its held events, into the
preview's.

In one run, on one generated log: the newsroom's fold alone (``catch_up``, the runner's own step
and batch), then the preview's over the same log, in alternating order round after round, each
from empty tables. The log holds no held events, as most logs will most of the time: the
preview's extra cost is then the merged read (a union with the held table, and a probe per event
for a publication), and the twin's fold itself.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import asyncpg

from bench.harness import connected, fresh_database
from bench.newsroom_log import generate
from service.projections.engine import Projection, catch_up
from service.projections.newsroom import PREVIEW, PROJECTION
from service.store.newsroom.rows import TABLES

_BATCH = 500
"""The live runner's batch (``catch_up``'s default)."""


async def _fold(url: str, projection: Projection) -> float:
    """Seconds to fold the whole log into the projection's emptied tables, as its runner would."""
    settings = None if projection.search_path is None else {"search_path": projection.search_path}
    async with connected(url) as admin:
        await admin.execute(f"truncate {', '.join(f'{projection.schema}.{table}' for table in TABLES)}")
        await admin.execute(
            "update projection_checkpoints set transaction_id = '0', position = 0 where name = $1",
            projection.name,
        )
    conn = await asyncpg.connect(url, server_settings=settings)
    try:
        begin = time.perf_counter()
        assert await catch_up(conn, projection, batch=_BATCH)
        return time.perf_counter() - begin
    finally:
        await conn.close()


def run(server_url: str, events: int = 20_000, rounds: int = 5) -> list[str]:
    """The report's lines."""
    with fresh_database(server_url) as url:
        generated = asyncio.run(generate(url, events, entities=200, seed=7, seconds=600))
        seconds: dict[str, list[float]] = {PROJECTION.name: [], PREVIEW.name: []}
        for round_ in range(rounds):
            order = (PROJECTION, PREVIEW) if round_ % 2 == 0 else (PREVIEW, PROJECTION)
            for projection in order:
                seconds[projection.name].append(asyncio.run(_fold(url, projection)))
    alone = statistics.median(seconds[PROJECTION.name])
    twin = statistics.median(seconds[PREVIEW.name])
    rate = generated.events / alone
    return [
        f"appends' fold, {generated.events:,} events in batches of {_BATCH}, median of {rounds} rounds:",
        f"  newsroom alone:            {alone:6.2f} s ({rate:,.0f} events/s)",
        f"  its preview twin:          {twin:6.2f} s ({generated.events / twin:,.0f} events/s, "
        f"{twin / alone:.2f}x the newsroom's)",
        f"  both, as the runners now:  {alone + twin:6.2f} s ({(alone + twin) / alone:.2f}x before)",
        "  each round (s): "
        + "; ".join(
            f"{name} {', '.join(f'{value:.2f}' for value in values)}" for name, values in seconds.items()
        ),
    ]
