"""Rebuilding a projection from the log into fresh tables, then switching over atomically.

The fresh tables live in a schema of their own (``rebuild_<name>``), made ``LIKE`` the live
ones so their structure still comes from the migrations. Connections that write them put that
schema first on their ``search_path``, so the projection's own SQL, unchanged, writes there,
and its checkpoint starts at zero there too.

A projection that can ``load`` a whole snapshot of the log fills the tables from one first,
while they have no index at all (filling an index row by row costs several times building it
at the end). Then the indexes and keys are built, from the live tables' own definitions, and
the rebuild follows the log with ``apply`` like any runner until it has caught up. Last, one
transaction takes the projection's apply lock (the live runner waits), applies the last
events, drops the live tables and moves the fresh ones in. Readers see the old tables until
that commit.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

import asyncpg

from service.projections.engine import APPLY_LOCK, Projection, move_checkpoint, step
from service.projections.writers import writers
from service.store.events import LogSnapshot

TABLES = {"newsroom": ("timeline_items", "entity_items", "entity_states")}
# Loading is PostgreSQL's work more than Python's: writers on connections of their own
# keep the other core busy (three measured best on two cores; see docs/benchmarks.md).
WRITERS = 3


def schema_for(name: str) -> str:
    return f"rebuild_{name}"


# A live table's indexes, and the keys some of them back: each index is built on its own (many
# at once), then the key takes it over, which needs no second pass over the table.
_INDEXES = "select pg_get_indexdef(indexrelid) from pg_index where indrelid = $1::regclass"
_KEYS = """
select format('alter table %s add constraint %I %s using index %I', $2::text, conname,
              case contype when 'p' then 'primary key' else 'unique' end, conname)
from pg_constraint where conrelid = $1::regclass and contype in ('p', 'u')
"""


async def _prepare(
    conn: asyncpg.Connection, projection: Projection, schema: str
) -> tuple[list[str], list[str]]:
    """Fresh, empty tables without indexes; the statements that give them their indexes, then keys."""
    await conn.execute(f"drop schema if exists {schema} cascade")
    await conn.execute(f"create schema {schema}")
    indexes: list[str] = []
    keys: list[str] = []
    for table in TABLES[projection.name]:
        live, fresh = f"public.{table}", f"{schema}.{table}"
        # No autovacuum while loading: a vacuum halfway through a load is wasted work, and one
        # still running at the end makes the index builds wait; the load analyzes what it loads.
        await conn.execute(
            f"create table {fresh} (like {live} including all excluding indexes) with (autovacuum_enabled = false)"
        )
        indexes += [
            row[0].replace(f" ON {live} ", f" ON {fresh} ") for row in await conn.fetch(_INDEXES, live)
        ]
        keys += [row[0] for row in await conn.fetch(_KEYS, live, fresh)]
    await conn.execute(
        f"create table {schema}.projection_checkpoints (like public.projection_checkpoints including all)"
    )
    await conn.execute(f"insert into {schema}.projection_checkpoints (name) values ($1)", projection.name)
    await conn.execute(f"set search_path = {schema}, public")
    return indexes, keys


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
    conn: asyncpg.Connection,
    projection: Projection,
    schema: str,
    on_read: Callable[[int], None] | None,
) -> int:
    """Fill the fresh tables from a snapshot of the log; how many events it held."""
    assert projection.load is not None
    reader = await asyncpg.connect(database_url)
    try:
        with no_cycle_collection():
            async with (
                LogSnapshot(reader, on_read) as snapshot,
                writers(database_url, WRITERS, f"{schema}, public") as pool,
            ):
                await projection.load(snapshot, pool)
    finally:
        await reader.close()
    if snapshot.last is not None:
        await move_checkpoint(conn, projection.name, snapshot.last)
    return snapshot.read


async def rebuild(
    database_url: str,
    projection: Projection,
    batch: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild ``projection``; how many events were applied. ``progress(done, total)`` is told as it goes."""
    schema = schema_for(projection.name)
    conn = await asyncpg.connect(database_url)
    try:
        return await _rebuild(database_url, conn, projection, schema, batch, progress)
    except BaseException:
        # Nothing of a failed rebuild is left behind; the live tables never changed.
        if not conn.is_closed():
            conn.terminate()
        cleaner = await asyncpg.connect(database_url)
        try:
            await cleaner.execute(f"drop schema if exists {schema} cascade")
        finally:
            await cleaner.close()
        raise
    finally:
        if not conn.is_closed():
            await conn.close()


async def _rebuild(
    database_url: str,
    conn: asyncpg.Connection,
    projection: Projection,
    schema: str,
    batch: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    indexes, keys = await _prepare(conn, projection, schema)
    total = await conn.fetchval("select count(*) from events")
    done = 0
    if projection.load is not None:
        told = None if progress is None else (lambda read: progress(read, max(total, read)))
        done = await _load(database_url, conn, projection, schema, told)
    async with writers(database_url, WRITERS, f"{schema}, public") as pool:
        for definition in indexes:
            await pool.execute(definition)
        # Statistics before readers arrive: the planner would otherwise guess until
        # autovacuum comes round to the new tables.
        for table in TABLES[projection.name]:
            await pool.execute(f"analyze {schema}.{table}")
    for key in keys:
        await conn.execute(key)
    for table in TABLES[projection.name]:
        await conn.execute(f"alter table {schema}.{table} reset (autovacuum_enabled)")
    while applied := await step(conn, projection, batch, live=False):
        done += applied
        if progress is not None:
            progress(done, max(total, done))
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock(hashtext($1))", APPLY_LOCK.format(projection.name))
        while applied := await step(conn, projection, batch, live=False):
            done += applied
        for table in TABLES[projection.name]:
            await conn.execute(f"drop table public.{table}")
            await conn.execute(f"alter table {schema}.{table} set schema public")
        await conn.execute(
            f"""
            update public.projection_checkpoints live
            set transaction_id = fresh.transaction_id, position = fresh.position,
                recorded_at = fresh.recorded_at, updated_at = now(), failing_event = null, error = null
            from {schema}.projection_checkpoints fresh
            where live.name = $1 and fresh.name = $1
            """,
            projection.name,
        )
        await conn.execute(f"drop schema {schema} cascade")
    if progress is not None:
        progress(done, max(total, done))
    return done
