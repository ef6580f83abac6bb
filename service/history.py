"""Reads "as known at" an instant: replayed from the log, never from stored copies of states.

The projection says which facts could matter (those that ever involved the entities asked
about, or every fact recorded by then); the log then gives those facts and their follow-ups as
recorded up to the instant, and the same pure folds as the projection turn them into items and
entity states. A correction recorded later is not applied; an event recorded later is absent.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from schemas import EntityMerged, EntityRegistered, EntityUpdated, parse_partial_date
from service.domain.entities import Profile, evolve_profile, search_key
from service.domain.timeline import Item, fold, sort_key
from service.projections.engine import logged
from service.projections.queries import TimelineQuery
from service.store import Connection

_FACTS_OF = """
select distinct event_id from entity_items where slug = any($1::text[])
"""
_FACTS_BY = "select event_id from timeline_items where recorded_at <= $1"
_REPLAY = """
select id, stream, position, recorded_at, data::text as data from events
where (id = any($1::uuid[]) or (type like 'event.%' and (data ->> 'event_id')::uuid = any($1::uuid[])))
  and recorded_at <= $2
order by transaction_id, position
"""
_STREAM = """
select id, stream, position, recorded_at, data::text as data from events
where stream = $1 and recorded_at <= $2 and type like 'entity.%'
order by version
"""
_MERGED_INTO = "select slug from entity_states where merged_into = $1"


async def items_as_of(conn: Connection | asyncpg.Pool, at: datetime, slugs: list[str] | None) -> list[Item]:
    """Every item as it stood at ``at``: of the entities ``slugs``, or all of them."""
    if slugs is not None:
        candidates = [row[0] for row in await conn.fetch(_FACTS_OF, slugs)]
    else:
        candidates = [row[0] for row in await conn.fetch(_FACTS_BY, at)]
    events = [logged(row) for row in await conn.fetch(_REPLAY, candidates, at)]
    items = fold(events).values()
    if slugs is not None:
        wanted = set(slugs)
        return [item for item in items if not wanted.isdisjoint(item.slugs)]
    return list(items)


async def profile_as_of(conn: Connection | asyncpg.Pool, slug: str, at: datetime) -> Profile | None:
    profile: Profile | None = None
    for row in await conn.fetch(_STREAM, slug, at):
        event = logged(row)
        if isinstance(event.event, EntityRegistered | EntityUpdated | EntityMerged):
            profile = evolve_profile(profile, event.event)
    return profile


async def merged_as_of(conn: Connection | asyncpg.Pool, slug: str, at: datetime) -> list[str]:
    """The slugs merged into ``slug`` by ``at`` (directly or through one another)."""
    merged: list[str] = []
    frontier = [slug]
    while frontier:
        into = frontier.pop()
        for row in await conn.fetch(_MERGED_INTO, into):
            earlier = await profile_as_of(conn, row[0], at)
            if earlier is not None and earlier.merged_into == into and row[0] not in merged:
                merged.append(row[0])
                frontier.append(row[0])
    return sorted(merged)


def page(items: list[Item], query: TimelineQuery) -> list[Item]:
    """Filter, order and cut ``items`` the way the projection's query would: up to limit + 1.

    Words match as substrings of the item's texts (accents and case ignored): the stemmed index
    describes the items as they are now, not as they were.
    """
    words = search_key(query.text).split() if query.text else []

    def keep(item: Item) -> bool:
        span = parse_partial_date(item.occurred)
        start, end = span.start, span.end
        text = search_key(" ".join([*item.headline.values(), *(item.summary or {}).values(), *item.tags]))
        return (
            (query.include_retracted or item.retracted is None)
            and (not query.tags or not set(query.tags).isdisjoint(item.tags))
            and (not query.types or item.type in query.types)
            and (not query.statuses or item.status in query.statuses)
            and all(word in text for word in words)
            and (query.start is None or end > query.start)
            and (query.end is None or start < query.end)
        )

    ordered = sorted(filter(keep, items), key=sort_key, reverse=query.descending)
    if query.after is not None:
        after = (query.after.start, query.after.precision, query.after.position)
        ordered = [i for i in ordered if (sort_key(i) < after if query.descending else sort_key(i) > after)]
    return ordered[: query.limit + 1]
