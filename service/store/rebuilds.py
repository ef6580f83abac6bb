"""The SQL of a rebuild: fresh tables beside the live ones, their indexes, and the switch-over.

The fresh tables live in a schema of their own (``rebuild_<name>``), made ``LIKE`` the live
ones so their structure still comes from the migrations. Connections that write them put that
schema first on their ``search_path``, so a projection's own SQL, unchanged, writes there, and
its checkpoint starts at zero there too. Schema and table names come from constants in the
code, never from a request.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.store import Connection
from service.store.writers import Writers

# A live table's indexes, and the keys some of them back: each index is built on its own (many
# at once), then the key takes it over, which needs no second pass over the table.
_INDEXES = "select pg_get_indexdef(indexrelid) from pg_index where indrelid = $1::regclass"
_KEYS = """
select format('alter table %s add constraint %I %s using index %I', $2::text, conname,
              case contype when 'p' then 'primary key' else 'unique' end, conname)
from pg_constraint where conrelid = $1::regclass and contype in ('p', 'u')
"""


SCHEMA_PREFIX = "rebuild_"
"""A rebuild's fresh tables live in the schema of this name and the projection's."""


class FreshTables:
    """Empty copies of a projection's tables, without indexes, and what will give them theirs."""

    def __init__(self, name: str, tables: Sequence[str], home: str = "public") -> None:
        self.name = name
        self.tables = tables
        self.home = home
        """The schema of the live tables: the fresh ones are made like them, and moved there."""
        self.schema = SCHEMA_PREFIX + name
        self.search_path = f"{self.schema}, public"
        self.indexes: list[str] = []
        self.keys: list[str] = []

    async def create(self, conn: Connection) -> None:
        """Make the tables, and point ``conn`` at them."""
        await conn.execute(f"drop schema if exists {self.schema} cascade")
        await conn.execute(f"create schema {self.schema}")
        for table in self.tables:
            live, fresh = f"{self.home}.{table}", f"{self.schema}.{table}"
            # No autovacuum while loading: a vacuum halfway through a load is wasted work, and one
            # still running at the end makes the index builds wait; the load analyzes what it loads.
            await conn.execute(
                f"create table {fresh} (like {live} including all excluding indexes)"
                " with (autovacuum_enabled = false)"
            )
            self.indexes += [
                row[0].replace(f" ON {live} ", f" ON {fresh} ") for row in await conn.fetch(_INDEXES, live)
            ]
            self.keys += [row[0] for row in await conn.fetch(_KEYS, live, fresh)]
        await conn.execute(
            f"create table {self.schema}.projection_checkpoints (like public.projection_checkpoints including all)"
        )
        await conn.execute(f"insert into {self.schema}.projection_checkpoints (name) values ($1)", self.name)
        await conn.execute(f"set search_path = {self.search_path}")

    async def index(self, writers: Writers) -> None:
        """Hand every index build, then the statistics, to the writers: several run at once."""
        for definition in self.indexes:
            await writers.execute(definition)
        # Statistics before readers arrive: the planner would otherwise guess until
        # autovacuum comes round to the new tables.
        for table in self.tables:
            await writers.execute(f"analyze {self.schema}.{table}")

    async def key(self, conn: Connection) -> None:
        """Once the indexes are built: let the keys take them over, and autovacuum back on."""
        for key in self.keys:
            await conn.execute(key)
        for table in self.tables:
            await conn.execute(f"alter table {self.schema}.{table} reset (autovacuum_enabled)")

    async def switch(self, conn: Connection) -> None:
        """Put the fresh tables and their checkpoint in place of the live ones, in ``conn``'s
        transaction: readers see the old tables until it commits."""
        for table in self.tables:
            await conn.execute(f"drop table {self.home}.{table}")
            await conn.execute(f"alter table {self.schema}.{table} set schema {self.home}")
        await conn.execute(
            f"""
            update public.projection_checkpoints live
            set transaction_id = fresh.transaction_id, position = fresh.position,
                recorded_at = fresh.recorded_at, updated_at = now(), failing_event = null, error = null
            from {self.schema}.projection_checkpoints fresh
            where live.name = $1 and fresh.name = $1
            """,
            self.name,
        )
        await conn.execute(f"drop schema {self.schema} cascade")

    async def drop(self, conn: Connection) -> None:
        await conn.execute(f"drop schema if exists {self.schema} cascade")


async def event_count(conn: Connection) -> int:
    count: int = await conn.fetchval("select count(*) from events")
    return count
