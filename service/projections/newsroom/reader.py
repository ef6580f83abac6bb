"""The newsroom read model's one door for readers: timelines, entities, and how far it has got.

Whoever reads (the JSON API, the embed page, feeds, live streams) calls one method per answer: as
known now, from the current rows, or "as known at" an instant, from the versions current then;
the same queries either way. An answer carries the entity its query named, as resolved, and the
cursor of its next page.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from service.domain.cursors import FeedCursor, LogCursor, RankCursor, SlugCursor, TimelineCursor
from service.domain.entities import MergeSpan, Profile, facts_about, merge_spans
from service.domain.errors import BeyondTheLog, NotCaughtUp, NotFound
from service.domain.queries import EntityQuery, TimelineQuery
from service.domain.timeline import Item, LaterChange, changes_after, cursor_after
from service.domain.versions import Version
from service.store import Database, checkpoints
from service.store.newsroom import reads as tables
from service.store.newsroom.rows import NAME


class ItemPage(msgspec.Struct, frozen=True):
    items: list[Item]
    next: TimelineCursor | RankCursor | None
    entity: Profile | None = None
    """The entity the query named, through its aliases and merges; None for any timeline."""
    since: LogCursor | None = None
    """For a page that is followed live, where the log stood before the page was read: its
    reader follows on from there, so a change made while the page was read is told, not missed."""


def _paged(
    items: list[Item], query: TimelineQuery, limit: int | None = None
) -> tuple[list[Item], TimelineCursor | RankCursor | None]:
    """Up to ``limit`` (the query's) of ``items``, and where the next page starts if there is one."""
    limit = limit or query.limit
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    return items, RankCursor(query.skip + limit) if query.relevance else cursor_after(items[-1])


class EntityState(msgspec.Struct, frozen=True):
    """What we know about an entity: its profile, the slugs merged into it, what its facts say."""

    profile: Profile
    merged_from: list[str]
    facts: dict[str, Any]


class PinnedPage(msgspec.Struct, frozen=True):
    """A timeline as known at an instant, and what has happened to it since."""

    page: ItemPage
    at: datetime
    later: dict[UUID, list[LaterChange]]
    """Per item, the follow-ups recorded after the instant: a pinned view freezes the context,
    never the corrections."""
    added: int
    changed: int
    complete: bool
    """False when counting stopped at ``NewsroomReader.counted``: the counts are lower bounds."""


class FeedPage(msgspec.Struct, frozen=True):
    """Items the latest changed first, and where the next (older) page starts."""

    items: list[Item]
    next: FeedCursor | None
    entity: Profile | None
    """As in ``ItemPage``."""


class EntityVersions(msgspec.Struct, frozen=True):
    """Every version of an entity's profile, and every merge it took part in, either side."""

    slug: str
    versions: list[Version[Profile]]
    merges: list[MergeSpan]


class EntityListing(msgspec.Struct, frozen=True):
    entities: list[Profile]
    next: SlugCursor | RankCursor | None


class NewsroomReader:
    """Reads of the newsroom's tables, for one process, and how far they have got.

    The checkpoint is re-read at most every ``ttl`` seconds. Public reads can afford that (a CDN
    holds them for seconds); a read that needs its own write says so with ``min_position`` and
    waits for it. What this process keeps per checkpoint (resolved names, where few rows are,
    encoded answers in the read cache) is keyed on the one value ``checkpoint`` gives.
    """

    counted = 100
    """How many added and changed facts a pinned view counts at most: "100+" says enough in an
    article, and the count then costs no more than a page."""

    def __init__(
        self,
        db: Database,
        *,
        ttl: float = 0.1,
        wait_seconds: float = 3.0,
        names: int = 4096,
        name: str = NAME,
        merged: bool = False,
    ) -> None:
        self.db = db
        self.name = name
        """Whose checkpoint it follows: the newsroom's, or its preview twin's (whose tables ``db``
        finds first on its search path)."""
        self.merged = merged
        """Its projection folds the held events too: ``min_position`` may name one."""
        self.ttl = ttl
        self.wait_seconds = wait_seconds
        """How long a read waits for the projection to include a position it asks for."""
        self.names = names
        """How many resolved entity names it keeps."""
        self._latest = -1
        self._read_at = -1.0
        self._refresh: asyncio.Task[int] | None = None
        self._cursor: LogCursor | None = None
        self._settled_until: datetime | None = None
        """An instant known to be settled, and so every instant before it."""
        self._few: tuple[int, tables.FewBounds] | None = None
        self._resolved: OrderedDict[str, tuple[int, tuple[Profile, list[str]] | None]] = OrderedDict()

    async def checkpoint(self, min_position: int | None = None) -> int:
        """The position of the last event the tables include, once it includes ``min_position``
        if asked (read your own write)."""
        if min_position is not None:
            return self._saw(await self._including(min_position))
        if time.monotonic() - self._read_at < self.ttl:
            return self._latest
        # Reads that find it stale together share one query: a busy process would otherwise send
        # dozens at once, each waiting for a connection the pages need.
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._read_checkpoint())
        return await asyncio.shield(self._refresh)

    async def _read_checkpoint(self) -> int:
        cursor = await checkpoints.cursor(self.db, self.name)
        self._cursor = max(cursor, self._cursor or cursor)
        return self._saw(cursor.position)

    def _saw(self, checkpoint: int) -> int:
        self._latest, self._read_at = checkpoint, time.monotonic()
        return checkpoint

    async def _including(self, position: int) -> int:
        """The checkpoint, once it includes the event at ``position``.

        ``BeyondTheLog`` at once for a position no event has reached; ``NotCaughtUp`` if the
        projection has not got there within ``wait_seconds``.
        """
        deadline = time.monotonic() + self.wait_seconds
        while True:
            coverage = await checkpoints.coverage(self.db, self.name, position, merged=self.merged)
            if coverage.covered is None and position > coverage.head:
                raise BeyondTheLog(position, coverage.head)
            # No event at a position below the head: its transaction rolled back; nothing to wait for.
            if coverage.covered is not False:
                return coverage.checkpoint
            if time.monotonic() >= deadline:
                raise NotCaughtUp(position)
            await asyncio.sleep(0.02)

    async def settled(self, instant: datetime) -> bool:
        """Whether reads as known at ``instant`` are final: nothing can still be recorded by then."""
        if self._settled_until is not None and instant <= self._settled_until:
            return True
        if not await checkpoints.settled(self.db, self.name, instant):
            return False
        self._settled_until = max(instant, self._settled_until or instant)
        return True

    async def timeline(
        self, query: TimelineQuery, as_of: datetime | None = None, *, followed: bool = False
    ) -> ItemPage:
        """A page of the timeline ``query`` asks for, as known now or at ``as_of``; with its
        ``since`` if it is ``followed`` live."""
        since = await self.passed() if followed else None
        entity, query = await self._of_entity(query, as_of)
        found = await tables.timeline(self.db, query, as_of, await self._few_bounds(as_of))
        return ItemPage(*_paged(found, query), entity, since)

    async def whole(self, query: TimelineQuery, most: int, as_of: datetime | None = None) -> ItemPage:
        """The timeline's first ``most`` items at once, for readers that cannot page (TimelineJS),
        read in pages of ``query.limit``; ``next`` says where the rest starts."""
        entity, first = await self._of_entity(query, as_of)
        bounds, items, query = await self._few_bounds(as_of), [], first
        while True:
            found, following = _paged(await tables.timeline(self.db, query, as_of, bounds), query)
            items += found
            if following is None or len(items) >= most:
                break
            query = replace(query, after=following)
        items, rest = _paged(items, first, most)
        return ItemPage(items, rest or following, entity)

    async def pinned(self, query: TimelineQuery, at: datetime) -> PinnedPage:
        """The timeline as known at ``at``, each item with what was recorded about it since,
        and how many facts were added and changed since."""
        entity, then = await self._of_entity(query, at)
        found = await tables.pinned(self.db, then, at, await self._few_bounds(at))
        items, following = _paged([item for item, _ in found], then)
        later = {item.id: changes_after(now, at) for item, now in found[: len(items)] if now is not None}
        # What happened since, over the timeline as it is now: merges since count too.
        _, now = await self._of_entity(query, None)
        added, changed, stopped = await tables.changes_since(self.db, now, at, self.counted)
        return PinnedPage(ItemPage(items, following, entity), at, later, added, changed, not stopped)

    async def _few_bounds(self, as_of: datetime | None) -> tables.FewBounds | None:
        """Where few rows are known, once per checkpoint: they move only with the projection."""
        if as_of is None:
            return None
        if self._few is None or self._few[0] != self._latest or self._latest < 0:
            self._few = (self._latest, await tables.few_bounds(self.db))
        return self._few[1]

    async def _of_entity(
        self, query: TimelineQuery, as_of: datetime | None
    ) -> tuple[Profile | None, TimelineQuery]:
        """The entity the query names, and the query over it and those merged into it, now or at
        ``as_of``."""
        if query.entity is None:
            return None, query
        profile, merged = await self._resolve(query.entity, as_of)
        return profile, query.of([profile.slug, *merged])

    async def feed(self, query: TimelineQuery, before: FeedCursor | None) -> FeedPage:
        """A page of the timeline's feed: what changed last, first."""
        entity, query = await self._of_entity(query, None)
        found = await tables.feed(self.db, query, before)
        if len(found) <= query.limit:
            return FeedPage([item for item, _ in found], None, entity)
        last, since = found[query.limit - 1]
        return FeedPage([item for item, _ in found[: query.limit]], FeedCursor(since, last.position), entity)

    async def live_cursor(self) -> LogCursor:
        """How far in the log the tables have got: what a live stream follows up to."""
        return await checkpoints.cursor(self.db, self.name)

    async def passed(self) -> LogCursor:
        """A place in the log the tables have got past: the last checkpoint this process read
        (a page's reads see at least that much), read afresh only if it has read none."""
        return self._cursor or await self.live_cursor()

    async def facts(self, ids: Sequence[UUID]) -> dict[UUID, Item]:
        """The facts ``ids`` as they are now."""
        return await tables.items_now(self.db, ids)

    async def shown(
        self, query: TimelineQuery, facts: Sequence[UUID], before: datetime
    ) -> tuple[set[UUID], set[UUID]]:
        """Which of ``facts`` the timeline shows now (retracted ones too), and which of the
        others it showed as known at ``before``: a live reader has those to take away."""
        _, current = await self._of_entity(query, None)
        now = await tables.matching(self.db, current, facts)
        others = [fact for fact in facts if fact not in now]
        if not others:
            return now, set()
        try:
            _, then = await self._of_entity(query, before)
        except NotFound:  # the entity was registered since: its timeline showed nothing then
            return now, set()
        return now, await tables.matching(self.db, then, others, before)

    async def named(self, name: str) -> Profile:
        """The entity a slug or alias names now, through merges."""
        profile, _ = await self._resolve(name)
        return profile

    async def source(self, event_id: UUID, index: int) -> str | None:
        """The URL of a fact's source, by its place among the fact's sources now."""
        item = (await tables.items_now(self.db, [event_id])).get(event_id)
        if item is None or not 0 <= index < len(item.sources):
            return None
        return item.sources[index].url

    async def entity(self, name: str, as_of: datetime | None = None) -> EntityState:
        """The entity a slug or alias names (through merges), as known now or at ``as_of``."""
        profile, merged = await self._resolve(name, as_of)
        items = await tables.items_involving(self.db, [profile.slug, *merged], as_of)
        return EntityState(profile, merged, facts_about({profile.slug, *merged}, profile.kind, items))

    async def history(self, event_id: UUID) -> list[Version[Item]]:
        """Every version of a fact: when it changed, and which event changed it."""
        found = await tables.versions(self.db, event_id)
        if not found:
            raise NotFound(f"No fact {event_id} is in the log.")
        return found

    async def entity_history(self, name: str) -> EntityVersions:
        """The entity a slug or alias names (itself, not what it is merged into): its versions,
        and its merges and their undoing, whether it was merged or merged into."""
        slug = await tables.named(self.db, name)
        if slug is None:
            raise NotFound(f"No entity '{name}'.")
        found = await tables.profile_versions(self.db, slug)
        own = found.pop(slug, [])
        merges = merge_spans(own) + [
            span for versions in found.values() for span in merge_spans(versions) if span.into == slug
        ]
        return EntityVersions(slug, own, sorted(merges, key=lambda span: (span.merged_at, span.slug)))

    async def entities(self, query: EntityQuery) -> EntityListing:
        """A page of entities, by slug or by how well they match the query's text."""
        found = await tables.entities(self.db, query)
        if len(found) <= query.limit:
            return EntityListing(found, None)
        found = found[: query.limit]
        following = RankCursor(query.skip + query.limit) if query.text else SlugCursor(found[-1].slug)
        return EntityListing(found, following)

    async def _resolve(self, name: str, as_of: datetime | None = None) -> tuple[Profile, list[str]]:
        """What a name stands for, now (looked up once per checkpoint: every uncached entity
        read starts here, and names change only when the projection moves) or at ``as_of``."""
        if as_of is not None:
            earlier = await tables.resolve_entity(self.db, name, as_of)
            if earlier is None:
                raise NotFound(f"No entity '{name}' was registered by {as_of.isoformat()}.")
            return earlier
        known = self._resolved.get(name)
        if known is not None and known[0] == self._latest >= 0:
            self._resolved.move_to_end(name)
            resolved = known[1]
        else:
            seen = self._latest
            resolved = await tables.resolve_entity(self.db, name)
            self._resolved[name] = (seen, resolved)
            if len(self._resolved) > self.names:
                self._resolved.popitem(last=False)
        if resolved is None:
            raise NotFound(f"No entity '{name}'.")
        return resolved
