"""The reference for "as known at": the log itself, replayed at an instant with the pure folds.

It reads every event, keeps those recorded by the instant, folds them in log order, and filters,
orders and cuts pages in plain Python, so that the service's indexed versions can be checked
against it. Word search is asked of PostgreSQL, on the replayed item's own texts, with the same
configurations as the service: the words a test searches for appear in no entity's names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from schemas import EntityEvent, parse_partial_date
from service.domain.entities import Profile, evolve_profile, facts_about, search_key
from service.domain.timeline import Item, RecordedEvent, changes_after, fold, sort_key
from service.presentation.entities import entity_view
from service.presentation.timelines import entry
from service.projections.engine import logged
from service.projections.newsroom import EntityState
from service.store.events import LogSnapshot

_MATCHES = """
select to_tsvector('english', $1) || to_tsvector('french', $2) || to_tsvector('simple', $3)
       @@ (websearch_to_tsquery('english', $4) || websearch_to_tsquery('french', $4)
           || websearch_to_tsquery('simple', $4)),
       ts_rank_cd(to_tsvector('english', $1) || to_tsvector('french', $2) || to_tsvector('simple', $3),
                  websearch_to_tsquery('english', $4) || websearch_to_tsquery('french', $4)
                  || websearch_to_tsquery('simple', $4))
"""
_encode = msgspec.json.Encoder().encode


async def read_log(url: str) -> list[RecordedEvent]:
    conn = await asyncpg.connect(url)
    try:
        # Through the store, which opens each event's sealed texts; the whole log, in log order.
        async with LogSnapshot(conn) as snapshot:
            return [logged(row) async for chunk in snapshot.chunks(5000) for row in chunk]
    finally:
        await conn.close()


def as_json(value: Any) -> Any:
    return msgspec.json.decode(_encode(value))


class Replay:
    """The log as known at one instant."""

    def __init__(self, events: Sequence[RecordedEvent], at: datetime) -> None:
        known = [event for event in events if event.recorded_at <= at]
        self.items = fold(known)
        self.profiles: dict[str, Profile] = {}
        for event in known:
            if isinstance(event.event, EntityEvent):
                self.profiles[event.stream] = evolve_profile(self.profiles.get(event.stream), event.event)

    def resolved(self, slug: str) -> tuple[Profile, list[str]] | None:
        """The survivor ``slug`` is merged into (or itself), and every slug merged into that."""
        profile = self.profiles.get(slug)
        if profile is None:
            return None
        while profile.merged_into is not None:
            profile = self.profiles[profile.merged_into]
        merged, frontier = [], [profile.slug]
        while frontier:
            into = frontier.pop()
            for other in self.profiles.values():
                if other.merged_into == into:
                    merged.append(other.slug)
                    frontier.append(other.slug)
        return profile, sorted(merged)

    def involving(self, slugs: Sequence[str]) -> list[Item]:
        wanted = set(slugs)
        return [item for item in self.items.values() if not wanted.isdisjoint(item.slugs)]

    def entity(self, slug: str) -> Any:
        """The entity's state as the API shows it, or None (a 404)."""
        found = self.resolved(slug)
        if found is None:
            return None
        profile, merged = found
        slugs = {profile.slug, *merged}
        state = EntityState(profile, merged, facts_about(slugs, profile.kind, self.involving(sorted(slugs))))
        return as_json(entity_view(state))

    async def timeline(self, conn: asyncpg.Connection, slugs: Sequence[str] | None, **query: str) -> Any:
        """Every item of a timeline query, in its order, as the API shows them (``lang=en``)."""
        items = list(self.items.values()) if slugs is None else self.involving(slugs)
        if query.get("include") != "retracted":
            items = [item for item in items if item.retracted is None]
        if "tags" in query:
            items = [item for item in items if query["tags"] in item.tags]
        if "types" in query:
            items = [item for item in items if item.type == query["types"]]
        if "status" in query:
            items = [item for item in items if item.status == query["status"]]
        if "from" in query:
            start = parse_partial_date(query["from"]).start
            items = [item for item in items if parse_partial_date(item.occurred).end > start]
        if "to" in query:
            end = parse_partial_date(query["to"]).end
            items = [item for item in items if parse_partial_date(item.occurred).start < end]
        ranks: dict[Any, float] = {}
        if "q" in query:
            matching = []
            for item in items:
                row = await conn.fetchrow(_MATCHES, *_texts(item), search_key(query["q"]))
                assert row is not None
                found, rank = row
                if found:
                    matching.append(item)
                    ranks[item.id] = rank
            items = matching
        if query.get("order") == "relevance":
            items.sort(key=lambda item: (-ranks[item.id], -item.position))
        else:
            items.sort(key=sort_key, reverse=query.get("order") == "desc")
        return [as_json(entry(item, "en")) for item in items]

    def pinned(self, now: Replay, at: datetime) -> list[Any]:
        """The whole timeline pinned at ``at`` (this replay's instant), as ids and what each item
        is told since: each follow-up's type, kind and note, and the count of amendments."""
        items = sorted((item for item in self.items.values() if item.retracted is None), key=sort_key)
        shown = []
        for item in items:
            later = changes_after(now.items[item.id], at)
            told = [change for change in later if change.kind != "amendment"]
            shown.append(
                (
                    str(item.id),
                    [(_FOLLOW_UP_TYPES.get(change.kind, "event.corrected"), change.kind) for change in told],
                    len(later) - len(told),
                )
            )
        return shown


_FOLLOW_UP_TYPES = {
    "confirmation": "event.confirmed",
    "denial": "event.denied",
    "retraction": "event.retracted",
}


def _texts(item: Item) -> tuple[str, str, str]:
    """The item's English, French and word-for-word texts, as the fold indexes them (names aside)."""
    texts: tuple[list[str], list[str], list[str]] = ([], [], [*item.tags])
    for by_language in (item.headline, item.summary or {}):
        for language, text in by_language.items():
            texts[{"en": 0, "fr": 1}.get(language.split("-")[0], 2)].append(text)
    english, french, simple = (search_key(" ".join(part)) for part in texts)
    return english, french, simple
