"""What the newsroom's fold writes: the statements that save a live batch's rows over what the
tables hold, or insert a rebuild's into empty ones, and the reads of the rows a batch folds onto.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from service.domain.entities import Profile
from service.domain.timeline import Item
from service.domain.versions import Version
from service.store import Connection
from service.store.newsroom.rows import (
    ItemRewrite,
    ProfileRow,
    Rows,
    add_profile_versions,
    as_json,
    decode_item,
    decode_profile,
)
from service.store.writers import Writers

_LOAD_ITEMS = (
    "select event_id, item::text, current_since from timeline_items where event_id = any($1::uuid[])"
)
_LOAD_PROFILES = "select slug, state::text, current_since from entity_states where slug = any($1::text[])"
# Rows are written a batch at a time, as one JSON array of rows: one statement instead of one
# per row, and one document that msgspec writes and PostgreSQL parses faster than separate
# array parameters. A rebuild fills empty tables with the plain inserts; live batches add the
# ``on conflict`` clauses.
# The columns an item's rows share, current or a version of it, as json_to_recordset reads them,
# and the search index made from its words.
_ITEM_COLUMNS = """
    event_id uuid, position bigint, occurred_start timestamptz, occurred_end timestamptz,
    precision smallint, type text, status text, retracted boolean, tags text[],
    english text, french text, simple text, item json"""
_SEARCH = (
    "to_tsvector('english', n.english) || to_tsvector('french', n.french) || to_tsvector('simple', n.simple)"
)
_ITEM_VALUES = (
    "n.event_id, n.position, n.occurred_start, n.occurred_end, n.precision, n.type, n.status,"
    f" n.retracted, n.tags, {_SEARCH}, n.item"
)
_ITEM_TARGETS = (
    "event_id, position, occurred_start, occurred_end, precision, type, status, retracted, tags, search, item"
)
_INSERT_ITEMS = f"""
insert into timeline_items ({_ITEM_TARGETS}, recorded_at, current_since, made_by)
select {_ITEM_VALUES}, n.recorded_at, n.current_since, n.made_by
from json_to_recordset($1::json)
     as n ({_ITEM_COLUMNS}, recorded_at timestamptz, current_since timestamptz, made_by uuid)
"""
_UPSERT_ITEMS = f"""{_INSERT_ITEMS}
on conflict (event_id) do update set
    occurred_start = excluded.occurred_start, occurred_end = excluded.occurred_end,
    precision = excluded.precision, status = excluded.status, retracted = excluded.retracted,
    tags = excluded.tags, search = excluded.search, item = excluded.item,
    current_since = excluded.current_since, made_by = excluded.made_by
"""
# Every entity an item ever involved keeps a row (as-known-at reads look for them); only those it
# involves now are current. All of an item's rows carry its current date, so that the rows come
# out the same however the log was cut into batches.
_RETIRE_INVOLVEMENT = """
update entity_items e set current = false, occurred_start = n.occurred_start, precision = n.precision
from json_to_recordset($1::json) as n (event_id uuid, occurred_start timestamptz, precision smallint)
where e.event_id = n.event_id
"""
_INSERT_INVOLVEMENT = """
insert into entity_items (slug, event_id, occurred_start, precision, position, current, current_since, recorded_at)
select * from json_to_recordset($1::json)
     as n (slug text, event_id uuid, occurred_start timestamptz, precision smallint, position bigint,
           current boolean, current_since timestamptz, recorded_at timestamptz)
"""
_UPSERT_INVOLVEMENT = f"""{_INSERT_INVOLVEMENT}
on conflict (slug, event_id) do update set
    occurred_start = excluded.occurred_start, precision = excluded.precision, current = excluded.current,
    current_since = excluded.current_since
"""
# An item that changed without moving keeps its rows, which learn since when it is so.
_TOUCH_INVOLVEMENT = """
update entity_items e set current_since = n.current_since
from json_to_recordset($1::json) as n (event_id uuid, current_since timestamptz)
where e.event_id = n.event_id and e.current_since <> n.current_since
"""
_INSERT_PROFILE = """
insert into entity_states (slug, kind, merged_into, alias_keys, search, position, state, current_since, made_by)
values ($1, $2, $3, $4, setweight(to_tsvector('simple', $5), 'A') || to_tsvector('simple', $6), $7, $8::jsonb,
        $9, $10)
"""
_UPSERT_PROFILE = f"""{_INSERT_PROFILE}
on conflict (slug) do update set
    merged_into = excluded.merged_into, alias_keys = excluded.alias_keys, search = excluded.search,
    position = excluded.position, state = excluded.state, current_since = excluded.current_since,
    made_by = excluded.made_by
"""
# Versions: the forms rows had before their current one, each with its span. A live batch that
# changes a row at a later instant first retires it: its current form, search index and all, is
# copied into the versions, ending where the new one begins. A fact or entity replayed from
# scratch forgets its versions, and the batch writes them all again.
_SPAN = "recorded_from timestamptz, recorded_until timestamptz"
_INSERT_ITEM_VERSIONS = f"""
insert into timeline_item_versions ({_ITEM_TARGETS}, recorded_from, recorded_until, made_by)
select {_ITEM_VALUES}, n.recorded_from, n.recorded_until, n.made_by
from json_to_recordset($1::json) as n ({_ITEM_COLUMNS}, {_SPAN}, made_by uuid)
"""
_INSERT_INVOLVEMENT_VERSIONS = f"""
insert into entity_item_versions (event_id, recorded_from, slug, recorded_until, occurred_start, precision, position)
select n.event_id, n.recorded_from, n.slug, n.recorded_until, n.occurred_start, n.precision, n.position
from json_to_recordset($1::json)
     as n (event_id uuid, slug text, {_SPAN}, occurred_start timestamptz, precision smallint, position bigint)
"""
_INSERT_PROFILE_VERSIONS = f"""
insert into entity_state_versions (slug, recorded_from, recorded_until, made_by, merged_into, state)
select n.slug, n.recorded_from, n.recorded_until, n.made_by, n.merged_into, n.state
from json_to_recordset($1::json) as n (slug text, {_SPAN}, made_by uuid, merged_into text, state jsonb)
"""
_RETIRED = "json_to_recordset($1::json) as n ({key} {kind}, until timestamptz)"
_RETIRE_ITEMS = f"""
insert into timeline_item_versions ({_ITEM_TARGETS}, recorded_from, recorded_until, made_by)
select {", ".join(f"t.{column}" for column in _ITEM_TARGETS.split(", "))}, t.current_since, n.until, t.made_by
from timeline_items t join {_RETIRED.format(key="event_id", kind="uuid")} on t.event_id = n.event_id
"""
_RETIRE_INVOLVEMENT_VERSIONS = f"""
insert into entity_item_versions (event_id, recorded_from, slug, recorded_until, occurred_start, precision, position)
select e.event_id, e.current_since, e.slug, n.until, e.occurred_start, e.precision, e.position
from entity_items e join {_RETIRED.format(key="event_id", kind="uuid")} on e.event_id = n.event_id
where e.current
"""
_RETIRE_PROFILES = f"""
insert into entity_state_versions (slug, recorded_from, recorded_until, made_by, merged_into, state)
select s.slug, s.current_since, n.until, s.made_by, s.merged_into, s.state
from entity_states s join {_RETIRED.format(key="slug", kind="text")} on s.slug = n.slug
"""
_FORGET = (
    "delete from timeline_item_versions where event_id = any($1::uuid[])",
    "delete from entity_item_versions where event_id = any($1::uuid[])",
)
_FORGET_PROFILES = "delete from entity_state_versions where slug = any($1::text[])"


def _tuples(profiles: Sequence[ProfileRow]) -> list[tuple[Any, ...]]:
    return [msgspec.structs.astuple(profile) for profile in profiles]


async def load_items(conn: Connection, ids: Sequence[UUID]) -> dict[UUID, tuple[Item, datetime]]:
    """Items as they are now, and since when."""
    rows = await conn.fetch(_LOAD_ITEMS, ids)
    return {event_id: (decode_item(text), since) for event_id, text, since in rows}


async def load_profiles(conn: Connection, slugs: Sequence[str]) -> dict[str, tuple[Profile, datetime]]:
    rows = await conn.fetch(_LOAD_PROFILES, slugs)
    return {slug: (decode_profile(text), since) for slug, text, since in rows}


async def save(conn: Connection, rows: Rows) -> None:
    """Write a live batch's rows over what the tables hold: first what gives way goes into the
    versions, then the current rows, then the versions the batch made."""
    if rows.forgotten:
        for statement in _FORGET:
            await conn.execute(statement, rows.forgotten)
    if rows.forgotten_profiles:
        await conn.execute(_FORGET_PROFILES, rows.forgotten_profiles)
    if rows.retired:
        retired = as_json(rows.retired)
        await conn.execute(_RETIRE_ITEMS, retired)
        await conn.execute(_RETIRE_INVOLVEMENT_VERSIONS, retired)
    if rows.retired_profiles:
        await conn.execute(_RETIRE_PROFILES, as_json(rows.retired_profiles))
    if rows.profiles:
        await conn.executemany(_UPSERT_PROFILE, _tuples(rows.profiles))
    if rows.items:
        await conn.execute(_UPSERT_ITEMS, as_json(rows.items))
    if rows.moved:
        await conn.execute(_RETIRE_INVOLVEMENT, as_json(rows.moved))
    if rows.involvement:
        await conn.execute(_UPSERT_INVOLVEMENT, as_json(rows.involvement))
    if rows.touched:
        await conn.execute(
            _TOUCH_INVOLVEMENT, as_json([{"event_id": e, "current_since": t} for e, t in rows.touched])
        )
    await _insert_versions(conn, rows)


async def insert(writers: Writers, rows: Rows) -> None:
    """Hand a rebuild's rows to its writers, for tables that hold none of them yet."""
    if rows.items:
        await writers.execute(_INSERT_ITEMS, as_json(rows.items))
        await writers.execute(_INSERT_INVOLVEMENT, as_json(rows.involvement))
    if rows.profiles:
        await writers.executemany(_INSERT_PROFILE, _tuples(rows.profiles))
    await _insert_versions(writers, rows)


async def _insert_versions(db: Connection | Writers, rows: Rows) -> None:
    for statement, versions in (
        (_INSERT_ITEM_VERSIONS, rows.item_versions),
        (_INSERT_INVOLVEMENT_VERSIONS, rows.involvement_versions),
        (_INSERT_PROFILE_VERSIONS, rows.profile_versions),
    ):
        if versions:
            await db.execute(statement, as_json(versions))


# Erasure rewrites rows in place: every form an erased fact, note or entity took, current and
# versions alike, so that no read as known at any instant shows the erased text. A field left
# null keeps its value (a note's erasure leaves the search index, which never held notes).
_REWRITE_COLUMNS = "tags text[], english text, french text, simple text, item json"
_REWRITTEN = f"""
    item = coalesce(n.item, {{table}}.item), tags = coalesce(n.tags, {{table}}.tags),
    search = case when n.english is null then {{table}}.search else {_SEARCH} end"""
_REWRITE_ITEMS = f"""
update timeline_items set {_REWRITTEN.format(table="timeline_items")}
from json_to_recordset($1::json) as n (event_id uuid, {_REWRITE_COLUMNS})
where timeline_items.event_id = n.event_id
"""
_REWRITE_ITEM_VERSIONS = f"""
update timeline_item_versions set {_REWRITTEN.format(table="timeline_item_versions")}
from json_to_recordset($1::json) as n (event_id uuid, recorded_from timestamptz, {_REWRITE_COLUMNS})
where timeline_item_versions.event_id = n.event_id and timeline_item_versions.recorded_from = n.recorded_from
"""
_ITEM_FORMS = """
select event_id, null::timestamptz as recorded_from, item::text from timeline_items where event_id = any($1::uuid[])
union all
select event_id, recorded_from, item::text from timeline_item_versions where event_id = any($1::uuid[])
"""
_INVOLVING = """
select distinct e.event_id from entity_items e where e.slug = any($1::text[])
"""
_PROFILE_FORMS = """
select recorded_from, recorded_until, made_by, state::text from entity_state_versions where slug = $1
order by recorded_from
"""
_CURRENT_PROFILE = "select current_since, made_by, position, state::text from entity_states where slug = $1"
_REPLACE_PROFILE = """
update entity_states set alias_keys = $2, search = setweight(to_tsvector('simple', $3), 'A') || to_tsvector('simple', $4),
    state = $5::jsonb, current_since = $6, made_by = $7
where slug = $1
"""


async def item_forms(conn: Connection, ids: Sequence[UUID]) -> list[tuple[UUID, datetime | None, Item]]:
    """Every form of the items ``ids``: the current row's (no ``recorded_from``) and each version's."""
    rows = await conn.fetch(_ITEM_FORMS, ids)
    return [(event_id, since, decode_item(text)) for event_id, since, text in rows]


async def involving(conn: Connection, slugs: Sequence[str]) -> list[UUID]:
    """The facts that involve, or ever involved, any of ``slugs``."""
    return [row[0] for row in await conn.fetch(_INVOLVING, slugs)]


async def rewrite_items(conn: Connection, rows: Sequence[ItemRewrite]) -> None:
    current = [row for row in rows if row.recorded_from is None]
    versions = [row for row in rows if row.recorded_from is not None]
    if current:
        await conn.execute(_REWRITE_ITEMS, as_json(current))
    if versions:
        await conn.execute(_REWRITE_ITEM_VERSIONS, as_json(versions))


async def profile_forms(conn: Connection, slug: str) -> tuple[list[Version[Profile]], Version[Profile], int]:
    """An entity's versions, oldest first, its current one, and its row's position."""
    row = await conn.fetchrow(_CURRENT_PROFILE, slug)
    assert row is not None, f"no entity '{slug}' in the read model"  # an erasure's target exists
    since, made_by, position, state = row
    versions = [
        Version(decode_profile(text), start, by, until)
        for start, until, by, text in await conn.fetch(_PROFILE_FORMS, slug)
    ]
    return versions, Version(decode_profile(state), since, made_by), position


async def replace_profile(
    conn: Connection, slug: str, versions: Sequence[Version[Profile]], current: ProfileRow
) -> None:
    """Write an entity's versions and current row afresh, in place of what they were."""
    await conn.execute(_FORGET_PROFILES, [slug])
    rows = Rows()
    add_profile_versions(rows, slug, [(version, []) for version in versions])
    if rows.profile_versions:
        await conn.execute(_INSERT_PROFILE_VERSIONS, as_json(rows.profile_versions))
    await conn.execute(
        _REPLACE_PROFILE, slug, current.alias_keys, current.name, current.other_names, current.state,
        current.current_since, current.made_by,
    )  # fmt: skip
