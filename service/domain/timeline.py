"""Timeline items: how facts and their follow-ups fold into what readers see.

``evolve`` is the whole rule set: a fact starts an item; a confirmation or denial sets its
status; a correction changes fields and, by its kind, marks the item and leaves a public note or
changes it silently; a retraction marks it, and it stays. The projection stores the result; "as known at" reads fold the same events at read time.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any, Literal, assert_never
from uuid import UUID

import msgspec

from schemas import (
    Correction,
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
    Source,
    parse_partial_date,
)
from schemas.events import FollowUpKind
from service.domain.appending import event_type
from service.domain.cursors import LogCursor, TimelineCursor

# Fields beyond those every fact has, which some types carry and corrections may change.
DETAIL_FIELDS = ("title", "parameters", "parameters_qualifier", "price", "amount", "round")


class Hold(msgspec.Struct, frozen=True, omit_defaults=True):
    """Why an event is not public yet: an embargo until ``publish_at``, or a draft (none)."""

    publish_at: datetime | None = None

    @property
    def draft(self) -> bool:
        return self.publish_at is None


class RecordedEvent(msgspec.Struct, frozen=True):
    """An event as the log holds it, decoded: what folds take."""

    id: UUID
    stream: str
    position: int
    recorded_at: datetime
    event: Event
    transaction_id: int
    """With ``position``, where it stands in the log: see ``LogCursor``."""
    hold: Hold | None = None
    """A held event (a draft or an embargo), as only the preview read model folds them."""
    publishes: bool = False
    """It publishes a held event of the same id, which the preview read model folded before."""

    @property
    def cursor(self) -> LogCursor:
        """Where a reader that has seen this event goes on from."""
        return LogCursor(self.transaction_id, self.position)


class CorrectionNote(msgspec.Struct, frozen=True):
    """A correction of any kind, as the item keeps it: amendments too, which readers are not
    told of but the fact's history shows."""

    event_id: UUID
    recorded_at: datetime
    note: dict[str, str] | None
    changed: list[str]
    kind: FollowUpKind = "correction"
    """Items folded before kinds existed hold corrections only."""

    @property
    def told(self) -> bool:
        """Whether readers are told of it: every kind but a silent amendment."""
        return self.kind != "amendment"


class VerdictNote(msgspec.Struct, frozen=True):
    event_id: UUID
    recorded_at: datetime
    status: str
    note: dict[str, str] | None = None
    sources: list[Source] = []


class Retraction(msgspec.Struct, frozen=True):
    event_id: UUID
    recorded_at: datetime
    reason: dict[str, str]


class Erased(msgspec.Struct, frozen=True):
    """The mark an erased fact or entity keeps in place of its text: the day it was erased."""

    on: date


class Item(msgspec.Struct, frozen=True, omit_defaults=True):
    """A fact as readers see it now."""

    id: UUID
    type: str
    stream: str
    position: int
    recorded_at: datetime
    updated_at: datetime
    occurred: str
    headline: dict[str, str]
    entities: list[EntityRef]
    status: str
    summary: dict[str, str] | None = None
    sources: list[Source] = []
    tags: list[str] = []
    details: dict[str, Any] = {}
    verdicts: list[VerdictNote] = []
    corrections: list[CorrectionNote] = []
    retracted: Retraction | None = None
    hold: Hold | None = None
    """Made by a held fact not yet published: only the preview read model has such items."""
    erased: Erased | None = None
    """Set on a tombstone: an erased fact, which keeps its place and none of its text."""

    @property
    def slugs(self) -> set[str]:
        return {ref.slug for ref in self.entities}


@cache
def _details_of(fact_type: type[Fact]) -> tuple[str, ...]:
    """The detail fields a type of fact has."""
    return tuple(name for name in DETAIL_FIELDS if name in fact_type.__struct_fields__)


def start(logged: RecordedEvent) -> Item:
    fact = logged.event
    assert isinstance(fact, Fact)
    return Item(
        id=logged.id,
        type=event_type(fact),
        stream=logged.stream,
        position=logged.position,
        recorded_at=logged.recorded_at,
        updated_at=logged.recorded_at,
        occurred=fact.occurred,
        headline=fact.headline,
        entities=fact.entities,
        status=fact.status,
        summary=fact.summary,
        sources=fact.sources,
        tags=fact.tags,
        details={
            name: value for name in _details_of(type(fact)) if (value := getattr(fact, name)) is not None
        },
        hold=logged.hold,
    )


def published(item: Item | None, logged: RecordedEvent) -> Item | None:
    """The item once ``logged`` publishes the held event that made or changed it (folded already,
    at its held place): the same item, unmarked if it was the fact. None if ``logged`` is no such
    publication, or its item is not there."""
    if not logged.publishes or item is None:
        return None
    if isinstance(logged.event, Fact):
        return msgspec.structs.replace(item, hold=None)
    if any(change.event_id == logged.id for change in changes(item)):
        return item
    return None


def _corrected(item: Item, changes: Correction) -> tuple[dict[str, Any], list[str]]:
    updates: dict[str, Any] = {}
    details = dict(item.details)
    changed = []
    for name in changes.__struct_fields__:
        value = getattr(changes, name)
        if value is None:
            continue
        changed.append(name)
        if name in DETAIL_FIELDS:
            details[name] = value
        else:
            updates[name] = value
    updates["details"] = details
    return updates, changed


def evolve(item: Item, logged: RecordedEvent) -> Item:
    """The item after one follow-up; a retracted item takes no more changes, but an erasure.

    An erasure only moves ``updated_at``: what it takes out, ``erasure.erase_item`` does."""
    event = logged.event
    moved = {"updated_at": logged.recorded_at}
    if isinstance(event, EventErased):
        return msgspec.structs.replace(item, **moved)
    if item.retracted is not None:
        return item
    match event:
        case EventConfirmed() | EventDenied():
            status = "confirmed" if isinstance(event, EventConfirmed) else "denied"
            verdict = VerdictNote(logged.id, logged.recorded_at, status, event.note, event.sources)
            return msgspec.structs.replace(item, status=status, verdicts=[*item.verdicts, verdict], **moved)
        case EventCorrected():
            updates, changed = _corrected(item, event.changes)
            note = CorrectionNote(logged.id, logged.recorded_at, event.note, changed, event.kind)
            return msgspec.structs.replace(item, corrections=[*item.corrections, note], **updates, **moved)
        case EventRetracted():
            retraction = Retraction(logged.id, logged.recorded_at, event.reason)
            return msgspec.structs.replace(item, retracted=retraction, **moved)
        case (
            Fact() | EntityRegistered() | EntityUpdated() | EntityMerged() | EntityUnmerged() | EventErased()
        ):
            return item  # not a follow-up: nothing it could change
        case _:
            assert_never(event)


def fold(logged_events: list[RecordedEvent]) -> dict[UUID, Item]:
    """Every item that the events, in log order, make: what a rebuild or an "as of" read does."""
    items: dict[UUID, Item] = {}
    for logged in logged_events:
        event = logged.event
        match event:
            case Fact():
                items[logged.id] = start(logged)
            case FollowUp():
                if event.event_id in items:
                    items[event.event_id] = evolve(items[event.event_id], logged)
            case EntityRegistered() | EntityUpdated() | EntityMerged() | EntityUnmerged() | EventErased():
                pass  # entities are folded into profiles, not items; erasures by the read model's fold
            case _:
                assert_never(event)
    return items


class LaterChange(msgspec.Struct, frozen=True):
    """A follow-up that changed a fact, and what it says publicly."""

    event_id: UUID
    recorded_at: datetime
    kind: FollowUpKind | Literal["confirmation", "denial", "retraction"]
    note: dict[str, str] | None
    changed: list[str] = []
    """For a correction of any kind: the fields it changed."""


def changes(item: Item) -> list[LaterChange]:
    """Every follow-up that changed ``item``, in the order they were recorded."""
    found = [
        LaterChange(note.event_id, note.recorded_at, note.kind, note.note, note.changed)
        for note in item.corrections
    ]
    found += [
        LaterChange(
            verdict.event_id,
            verdict.recorded_at,
            "confirmation" if verdict.status == "confirmed" else "denial",
            verdict.note,
        )
        for verdict in item.verdicts
    ]
    if item.retracted is not None:
        retraction = item.retracted
        found.append(
            LaterChange(retraction.event_id, retraction.recorded_at, "retraction", retraction.reason)
        )
    return sorted(found, key=lambda change: change.recorded_at)


def told(item: Item) -> list[CorrectionNote]:
    """The corrections readers are told of, in the order they were recorded: all but amendments."""
    return [note for note in item.corrections if note.told]


def mark(item: Item) -> CorrectionNote | None:
    """What the item is marked by ("Corrected", "Clarified", "Updated"): its latest correction
    readers are told of, if any."""
    return next(reversed(told(item)), None)


def changes_after(item: Item, instant: datetime) -> list[LaterChange]:
    """The follow-ups that changed ``item`` after ``instant``: what a pinned view adds to it."""
    return [change for change in changes(item) if change.recorded_at > instant]


def sort_key(item: Item) -> tuple[datetime, int, int]:
    """Timeline order: earliest instant of the partial date, then precision, then log order."""
    span = parse_partial_date(item.occurred)
    return span.start, int(span.precision), item.position


def cursor_after(item: Item) -> TimelineCursor:
    """Where a page that ends with ``item`` goes on from, in timeline order."""
    return TimelineCursor(*sort_key(item))
