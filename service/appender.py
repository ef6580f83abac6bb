"""Appending events: one transaction that reads what the rules need, plans, and writes.

Retries of the same request are safe: events posted with an ``id`` that is already in the log
are answered with the original result when their content is the same, and refused with a
conflict when it is not.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from schemas import NewEvent
from service.domain.appending import (
    event_type,
    followed_up_ids,
    plan_append,
    referenced_slugs,
    stored_data,
)
from service.domain.errors import Conflict
from service.store import events as log

_EVENT_ID_UNIQUE = "events_id_key"


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    rows: list[log.AppendedRow]
    replayed: bool
    """True when every event was already in the log: nothing new was written."""


def _replay(
    posted: Sequence[NewEvent], ids: Sequence[uuid.UUID], existing: Mapping[uuid.UUID, log.ExistingEvent]
) -> AppendOutcome:
    """The original result of a retried request, or ``Conflict`` if the ids were reused."""
    for event, event_id in zip(posted, ids, strict=True):
        found = existing.get(event_id)
        if found is None:
            raise Conflict(
                "some events of this request are already in the log and others are not: "
                "a retry must resend exactly the original request"
            )
        same_stream = event.stream is None or event.stream == found.row.stream
        if found.type != event_type(event) or found.data != stored_data(event) or not same_stream:
            raise Conflict(f"event id {event_id} is already used by a different event")
    return AppendOutcome([existing[event_id].row for event_id in ids], replayed=True)


async def append(
    pool: asyncpg.Pool,
    posted: Sequence[NewEvent],
    metadata: Mapping[str, Any],
    paths: Sequence[str],
) -> AppendOutcome:
    """Append ``posted`` atomically; ``paths`` name each event's place in the request body."""
    ids = [event.id or uuid.uuid4() for event in posted]
    client_ids = [event.id for event in posted if event.id is not None]
    per_event_metadata = [
        {
            **metadata,
            **({"correlation_id": event.correlation_id} if event.correlation_id else {}),
            **({"causation_id": event.causation_id} if event.causation_id else {}),
        }
        for event in posted
    ]
    slugs = sorted(referenced_slugs(posted))
    targets = sorted(followed_up_ids(posted))
    async with pool.acquire() as conn:
        # Two identical retries can race past the id check; the loser's insert then hits the
        # unique id, and the second pass answers it from the winner's rows.
        for attempt in (1, 2):
            try:
                async with conn.transaction():
                    if client_ids and (existing := await log.existing_events(conn, client_ids)):
                        return _replay(posted, ids, existing)
                    plan = plan_append(
                        posted,
                        ids,
                        await log.known_streams(conn, slugs),
                        await log.known_events(conn, targets),
                        paths,
                    )
                    rows = await log.write_plan(conn, plan, per_event_metadata)
                    return AppendOutcome(rows, replayed=False)
            except asyncpg.UniqueViolationError as error:
                if error.constraint_name != _EVENT_ID_UNIQUE or attempt == 2:
                    raise
    raise AssertionError("unreachable: the loop returns or raises")
