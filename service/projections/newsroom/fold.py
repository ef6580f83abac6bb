"""The newsroom read model's fold: how events become rows of its tables.

It applies a batch of events in the caller's transaction. Items and profiles the batch touches
are read once, folded in memory with the pure rules of ``service.domain``, and written once.
A rebuild folds the whole log the same way (``load``), writing each item once, when no later
event in the log changes it. The rows and the statements that write them are in
``service.store.newsroom``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Generic, assert_never
from uuid import UUID

from schemas import (
    EVENT_TYPES,
    EntityEvent,
    EntityMerged,
    EntityRef,
    EntityRegistered,
    EntityUnmerged,
    EntityUpdated,
    Event,
    EventConfirmed,
    EventCorrected,
    EventDenied,
    EventErased,
    EventRetracted,
    Fact,
    FollowUp,
    parse_partial_date,
)
from service.domain.cursors import LogCursor
from service.domain.entities import Profile, evolve_profile
from service.domain.timeline import Item, RecordedEvent, evolve, start
from service.domain.versions import State, Version, in_order, replayed, versions_after
from service.projections.engine import EventNotApplied, logged
from service.store import Connection
from service.store import events as log
from service.store.events import FoldRow, LogSnapshot
from service.store.newsroom import writes
from service.store.newsroom.rows import (
    Change,
    Retired,
    Rows,
    add_item,
    add_item_versions,
    add_profile,
    add_profile_versions,
)
from service.store.writers import Writers

_FOLLOW_UPS = sorted(tag for tag, cls in EVENT_TYPES.items() if issubclass(cls, FollowUp))
_LOAD_CHUNK = 5000


def _entities_named(event: Event) -> list[EntityRef]:
    """The entities an event brings into an item: a fact's, or those a correction moves it to."""
    match event:
        case Fact():
            return event.entities
        case EventCorrected():
            return event.changes.entities or []
        case (
            EventConfirmed()
            | EventDenied()
            | EventRetracted()
            | EntityRegistered()
            | EntityUpdated()
            | EntityMerged()
            | EntityUnmerged()
            | EventErased()
        ):
            return []
        case _:
            assert_never(event)


def _item_fold(item: Item | None, logged: RecordedEvent) -> Item | None:
    if isinstance(logged.event, Fact):
        return start(logged)
    return None if item is None else evolve(item, logged)


def _profile_fold(profile: Profile | None, logged: RecordedEvent) -> Profile | None:
    event = logged.event
    if isinstance(event, EntityEvent):
        return evolve_profile(profile, event)
    return profile


_STORED = UUID(int=0)
"""Stands for the event that made a stored version: a batch that closes one copies it in SQL."""


class _Versions(Generic[State]):
    """One kind of state's versions in a batch: the current one of each key, the earlier ones
    the batch made (closed), and what happens to what is stored: a current row that gives way
    at an instant (``retired``), or versions replayed from scratch (``forgotten``)."""

    def __init__(self) -> None:
        self.current: dict[Any, Version[State]] = {}
        self.names: dict[Any, list[str]] = {}
        """The words the current version is found by, for one this batch made."""
        self.made: dict[Any, list[tuple[Version[State], list[str]]]] = {}
        self.stored: set[Any] = set()
        """Keys whose current version is the stored row's."""
        self.retired: dict[Any, datetime] = {}
        self.forgotten: set[Any] = set()
        self.replay: set[Any] = set()
        """Keys whose versions are replayed from the log: an event came in out of order."""

    def load(self, key: Any, state: State, since: datetime) -> None:
        self.current[key] = Version(state, since, made_by=_STORED)
        self.stored.add(key)

    def change(self, key: Any, state: State, logged: RecordedEvent, names: list[str]) -> None:
        """``state`` is what ``logged`` made of ``key``; ``names`` the words it is found by."""
        if key in self.replay:
            return
        current = self.current.get(key)
        if not in_order(current, logged):
            self.replay.add(key)
            return
        if current is None:  # a new fact or entity: most of a rebuild
            self.current[key] = Version(state, logged.recorded_at, logged.id)
            self.names[key] = names
            return
        if current.state == state:
            return  # nothing changed: no new version
        *closed, made = versions_after(current, state, logged)
        if closed and key in self.stored:
            self.retired[key] = logged.recorded_at  # the stored row is copied into the versions
        elif closed:
            self.made.setdefault(key, []).append((closed[0], self.names[key]))
        self.stored.discard(key)
        self.current[key] = made
        self.names[key] = names

    def replayed(self, key: Any, versions: list[Version[State]], names: list[str]) -> None:
        self.replay.discard(key)
        self.stored.discard(key)
        self.retired.pop(key, None)
        self.forgotten.add(key)
        self.made[key] = [(version, names) for version in versions[:-1]]
        self.current[key] = versions[-1]

    def take(self, key: Any) -> tuple[Version[State], list[tuple[Version[State], list[str]]]]:
        """The current version of ``key`` and the earlier ones made, which the batch forgets."""
        self.stored.discard(key)
        self.names.pop(key, None)
        return self.current.pop(key), self.made.pop(key, [])


class Batch:
    """What a run of events changes, folded in memory before it is written."""

    def __init__(self) -> None:
        self.items: dict[UUID, Item] = {}
        self.profiles: dict[str, Profile] = {}
        self.changed_items: dict[UUID, Change] = {}
        self.changed_profiles: dict[str, int] = {}
        # Per changed item: the names of its entities when it last changed (the words its search
        # finds), and every entity it involved in this run, in order.
        self.names: dict[UUID, list[str]] = {}
        self.involved: dict[UUID, dict[str, None]] = {}
        self.item_versions: _Versions[Item] = _Versions()
        self.profile_versions: _Versions[Profile] = _Versions()
        self.last: RecordedEvent | None = None

    async def load(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """Read what ``events`` change from the tables."""
        targets = [e.event.event_id for e in events if isinstance(e.event, FollowUp)]
        if targets:
            for event_id, (item, since) in (await writes.load_items(conn, targets)).items():
                self.items[event_id] = item
                self.item_versions.load(event_id, item, since)
        slugs = {ref.slug for e in events for ref in _entities_named(e.event)}
        slugs.update(e.event.slug for e in events if isinstance(e.event, EntityEvent))
        for item in self.items.values():
            slugs |= item.slugs
        for slug, (profile, since) in (await writes.load_profiles(conn, sorted(slugs))).items():
            self.profiles[slug] = profile
            self.profile_versions.load(slug, profile, since)

    def apply(self, logged: RecordedEvent) -> UUID | None:
        """Fold one event in; the item it changed, if any."""
        event = logged.event
        self.last = logged
        match event:
            case Fact():
                item = self.items[logged.id] = start(logged)
                self.changed_items[logged.id] = "new"
                self.involved[logged.id] = {}
                self._changed(item, logged)
                return logged.id
            case FollowUp():
                before = self.items.get(event.event_id)
                if before is None:
                    raise LookupError(f"{event.event_id} is not a fact this projection holds")
                after = self.items[event.event_id] = evolve(before, logged)
                # A retracted fact takes no more changes; but one recorded before the retraction
                # was, and later in the log, is a change as known in between.
                if after is before and in_order(self.item_versions.current.get(event.event_id), logged):
                    return event.event_id
                moved = after.entities != before.entities or after.occurred != before.occurred
                earlier = self.changed_items.get(event.event_id, "same")
                self.changed_items[event.event_id] = "moved" if moved and earlier != "new" else earlier
                if event.event_id not in self.involved:
                    self.involved[event.event_id] = dict.fromkeys(ref.slug for ref in before.entities)
                self._changed(after, logged)
                return event.event_id
            case EntityRegistered() | EntityUpdated() | EntityMerged() | EntityUnmerged():
                profile = self.profiles[event.slug] = evolve_profile(self.profiles.get(event.slug), event)
                self.changed_profiles[event.slug] = logged.position
                self.profile_versions.change(event.slug, profile, logged, [])
                return None
            case EventErased():
                return None  # what an erasure shows is the read side's (part "erase-read")
            case _:
                assert_never(event)

    def _changed(self, item: Item, logged: RecordedEvent) -> None:
        # Events are read back unchecked (see ``logged``); a date that does not parse must stop
        # the fold here, at the event that brought it, not later when the rows are made.
        parse_partial_date(item.occurred)
        # In the item's own order: a set's order changes from process to process, and the
        # search index must come out the same however (and however often) it is built.
        slugs = dict.fromkeys([ref.slug for ref in item.entities])
        self.involved[item.id].update(slugs)
        names = self.names[item.id] = [
            name
            for slug in slugs
            if (profile := self.profiles.get(slug))
            for name in (profile.name, *profile.aliases)
        ]
        self.item_versions.change(item.id, item, logged, names)

    async def replay(self, history: History, facts: Iterable[UUID], entities: bool) -> None:
        """Versions, from scratch, of the ``facts`` (and, if asked, the entities) that an event
        recorded out of order reached; ``history`` must hold every event of theirs folded so far."""
        replay = [event_id for event_id in facts if event_id in self.item_versions.replay]
        slugs = sorted(self.profile_versions.replay) if entities else []
        if not replay and not slugs:
            return
        about: dict[Any, list[RecordedEvent]] = {}
        for stored in await history(replay, slugs):
            event = logged(stored)
            if isinstance(event.event, EntityEvent):
                key: Any = event.stream
            else:
                key = event.event.event_id if isinstance(event.event, FollowUp) else event.id
            about.setdefault(key, []).append(event)
        for event_id in replay:
            self.item_versions.replayed(event_id, replayed(about[event_id], _item_fold), self.names[event_id])
        for slug in slugs:
            self.profile_versions.replayed(slug, replayed(about[slug], _profile_fold), [])

    def take(self, ids: Iterable[UUID]) -> Rows:
        """The rows of the items ``ids``, which this batch then forgets."""
        rows = Rows()
        versions = self.item_versions
        for event_id in ids:
            change = self.changed_items.pop(event_id)
            current, earlier = versions.take(event_id)
            add_item(
                rows,
                self.items.pop(event_id),
                self.names.pop(event_id),
                self.involved.pop(event_id),
                change,
                current,
            )
            if event_id in versions.retired:
                rows.retired.append(Retired(versions.retired.pop(event_id), event_id=event_id))
            if event_id in versions.forgotten:
                versions.forgotten.discard(event_id)
                rows.forgotten.append(event_id)
            add_item_versions(rows, earlier)
        return rows

    def take_profiles(self, rows: Rows) -> None:
        versions = self.profile_versions
        for slug, position in self.changed_profiles.items():
            current, earlier = versions.take(slug)
            add_profile(rows, self.profiles[slug], position, current)
            if slug in versions.retired:
                rows.retired_profiles.append(Retired(versions.retired.pop(slug), slug=slug))
            if slug in versions.forgotten:
                versions.forgotten.discard(slug)
                rows.forgotten_profiles.append(slug)
            add_profile_versions(rows, slug, earlier)
        self.changed_profiles.clear()

    async def save(self, conn: Connection) -> None:
        """Write every change, over what the tables hold."""
        if self.last is not None:
            through = LogCursor(self.last.transaction_id, self.last.position + 1)
            await self.replay(
                lambda facts, entities: log.events_about(conn, facts, entities, through),
                list(self.changed_items),
                entities=True,
            )
        rows = self.take(list(self.changed_items))
        self.take_profiles(rows)
        await writes.save(conn, rows)


History = Callable[[list[UUID], list[str]], Awaitable[list[FoldRow]]]
"""The log's events about some facts and entities, up to the point a fold has reached."""


async def apply(conn: Connection, events: Sequence[RecordedEvent]) -> None:
    """Fold ``events`` into the newsroom tables, inside the caller's transaction."""
    batch = Batch()
    await batch.load(conn, events)
    for event in events:
        batch.apply(event)
    await batch.save(conn)


async def load(snapshot: LogSnapshot, writers: Writers) -> None:
    """Fold a whole snapshot of the log into empty tables.

    The snapshot says up front how many follow-ups each fact will get, so an item is written as
    soon as its last one is folded in: memory holds only the items still waiting for theirs.
    """
    awaiting = await snapshot.references(_FOLLOW_UPS)
    batch = Batch()
    async for chunk in snapshot.chunks(_LOAD_CHUNK):
        finished = []
        for stored in chunk:
            try:
                event = logged(stored)
                changed = batch.apply(event)
            except Exception as error:  # whatever the event does, the rebuild says which one it was
                raise EventNotApplied(stored.id, error) from error
            if changed is None:
                continue
            if isinstance(event.event, FollowUp):
                awaiting[changed] -= 1
            if not awaiting.get(changed):
                finished.append(changed)
        # Replayed now, while the items that need it are still in memory: each is finished, so
        # the snapshot holds all of its events.
        await batch.replay(snapshot.about, finished, entities=False)
        await writes.insert(writers, batch.take(finished))
    await batch.replay(snapshot.about, list(batch.changed_items), entities=True)
    rows = batch.take(list(batch.changed_items))
    batch.take_profiles(rows)
    await writes.insert(writers, rows)
