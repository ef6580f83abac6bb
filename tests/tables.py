"""The read model's tables, whole and in a fixed order: for comparing two ways of building them."""

from __future__ import annotations

from typing import Any

import asyncpg

_SNAPSHOT = {
    "timeline_items": "select event_id, position, occurred_start, occurred_end, precision, type, status, retracted,"
    " recorded_at, tags, search::text, item::text, current_since, made_by from timeline_items order by event_id",
    "entity_items": "select slug, event_id, occurred_start, precision, position, current, current_since, recorded_at"
    " from entity_items order by slug, event_id",
    "entity_states": "select slug, kind, merged_into, alias_keys, search::text, position, state::text,"
    " current_since, made_by from entity_states order by slug",
    "timeline_item_versions": "select event_id, recorded_from, recorded_until, made_by, position, occurred_start,"
    " precision, type, status, retracted, tags, search::text, item::text"
    " from timeline_item_versions order by event_id, recorded_from",
    "entity_item_versions": "select * from entity_item_versions order by event_id, recorded_from, slug",
    "entity_state_versions": "select slug, recorded_from, recorded_until, made_by, merged_into, state::text"
    " from entity_state_versions order by slug, recorded_from",
    "checkpoint": "select transaction_id::text, position from projection_checkpoints where name = $1",
}


async def snapshot(
    database_url: str, schema: str = "public", projection: str = "newsroom"
) -> dict[str, list[tuple[Any, ...]]]:
    """The tables of the read model in ``schema`` (``preview`` for its twin), and ``projection``'s checkpoint."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": f"{schema}, public"})
    try:
        return {
            name: [tuple(row) for row in await conn.fetch(sql, *([projection] if "$1" in sql else []))]
            for name, sql in _SNAPSHOT.items()
        }
    finally:
        await conn.close()
