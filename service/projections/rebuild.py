"""Rebuilding a projection from the log into fresh tables, then switching over atomically.

The fresh tables live in a schema of their own (``rebuild_<name>``), made ``LIKE`` the live
ones so their structure still comes from the migrations. The rebuild connection puts that
schema first on its ``search_path``, so the projection's own SQL, unchanged, writes there, and
its checkpoint starts at zero there too. Once it has caught up, one transaction takes the
projection's apply lock (the live runner waits), applies the last events, drops the live
tables and moves the fresh ones in. Readers see the old tables until that commit.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from service.projections.engine import APPLY_LOCK, Projection, step

TABLES = {"newsroom": ("timeline_items", "entity_items", "entity_states")}


def schema_for(name: str) -> str:
    return f"rebuild_{name}"


_SECONDARY_INDEXES = """
select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as definition
from pg_index i where i.indrelid = $1::regclass and not i.indisunique
"""


async def _prepare(conn: asyncpg.Connection, projection: Projection, schema: str) -> list[str]:
    """Fresh, empty tables; the secondary indexes to build once they are full."""
    await conn.execute(f"drop schema if exists {schema} cascade")
    await conn.execute(f"create schema {schema}")
    later: list[str] = []
    for table in (*TABLES[projection.name], "projection_checkpoints"):
        await conn.execute(f"create table {schema}.{table} (like public.{table} including all)")
        # Filling an index row by row costs several times building it at the end, so the copies
        # keep only their unique indexes (upserts need them) until the tables are full; the
        # others are made again from the live tables' own definitions, names included.
        for shadow in await conn.fetch(_SECONDARY_INDEXES, f"{schema}.{table}"):
            await conn.execute(f"drop index {shadow['name']}")
        for live in await conn.fetch(_SECONDARY_INDEXES, f"public.{table}"):
            later.append(live["definition"].replace(f" ON public.{table} ", f" ON {schema}.{table} "))
    await conn.execute(f"insert into {schema}.projection_checkpoints (name) values ($1)", projection.name)
    await conn.execute(f"set search_path = {schema}, public")
    return later


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
        indexes = await _prepare(conn, projection, schema)
        total = await conn.fetchval("select count(*) from events")
        done = 0
        while applied := await step(conn, projection, batch, live=False):
            done += applied
            if progress is not None:
                progress(done, total)
        for definition in indexes:
            await conn.execute(definition)
        async with conn.transaction():
            await conn.execute(
                "select pg_advisory_xact_lock(hashtext($1))", APPLY_LOCK.format(projection.name)
            )
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
    finally:
        await conn.close()
