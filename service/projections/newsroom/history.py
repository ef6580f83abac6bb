"""Reads "as known at" an instant: replayed from the log, never from stored copies of states.

The projection says which facts could matter (those that ever involved the entities asked
about, or every fact recorded by then); the log then gives those facts and their follow-ups as
recorded up to the instant, and the same pure folds as the projection turn them into items and
entity states. A correction recorded later is not applied; an event recorded later is absent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import assert_never
from uuid import UUID

import msgspec

from schemas import EntityMerged, EntityRegistered, EntityUpdated, Fact, FollowUp, parse_partial_date
from service.domain.cursors import TimelineCursor
from service.domain.entities import Profile, evolve_profile, search_key
from service.domain.queries import TimelineQuery
from service.domain.timeline import Item, LoggedFact, evolve, fold, sort_key, start
from service.projections.engine import logged
from service.store import Database
from service.store import events as log
from service.store import newsroom as tables


async def items_as_of(db: Database, at: datetime, slugs: list[str] | None) -> list[Item]:
    """Every item as it stood at ``at``: of the entities ``slugs``, or all of them."""
    if slugs is not None:
        candidates = await tables.facts_ever_involving(db, slugs)
    else:
        candidates = await tables.facts_recorded_by(db, at)
    items = fold([logged(event) for event in await log.facts_with_follow_ups(db, candidates, at)]).values()
    if slugs is not None:
        wanted = set(slugs)
        return [item for item in items if not wanted.isdisjoint(item.slugs)]
    return list(items)


_EVER = datetime.max.replace(tzinfo=UTC)


class Revision(msgspec.Struct, frozen=True):
    """A fact as it stood after one event: the fact itself, or a follow-up that changed it."""

    item: Item
    by: LoggedFact


async def revisions(db: Database, event_id: UUID) -> list[Revision] | None:
    """Every version of a fact, oldest first; None if no fact has that id."""
    events = [logged(stored) for stored in await log.facts_with_follow_ups(db, [event_id], _EVER)]
    if not events or events[0].id != event_id or not isinstance(events[0].event, Fact):
        return None
    item = start(events[0])
    found = [Revision(item, events[0])]
    for follow_up in events[1:]:
        changed = evolve(item, follow_up)
        if changed is not item:  # a retracted fact takes no more changes
            item = changed
            found.append(Revision(item, follow_up))
    return found


async def profile_as_of(db: Database, slug: str, at: datetime) -> Profile | None:
    profile: Profile | None = None
    for stored in await log.entity_events(db, slug, at):
        event = logged(stored).event
        match event:
            case EntityRegistered() | EntityUpdated() | EntityMerged():
                profile = evolve_profile(profile, event)
            case Fact() | FollowUp():
                pass  # an entity's stream holds facts too; they are items, not the profile
            case _:
                assert_never(event)
    return profile


async def merged_as_of(db: Database, slug: str, at: datetime) -> list[str]:
    """The slugs merged into ``slug`` by ``at`` (directly or through one another)."""
    merged: list[str] = []
    frontier = [slug]
    while frontier:
        into = frontier.pop()
        for candidate in await tables.merged_into(db, into):
            earlier = await profile_as_of(db, candidate, at)
            if earlier is not None and earlier.merged_into == into and candidate not in merged:
                merged.append(candidate)
                frontier.append(candidate)
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
    if isinstance(query.after, TimelineCursor):
        after = (query.after.start, query.after.precision, query.after.position)
        ordered = [i for i in ordered if (sort_key(i) < after if query.descending else sort_key(i) > after)]
    return ordered[: query.limit + 1]
