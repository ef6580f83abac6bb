"""Every migration goes up, down and up again, and the schema at head is the one the code uses."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from service import migrations
from service.store.database import create_database, with_database


async def _run(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query)
    finally:
        await conn.close()


def _tables(url: str) -> set[str]:
    rows = asyncio.run(_run(url, "select tablename from pg_tables where schemaname = 'public'"))
    return {row["tablename"] for row in rows}


# The schemas migrations make: the log's and read model's (public), the read model's twin (preview).
_SCHEMA = """
select 'table ' || schemaname || '.' || tablename from pg_tables where schemaname in ('public', 'preview')
union all select 'index ' || indexdef from pg_indexes where schemaname in ('public', 'preview')
union all select 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    from pg_constraint where connamespace::regnamespace::text in ('public', 'preview')
union all select 'function ' || p.oid::regprocedure from pg_proc p where pronamespace = 'public'::regnamespace
union all select 'trigger ' || tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid
    where c.relnamespace::regnamespace::text in ('public', 'preview') and not t.tgisinternal
"""


def _schema(url: str) -> set[str]:
    """Tables, indexes, constraints, functions and triggers, each as one line (alembic's own left out)."""
    return {row[0] for row in asyncio.run(_run(url, _SCHEMA)) if "alembic_version" not in row[0]}


@pytest.fixture
def blank_url(server_url: str) -> Iterator[str]:
    name = f"stairway_{uuid.uuid4().hex[:12]}"
    asyncio.run(create_database(server_url, name))
    yield with_database(server_url, name)
    asyncio.run(_run(server_url, f'drop database "{name}" with (force)'))


def test_one_head() -> None:
    revisions = migrations.all_revisions()
    assert revisions[-1] == migrations.head_revision()
    assert len(revisions) == len(set(revisions))


def test_stairway_up_down_up(blank_url: str) -> None:
    previous, before = "base", _schema(blank_url)
    for revision in migrations.all_revisions():
        migrations.upgrade(blank_url, revision)
        after = _schema(blank_url)
        assert after != before, f"{revision} changes nothing"
        migrations.downgrade(blank_url, previous)
        assert _schema(blank_url) == before, f"{revision} does not come back down to {previous}"
        migrations.upgrade(blank_url, revision)
        assert _schema(blank_url) == after, f"{revision} does not go up the same way twice"
        previous, before = revision, after
    migrations.downgrade(blank_url, "base")
    assert _tables(blank_url) == {"alembic_version"}


def test_head_has_the_tables_the_code_uses(blank_url: str) -> None:
    migrations.upgrade(blank_url)
    assert _tables(blank_url) == {
        "alembic_version",
        "events",
        "held_events",
        "streams",
        "api_keys",
        "projection_checkpoints",
        "timeline_items",
        "entity_items",
        "entity_states",
        "timeline_item_versions",
        "entity_item_versions",
        "entity_state_versions",
        "event_keys",
        "event_keys_to_compact",
        *(f"event_keys_{n:02d}" for n in range(32)),
    }
    columns = asyncio.run(
        _run(
            blank_url,
            "select column_name from information_schema.columns where table_name = 'events' order by ordinal_position",
        )
    )
    assert [row["column_name"] for row in columns] == [
        "position",
        "id",
        "stream",
        "version",
        "type",
        "schema_version",
        "data",
        "metadata",
        "occurred",
        "recorded_at",
        "transaction_id",
    ]
