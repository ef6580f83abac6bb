"""Every query that reads the newsroom's tables: timelines (now or as known at an instant, built by
one selection of their rows), feeds, what changed since, entities and their versions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from service.domain.cursors import FeedCursor, TimelineCursor
from service.domain.entities import Profile, search_key
from service.domain.queries import EntityQuery, TimelineQuery
from service.domain.timeline import Item
from service.domain.versions import Version
from service.store import Database, connection
from service.store.newsroom.rows import decode_item, decode_items, decode_profile

# websearch_to_tsquery reads a reader's query the way search boxes do ("quoted phrases", -not).
_QUERY = (
    "(websearch_to_tsquery('english', {q}) || websearch_to_tsquery('french', {q})"
    " || websearch_to_tsquery('simple', {q}))"
)


class _Selection:
    """The rows a timeline query selects, as SQL: one or two sources (``parts``), each with its
    own conditions, the conditions all share, and their parameters; every value is a
    parameter, never spliced in.

    Now, the source is the current rows. As known at an instant it is two: the current rows
    already so by then, and the earlier versions whose span holds it; a fact is in one or the
    other at any instant, never both.
    """

    def __init__(
        self,
        query: TimelineQuery,
        words: str | None,
        *,
        rare: bool,
        as_of: datetime | None,
        retracted: bool,
        few: Few | None = None,
    ) -> None:
        self.params: list[object] = []
        self.conditions: list[str] = []
        param = self.param
        at = None if as_of is None else param(as_of)
        # One entity (the common case) walks its own index in timeline order and stops at the
        # limit; several entities, or none, go through timeline_items' order instead.
        single = len(query.entities) == 1
        self.key = "e" if single else "t"
        slugs = param(query.entities[0] if single else list(query.entities)) if query.entities else ""
        searched = param(words) if rare else ""

        def part(
            items: str, involvement: str, known: Callable[[str], str], same: str, by: str = ""
        ) -> tuple[str, list[str]]:
            if by and not rare and not single:
                # Few rows are known then: they come from the index on ``by``'s column and are
                # sorted, instead of walking the date order past the many that are not.
                items = f"(select * from {items} v where v.{by} offset 0)"
            if rare:
                # OFFSET 0 keeps the planner from folding this into the ordered walk: the few
                # matches come from the search index, and only they are sorted.
                items = (
                    f"(select * from {items} v where search @@ {searched}::tsquery and {known('v')} offset 0)"
                )
            if single:
                source = f"{involvement} e join {items} t on t.event_id = e.event_id{same}"
                return source, [f"e.slug = {slugs}", known("e")]
            own = [known("t")]
            if query.entities:
                own.append(
                    f"t.event_id in (select event_id from {involvement} i"
                    f" where {known('i')} and slug = any({slugs}::text[]))"
                )
            return f"{items} t", own

        def involved(alias: str) -> str:
            """Rows of ``entity_items`` stand for the current form only where they are current."""
            return f"{alias}.current and " if alias in ("e", "i") else ""

        # What each source's facts are now: a current row known by then is still so; an earlier
        # version is one join away from its fact's current row.
        self.now = ["null::text", "(select c.item::text from timeline_items c where c.event_id = t.event_id)"]
        if at is None:
            self.parts = [part("timeline_items", "entity_items", lambda alias: involved(alias) + "true", "")]
        else:
            self.parts = [
                part(
                    "timeline_items",
                    "entity_items",
                    lambda alias: involved(alias) + f"{alias}.current_since <= {at}",
                    "",
                    f"current_since <= {at}" if few and few.current else "",
                ),
                part(
                    "timeline_item_versions",
                    "entity_item_versions",
                    lambda alias: f"{alias}.recorded_from <= {at} and {alias}.recorded_until > {at}",
                    " and t.recorded_from = e.recorded_from",
                    {"from": f"recorded_from <= {at}", "until": f"recorded_until > {at}", None: ""}[
                        few.versions if few else None
                    ],
                ),
            ]
        if not retracted:
            self.conditions.append("not t.retracted")
        if query.tags:
            self.conditions.append(f"t.tags && {param(list(query.tags))}::text[]")
        if query.types:
            self.conditions.append(f"t.type = any({param(list(query.types))}::text[])")
        if query.statuses:
            self.conditions.append(f"t.status = any({param(list(query.statuses))}::text[])")
        self.words = f"{param(words)}::tsquery" if query.text else ""
        if self.words:
            self.conditions.append(f"t.search @@ {self.words}")
        if query.end is not None:
            self.conditions.append(f"t.occurred_start < {param(query.end)}")

    def param(self, value: object) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def selects(self, columns: str, *only: str, tail: str = "") -> list[str]:
        """One select per source, each with the shared conditions and ``only``; ``{now}`` in
        ``columns`` stands for what the source's fact is now."""
        return [
            f"select {columns.format(now=now)} from {source}"
            f" where {' and '.join([*own, *self.conditions, *only]) or 'true'}{tail}"
            for (source, own), now in zip(self.parts, self.now, strict=False)
        ]


def _union(selects: list[str]) -> str:
    return " union all ".join(f"({select})" for select in selects)


class Few(msgspec.Struct, frozen=True):
    """Which sources hold few rows known at an instant: the current rows (``current``), and the
    versions by the end of their span that leaves few (``versions``)."""

    current: bool
    versions: Literal["from", "until"] | None


FEW = (5000, 1500)
"""Below these many current rows, and versions, known at an instant, they are fetched by their
index and sorted; above, the date order is walked, and a page's worth turns up soon enough.
(A walk costs the page's length over the share of rows known; sorting costs their number: the
two meet near the square root of the page's length times the table's rows.)"""
# The instants that bound "few": before the FEW[0]-th current row's, few current rows are known;
# before the FEW[1]-th version's start, or after the FEW[1]-th last version's end, few versions.
# Null where the table holds fewer rows than that: few at every instant.
_FEW_BOUNDS = """
select (select current_since from timeline_items order by current_since offset $1 limit 1),
       (select recorded_from from timeline_item_versions order by recorded_from offset $2 limit 1),
       (select recorded_until from timeline_item_versions order by recorded_until desc offset $2 limit 1)
"""


class FewBounds(msgspec.Struct, frozen=True):
    """Where, in the record, few rows are known: read once per checkpoint, not per request."""

    current_before: datetime | None
    versions_from_before: datetime | None
    versions_until_after: datetime | None

    def at(self, instant: datetime) -> Few:
        def before(bound: datetime | None) -> bool:
            return bound is None or instant < bound

        versions: Literal["from", "until"] | None = None
        if self.versions_until_after is None or instant >= self.versions_until_after:
            versions = "until"
        elif before(self.versions_from_before):
            versions = "from"
        return Few(before(self.current_before), versions)


async def few_bounds(db: Database) -> FewBounds:
    current, versions = FEW
    row = await db.fetchrow(_FEW_BOUNDS, max(current - 1, 0), max(versions - 1, 0))
    assert row is not None  # scalar subqueries always give a row
    never, always = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    # A bound of no rows is never reached: few only ever means fewer than that many.
    return FewBounds(
        row[0] if current else never, row[1] if versions else never, row[2] if versions else always
    )


def timeline_sql(
    query: TimelineQuery,
    words: str | None = None,
    *,
    rare: bool = False,
    as_of: datetime | None = None,
    now: bool = False,
    few: Few | None = None,
) -> tuple[str, list[object]]:
    """The query and its parameters.

    ``words`` is the query's text as a ``tsquery`` (see ``timeline``), required with ``text``;
    ``rare`` words are looked up in the search index first, then put in order. ``as_of`` asks
    the same of the rows as they were at that instant; ``now`` adds to each what it is now
    (null when it has not changed since).
    """
    selection = _Selection(query, words, rare=rare, as_of=as_of, retracted=query.include_retracted, few=few)
    conditions, param, key = selection.conditions, selection.param, selection.key
    now_column, now_as = (", {now} as now", ", now") if now else ("", "")
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
        columns = (
            f"t.item::text as item, ts_rank_cd(t.search, {selection.words}) as rank, t.position{now_column}"
        )
        return (
            f"select item{now_as} from ({_union(selection.selects(columns))}) found"
            f" order by rank desc, position desc offset {param(query.skip)} limit {limit}"
        ), selection.params
    direction = "desc" if query.descending else "asc"
    order = f" order by start {direction}, precision {direction}, position {direction}"
    columns = (
        f"t.item::text as item, {key}.occurred_start as start, {key}.precision, {key}.position{now_column}"
    )
    tail = f"{order} limit {limit}"
    if query.start is None:
        selects = selection.selects(columns, tail=tail)
    else:
        # Overlapping `from` means starting at or after it, or spanning it. Only a year, month
        # or day that begins exactly at the start of `from`'s year, month or day can span it
        # (spans are calendar-aligned in UTC), so each half walks the ordered index from its
        # own point instead of scanning the year before `from` for the few facts that reach
        # into it.
        since = param(query.start)
        spanning = param(_calendar_starts(query.start))
        selects = selection.selects(
            columns, f"{key}.occurred_start >= {since}", tail=tail
        ) + selection.selects(
            columns,
            f"{key}.occurred_start = any({spanning}::timestamptz[])",
            f"{key}.occurred_start < {since}",
            f"t.occurred_end > {since}",
            tail=tail,
        )
    if len(selects) == 1:
        return f"select item{now_as} from ({selects[0]}) page{order}", selection.params
    return f"select item{now_as} from ({_union(selects)}) page{order} limit {limit}", selection.params


def _calendar_starts(instant: datetime) -> list[datetime]:
    """The starts of the UTC year, month and day ``instant`` falls in."""
    day = instant.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return [day.replace(month=1, day=1), day.replace(day=1), day]


_WORDS = f"select {_QUERY.format(q='$1')}::text"
_MATCHES = "select count(*) from (select 1 from timeline_items where search @@ $1::tsquery limit $2) found"
# The count must come from the search index: for a common word the planner would rather read
# the table until it has met RARE matches, which for a word in one fact of ten is half the log
# (the index reads at most RARE rows, whatever the log's size). Only a bitmap scan is left it.
_BY_SEARCH_INDEX = "set local enable_seqscan = off; set local enable_indexscan = off"
_ANY_SCAN = "reset enable_seqscan; reset enable_indexscan"
RARE = 5000
"""Words that match fewer facts than this are found through the search index, then sorted; more
common ones are found by walking the timeline in order, where they turn up every few items."""


# What changed since an instant, among the facts a timeline selects now (retracted ones too: a
# retraction is a change): counted up to a bound, so that an early instant costs no more than a
# page. Whether a fact was new since then, or changed, its recorded_at says.
_CHANGES = """
select count(*) filter (where recorded_at > {at}), count(*) filter (where recorded_at <= {at}), count(*) = {cap}
from ({select}) changed
"""


async def changes_since(db: Database, query: TimelineQuery, at: datetime, cap: int) -> tuple[int, int, bool]:
    """How many facts the timeline holds now that were added, and changed, after ``at``, and
    whether counting stopped at ``cap`` before the end."""
    filtered = query.tags or query.types or query.statuses or query.text or query.start or query.end
    if len(query.entities) == 1 and not filtered:
        row = await db.fetchrow(_ENTITY_CHANGES, query.entities[0], at, cap)
    else:
        row = await _changes(db, query, at, cap)
    assert row is not None  # an aggregate always gives a row
    return row[0], row[1], row[2]


# One entity's timeline, unfiltered (what an embedded entity timeline is): from its change index.
_ENTITY_CHANGES = """
select count(*) filter (where recorded_at > $2), count(*) filter (where recorded_at <= $2), count(*) = $3
from (select recorded_at from entity_items where slug = $1 and current and current_since > $2 limit $3) changed
"""


async def _changes(db: Database, query: TimelineQuery, at: datetime, cap: int) -> Any:
    words = await db.fetchval(_WORDS, search_key(query.text)) if query.text else None
    selection = _Selection(query, words, rare=False, as_of=None, retracted=True)
    if query.start is not None:
        selection.conditions.append(f"t.occurred_end > {selection.param(query.start)}")
    at_, cap_ = selection.param(at), selection.param(cap)
    (select,) = selection.selects(
        "t.recorded_at", f"{selection.key}.current_since > {at_}", tail=f" limit {cap_}"
    )
    return await db.fetchrow(_CHANGES.format(at=at_, cap=cap_, select=select), *selection.params)


async def feed(db: Database, query: TimelineQuery, before: FeedCursor | None) -> list[tuple[Item, datetime]]:
    """Up to ``limit + 1`` of the items a timeline selects, the latest changed first (retracted
    ones too: a retraction is news), walking the change index from ``before``; each with since
    when it is so."""
    words = await db.fetchval(_WORDS, search_key(query.text)) if query.text else None
    selection = _Selection(query, words, rare=False, as_of=None, retracted=True)
    key, param = selection.key, selection.param
    if query.start is not None:
        selection.conditions.append(f"t.occurred_end > {param(query.start)}")
    later = []
    if before is not None:
        later.append(
            f"({key}.current_since, {key}.position) < ({param(before.since)}, {param(before.position)})"
        )
    order = f" order by {key}.current_since desc, {key}.position desc limit {param(query.limit + 1)}"
    (select,) = selection.selects(f"t.item::text, {key}.current_since", *later, tail=order)
    return [(decode_item(text), since) for text, since in await db.fetch(select, *selection.params)]


async def timeline(
    db: Database, query: TimelineQuery, as_of: datetime | None = None, few: FewBounds | None = None
) -> list[Item]:
    """Up to ``limit + 1`` items: the extra one says whether there is a next page (see
    ``_timeline``)."""
    return [item for item, _ in await _timeline(db, query, as_of, few, now=False)]


async def pinned(
    db: Database, query: TimelineQuery, at: datetime, few: FewBounds | None = None
) -> list[tuple[Item, Item | None]]:
    """``timeline`` as of ``at``, each item with what it is now if it has changed since."""
    return await _timeline(db, query, at, few, now=True)


async def _timeline(
    db: Database, query: TimelineQuery, as_of: datetime | None, bounds: FewBounds | None, *, now: bool
) -> list[tuple[Item, Item | None]]:
    """Up to ``limit + 1`` items, with what each is now if asked.

    A search in date order counts its matches first, up to ``RARE``, through the search index.
    Rare words are then taken from that index and sorted; common ones are met by walking the
    date order, stopping at the page's end. Walking for a rare word would pass the whole
    timeline by (seconds at a million facts, for a word that matches nothing), and sorting
    every match of a common one would cost as much; the planner's estimates cannot tell the two
    apart. The count, a choice of plan, is the same as of any instant.
    """
    words, rare = None, False
    if query.text:
        words = await db.fetchval(_WORDS, search_key(query.text))
        rare = not query.relevance and await _matches(db, words) < RARE
    # As known at an instant, whole timelines ask first whether few rows are known then (the
    # caller's ``bounds``, of its checkpoint): an instant before most were recorded would
    # otherwise walk the whole date order for a page.
    few = None
    if as_of is not None and not rare and len(query.entities) != 1:
        few = (bounds or await few_bounds(db)).at(as_of)
    sql, params = timeline_sql(query, words, rare=rare, as_of=as_of, now=now, few=few)
    rows = await db.fetch(sql, *params)
    return [
        (decode_item(row[0]), decode_item(row[1]) if now and row[1] is not None else None) for row in rows
    ]


async def _matches(db: Database, words: str) -> int:
    """How many facts match ``words``, counted up to ``RARE`` through the search index."""
    async with connection(db) as conn:
        within = conn.is_in_transaction()
        async with conn.transaction():
            await conn.execute(_BY_SEARCH_INDEX)
            found: int = await conn.fetchval(_MATCHES, words, RARE)
            if within:
                # A savepoint would hand the settings on to the rest of the caller's transaction.
                await conn.execute(_ANY_SCAN)
        return found


# The entity a name stands for (its slug, or an alias: a slug first, then one not merged away),
# followed through merges to the survivor, and every slug merged into that survivor: one round
# trip, since every uncached entity read starts here. Names are looked up as they are now; the
# merges are followed as they are now, or as they were at an instant ($3), through the versions.
_NAMED = """
select slug from entity_states
where slug = $1 or $2 = any(alias_keys)
order by slug = $1 desc, merged_into is null desc, slug limit 1
"""
_RESOLVE = """
with recursive named as ({named}), followed as (
    select e.slug, e.merged_into, 0 as depth from {states} e join named n on e.slug = n.slug where {known}
    union all
    select e.slug, e.merged_into, f.depth + 1 from {states} e join followed f on e.slug = f.merged_into
    where {known} and f.depth < 100
), survivor as (
    select slug from followed order by depth desc limit 1
), merged (slug) as (
    select e.slug from {states} e, survivor s where e.merged_into = s.slug and {known}
    union
    select e.slug from {states} e join merged m on e.merged_into = m.slug where {known}
)
select e.state::text, coalesce((select array_agg(slug order by slug) from merged), '{{}}')
from {states} e, survivor s where e.slug = s.slug and {known}
"""
_RESOLVE_NOW = _RESOLVE.format(named=_NAMED, states="entity_states", known="true")
# As known at an instant: the current profiles already so by then, and the earlier ones then.
_RESOLVE_AS_OF = _RESOLVE.format(
    named=_NAMED,
    states="""(select slug, merged_into, state from entity_states where current_since <= $3
               union all
               select slug, merged_into, state from entity_state_versions
               where recorded_from <= $3 and recorded_until > $3)""",
    known="true",
)


async def resolve_entity(
    db: Database, name: str, as_of: datetime | None = None
) -> tuple[Profile, list[str]] | None:
    """The entity a slug or alias names, followed through merges, and the slugs merged into it:
    now, or as known at ``as_of`` (None if it was not registered by then)."""
    if as_of is None:
        row = await db.fetchrow(_RESOLVE_NOW, name, search_key(name))
    else:
        row = await db.fetchrow(_RESOLVE_AS_OF, name, search_key(name), as_of)
    if row is None:
        return None
    return decode_profile(row[0]), list(row[1])


_INVOLVING = """
select coalesce(json_agg(t.item order by t.position), '[]')::text from timeline_items t
where t.event_id in (select event_id from entity_items where current and slug = any($1::text[]))
"""
_INVOLVING_AS_OF = """
select coalesce(json_agg(item order by position), '[]')::text from (
    select t.item, t.position from timeline_items t
    where t.current_since <= $2
      and t.event_id in (select event_id from entity_items
                         where current and current_since <= $2 and slug = any($1::text[]))
    union all
    select t.item, t.position from timeline_item_versions t
    where t.recorded_from <= $2 and t.recorded_until > $2
      and t.event_id in (select event_id from entity_item_versions
                         where recorded_from <= $2 and recorded_until > $2 and slug = any($1::text[]))
) known
"""


async def items_involving(db: Database, slugs: list[str], as_of: datetime | None = None) -> list[Item]:
    """Every item that involves one of ``slugs``, now or as known at ``as_of``."""
    if as_of is None:
        text = await db.fetchval(_INVOLVING, slugs)
    else:
        text = await db.fetchval(_INVOLVING_AS_OF, slugs, as_of)
    items: list[Item] = decode_items(text)
    return items


_VERSIONS_OF = """
select recorded_from, made_by, item::text from timeline_item_versions where event_id = $1
union all
select current_since, made_by, item::text from timeline_items where event_id = $1
order by 1
"""


async def versions(db: Database, event_id: UUID) -> list[Version[Item]]:
    """Every version of a fact, oldest first."""
    rows = await db.fetch(_VERSIONS_OF, event_id)
    return [Version(decode_item(text), since, made_by) for since, made_by, text in rows]


# An entity's versions, and those of every entity ever merged into it.
_PROFILE_VERSIONS = """
with entities as (
    select $1::text as slug
    union select slug from entity_state_versions where merged_into = $1
    union select slug from entity_states where merged_into = $1
)
select slug, recorded_from, recorded_until, made_by, state::text
from entity_state_versions where slug in (select slug from entities)
union all
select slug, current_since, null, made_by, state::text from entity_states where slug in (select slug from entities)
order by slug, recorded_from
"""


async def named(db: Database, name: str) -> str | None:
    """The slug a slug or alias names, merged or not."""
    slug: str | None = await db.fetchval(_NAMED, name, search_key(name))
    return slug


async def profile_versions(db: Database, slug: str) -> dict[str, list[Version[Profile]]]:
    """Every version of an entity's profile, and of each entity ever merged into it, oldest first."""
    found: dict[str, list[Version[Profile]]] = {}
    for other, since, until, made_by, state in await db.fetch(_PROFILE_VERSIONS, slug):
        found.setdefault(other, []).append(Version(decode_profile(state), since, made_by, until))
    return found


async def matching(
    db: Database, query: TimelineQuery, ids: Sequence[UUID], as_of: datetime | None = None
) -> set[UUID]:
    """Which of the facts ``ids`` the timeline selects, now or as known at ``as_of``; retracted
    ones too (a live reader is told of a retraction), by the timeline's own conditions."""
    words = await db.fetchval(_WORDS, search_key(query.text)) if query.text else None
    selection = _Selection(query, words, rare=False, as_of=as_of, retracted=True)
    if query.start is not None:
        selection.conditions.append(f"t.occurred_end > {selection.param(query.start)}")
    only = f"t.event_id = any({selection.param(list(ids))}::uuid[])"
    rows = await db.fetch(_union(selection.selects("t.event_id", only)), *selection.params)
    return {row[0] for row in rows}


_ITEMS_NOW = "select item::text from timeline_items where event_id = any($1::uuid[])"


async def items_now(db: Database, ids: Sequence[UUID]) -> dict[UUID, Item]:
    """The facts ``ids`` as they are now."""
    items = [decode_item(row[0]) for row in await db.fetch(_ITEMS_NOW, list(ids))]
    return {item.id: item for item in items}


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
    return [decode_profile(row[0]) for row in rows]
