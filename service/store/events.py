"""The event log in PostgreSQL: append, and read in a gap-free global order.

Why readers never skip an event
-------------------------------
``position`` comes from a sequence, and sequences hand out numbers when a row is inserted, not
when its transaction commits. Two appends A (position 10) and B (position 11) can commit as B
then A. A reader that had just seen 11 and remembered "after 11" would never see 10: the
classic gap that made Marten, Emmett and Commanded lose events.

The fix used here is the one Emmett's PostgreSQL store uses. Each row records the id of the
transaction that wrote it (``pg_current_xact_id()``, a 64-bit ``xid8`` that never wraps).
Readers follow the log in ``(transaction_id, position)`` order, and only serve rows whose
transaction is older than the oldest transaction still running
(``pg_snapshot_xmin(pg_current_snapshot())``). Every transaction below that line has finished,
and any transaction that has not yet written gets a larger id when it does, so nothing can
ever appear behind a reader's cursor. The cost is that a long-running transaction anywhere in
the cluster holds readers back (they wait; they never skip).

The alternative, a global lock around every append (the Python eventsourcing library, Message
DB), also works, but it holds the lock through each commit's WAL flush, so appends cannot share
a flush and throughput is capped by one commit at a time. ``bench/`` measures both: see
``docs/architecture.md``.

Appends to one stream are serialised by the row lock on ``streams``, which is also where the
optimistic-concurrency check happens, atomically, in the UPDATE's WHERE clause.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from service.domain.appending import AppendPlan, KnownEvent, KnownStream, StreamChange
from service.domain.errors import Conflict
from service.store import Connection

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True, order=True)
class LogCursor:
    """A place in the global log: after the event written by ``transaction_id`` at ``position``."""

    transaction_id: int
    position: int

    def encode(self) -> str:
        return (
            base64.urlsafe_b64encode(f"{self.transaction_id}.{self.position}".encode()).decode().rstrip("=")
        )

    @classmethod
    def decode(cls, text: str) -> LogCursor:
        """``ValueError`` for anything that is not a cursor this service handed out."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            transaction_id, position = (int(part) for part in raw.split("."))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError("not a cursor from this API: pass back a `next` value unchanged") from None
        if transaction_id < 0 or position < 0 or transaction_id >= 2**63:
            raise ValueError("not a cursor from this API: pass back a `next` value unchanged")
        return cls(transaction_id, position)


START = LogCursor(0, 0)


@dataclass(frozen=True, slots=True)
class AppendedRow:
    id: UUID
    stream: str
    version: int
    position: int
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class ExistingEvent:
    """An event already in the log, for idempotent retries."""

    row: AppendedRow
    type: str
    data: Any


_LOG_COLUMNS = """position, id, stream, version, type, schema_version, occurred, recorded_at,
    data::text as data, metadata::text as metadata, transaction_id::text::bigint as transaction_id"""

# The f-strings below only splice in the constant column list above.
_READ_LOG = f"""
select {_LOG_COLUMNS}
from events
where (transaction_id, position) > ($1::text::xid8, $2)
  and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
order by transaction_id, position
limit $3
"""  # noqa: S608
_READ_STREAM = f"""
select {_LOG_COLUMNS}
from events
where stream = $1 and version >= $2
order by version
limit $3
"""  # noqa: S608
_READ_EVENT = f"select {_LOG_COLUMNS} from events where id = $1"  # noqa: S608
_STREAM_VERSION = "select version from streams where stream = $1"
_KNOWN_STREAMS = "select stream, version, kind, merged_into from streams where stream = any($1::text[])"
_KNOWN_EVENTS = """
select e.id, e.type, e.stream,
       exists (select 1 from events r
               where r.type = 'event.retracted' and (r.data ->> 'event_id')::uuid = e.id
                 and r.type like 'event.%') as retracted
from events e
where e.id = any($1::uuid[])
"""
_EXISTING = """
select id, stream, version, position, recorded_at, type, data::text as data
from events where id = any($1::uuid[])
"""
_REGISTER = """
insert into streams (stream, version, kind) values ($1, $2, $3)
on conflict (stream) do nothing
returning version
"""
_ADVANCE = "update streams set version = version + $2 where stream = $1 returning version"
_ADVANCE_FROM = (
    "update streams set version = version + $2 where stream = $1 and version = $3 returning version"
)
_MERGE = "update streams set merged_into = $2 where stream = $1"
_INSERT = """
insert into events (id, stream, version, type, schema_version, data, metadata, occurred)
select id, stream, version, type, schema_version, data::jsonb, metadata::jsonb, occurred
from unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::smallint[], $6::text[], $7::text[], $8::text[])
     with ordinality as new (id, stream, version, type, schema_version, data, metadata, occurred, ord)
order by ord
returning id, position, recorded_at
"""


async def known_streams(conn: Connection, slugs: Sequence[str]) -> dict[str, KnownStream]:
    rows = await conn.fetch(_KNOWN_STREAMS, list(slugs))
    return {row["stream"]: KnownStream(row["version"], row["kind"], row["merged_into"]) for row in rows}


async def known_events(conn: Connection, ids: Sequence[UUID]) -> dict[UUID, KnownEvent]:
    if not ids:
        return {}
    rows = await conn.fetch(_KNOWN_EVENTS, list(ids))
    return {row["id"]: KnownEvent(row["type"], row["stream"], row["retracted"]) for row in rows}


async def existing_events(conn: Connection, ids: Sequence[UUID]) -> dict[UUID, ExistingEvent]:
    rows = await conn.fetch(_EXISTING, list(ids))
    return {
        row["id"]: ExistingEvent(
            AppendedRow(row["id"], row["stream"], row["version"], row["position"], row["recorded_at"]),
            row["type"],
            msgspec.json.decode(row["data"]),
        )
        for row in rows
    }


async def stream_version(conn: Connection, stream: str) -> int | None:
    version: int | None = await conn.fetchval(_STREAM_VERSION, stream)
    return version


async def _move_stream(conn: Connection, change: StreamChange) -> int:
    """Advance one stream, checking its expected version atomically; the version it ends at."""
    if change.registers_kind is not None:
        version = await conn.fetchval(_REGISTER, change.stream, change.count, change.registers_kind)
        if version is None:
            raise Conflict(
                f"entity '{change.stream}' is already registered",
                stream=change.stream,
                current_version=await stream_version(conn, change.stream),
            )
    elif change.expected is None:
        version = await conn.fetchval(_ADVANCE, change.stream, change.count)
    else:
        version = await conn.fetchval(_ADVANCE_FROM, change.stream, change.count, change.expected)
        if version is None:
            current = await stream_version(conn, change.stream)
            raise Conflict(
                f"stream '{change.stream}' is at version {current}, not {change.expected}",
                stream=change.stream,
                current_version=current,
            )
    if change.merges_into is not None:
        await conn.execute(_MERGE, change.stream, change.merges_into)
    return int(version)


async def write_plan(
    conn: Connection, plan: AppendPlan, metadata: Sequence[Mapping[str, Any]]
) -> list[AppendedRow]:
    """Write a plan inside the caller's transaction; ``Conflict`` if a stream moved meanwhile."""
    next_version: dict[str, int] = {}
    # Streams are locked in name order, so two batches touching the same streams cannot deadlock.
    for change in plan.streams:
        next_version[change.stream] = await _move_stream(conn, change) - change.count + 1
    versions = []
    for event in plan.events:
        versions.append(next_version[event.stream])
        next_version[event.stream] += 1
    rows = await conn.fetch(
        _INSERT,
        [event.id for event in plan.events],
        [event.stream for event in plan.events],
        versions,
        [event.type for event in plan.events],
        [event.schema_version for event in plan.events],
        [_encode(event.data).decode() for event in plan.events],
        [_encode(meta).decode() for meta in metadata],
        [event.occurred for event in plan.events],
    )
    landed = {row["id"]: row for row in rows}
    return [
        AppendedRow(
            event.id, event.stream, version, landed[event.id]["position"], landed[event.id]["recorded_at"]
        )
        for event, version in zip(plan.events, versions, strict=True)
    ]


async def read_log(conn: Connection, after: LogCursor, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(_READ_LOG, str(after.transaction_id), after.position, limit)
    return rows


async def read_stream(conn: Connection, stream: str, from_version: int, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(_READ_STREAM, stream, from_version, limit)
    return rows


async def read_event(conn: Connection, event_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(_READ_EVENT, event_id)
    return row


def cursor_after(row: asyncpg.Record) -> LogCursor:
    return LogCursor(row["transaction_id"], row["position"])
