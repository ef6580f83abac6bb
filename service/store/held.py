"""Held events (drafts and embargoes) in ``held_events``, beside the log (migration 0007).

A held row is never changed: whether it is still held is read from what else exists. It is
*published* once the log holds an event with its id (publication appends it there, through the
normal append path), and *withdrawn* once a held retraction that withdraws it exists (its
metadata says ``withdraws``). A held event that is neither is *pending*: what previews show,
what the rules of held appends may name, and what the publisher publishes when it is due.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from schemas import Appended, Held
from service.domain.appending import (
    AppendNeeds,
    AppendPlan,
    AppendState,
    PriorEvent,
    StreamState,
    TargetState,
)
from service.domain.cursors import LogCursor
from service.store import Database, keys
from service.store.events import (
    KEYED,
    SEALED,
    EventIdTaken,
    EventRow,
    NulCharacter,
    keyed,
    opened,
    sealed_columns,
    sealed_events,
)

CHANNEL = "dateline_held"
"""Told of every held append, so that each process's publisher looks at its next due instant."""

_encode = msgspec.json.Encoder().encode


class HeldRow(msgspec.Struct, frozen=True):
    """A held event as ``held_events`` holds it, and where it stands now."""

    position: int
    id: UUID
    stream: str
    type: str
    schema_version: int
    occurred: str | None
    recorded_at: datetime
    data: msgspec.Raw
    metadata: msgspec.Raw
    transaction_id: int
    publish_at: datetime | None
    published: bool
    withdrawn: bool

    @property
    def held(self) -> Held:
        return Held(publish_at=self.publish_at, draft=self.publish_at is None)

    @property
    def withdraws(self) -> bool:
        """Whether it is itself a withdrawal (never published)."""
        return bool(msgspec.json.decode(self.metadata).get("withdraws"))

    def as_logged(self) -> EventRow:
        """As a log row, for reads that show held events among the log's (no version yet)."""
        return EventRow(
            self.position, self.id, self.stream, None, self.type, self.schema_version, self.occurred,
            self.recorded_at, self.data, self.metadata, self.transaction_id, self.held,
        )  # fmt: skip


_PUBLISHED = "exists (select 1 from events e where e.id = h.id)"
_WITHDRAWN = """exists (select 1 from held_events w
    where w.type = 'event.retracted' and (w.data ->> 'event_id')::uuid = h.id
      and (w.metadata ->> 'withdraws')::boolean)"""
_PENDING = f"not {_PUBLISHED} and not {_WITHDRAWN}"
# Held events are sealed as the log's are (``service.store.sealing``), under the keys their
# publication reuses: an erasure shreds a held event's texts, published or not.
_SEALED = sealed_columns("h")
_KEYED = keyed("held_events", "h")
_COLUMNS = f"""h.position, h.id, h.stream, h.type, h.schema_version, h.occurred, h.recorded_at,
    h.metadata::text as metadata, h.transaction_id::text::bigint as transaction_id,
    h.publish_at, {_PUBLISHED} as published, {_WITHDRAWN} as withdrawn, {_SEALED}"""

# The f-strings below only splice in the constant SQL above.
_STREAMS = f"""
select h.stream, h.data ->> 'kind' as kind from held_events h
where h.type = 'entity.registered' and h.stream = any($1::text[]) and {_PENDING}
"""  # noqa: S608
_TARGETS = f"select h.id, h.type, h.stream from held_events h where h.id = any($1::uuid[]) and {_PENDING}"  # noqa: S608
_PRIOR = f"""select h.id, h.stream, h.position, h.recorded_at, h.publish_at, h.type, {_SEALED}
from {_KEYED} where h.id = any($1::uuid[])"""  # noqa: S608
# The keys are written by the same statement under the same check, as the log's append does.
_WRITE = f"""
with keyed as (
    insert into event_keys (event, part, key)
    select * from unnest($10::uuid[], $11::smallint[], $12::bytea[])
    where {keys.ALL_LIVE.format(hashes="$9")}
)
insert into held_events (id, stream, type, schema_version, data, metadata, occurred, publish_at)
select e.id, e.stream, e.type, e.schema_version, e.data::jsonb, e.metadata::jsonb, e.occurred, $8
from unnest($1::uuid[], $2::text[], $3::text[], $4::smallint[], $5::text[], $6::text[], $7::text[])
     with ordinality as e(id, stream, type, schema_version, data, metadata, occurred, n)
where {keys.ALL_LIVE.format(hashes="$9")}
order by e.n
returning id, stream, position, recorded_at, publish_at
"""  # noqa: S608
_EVENT = f"select {_COLUMNS} from {_KEYED} where h.id = $1"  # noqa: S608
# Due: pending, embargoed until now or before; withdrawals are never published themselves.
_DUE = f"""
select {_COLUMNS} from {_KEYED}
where h.publish_at <= clock_timestamp() and {_PENDING} and not coalesce((h.metadata ->> 'withdraws')::boolean, false)
order by h.position
"""  # noqa: S608
# Walks held_events_by_publish_at from now on, past the few published early or withdrawn.
_NEXT_DUE = f"""
select h.publish_at, extract(epoch from h.publish_at - clock_timestamp())::float8 as seconds
from held_events h
where h.publish_at > clock_timestamp() and {_PENDING}
order by h.publish_at
limit 1
"""  # noqa: S608
_LOG_WITH_HELD = f"""
select * from (
    select position, id, stream, version, type, schema_version, occurred, recorded_at,
           metadata::text as metadata, transaction_id::text::bigint as transaction_id,
           null::timestamptz as publish_at, false as held, {SEALED}
    from {KEYED}
    where (transaction_id, position) > ($1::text::xid8, $2)
      and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
    union all
    select h.position, h.id, h.stream, null, h.type, h.schema_version, h.occurred, h.recorded_at,
           h.metadata::text, h.transaction_id::text::bigint, h.publish_at, true, {_SEALED}
    from {_KEYED}
    where (h.transaction_id, h.position) > ($1::text::xid8, $2)
      and h.transaction_id < pg_snapshot_xmin(pg_current_snapshot()) and {_PENDING}
) merged
order by transaction_id, position
limit $3
"""  # noqa: S608
_STREAM = f"""
select h.position, h.id, h.stream, null as version, h.type, h.schema_version, h.occurred, h.recorded_at,
       h.metadata::text as metadata, h.transaction_id::text::bigint as transaction_id,
       h.publish_at, true as held, {_SEALED}
from {_KEYED} where h.stream = $1 and {_PENDING}
order by h.position
"""  # noqa: S608


def _held(row: asyncpg.Record) -> HeldRow:
    return HeldRow(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], msgspec.Raw(opened(row, 12).encode()),
        msgspec.Raw(row[7].encode()), row[8], row[9], row[10], row[11],
    )  # fmt: skip


def _mixed(row: asyncpg.Record) -> EventRow:
    """A row of the log or a held one, its sealed texts opened."""
    held = Held(publish_at=row[10], draft=row[10] is None) if row[11] else None
    return EventRow(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
        msgspec.Raw(opened(row, 12).encode()), msgspec.Raw(row[8].encode()), row[9], held,
    )  # fmt: skip


def _appended(row: asyncpg.Record) -> Appended:
    held = Held(publish_at=row["publish_at"], draft=row["publish_at"] is None)
    return Appended(
        id=row["id"],
        stream=row["stream"],
        version=None,
        position=row["position"],
        recorded_at=row["recorded_at"],
        held=held,
    )


async def held_state(conn: Database, needs: AppendNeeds) -> AppendState:
    """What the pending held events add to the state ``needs`` asks for: the entities they
    register, the events the follow-ups name, and the held events under the posted ids."""
    streams = {
        row["stream"]: StreamState(None, row["kind"], None, held=True)
        for row in (await conn.fetch(_STREAMS, needs.slugs) if needs.slugs else [])
    }
    targets = {
        row["id"]: TargetState(row["type"], row["stream"], retracted=False, held=True)
        for row in (await conn.fetch(_TARGETS, needs.targets) if needs.targets else [])
    }
    prior = {
        row["id"]: PriorEvent(_appended(row), row["type"], opened(row, 6))
        for row in (await conn.fetch(_PRIOR, needs.ids) if needs.ids else [])
    }
    return AppendState(streams, targets, prior)


async def write_held(
    conn: Database,
    plan: AppendPlan,
    metadata: Sequence[Mapping[str, Any]],
    hold: Held,
    writers: Sequence[bytes] = (),
) -> list[Appended]:
    """Write a plan's events as held, in one statement; ``keys.Revoked`` unless every key of
    ``writers`` is live."""
    metas = [
        _encode({**meta, "withdraws": True} if event.withdraws else meta).decode()
        for event, meta in zip(plan.events, metadata, strict=True)
    ]
    try:
        events, sealed = await sealed_events(conn, plan.events)
        rows = await conn.fetch(
            _WRITE,
            [event.id for event in events],
            [event.stream for event in events],
            [event.type for event in events],
            [event.schema_version for event in events],
            [event.data for event in events],
            metas,
            [event.occurred for event in events],
            hold.publish_at,
            sorted(set(writers)),
            [key.event for key in sealed],
            [key.part for key in sealed],
            [key.key for key in sealed],
        )
    except asyncpg.UntranslatableCharacterError:
        raise NulCharacter from None
    except asyncpg.UniqueViolationError:
        raise EventIdTaken from None
    if not rows:
        raise keys.Revoked
    return [_appended(row) for row in sorted(rows, key=lambda row: row["position"])]


async def announce(conn: Database) -> None:
    await conn.execute("select pg_notify($1, '')", CHANNEL)


async def read_held(conn: Database, event_id: UUID) -> HeldRow | None:
    row = await conn.fetchrow(_EVENT, event_id)
    return None if row is None else _held(row)


async def due(conn: Database) -> list[HeldRow]:
    """The pending held events whose ``publish_at`` has come, in held order."""
    return [_held(row) for row in await conn.fetch(_DUE)]


async def next_due(conn: Database) -> tuple[datetime, float] | None:
    """The next ``publish_at`` still to come of a pending held event, and the seconds until it."""
    row = await conn.fetchrow(_NEXT_DUE)
    return None if row is None else (row["publish_at"], row["seconds"])


async def read_log_with_held(conn: Database, after: LogCursor, limit: int) -> list[EventRow]:
    """The log and its pending held events merged in one order (their positions come from one
    sequence), as ``events.read_log`` reads the log."""
    rows = await conn.fetch(_LOG_WITH_HELD, str(after.transaction_id), after.position, limit)
    return [_mixed(row) for row in rows]


async def read_held_stream(conn: Database, stream: str) -> list[EventRow]:
    """A stream's pending held events, in held order."""
    return [_mixed(row) for row in await conn.fetch(_STREAM, stream)]
