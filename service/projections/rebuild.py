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


async def _prepare(conn: asyncpg.Connection, projection: Projection, schema: str) -> None:
    await conn.execute(f"drop schema if exists {schema} cascade")
    await conn.execute(f"create schema {schema}")
    for table in (*TABLES[projection.name], "projection_checkpoints"):
        await conn.execute(f"create table {schema}.{table} (like public.{table} including all)")
    await conn.execute(f"insert into {schema}.projection_checkpoints (name) values ($1)", projection.name)
    await conn.execute(f"set search_path = {schema}, public")


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
        await _prepare(conn, projection, schema)
        total = await conn.fetchval("select count(*) from events")
        done = 0
        while applied := await step(conn, projection, batch, live=False):
            done += applied
            if progress is not None:
                progress(done, total)
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
