"""Rebuilding a projection from the log into fresh tables, then switching over atomically.

A projection that can ``load`` a whole snapshot of the log fills fresh tables from one first,
while they have no index at all (filling an index row by row costs several times building it
at the end). Then the indexes and keys are built, from the live tables' own definitions, and
the rebuild follows the log with ``apply`` like any runner until it has caught up. Last, one
transaction takes the projection's apply lock (the live runner waits), applies the last
events, drops the live tables and moves the fresh ones in. Readers see the old tables until
that commit. The SQL of each step is in ``service.store.rebuilds``.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

from service.projections.engine import Projection, step
from service.store import Connection, checkpoints
from service.store.database import connect
from service.store.rebuilds import FreshTables, event_count
from service.store.writers import writers

# Loading is PostgreSQL's work more than Python's: writers on connections of their own
# keep the other core busy (three measured best on two cores; see docs/benchmarks.md).
WRITERS = 3


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """A fold makes millions of short-lived objects and no reference cycles: the cycle
    collector's passes over them would cost a third of the rebuild and free nothing."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


async def _load(
    database_url: str,
    conn: Connection,
    projection: Projection,
    fresh: FreshTables,
    on_read: Callable[[int], None] | None,
) -> int:
    """Fill the fresh tables from a snapshot of the log; how many events it held."""
    assert projection.load is not None
    reader = await connect(database_url)
    try:
        with no_cycle_collection():
            async with (
                projection.snapshot(reader, on_read) as snapshot,
                writers(database_url, WRITERS, fresh.search_path) as pool,
            ):
                await projection.load(snapshot, pool)
    finally:
        await reader.close()
    if snapshot.last is not None:
        await checkpoints.move(conn, projection.name, snapshot.last)
    return snapshot.read


async def rebuild(
    database_url: str,
    projection: Projection,
    batch: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild ``projection``; how many events were applied. ``progress(done, total)`` is told as it goes."""
    fresh = FreshTables(projection.name, projection.tables, projection.schema)
    conn = await connect(database_url)
    try:
        return await _rebuild(database_url, conn, projection, fresh, batch, progress)
    except BaseException:
        # Nothing of a failed rebuild is left behind; the live tables never changed.
        if not conn.is_closed():
            conn.terminate()
        cleaner = await connect(database_url)
        try:
            await fresh.drop(cleaner)
        finally:
            await cleaner.close()
        raise
    finally:
        if not conn.is_closed():
            await conn.close()


async def _rebuild(
    database_url: str,
    conn: Connection,
    projection: Projection,
    fresh: FreshTables,
    batch: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    await fresh.create(conn)
    total = await event_count(conn)
    done = 0
    if projection.load is not None:
        told = None if progress is None else (lambda read: progress(read, max(total, read)))
        done = await _load(database_url, conn, projection, fresh, told)
    async with writers(database_url, WRITERS, fresh.search_path) as pool:
        await fresh.index(pool)
    await fresh.key(conn)
    while applied := await step(conn, projection, batch, live=False):
        done += applied
        if progress is not None:
            progress(done, max(total, done))
    async with conn.transaction():
        await checkpoints.hold_apply_lock(conn, projection.name)
        while applied := await step(conn, projection, batch, live=False):
            done += applied
        await fresh.switch(conn)
    if progress is not None:
        progress(done, max(total, done))
    return done
