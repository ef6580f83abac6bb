"""Versions: what a fact or an entity was as known at each instant of the log's record.

"As known at" an instant means the events recorded by then, folded in log order. An event's
``recorded_at`` almost always grows with its place in the log, and then each event that changes
something starts a version, current until the next one's. Transactions that commit out of order
can break that: an event may come later in the log than one recorded after it. Then the versions
are those of each instant at which events were recorded, each folded from scratch (``replayed``);
the fold notices such an event (``in_order``) and asks for that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from service.domain.timeline import RecordedEvent

State = TypeVar("State")


@dataclass(frozen=True, slots=True)
class Version(Generic[State]):
    """A state as known from ``recorded_from`` until ``recorded_until`` (None: still now)."""

    state: State
    recorded_from: datetime
    made_by: UUID
    """The event that made it: the last in log order of those recorded at ``recorded_from``."""
    recorded_until: datetime | None = None


def in_order(current: Version[State] | None, event: RecordedEvent) -> bool:
    """Whether ``event`` folds onto the current version: recorded no earlier than it began."""
    return current is None or event.recorded_at >= current.recorded_from


def versions_after(
    current: Version[State] | None, state: State, event: RecordedEvent
) -> list[Version[State]]:
    """The versions an in-order ``event`` leaves, from the current one on: the current one closed
    and the new one after it, or only the new one where both were recorded at the same instant."""
    made = Version(state, event.recorded_at, event.id)
    if current is None or current.recorded_from == event.recorded_at:
        return [made]
    closed = Version(current.state, current.recorded_from, current.made_by, event.recorded_at)
    return [closed, made]


def replayed(
    events: Sequence[RecordedEvent], fold: Callable[[State | None, RecordedEvent], State | None]
) -> list[Version[State]]:
    """Every version that ``events`` (in log order) make: at each instant any of them was
    recorded, all those recorded by then, folded in log order."""
    versions: list[Version[State]] = []
    for instant in sorted({event.recorded_at for event in events}):
        state: State | None = None
        for event in events:
            if event.recorded_at <= instant:
                state = fold(state, event)
        if state is None or (versions and versions[-1].state == state):
            continue
        made_by = [event.id for event in events if event.recorded_at == instant][-1]
        if versions:
            last = versions[-1]
            versions[-1] = Version(last.state, last.recorded_from, last.made_by, instant)
        versions.append(Version(state, instant, made_by))
    return versions
