"""The newsroom read model's SQL: what its fold writes, and every query that reads its tables.

Three tables: ``timeline_items`` (one row per fact, as readers see it now), ``entity_items``
(which entities each fact involves or ever involved, in timeline order) and ``entity_states``
(one row per entity). Nothing outside ``service.projections.newsroom`` calls this module, and
nothing else touches those tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from schemas.unchecked import unchecked
from service.domain.cursors import TimelineCursor
from service.domain.entities import Profile, search_key
from service.domain.queries import EntityQuery, TimelineQuery
from service.domain.timeline import Item
from service.store import Connection, Database
from service.store.writers import Writers

# Items are what the projection wrote from events checked on their way in: reading them back
# checks their shape only, with the same types the projection folds (see schemas/unchecked.py),
# since a struct equals only a struct of its own type.
_item = msgspec.json.Decoder(unchecked(Item))
_items = msgspec.json.Decoder(unchecked(list[Item]))
_profile = msgspec.json.Decoder(Profile)
_encode = msgspec.json.Encoder().encode

NAME = "newsroom"
"""The read model's name, and its checkpoint's."""
TABLES = ("timeline_items", "entity_items", "entity_states")
"""The tables this read model owns, and a rebuild makes afresh."""

_LOAD_ITEMS = "select event_id, item::text from timeline_items where event_id = any($1::uuid[])"
_LOAD_PROFILES = "select slug, state::text from entity_states where slug = any($1::text[])"
# Rows are written a batch at a time, as one JSON array of rows: one statement instead of one
# per row, and one document that msgspec writes and PostgreSQL parses faster than separate
# array parameters. A rebuild fills empty tables with the plain inserts; live batches add the
# ``on conflict`` clauses.
_INSERT_ITEMS = """
insert into timeline_items
    (event_id, position, occurred_start, occurred_end, precision, type, status, retracted, recorded_at, tags,
     search, item)
select n.event_id, n.position, n.occurred_start, n.occurred_end, n.precision, n.type, n.status, n.retracted,
       n.recorded_at, n.tags,
       to_tsvector('english', n.english) || to_tsvector('french', n.french) || to_tsvector('simple', n.simple),
       n.item
from json_to_recordset($1::json)
     as n (event_id uuid, position bigint, occurred_start timestamptz, occurred_end timestamptz,
           precision smallint, type text, status text, retracted boolean, recorded_at timestamptz,
           tags text[], english text, french text, simple text, item json)
"""
_UPSERT_ITEMS = f"""{_INSERT_ITEMS}
on conflict (event_id) do update set
    occurred_start = excluded.occurred_start, occurred_end = excluded.occurred_end,
    precision = excluded.precision, status = excluded.status,
    retracted = excluded.retracted, tags = excluded.tags, search = excluded.search, item = excluded.item
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
insert into entity_items (slug, event_id, occurred_start, precision, position, current)
select * from json_to_recordset($1::json)
     as n (slug text, event_id uuid, occurred_start timestamptz, precision smallint, position bigint,
           current boolean)
"""
_UPSERT_INVOLVEMENT = f"""{_INSERT_INVOLVEMENT}
on conflict (slug, event_id) do update set
    occurred_start = excluded.occurred_start, precision = excluded.precision, current = excluded.current
"""
_INSERT_PROFILE = """
insert into entity_states (slug, kind, merged_into, alias_keys, search, position, state)
values ($1, $2, $3, $4, setweight(to_tsvector('simple', $5), 'A') || to_tsvector('simple', $6), $7, $8::jsonb)
"""
_UPSERT_PROFILE = f"""{_INSERT_PROFILE}
on conflict (slug) do update set
    merged_into = excluded.merged_into, alias_keys = excluded.alias_keys, search = excluded.search,
    position = excluded.position, state = excluded.state
"""


class ItemRow(msgspec.Struct):
    event_id: UUID
    position: int
    occurred_start: datetime
    occurred_end: datetime
    precision: int
    type: str
    status: str
    retracted: bool
    recorded_at: datetime
    tags: list[str]
    english: str
    french: str
    simple: str
    item: Item


class InvolvementRow(msgspec.Struct):
    slug: str
    event_id: UUID
    occurred_start: datetime
    precision: int
    position: int
    current: bool


class MovedRow(msgspec.Struct):
    event_id: UUID
    occurred_start: datetime
    precision: int


class ProfileRow(msgspec.Struct, array_like=True):
    slug: str
    kind: str
    merged_into: str | None
    alias_keys: list[str]
    name: str
    """The words of its name, weighted first in search."""
    other_names: str
    position: int
    state: str
    """The profile as JSON."""


class Rows(msgspec.Struct):
    """Rows for the newsroom's tables, as the statements above take them."""

    items: list[ItemRow] = msgspec.field(default_factory=list)
    involvement: list[InvolvementRow] = msgspec.field(default_factory=list)
    moved: list[MovedRow] = msgspec.field(default_factory=list)
    """Items whose involvement rows are retired before they are written again."""


def _json(rows: Sequence[Any]) -> str:
    return _encode(rows).decode()


def _tuples(profiles: Sequence[ProfileRow]) -> list[tuple[Any, ...]]:
    return [msgspec.structs.astuple(profile) for profile in profiles]


def encode_profile(profile: Profile) -> str:
    return _encode(profile).decode()


async def load_items(conn: Connection, ids: Sequence[UUID]) -> dict[UUID, Item]:
    return {event_id: _item.decode(text) for event_id, text in await conn.fetch(_LOAD_ITEMS, ids)}


async def load_profiles(conn: Connection, slugs: Sequence[str]) -> dict[str, Profile]:
    return {slug: _profile.decode(text) for slug, text in await conn.fetch(_LOAD_PROFILES, slugs)}


async def save(conn: Connection, rows: Rows, profiles: Sequence[ProfileRow]) -> None:
    """Write a live batch's rows over what the tables hold."""
    if profiles:
        await conn.executemany(_UPSERT_PROFILE, _tuples(profiles))
    if rows.items:
        await conn.execute(_UPSERT_ITEMS, _json(rows.items))
    if rows.moved:
        await conn.execute(_RETIRE_INVOLVEMENT, _json(rows.moved))
    if rows.involvement:
        await conn.execute(_UPSERT_INVOLVEMENT, _json(rows.involvement))


async def insert(writers: Writers, rows: Rows) -> None:
    """Hand a rebuild's rows to its writers, for tables that hold none of them yet."""
    if rows.items:
        await writers.execute(_INSERT_ITEMS, _json(rows.items))
        await writers.execute(_INSERT_INVOLVEMENT, _json(rows.involvement))


async def insert_profiles(writers: Writers, profiles: Sequence[ProfileRow]) -> None:
    await writers.executemany(_INSERT_PROFILE, _tuples(profiles))


# websearch_to_tsquery reads a reader's query the way search boxes do ("quoted phrases", -not).
_QUERY = (
    "(websearch_to_tsquery('english', {q}) || websearch_to_tsquery('french', {q})"
    " || websearch_to_tsquery('simple', {q}))"
)


def timeline_sql(
    query: TimelineQuery, words: str | None = None, *, rare: bool = False
) -> tuple[str, list[object]]:
    """The query and its parameters; every value is a parameter, never spliced in.

    ``words`` is the query's text as a ``tsquery`` (see ``timeline``), required with ``text``;
    ``rare`` words are looked up in the search index first, then put in order.
    """
    conditions: list[str] = []
    params: list[object] = []

    def param(value: object) -> str:
        params.append(value)
        return f"${len(params)}"

    # One entity (the common case) walks its own index in timeline order and stops at the
    # limit; several entities, or none, go through timeline_items' order instead.
    single = len(query.entities) == 1
    key = "e" if single else "t"
    items = "timeline_items"
    if rare:
        # OFFSET 0 keeps the planner from folding this into the ordered walk: the few matches
        # come from the search index, and only they are sorted.
        items = f"(select * from timeline_items where search @@ {param(words)}::tsquery offset 0)"
    source = f"entity_items e join {items} t on t.event_id = e.event_id" if single else f"{items} t"
    if single:
        conditions.append(f"e.slug = {param(query.entities[0])} and e.current")
    elif query.entities:
        conditions.append(
            "t.event_id in (select event_id from entity_items"
            f" where current and slug = any({param(list(query.entities))}::text[]))"
        )
    if not query.include_retracted:
        conditions.append("not t.retracted")
    if query.tags:
        conditions.append(f"t.tags && {param(list(query.tags))}::text[]")
    if query.types:
        conditions.append(f"t.type = any({param(list(query.types))}::text[])")
    if query.statuses:
        conditions.append(f"t.status = any({param(list(query.statuses))}::text[])")
    words = f"{param(words)}::tsquery" if query.text else ""
    if words:
        conditions.append(f"t.search @@ {words}")
    if query.end is not None:
        conditions.append(f"t.occurred_start < {param(query.end)}")
    if isinstance(query.after, TimelineCursor):
        comparison = "<" if query.descending else ">"
        conditions.append(
            f"({key}.occurred_start, {key}.precision, {key}.position) {comparison} "
            f"({param(query.after.start)}, {param(query.after.precision)}, {param(query.after.position)})"
        )
    limit = param(query.limit + 1)
    if query.relevance:
        # The search index finds the matches and they are ranked all together, so dates
        # filter by plain overlap here, with no ordered index to walk.
        if query.start is not None:
            conditions.append(f"t.occurred_end > {param(query.start)}")
        where = " and ".join(conditions)
        return (
            f"select t.item::text from {source} where {where}"
            f" order by ts_rank_cd(t.search, {words}) desc, t.position desc"
            f" offset {param(query.skip)} limit {limit}"
        ), params
    direction = "desc" if query.descending else "asc"
    order = f"order by start {direction}, precision {direction}, position {direction}"
    columns = f"t.item::text as item, {key}.occurred_start as start, {key}.precision, {key}.position"

    def select(*only: str) -> str:
        where = " and ".join([*conditions, *only]) or "true"
        return f"select {columns} from {source} where {where} {order} limit {limit}"

    if query.start is None:
        return f"select item from ({select()}) page {order}", params
    # Overlapping `from` means starting at or after it, or spanning it. Only a year, month or
    # day that begins exactly at the start of `from`'s year, month or day can span it (spans
    # are calendar-aligned in UTC), so each half walks the ordered index from its own point
    # instead of scanning the year before `from` for the few facts that reach into it.
    since = param(query.start)
    spanning = param(_calendar_starts(query.start))
    halves = [
        select(f"{key}.occurred_start >= {since}"),
        select(
            f"{key}.occurred_start = any({spanning}::timestamptz[])",
            f"{key}.occurred_start < {since}",
            f"t.occurred_end > {since}",
        ),
    ]
    return f"select item from (({halves[0]}) union all ({halves[1]})) page {order} limit {limit}", params


def _calendar_starts(instant: datetime) -> list[datetime]:
    """The starts of the UTC year, month and day ``instant`` falls in."""
    day = instant.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return [day.replace(month=1, day=1), day.replace(day=1), day]


_WORDS = f"select {_QUERY.format(q='$1')}::text"
_MATCHES = "select count(*) from (select 1 from timeline_items where search @@ $1::tsquery limit $2) found"
RARE = 5000
"""Words that match fewer facts than this are found through the search index, then sorted; more
common ones are found by walking the timeline in order, where they turn up every few items."""


async def timeline(db: Database, query: TimelineQuery) -> list[Item]:
    """Up to ``limit + 1`` items: the extra one says whether there is a next page.

    A search in date order counts its matches first, up to ``RARE``, through the search index.
    Rare words are then taken from that index and sorted; common ones are met by walking the
    date order, stopping at the page's end. Walking for a rare word would pass the whole
    timeline by (seconds at a million facts, for a word that matches nothing), and sorting
    every match of a common one would cost as much; the planner's estimates cannot tell the two
    apart.
    """
    words, rare = None, False
    if query.text:
        words = await db.fetchval(_WORDS, search_key(query.text))
        rare = not query.relevance and await db.fetchval(_MATCHES, words, RARE) < RARE
    sql, params = timeline_sql(query, words, rare=rare)
    return [_item.decode(row[0]) for row in await db.fetch(sql, *params)]


# The entity a name stands for (its slug, or an alias: a slug first, then one not merged away),
# followed through merges to the survivor, and every slug merged into that survivor: one round
# trip, since every uncached entity read starts here.
_RESOLVE = """
with recursive named as (
    select slug, merged_into, 0 as depth from entity_states
    where slug = $1 or $2 = any(alias_keys)
    order by slug = $1 desc, merged_into is null desc, slug limit 1
), followed as (
    select slug, merged_into, depth from named
    union all
    select e.slug, e.merged_into, f.depth + 1 from entity_states e join followed f on e.slug = f.merged_into
    where f.depth < 100
), survivor as (
    select slug from followed order by depth desc limit 1
), merged (slug) as (
    select e.slug from entity_states e, survivor s where e.merged_into = s.slug
    union
    select e.slug from entity_states e join merged m on e.merged_into = m.slug
)
select e.state::text, coalesce((select array_agg(slug order by slug) from merged), '{}')
from entity_states e, survivor s where e.slug = s.slug
"""


async def resolve_entity(db: Database, name: str) -> tuple[Profile, list[str]] | None:
    """The entity a slug or alias names, followed through merges, and the slugs merged into it."""
    row = await db.fetchrow(_RESOLVE, name, search_key(name))
    if row is None:
        return None
    return _profile.decode(row[0]), list(row[1])


_MERGED_INTO = "select slug from entity_states where merged_into = $1"


async def merged_into(db: Database, slug: str) -> list[str]:
    """The slugs merged straight into ``slug``, as the projection knows them now."""
    return [row[0] for row in await db.fetch(_MERGED_INTO, slug)]


_INVOLVING = """
select coalesce(json_agg(t.item order by t.position), '[]')::text from timeline_items t
where t.event_id in (select event_id from entity_items where current and slug = any($1::text[]))
"""


async def items_involving(db: Database, slugs: list[str]) -> list[Item]:
    items: list[Item] = _items.decode(await db.fetchval(_INVOLVING, slugs))
    return items


# An entity picker searches as the editor types: every word of the query also matches as the
# start of a name's word ("Micr" finds Microsoft), each word made a prefix query from its own
# lexeme (quoted, so no query syntax gets through). Exact names and aliases rank first, then
# names that start with the query, the shortest (the nearest to what was typed) first, then
# the best matches.
_RANKED_ENTITIES = f"""
with typed as (
    select (select string_agg(quote_literal(lexeme) || ':*', ' & ') from unnest(to_tsvector('simple', $2)))::tsquery
        as prefix
)
select state::text from entity_states, typed
where ($1::text is null or kind = $1)
  and ($2 = any(alias_keys) or search @@ {_QUERY.format(q="$2")} or search @@ typed.prefix)
order by $2 = any(alias_keys) desc,
         (select min(length(name)) from unnest(alias_keys) name where starts_with(name, $2)) nulls last,
         ts_rank_cd(search, coalesce(typed.prefix, {_QUERY.format(q="$2")})) desc, slug
offset $3 limit $4
"""
_ENTITIES_BY_SLUG = """
select state::text from entity_states
where ($1::text is null or kind = $1) and ($2::text is null or slug > $2)
order by slug limit $3
"""


async def entities(db: Database, query: EntityQuery) -> list[Profile]:
    """Up to ``limit + 1`` entities by slug, or ranked by how well they match the query's text."""
    if query.text:
        rows = await db.fetch(
            _RANKED_ENTITIES, query.kind, search_key(query.text), query.skip, query.limit + 1
        )
    else:
        rows = await db.fetch(_ENTITIES_BY_SLUG, query.kind, query.after_slug, query.limit + 1)
    return [_profile.decode(row[0]) for row in rows]


_FACTS_OF = "select distinct event_id from entity_items where slug = any($1::text[])"
_FACTS_RECORDED_BY = "select event_id from timeline_items where recorded_at <= $1"


async def facts_ever_involving(db: Database, slugs: list[str]) -> list[UUID]:
    """Every fact that involves, or ever involved, one of ``slugs``."""
    return [row[0] for row in await db.fetch(_FACTS_OF, slugs)]


async def facts_recorded_by(db: Database, at: datetime) -> list[UUID]:
    return [row[0] for row in await db.fetch(_FACTS_RECORDED_BY, at)]
