"""Live timelines: what each event of the log, once projected, changes for a reader watching.

A live stream is the log read on from a place in it (a ``LogCursor``), told as changes to the
facts a timeline shows. Each fact changed is told once per run of events, at the last event
that changed it, so that a stream resumed from any event it told misses nothing after it and
repeats nothing before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never
from uuid import UUID

import msgspec

from schemas import (
    EntityMerged,
    EntityRegistered,
    EntityUnmerged,
    EntityUpdated,
    EventConfirmed,
    EventCorrected,
    EventDenied,
    EventErased,
    EventRetracted,
    Fact,
    LiveKind,
)
from schemas.events import FollowUpKind
from service.domain.cursors import LogCursor
from service.domain.timeline import RecordedEvent

Kind = LiveKind

_TOLD: dict[FollowUpKind, Kind] = {
    "correction": "corrected",
    "clarification": "clarified",
    "update": "updated",
    "amendment": "amended",
}


class Touch(msgspec.Struct, frozen=True):
    """A fact changed by an event of the log, and how."""

    fact: UUID
    kind: Kind
    cursor: LogCursor
    """The event's place in the log: a stream that told this touch resumes after it."""


class Regrouped(msgspec.Struct, frozen=True):
    """A merge, or its undoing: the timelines of both entities are made of other facts now."""

    slugs: tuple[str, str]
    cursor: LogCursor


def touch(logged: RecordedEvent) -> Touch | Regrouped | None:
    """What one event changes for a live reader; None for what no timeline shows."""
    event = logged.event
    cursor = logged.cursor
    match event:
        case Fact():
            return Touch(logged.id, "added", cursor)
        case EventCorrected():
            return Touch(event.event_id, _TOLD[event.kind], cursor)
        case EventConfirmed():
            return Touch(event.event_id, "confirmed", cursor)
        case EventDenied():
            return Touch(event.event_id, "denied", cursor)
        case EventRetracted():
            return Touch(event.event_id, "retracted", cursor)
        case EntityMerged() | EntityUnmerged():
            return Regrouped((event.slug, event.into), cursor)
        case EventErased() if event.slug is not None:
            # Its name leaves every page that shows it: its timelines' readers reload.
            return Regrouped((event.slug, event.slug), cursor)
        case EventErased():
            # What it names, a fact or a follow-up (whose fact the hub finds): told at once.
            return None if event.event_id is None else Touch(event.event_id, "erased", cursor)
        case EntityRegistered() | EntityUpdated():
            return None
        case _:
            assert_never(event)


def latest(touches: Iterable[Touch]) -> list[Touch]:
    """Each fact once, at the last event that touched it, in log order.

    A fact added and then corrected in the same run is told once, as it is after both; its
    kind stays "added", since a reader who had not seen it has nothing corrected to look at.
    A silent amendment after another change keeps that change's kind, which readers are told.
    """
    last: dict[UUID, Touch] = {}
    for found in touches:
        before = last.pop(found.fact, None)
        kept = before is not None and (before.kind == "added" or found.kind == "amended")
        kind = before.kind if before is not None and kept else found.kind
        last[found.fact] = Touch(found.fact, kind, found.cursor)
    return sorted(last.values(), key=lambda found: found.cursor)
