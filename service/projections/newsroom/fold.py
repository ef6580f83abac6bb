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
from service.domain.entities import Profile, evolve_logged
from service.domain.erasure import Erasures, erase_item, erase_profile
from service.domain.timeline import Erased, Item, RecordedEvent, evolve, published, start
from service.domain.versions import State, Version, in_order, replayed, versions_after
from service.projections.engine import EventNotApplied, logged
from service.store import Connection, merged
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
    profile_row,
    rewritten,
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


def _item_fold(erasures: Erasures) -> Callable[[Item | None, RecordedEvent], Item | None]:
    def fold(item: Item | None, logged: RecordedEvent) -> Item | None:
        if (publication := published(item, logged)) is not None:
            return erase_item(publication, erasures)
        if isinstance(logged.event, Fact):
            return erase_item(start(logged), erasures)
        return None if item is None else erase_item(evolve(item, logged), erasures)

    return fold


def _profile_fold(erasures: Erasures) -> Callable[[Profile | None, RecordedEvent], Profile | None]:
    def fold(profile: Profile | None, logged: RecordedEvent) -> Profile | None:
        event = logged.event
        if isinstance(event, EntityEvent):
            return erase_profile(evolve_logged(profile, logged), erasures)
        return profile

    return fold


def erasures_known(erasures: Sequence[FoldRow], notes: dict[UUID, UUID]) -> Erasures:
    """The erasures a rebuild's snapshot holds, applied to every form it folds from the start;
    ``notes`` maps each follow-up erased to its fact."""
    known = Erasures()
    for stored in erasures:
        erasure = logged(stored)
        event = erasure.event
        assert isinstance(event, EventErased)
        erased = Erased(on=erasure.recorded_at.date())
        if event.slug is not None:
            known.entities[event.slug] = erased
        elif event.event_id in notes:
            known.notes[event.event_id] = erased
        elif event.event_id is not None:
            known.facts[event.event_id] = erased
    return known


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
        self.erasures = Erasures()
        """What every form this batch folds is erased of: a rebuild's are known from the start."""
        self.notes: dict[UUID, UUID] = {}
        """The fact of each follow-up whose note an erasure in this batch erases."""
        self.erasing: list[tuple[EventErased, datetime]] = []
        """Erasures this batch carries out over the rows already written."""

    async def load(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """Read what ``events`` change from the tables."""
        targets = [e.event.event_id for e in events if isinstance(e.event, FollowUp)]
        # A held fact's publication finds the item its held event made (in the preview tables).
        targets += [e.id for e in events if e.publishes and isinstance(e.event, Fact)]
        if targets:
            for event_id, (item, since) in (await writes.load_items(conn, targets)).items():
                self.items[event_id] = item
                self.item_versions.load(event_id, item, since)
        slugs = {ref.slug for e in events for ref in _entities_named(e.event)}
        slugs.update(e.event.slug for e in events if isinstance(e.event, EntityEvent))
        for item in self.items.values():
            slugs |= item.slugs
        slugs.update(e.event.slug for e in events if isinstance(e.event, EventErased) and e.event.slug)
        for slug, (profile, since) in (await writes.load_profiles(conn, sorted(slugs))).items():
            self.profiles[slug] = profile
            self.profile_versions.load(slug, profile, since)
        erased = [e.event.event_id for e in events if isinstance(e.event, EventErased) and e.event.event_id]
        if erased:
            self.notes = await log.facts_followed(conn, erased)

    def apply(self, logged: RecordedEvent) -> UUID | None:
        """Fold one event in; the item it changed, if any."""
        event = logged.event
        self.last = logged
        key = event.event_id if isinstance(event, FollowUp) else logged.id
        if (publication := published(self.items.get(key), logged)) is not None:
            return self._published(key, publication, logged)
        match event:
            case Fact():
                item = self.items[logged.id] = erase_item(start(logged), self.erasures)
                self.changed_items[logged.id] = "new"
                self.involved[logged.id] = {}
                self._changed(item, logged)
                return logged.id
            case FollowUp():
                before = self.items.get(event.event_id)
                if before is None:
                    raise LookupError(f"{event.event_id} is not a fact this projection holds")
                after = self.items[event.event_id] = erase_item(evolve(before, logged), self.erasures)
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
                profile = evolve_logged(self.profiles.get(event.slug), logged)
                profile = self.profiles[event.slug] = erase_profile(profile, self.erasures)
                self.changed_profiles[event.slug] = logged.position
                self.profile_versions.change(event.slug, profile, logged, [])
                return None
            case EventErased():
                self.erase(event, logged.recorded_at)
                return None
            case _:
                assert_never(event)

    def _published(self, event_id: UUID, item: Item, logged: RecordedEvent) -> UUID:
        """The publication of a held event already folded at its held place: the fact's item
        loses its mark, a follow-up's change is there already."""
        if item is not self.items[event_id]:
            self.items[event_id] = item
            self.changed_items.setdefault(event_id, "same")
            self.involved.setdefault(event_id, dict.fromkeys(ref.slug for ref in item.entities))
            self._changed(item, logged)
        return event_id

    def erase(self, event: EventErased, at: datetime) -> None:
        """Erase what ``event`` names from what follows it in the batch, and from the rows.

        A rebuild knew it from the start: every form it folded is already erased, and only an
        entity's later events (a new name given after the erasure) are folded as they are."""
        erased = Erased(on=at.date())
        if event.slug is not None:
            if self.erasures.entities.pop(event.slug, None) is not None:
                return
            if (profile := self.profiles.get(event.slug)) is not None:
                self.profiles[event.slug] = erase_profile(profile, Erasures(entities={event.slug: erased}))
        elif event.event_id in self.erasures.facts or event.event_id in self.erasures.notes:
            return
        elif event.event_id is not None:
            known = self.erasures.notes if event.event_id in self.notes else self.erasures.facts
            known[event.event_id] = erased
            fact = self.notes.get(event.event_id, event.event_id)
            if (item := self.items.get(fact)) is not None:
                self.items[fact] = erase_item(item, self.erasures)
        self.erasing.append((event, at))

    def _changed(self, item: Item, logged: RecordedEvent) -> None:
        # Events are read back unchecked (see ``logged``); a date that does not parse must stop
        # the fold here, at the event that brought it, not later when the rows are made.
        parse_partial_date(item.occurred)
        # In the item's own order: a set's order changes from process to process, and the
        # search index must come out the same however (and however often) it is built.
        slugs = dict.fromkeys([ref.slug for ref in item.entities])
        self.involved[item.id].update(slugs)
        names = self.names[item.id] = _names(item, self.profiles)
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
            if isinstance(event.event, EventErased):
                # Erased since: replayed, the fact's forms are all its tombstone.
                if event.event.event_id in replay:
                    self.erasures.facts[event.event.event_id] = Erased(on=event.recorded_at.date())
                continue
            if isinstance(event.event, EntityEvent):
                key: Any = event.stream
            else:
                key = event.event.event_id if isinstance(event.event, FollowUp) else event.id
            about.setdefault(key, []).append(event)
        for event_id in replay:
            versions = replayed(about[event_id], _item_fold(self.erasures))
            if event_id in self.erasures.facts:
                self.items[event_id] = versions[-1].state
            self.item_versions.replayed(event_id, versions, self.names[event_id])
        for slug in slugs:
            self.profile_versions.replayed(slug, replayed(about[slug], _profile_fold(self.erasures)), [])

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

    async def save(self, conn: Connection, about: About = log.events_about) -> None:
        """Write every change, over what the tables hold; ``about`` reads the log it folds."""
        if self.last is not None:
            through = LogCursor(self.last.transaction_id, self.last.position + 1)
            await self.replay(
                lambda facts, entities: about(conn, facts, entities, through),
                list(self.changed_items),
                entities=True,
            )
        rows = self.take(list(self.changed_items))
        self.take_profiles(rows)
        await writes.save(conn, rows)
        if self.erasing:
            await erase_rows(conn, self.erasing, self.erasures, self.notes)


async def erase_rows(
    conn: Connection,
    erasing: Sequence[tuple[EventErased, datetime]],
    erasures: Erasures,
    notes: dict[UUID, UUID],
) -> None:
    """Rewrite every stored form of what ``erasing`` names, current rows and versions alike."""
    facts = [notes.get(event.event_id, event.event_id) for event, _ in erasing if event.event_id is not None]
    if facts:
        rewrites = []
        for event_id, since, item in await writes.item_forms(conn, facts):
            after = erase_item(item, erasures)
            if after != item:
                rewrites.append(rewritten(event_id, since, after, [] if after.erased else None))
        await writes.rewrite_items(conn, rewrites)
    slugs = [(event.slug, at) for event, at in erasing if event.slug is not None]
    for slug, at in slugs:
        await _erase_profile(conn, slug, at)
    if slugs:
        await _rename(conn, [slug for slug, _ in slugs])


async def _erase_profile(conn: Connection, slug: str, at: datetime) -> None:
    """An entity's forms as known before its erasure ``at``, each erased; forms that only its
    personal fields told apart become one, as a rebuild that knew of the erasure from the start
    folds them."""
    erasures = Erasures(entities={slug: Erased(on=at.date())})
    versions, current, position = await writes.profile_forms(conn, slug)
    merged: list[Version[Profile]] = []
    for version in [*versions, current]:
        state = erase_profile(version.state, erasures) if version.recorded_from <= at else version.state
        if merged and merged[-1].state == state:
            last = merged[-1]
            merged[-1] = Version(last.state, last.recorded_from, last.made_by, version.recorded_until)
        else:
            merged.append(Version(state, version.recorded_from, version.made_by, version.recorded_until))
    *earlier, now = merged
    await writes.replace_profile(conn, slug, earlier, profile_row(now.state, position, now))


async def _rename(conn: Connection, slugs: list[str]) -> None:
    """The search texts of every form of the facts that involve the erased ``slugs``, made
    again without their names (from the names their entities have now)."""
    forms = await writes.item_forms(conn, await writes.involving(conn, slugs))
    named = sorted({ref.slug for _, _, item in forms for ref in item.entities})
    profiles = {slug: profile for slug, (profile, _) in (await writes.load_profiles(conn, named)).items()}
    rewrites = [rewritten(event_id, since, item, _names(item, profiles)) for event_id, since, item in forms]
    await writes.rewrite_items(conn, rewrites)


def _names(item: Item, profiles: dict[str, Profile]) -> list[str]:
    """The words an item's entities are found by: their names and aliases, in the item's order."""
    return [
        name
        for slug in dict.fromkeys(ref.slug for ref in item.entities)
        if (profile := profiles.get(slug))
        for name in (profile.name, *profile.aliases)
    ]


History = Callable[[list[UUID], list[str]], Awaitable[list[FoldRow]]]
"""The log's events about some facts and entities, up to the point a fold has reached."""
About = Callable[[Connection, Sequence[UUID], Sequence[str], LogCursor], Awaitable[list[FoldRow]]]
"""``events_about`` of the log a fold follows."""


async def apply(conn: Connection, events: Sequence[RecordedEvent], about: About = log.events_about) -> None:
    """Fold ``events`` into the newsroom tables, inside the caller's transaction."""
    batch = Batch()
    await batch.load(conn, events)
    for event in events:
        batch.apply(event)
    await batch.save(conn, about)


async def apply_merged(conn: Connection, events: Sequence[RecordedEvent]) -> None:
    """``apply`` for the preview read model, which folds the log and its held events together."""
    await apply(conn, events, merged.events_about)


async def load(snapshot: LogSnapshot, writers: Writers) -> None:
    """Fold a whole snapshot of the log into empty tables.

    The snapshot says up front how many follow-ups each fact will get, so an item is written as
    soon as its last one is folded in: memory holds only the items still waiting for theirs.
    """
    awaiting = await snapshot.references(_FOLLOW_UPS)
    batch = Batch()
    batch.erasures = erasures_known(await snapshot.erasures(), await snapshot.erased_notes())
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
            if isinstance(event.event, FollowUp) or event.publishes:
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
