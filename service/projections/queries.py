"""Reading the newsroom projection: timelines, entities, checkpoints. All SQL for reads is here."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import msgspec

from schemas.unchecked import unchecked
from service.domain.entities import Profile, search_key
from service.domain.timeline import Item
from service.store import Connection

# Items are what the projection wrote from events checked on their way in: reading them back
# checks their shape only, with the same types the projection folds (see schemas/unchecked.py).
_items: msgspec.json.Decoder[list[Item]] = msgspec.json.Decoder(unchecked(list[Item]))
_item: msgspec.json.Decoder[Item] = msgspec.json.Decoder(unchecked(Item))
_profile = msgspec.json.Decoder(Profile)

# websearch_to_tsquery reads a reader's query the way search boxes do ("quoted phrases", -not).
_QUERY = (
    "(websearch_to_tsquery('english', {q}) || websearch_to_tsquery('french', {q})"
    " || websearch_to_tsquery('simple', {q}))"
)


@dataclass(frozen=True)
class TimelineCursor:
    """A place in timeline order: after (or before, descending) this item."""

    start: datetime
    precision: int
    position: int

    def encode(self) -> str:
        raw = f"{self.start.timestamp()!r}|{self.precision}|{self.position}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> TimelineCursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            start, precision, position = raw.split("|")
            return cls(datetime.fromtimestamp(float(start), UTC), int(precision), int(position))
        except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError):
            raise ValueError("not a cursor from this API: pass back a `next` value unchanged") from None


@dataclass(frozen=True)
class RelevanceCursor:
    """A place in a ranked search: after the first ``offset`` matches. Ranks move as items are
    corrected, so a ranked list pages by count, not by a key."""

    offset: int

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"rank|{self.offset}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> RelevanceCursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            label, offset = raw.split("|")
            if label != "rank" or not 0 <= int(offset) < 2**31:
                raise ValueError(raw)
            return cls(int(offset))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError("not a cursor of a ranked search: pass back a `next` value unchanged") from None


@dataclass
class TimelineQuery:
    """The filters of a timeline read; each one narrows, none is required."""

    entities: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    text: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    include_retracted: bool = False
    descending: bool = False
    relevance: bool = False
    """Best matches of ``text`` first, paged by ``skip``, instead of the order things happened."""
    after: TimelineCursor | None = None
    skip: int = 0
    limit: int = 20

    def sql(self) -> tuple[str, list[object]]:
        """The query and its parameters; every value is a parameter, never spliced in."""
        conditions: list[str] = []
        params: list[object] = []

        def param(value: object) -> str:
            params.append(value)
            return f"${len(params)}"

        # One entity (the common case) walks its own index in timeline order and stops at the
        # limit; several entities, or none, go through timeline_items' order instead.
        single = len(self.entities) == 1
        key = "e" if single else "t"
        source = (
            "entity_items e join timeline_items t on t.event_id = e.event_id"
            if single
            else "timeline_items t"
        )
        if single:
            conditions.append(f"e.slug = {param(self.entities[0])} and e.current")
        elif self.entities:
            conditions.append(
                "t.event_id in (select event_id from entity_items"
                f" where current and slug = any({param(self.entities)}::text[]))"
            )
        if not self.include_retracted:
            conditions.append("not t.retracted")
        if self.tags:
            conditions.append(f"t.tags && {param(self.tags)}::text[]")
        if self.types:
            conditions.append(f"t.type = any({param(self.types)}::text[])")
        if self.statuses:
            conditions.append(f"t.status = any({param(self.statuses)}::text[])")
        words = _QUERY.format(q=param(search_key(self.text))) if self.text else ""
        if words:
            conditions.append(f"t.search @@ {words}")
        if self.end is not None:
            conditions.append(f"t.occurred_start < {param(self.end)}")
        if self.after is not None:
            comparison = "<" if self.descending else ">"
            conditions.append(
                f"({key}.occurred_start, {key}.precision, {key}.position) {comparison} "
                f"({param(self.after.start)}, {param(self.after.precision)}, {param(self.after.position)})"
            )
        limit = param(self.limit + 1)
        if self.relevance:
            if not words:
                raise ValueError("a ranked timeline needs words to rank by")
            # The search index finds the matches and they are ranked all together, so dates
            # filter by plain overlap here, with no ordered index to walk.
            if self.start is not None:
                conditions.append(f"t.occurred_end > {param(self.start)}")
            where = " and ".join(conditions)
            return (
                f"select t.item::text from {source} where {where}"
                f" order by ts_rank_cd(t.search, {words}) desc, t.position desc"
                f" offset {param(self.skip)} limit {limit}"
            ), params
        direction = "desc" if self.descending else "asc"
        order = f"order by start {direction}, precision {direction}, position {direction}"
        columns = f"t.item::text as item, {key}.occurred_start as start, {key}.precision, {key}.position"

        def select(*only: str) -> str:
            where = " and ".join([*conditions, *only]) or "true"
            return f"select {columns} from {source} where {where} {order} limit {limit}"

        if self.start is None:
            return f"select item from ({select()}) page {order}", params
        # Overlapping `from` means starting at or after it, or spanning it. Only a year, month or
        # day that begins exactly at the start of `from`'s year, month or day can span it (spans
        # are calendar-aligned in UTC), so each half walks the ordered index from its own point
        # instead of scanning the year before `from` for the few facts that reach into it.
        since = param(self.start)
        spanning = param(_calendar_starts(self.start))
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


async def timeline(conn: Connection | asyncpg.Pool, query: TimelineQuery) -> list[Item]:
    """Up to ``limit + 1`` items: the extra one says whether there is a next page."""
    sql, params = query.sql()
    return [_item.decode(row[0]) for row in await conn.fetch(sql, *params)]


async def resolve_entity(conn: Connection | asyncpg.Pool, name: str) -> tuple[Profile, list[str]] | None:
    """The entity a slug or alias names, followed through merges, and the slugs merged into it."""
    row = await conn.fetchrow(
        "select state::text from entity_states where slug = $1 or $2 = any(alias_keys) "
        "order by slug = $1 desc, merged_into is null desc, slug limit 1",
        name,
        search_key(name),
    )
    if row is None:
        return None
    profile = _profile.decode(row[0])
    seen = {profile.slug}
    while profile.merged_into is not None and profile.merged_into not in seen:
        seen.add(profile.merged_into)
        survivor = await conn.fetchval(
            "select state::text from entity_states where slug = $1", profile.merged_into
        )
        profile = _profile.decode(survivor)
    merged = await conn.fetch(
        """
        with recursive merged (slug) as (
            select slug from entity_states where merged_into = $1
            union select e.slug from entity_states e join merged m on e.merged_into = m.slug
        )
        select slug from merged order by slug
        """,
        profile.slug,
    )
    return profile, [row["slug"] for row in merged]


async def items_involving(conn: Connection | asyncpg.Pool, slugs: list[str]) -> list[Item]:
    text: str = await conn.fetchval(
        """
        select coalesce(json_agg(t.item order by t.position), '[]')::text from timeline_items t
        where t.event_id in (select event_id from entity_items where current and slug = any($1::text[]))
        """,
        slugs,
    )
    return _items.decode(text)


async def entities(
    conn: Connection | asyncpg.Pool,
    kind: str | None,
    text: str | None,
    after: str | None,
    offset: int,
    limit: int,
) -> list[Profile]:
    """Entities by slug, or ranked by how well they match ``text`` (then paged by offset)."""
    if text:
        key = search_key(text)
        rows = await conn.fetch(
            f"""
            select state::text from entity_states
            where ($1::text is null or kind = $1) and ($2 = any(alias_keys) or search @@ {_QUERY.format(q="$2")})
            order by $2 = any(alias_keys) desc, ts_rank_cd(search, {_QUERY.format(q="$2")}) desc, slug
            offset $3 limit $4
            """,
            kind,
            key,
            offset,
            limit,
        )
    else:
        rows = await conn.fetch(
            """
            select state::text from entity_states
            where ($1::text is null or kind = $1) and ($2::text is null or slug > $2)
            order by slug limit $3
            """,
            kind,
            after,
            limit,
        )
    return [_profile.decode(row[0]) for row in rows]


@dataclass(frozen=True)
class Checkpoint:
    name: str
    transaction_id: int
    position: int
    failing_event: object
    error: str | None
    running: bool
    rebuilding: bool
    head: int
    lag_events: int
    lag_seconds: float


async def checkpoints(conn: Connection | asyncpg.Pool) -> list[Checkpoint]:
    rows = await conn.fetch(
        """
        with horizon as (select pg_snapshot_xmin(pg_current_snapshot()) as xmin),
        head as (
            select coalesce(max(position), 0) as position from events, horizon
            where transaction_id < horizon.xmin
        )
        select c.name, c.transaction_id::text::bigint as transaction_id, c.position, c.failing_event, c.error,
               head.position as head,
               exists (select 1 from pg_namespace where nspname = 'rebuild_' || c.name) as rebuilding,
               exists (
                   select 1 from pg_locks l
                   where l.locktype = 'advisory' and l.objsubid = 1 and l.granted
                     and l.classid = ((hashtext('dateline.projection.' || c.name)::bigint >> 32) & 4294967295)::oid
                     and l.objid = (hashtext('dateline.projection.' || c.name)::bigint & 4294967295)::oid
               ) as running,
               (select count(*) from events e, horizon
                where (e.transaction_id, e.position) > (c.transaction_id, c.position)
                  and e.transaction_id < horizon.xmin) as lag_events,
               coalesce(extract(epoch from now() - (
                   select min(e.recorded_at) from events e, horizon
                   where (e.transaction_id, e.position) > (c.transaction_id, c.position)
                     and e.transaction_id < horizon.xmin)), 0)::float8 as lag_seconds
        from projection_checkpoints c, head
        order by c.name
        """
    )
    return [Checkpoint(**dict(row)) for row in rows]


async def includes(conn: Connection | asyncpg.Pool, projection: str, position: int) -> bool:
    """Whether ``projection`` has applied the event at ``position`` (False if no such event yet)."""
    covered: bool | None = await conn.fetchval(
        """
        select (c.transaction_id, c.position) >= (e.transaction_id, e.position)
        from events e, projection_checkpoints c where e.position = $1 and c.name = $2
        """,
        position,
        projection,
    )
    return bool(covered)


async def wait_until_includes(pool: asyncpg.Pool, projection: str, position: int, seconds: float) -> bool:
    """Read-your-writes: wait (bounded) until the projection has applied ``position``."""
    deadline = time.monotonic() + seconds
    while True:
        if await includes(pool, projection, position):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)


async def checkpoint_position(conn: Connection | asyncpg.Pool, projection: str) -> int:
    position: int = await conn.fetchval(
        "select position from projection_checkpoints where name = $1", projection
    )
    return position
