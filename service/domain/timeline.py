"""Timeline items: how facts and their follow-ups fold into what readers see.

``evolve`` is the whole rule set: a fact starts an item; a confirmation or denial sets its
status; a correction changes fields and leaves a public note; a retraction marks it, and it
stays. The projection stores the result; "as known at" reads fold the same events at read time.
"""

from __future__ import annotations

from datetime import datetime
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
from service.domain.appending import event_type
from service.domain.cursors import LogCursor, TimelineCursor

# Fields beyond those every fact has, which some types carry and corrections may change.
DETAIL_FIELDS = ("title", "parameters", "parameters_qualifier", "price", "amount", "round")


class RecordedEvent(msgspec.Struct, frozen=True):
    """An event as the log holds it, decoded: what folds take."""

    id: UUID
    stream: str
    position: int
    recorded_at: datetime
    event: Event
    transaction_id: int
    """With ``position``, where it stands in the log: see ``LogCursor``."""

    @property
    def cursor(self) -> LogCursor:
        """Where a reader that has seen this event goes on from."""
        return LogCursor(self.transaction_id, self.position)


class CorrectionNote(msgspec.Struct, frozen=True):
    event_id: UUID
    recorded_at: datetime
    note: dict[str, str]
    changed: list[str]


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
    )


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
    """The item after one follow-up; a retracted item takes no more changes."""
    event = logged.event
    if item.retracted is not None:
        return item
    moved = {"updated_at": logged.recorded_at}
    match event:
        case EventConfirmed() | EventDenied():
            status = "confirmed" if isinstance(event, EventConfirmed) else "denied"
            verdict = VerdictNote(logged.id, logged.recorded_at, status, event.note, event.sources)
            return msgspec.structs.replace(item, status=status, verdicts=[*item.verdicts, verdict], **moved)
        case EventCorrected():
            updates, changed = _corrected(item, event.changes)
            note = CorrectionNote(logged.id, logged.recorded_at, event.note, changed)
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
                pass  # entities are folded into profiles, not items
            case _:
                assert_never(event)
    return items


class LaterChange(msgspec.Struct, frozen=True):
    """A follow-up that changed a fact, and what it says publicly."""

    event_id: UUID
    recorded_at: datetime
    kind: Literal["correction", "confirmation", "denial", "retraction"]
    note: dict[str, str] | None
    changed: list[str] = []
    """For a correction: the fields it changed."""


def changes(item: Item) -> list[LaterChange]:
    """Every follow-up that changed ``item``, in the order they were recorded."""
    found = [
        LaterChange(note.event_id, note.recorded_at, "correction", note.note, note.changed)
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
