"""The newsroom read model's fold: how events become rows of its tables.

It applies a batch of events in the caller's transaction. Items and profiles the batch touches
are read once, folded in memory with the pure rules of ``service.domain``, and written once.
A rebuild folds the whole log the same way (``load``), writing each item once, when no later
event in the log changes it. The statements are in ``service.store.newsroom``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Literal, assert_never
from uuid import UUID

from schemas import (
    EVENT_TYPES,
    EntityMerged,
    EntityRef,
    EntityRegistered,
    EntityUpdated,
    EventConfirmed,
    EventCorrected,
    EventDenied,
    EventRetracted,
    Fact,
    FollowUp,
    NewEvent,
    parse_partial_date,
)
from service.domain.entities import Profile, alias_keys, evolve_profile, search_key
from service.domain.timeline import Item, LoggedFact, evolve, start
from service.projections.engine import EventNotApplied, logged
from service.store import Connection
from service.store import newsroom as tables
from service.store.events import LogSnapshot
from service.store.newsroom import InvolvementRow, ItemRow, MovedRow, ProfileRow, Rows
from service.store.writers import Writers

# Stemming for the languages the newsroom writes in; any other text is indexed word for word.
_STEMMERS = {"en": 0, "fr": 1}
_FOLLOW_UPS = sorted(tag for tag, cls in EVENT_TYPES.items() if issubclass(cls, FollowUp))
_LOAD_CHUNK = 5000


@lru_cache(maxsize=256)
def _stemmer(language: str) -> int:
    """Which of the item's texts (0 English, 1 French, 2 word for word) a language's text joins."""
    return _STEMMERS.get(language.split("-")[0], 2)


def _texts(item: Item, names: list[str]) -> tuple[str, str, str]:
    """The item's words for the English, French and word-for-word indexes, accents removed."""
    texts: tuple[list[str], list[str], list[str]] = ([], [], [*names, *item.tags])
    for by_language in (item.headline, item.summary or {}):
        for language, text in by_language.items():
            texts[_stemmer(language)].append(text)
    english, french, simple = map(search_key, map(" ".join, texts))
    return english, french, simple


Change = Literal["new", "moved", "same"]
"""How an item's involvement rows change: "new" ones are inserted, "moved" ones (a correction
changed its entities or date) are retired and written again, the "same" ones stay."""


def add_rows(rows: Rows, item: Item, names: list[str], involved: Iterable[str], change: Change) -> None:
    """An item's rows, as they are now."""
    start, end, precision = parse_partial_date(item.occurred)
    english, french, simple = _texts(item, names)
    rows.items.append(
        ItemRow(
            item.id,
            item.position,
            start,
            end,
            precision,
            item.type,
            item.status,
            item.retracted is not None,
            item.recorded_at,
            item.tags,
            english,
            french,
            simple,
            item,
        )
    )
    if change == "moved":
        rows.moved.append(MovedRow(item.id, start, precision))
    if change != "same":
        current = item.slugs
        rows.involvement += [
            InvolvementRow(slug, item.id, start, precision, item.position, slug in current)
            for slug in involved
        ]


def _profile_row(profile: Profile, position: int) -> ProfileRow:
    return ProfileRow(
        profile.slug,
        profile.kind,
        profile.merged_into,
        alias_keys(profile),
        search_key(profile.name),
        search_key(" ".join([*profile.aliases, *(profile.description or {}).values()])),
        position,
        tables.encode_profile(profile),
    )


def _entities_named(event: NewEvent) -> list[EntityRef]:
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
        ):
            return []
        case _:
            assert_never(event)


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

    async def load(self, conn: Connection, events: Sequence[LoggedFact]) -> None:
        """Read what ``events`` change from the tables."""
        targets = [e.event.event_id for e in events if isinstance(e.event, FollowUp)]
        if targets:
            self.items.update(await tables.load_items(conn, targets))
        slugs = {ref.slug for e in events for ref in _entities_named(e.event)}
        slugs.update(
            e.event.slug
            for e in events
            if isinstance(e.event, EntityRegistered | EntityUpdated | EntityMerged)
        )
        for item in self.items.values():
            slugs |= item.slugs
        self.profiles.update(await tables.load_profiles(conn, sorted(slugs)))

    def apply(self, logged: LoggedFact) -> UUID | None:
        """Fold one event in; the item it changed, if any."""
        event = logged.event
        match event:
            case Fact():
                item = self.items[logged.id] = start(logged)
                self.changed_items[logged.id] = "new"
                self.involved[logged.id] = {}
                self._changed(item)
                return logged.id
            case FollowUp():
                before = self.items.get(event.event_id)
                if before is None:
                    raise LookupError(f"{event.event_id} is not a fact this projection holds")
                after = self.items[event.event_id] = evolve(before, logged)
                moved = after.entities != before.entities or after.occurred != before.occurred
                earlier = self.changed_items.get(event.event_id, "same")
                self.changed_items[event.event_id] = "moved" if moved and earlier != "new" else earlier
                if event.event_id not in self.involved:
                    self.involved[event.event_id] = dict.fromkeys(ref.slug for ref in before.entities)
                self._changed(after)
                return event.event_id
            case EntityRegistered() | EntityUpdated() | EntityMerged():
                self.profiles[event.slug] = evolve_profile(self.profiles.get(event.slug), event)
                self.changed_profiles[event.slug] = logged.position
                return None
            case _:
                assert_never(event)

    def _changed(self, item: Item) -> None:
        # Events are read back unchecked (see ``logged``); a date that does not parse must stop
        # the fold here, at the event that brought it, not later when the rows are made.
        parse_partial_date(item.occurred)
        # In the item's own order: a set's order changes from process to process, and the
        # search index must come out the same however (and however often) it is built.
        slugs = dict.fromkeys([ref.slug for ref in item.entities])
        self.involved[item.id].update(slugs)
        self.names[item.id] = [
            name
            for slug in slugs
            if (profile := self.profiles.get(slug))
            for name in (profile.name, *profile.aliases)
        ]

    def take(self, ids: Iterable[UUID]) -> Rows:
        """The rows of the items ``ids``, which this batch then forgets."""
        rows = Rows()
        for event_id in ids:
            change = self.changed_items.pop(event_id)
            add_rows(
                rows, self.items.pop(event_id), self.names.pop(event_id), self.involved.pop(event_id), change
            )
        return rows

    def take_profiles(self) -> list[ProfileRow]:
        rows = [
            _profile_row(self.profiles[slug], position) for slug, position in self.changed_profiles.items()
        ]
        self.changed_profiles.clear()
        return rows

    async def save(self, conn: Connection) -> None:
        """Write every change, over what the tables hold."""
        profiles = self.take_profiles()
        await tables.save(conn, self.take(list(self.changed_items)), profiles)


async def apply(conn: Connection, events: Sequence[LoggedFact]) -> None:
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
        await tables.insert(writers, batch.take(finished))
    await tables.insert(writers, batch.take(list(batch.changed_items)))
    await tables.insert_profiles(writers, batch.take_profiles())
