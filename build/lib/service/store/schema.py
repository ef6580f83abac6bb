"""Which migration a database's schema is at."""

from __future__ import annotations

from service.store import Database


async def current_revision(db: Database, seconds: float | None = None) -> str | None:
    """None for a database no migration has run on."""
    if not await db.fetchval("select to_regclass('alembic_version') is not null", timeout=seconds):
        return None
    revision: str | None = await db.fetchval("select version_num from alembic_version", timeout=seconds)
    return revision
