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
optimistic-concurrency check happens, atomically, in the UPDATE's WHERE clause. The whole write
is one call to the ``append_events`` function (migration 0002): one round trip, one implicit
transaction.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import msgspec

from schemas import Appended, Held
from service.domain.appending import (
    AppendNeeds,
    AppendPlan,
    AppendState,
    PlannedEvent,
    PriorEvent,
    StreamChange,
    StreamState,
    TargetState,
)
from service.domain.cursors import LogCursor
from service.domain.errors import Conflict
from service.store import Database, connection, keys, sealing

_encode = msgspec.json.Encoder().encode


class EventRow(msgspec.Struct, frozen=True):
    """An event as the log holds it; its data and metadata as the JSON PostgreSQL gave back."""

    position: int
    id: UUID
    stream: str
    version: int | None
    """None for a held event (``service.store.held``), which has no version yet."""
    type: str
    schema_version: int
    occurred: str | None
    recorded_at: datetime
    data: msgspec.Raw
    metadata: msgspec.Raw
    transaction_id: int
    held: Held | None = None

    @property
    def cursor(self) -> LogCursor:
        """Where a reader that has seen this event goes on from."""
        return LogCursor(self.transaction_id, self.position)


class FoldRow(msgspec.Struct, frozen=True, array_like=True):
    """An event as a fold reads it in bulk: where it stands in the log, and its data's JSON.

    A rebuild reads a million of these: only the columns a fold needs, and no copy of its data.
    """

    id: UUID
    stream: str
    position: int
    recorded_at: datetime
    data: str
    transaction_id: int

    @property
    def cursor(self) -> LogCursor:
        return LogCursor(self.transaction_id, self.position)


class EventIdTaken(Exception):
    """Another append wrote an event with the same id first."""


class NulCharacter(Exception):
    """A text holds U+0000, which PostgreSQL text cannot store."""


def opened(row: asyncpg.Record, at: int, type_: str = "type") -> str:
    """The data of ``row`` unsealed, from its columns ``SEALED`` at ``at`` on."""
    return sealing.unseal(
        row["id"], row[type_], row[at], (row[at + 1], row[at + 3]), (row[at + 2], row[at + 4])
    )


def _stored(row: asyncpg.Record) -> EventRow:
    return EventRow(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
        msgspec.Raw(opened(row, 10).encode()), msgspec.Raw(row[8].encode()), row[9],
    )  # fmt: skip


def _fold_row(row: asyncpg.Record) -> FoldRow:
    return FoldRow(row[0], row[1], row[2], row[3], opened(row, 6), row[5])


def sealed_columns(table: str) -> str:
    """The columns by which a read of ``table`` (the log, or ``held_events``) opens its rows'
    sealed parts (``service.store.sealing``): the boxes from ``data``, their keys from
    ``event_keys`` (joined by ``keyed``), one index probe (or one hash join) per part."""
    return f"""({table}.data - 'sealed')::text as clear,
    decode({table}.data -> 'sealed' ->> 'texts', 'base64') as texts_box, texts_key.key as texts_key,
    decode({table}.data -> 'sealed' ->> 'note', 'base64') as note_box, note_key.key as note_key"""


def keyed(table: str, alias: str | None = None) -> str:
    """``table`` (named ``alias``) with the keys of its rows' sealed parts, for ``sealed_columns``."""
    name = alias or table
    return f"""{table} {name}
left join event_keys texts_key on texts_key.event = {name}.id and texts_key.part = 0
left join event_keys note_key on note_key.event = {name}.id and note_key.part = 1"""


# Every read of the log's data (here, and the merged reads of ``held`` and ``merged``).
SEALED = sealed_columns("events")
KEYED = keyed("events")
_LOG_COLUMNS = f"""position, id, stream, version, type, schema_version, occurred, recorded_at,
    metadata::text as metadata, transaction_id::text::bigint as transaction_id, {SEALED}"""
_FOLD_COLUMNS = f"""id, stream, position, recorded_at, type, transaction_id::text::bigint as transaction_id,
    {SEALED}"""

# The f-strings below only splice in the constant column list above.
_READ_LOG = f"""
select {_LOG_COLUMNS}
from {KEYED}
where (transaction_id, position) > ($1::text::xid8, $2)
  and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
-- Qualified: the select list renames transaction_id (as a bigint), and ordering by that
-- would sort the whole log instead of walking events_in_commit_order.
order by events.transaction_id, events.position
limit $3
"""  # noqa: S608
# A rebuild reads the whole log below the horizon at once, in one snapshot.
_HORIZON = "select pg_snapshot_xmin(pg_current_snapshot())::text"
_READ_BELOW = f"""
select {_FOLD_COLUMNS}
from {KEYED}
where transaction_id < $1::text::xid8
order by events.transaction_id, events.position
"""  # noqa: S608
_REFERENCES = """
select (data ->> 'event_id')::uuid as target, count(*) as referrers
from events
where transaction_id < $1::text::xid8 and type = any($2::text[])
group by 1
"""
_READ_STREAM = f"""
select {_LOG_COLUMNS}
from {KEYED}
where stream = $1 and version >= $2
order by version
limit $3
"""  # noqa: S608
_READ_EVENT = f"select {_LOG_COLUMNS} from {KEYED} where id = $1"  # noqa: S608
_STREAM_VERSION = "select version from streams where stream = $1"
# Everything an append's rules need, in one round trip: the streams it names, the events its
# follow-ups are about, and the events already logged under its ids (a retry). Each branch is an
# index probe, and the statement holds only the branches an append needs: PostgreSQL plans these
# statements afresh at each execution (its plan for the arrays at hand is always costed below a
# generic one), and planning a branch costs more than probing it. One row shape serves the
# three, typed in each branch since any may come first: ``kind`` is a stream's entity kind or
# an event's type.
_STREAM_STATE = """
select 'stream' as state, stream, null::uuid as id, version, kind, merged_into,
       null::boolean as retracted, null::boolean as erased, null::bigint as position,
       null::timestamptz as recorded_at, null::text as clear, null::bytea as texts_box, null::bytea as texts_key,
       null::bytea as note_box, null::bytea as note_key
from streams where stream = any(${}::text[])
"""
_TARGET_STATE = """
select 'target' as state, e.stream, e.id, null::int as version, e.type as kind, null::text as merged_into,
       exists (select 1 from events r
               where r.type = 'event.retracted' and (r.data ->> 'event_id')::uuid = e.id
                 and r.type like 'event.%') as retracted,
       exists (select 1 from events r
               where r.type = 'event.erased' and (r.data ->> 'event_id')::uuid = e.id) as erased,
       null::bigint as position, null::timestamptz as recorded_at, null::text as clear, null::bytea as texts_box, null::bytea as texts_key,
       null::bytea as note_box, null::bytea as note_key
from events e where e.id = any(${}::uuid[])
"""
_PRIOR_STATE = f"""
select 'prior' as state, stream, id, version, type as kind, null::text as merged_into,
       null::boolean as retracted, null::boolean as erased, position, recorded_at, {SEALED}
from {KEYED} where id = any(${{}}::uuid[])
"""  # noqa: S608
# Entities erased already, among those an append's erasures name: only erasures ask, so no
# other append walks an entity's stream for them.
_ERASED_STATE = """
select distinct 'erased' as state, stream, null::uuid as id, null::int as version, null::text as kind,
       null::text as merged_into, null::boolean as retracted, true as erased, null::bigint as position,
       null::timestamptz as recorded_at, null::text as clear, null::bytea as texts_box, null::bytea as texts_key,
       null::bytea as note_box, null::bytea as note_key
from events where stream = any(${}::text[]) and type = 'event.erased' and data ? 'slug'
"""


@functools.cache
def _state_statement(branches: tuple[str, ...]) -> str:
    return "union all".join(branch.format(number) for number, branch in enumerate(branches, 1))


# The writers' keys are checked by the append itself, in its statement: a condition without a
# column of the row is a one-time filter that PostgreSQL evaluates before it calls the function,
# so a revoked key's write calls nothing and returns no row. The check costs an index probe and
# no round trip; its snapshot is the statement's, so a key revoked before the write began is
# refused by it, in every process, with no cache to wait for.
#
# The events' keys are written by the same statement, under the same check: a data-modifying
# CTE always runs, and all of the statement commits or none, so no event is without its keys
# and no key without its event.
_APPEND = f"""
with keyed as (
    insert into event_keys (event, part, key)
    select * from unnest($16::uuid[], $17::smallint[], $18::bytea[])
    where {keys.ALL_LIVE.format(hashes="$15")}
)
select id, stream, version, position, recorded_at
from append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::text::jsonb)
where {keys.ALL_LIVE.format(hashes="$15")}
"""  # noqa: S608
# An erasure's keys are shredded in its append's transaction: no erasure is logged without its
# shredding, and nothing is shredded without its erasure logged.
_SHRED = "select shred($1::uuid, $2::text)"
_KEPT_KEYS = "select event, part, key from event_keys where event = any($1::uuid[])"
PUBLISHED_BY = "published_by"
"""The metadata by which the publisher says an event publishes a held one (``publisher``)."""
_ERASED = "event.erased"
# Undoing a merge is rare enough to take a second statement, in the same transaction as the
# append, instead of another argument to append_events: the stream's row is already locked.
_UNMERGE = "update streams set merged_into = null where stream = $1 and merged_into = $2 returning stream"
_STREAM_MOVED = "DL001"
_EVENT_ID_UNIQUE = "events_id_key"
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
"""U+0000 as JSON escapes it (an escaped backslash before ``u0000`` is no NUL)."""
_KEY_UNIQUE = "event_keys_"
"""Every partition's primary key starts so: an event's keys are taken when its id is."""


async def append_state(conn: Database, needs: AppendNeeds) -> AppendState:
    """What the log holds of the state ``needs`` asks for, read in one statement."""
    asked = [
        (branch, values)
        for branch, values in (
            (_STREAM_STATE, needs.slugs),
            (_TARGET_STATE, needs.targets),
            (_PRIOR_STATE, needs.ids),
            (_ERASED_STATE, needs.erasures),
        )
        if values
    ]
    streams: dict[str, StreamState] = {}
    targets: dict[UUID, TargetState] = {}
    prior: dict[UUID, PriorEvent] = {}
    erased: set[str] = set()
    if not asked:
        return AppendState(streams, targets, prior)
    statement = _state_statement(tuple(branch for branch, _ in asked))
    for row in await conn.fetch(statement, *(values for _, values in asked)):
        if row["state"] == "stream":
            streams[row["stream"]] = StreamState(row["version"], row["kind"], row["merged_into"])
        elif row["state"] == "target":
            targets[row["id"]] = TargetState(
                row["kind"], row["stream"], row["retracted"], erased=row["erased"]
            )
        elif row["state"] == "erased":
            erased.add(row["stream"])
        else:
            prior[row["id"]] = PriorEvent(_appended(row), row["kind"], opened(row, 10, "kind"))
    return AppendState(streams, targets, prior, frozenset(erased))


async def stream_version(conn: Database, stream: str) -> int | None:
    version: int | None = await conn.fetchval(_STREAM_VERSION, stream)
    return version


async def _conflict(conn: Database, change: StreamChange) -> Conflict:
    """Why the database refused to move ``change.stream``, in the client's terms."""
    current = await stream_version(conn, change.stream)
    if change.registers_kind is not None:
        detail = f"entity '{change.stream}' is already registered"
    elif change.merges_into is not None and change.expected is None:
        detail = f"'{change.stream}' was merged meanwhile"
    else:
        detail = f"stream '{change.stream}' is at version {current}, not {change.expected}"
    return Conflict(detail, stream=change.stream, current_version=current)


async def write_plan(
    conn: Database,
    plan: AppendPlan,
    metadata: Sequence[Mapping[str, Any]],
    writers: Sequence[bytes] = (),
) -> list[Appended]:
    """Write a plan in one statement (a transaction for undone merges and erasures);
    ``Conflict`` if a stream moved since the plan was made, ``keys.Revoked`` if a key of
    ``writers`` (their hashes; none for the service's own writes) is not live."""
    changes = plan.streams
    unmerges = [change for change in changes if change.unmerges_from is not None]
    erasures = [_erased(event.data) for event in plan.events if event.type == _ERASED]
    published = [
        event.id
        for event, meta in zip(plan.events, metadata, strict=True)
        if event.id and PUBLISHED_BY in meta
    ]
    events, sealed = await sealed_events(conn, plan.events, published)
    arguments = [
        *_append_arguments(plan, events, metadata),
        sorted(set(writers)),
        [key.event for key in sealed],
        [key.part for key in sealed],
        [key.key for key in sealed],
    ]
    try:
        if unmerges or erasures:
            rows = await _append_in_transaction(conn, unmerges, erasures, arguments)
        else:
            rows = await conn.fetch(_APPEND, *arguments)
    except asyncpg.UntranslatableCharacterError:
        raise NulCharacter from None
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name == _EVENT_ID_UNIQUE or (error.constraint_name or "").startswith(_KEY_UNIQUE):
            raise EventIdTaken from None
        raise
    except asyncpg.PostgresError as error:
        if getattr(error, "sqlstate", None) != _STREAM_MOVED:
            raise
        moved = next(change for change in changes if change.stream == getattr(error, "detail", None))
        raise await _conflict(conn, moved) from None
    if not rows:  # every plan has events: the keys' check refused the write
        raise keys.Revoked
    # Positions are drawn in the batch's order, so position order is the batch's order.
    return [_appended(row) for row in sorted(rows, key=lambda row: row["position"])]


async def sealed_events(
    conn: Database, planned: Sequence[PlannedEvent], published: Sequence[UUID] = ()
) -> tuple[list[PlannedEvent], list[sealing.SealedKey]]:
    """The events with their texts sealed, and their new keys. Keys are found by event id, so an
    event the client gave no id gets one here rather than from the database. The ``published``
    held events are sealed under the keys they were held under: one erasure reaches both copies."""
    kept: dict[UUID, dict[int, bytes]] = {}
    if published:
        for row in await conn.fetch(_KEPT_KEYS, list(published)):
            kept.setdefault(row["event"], {})[row["part"]] = row["key"]
    events: list[PlannedEvent] = []
    sealed: list[sealing.SealedKey] = []
    for event in planned:
        # PostgreSQL's text cannot hold U+0000, and sealed texts no longer reach a text column
        # on the way in: refused here, as the database refused it before.
        if _NUL.search(event.data):
            raise NulCharacter
        event_id = event.id or uuid4()
        data, event_keys = sealing.seal(event_id, event.data, kept.get(event_id))
        events.append(msgspec.structs.replace(event, id=event_id, data=data))
        sealed += event_keys
    return events, sealed


def _erased(data: str) -> tuple[UUID | None, str | None]:
    """What an erasure's data names: a fact or follow-up, or an entity."""
    erasure = msgspec.json.decode(data, type=_Erasure)
    return erasure.event_id, erasure.slug


class _Erasure(msgspec.Struct):
    event_id: UUID | None = None
    slug: str | None = None


async def _append_in_transaction(
    db: Database,
    unmerges: Sequence[StreamChange],
    erasures: Sequence[tuple[UUID | None, str | None]],
    arguments: list[Any],
) -> list[asyncpg.Record]:
    async with connection(db) as conn, conn.transaction():
        rows = await conn.fetch(_APPEND, *arguments)
        if not rows:
            return rows
        for change in unmerges:
            if await conn.fetchval(_UNMERGE, change.stream, change.unmerges_from) is None:
                raise Conflict(
                    f"'{change.stream}' is no longer merged into '{change.unmerges_from}'",
                    stream=change.stream,
                    current_version=await stream_version(conn, change.stream),
                )
        for event_id, slug in erasures:
            await conn.fetchval(_SHRED, event_id, slug)
        return rows


def _append_arguments(
    plan: AppendPlan, events: Sequence[PlannedEvent], metadata: Sequence[Mapping[str, Any]]
) -> list[Any]:
    changes = plan.streams
    # A batch's events usually share one metadata object: it is sent, and parsed, once.
    shared = metadata[0] if metadata else {}
    seen: dict[str, int] = {}
    nths = []
    for event in events:
        nths.append(seen.get(event.stream, 0))
        seen[event.stream] = nths[-1] + 1
    return [
        [change.stream for change in changes],
        [change.count for change in changes],
        [change.expected for change in changes],
        [change.registers_kind for change in changes],
        [change.merges_into for change in changes],
        [event.id for event in events],
        [event.stream for event in events],
        nths,
        [event.type for event in events],
        [event.schema_version for event in events],
        [event.data for event in events],
        [None if meta is shared else _encode(meta).decode() for meta in metadata],
        [event.occurred for event in events],
        _encode(shared).decode(),
    ]


def _appended(row: asyncpg.Record) -> Appended:
    return Appended(
        id=row["id"],
        stream=row["stream"],
        version=row["version"],
        position=row["position"],
        recorded_at=row["recorded_at"],
    )


async def read_log(conn: Database, after: LogCursor, limit: int) -> list[EventRow]:
    rows = await conn.fetch(_READ_LOG, str(after.transaction_id), after.position, limit)
    return [_stored(row) for row in rows]


class LogSnapshot:
    """The whole log up to the horizon, as one read-only snapshot sees it, for reading in one go.

    A read-only transaction never takes a transaction id, so however long the snapshot stays
    open it does not hold the horizon back: live readers go on seeing new events meanwhile.
    """

    read_below = _READ_BELOW
    references_statement = _REFERENCES

    def __init__(self, conn: asyncpg.Connection, on_read: Callable[[int], None] | None = None) -> None:
        self.conn = conn
        self.on_read = on_read
        """Told how many events have been read so far, after each chunk."""
        self.horizon = ""
        self.read = 0
        self.last: FoldRow | None = None
        """The last event read: where a reader following the live log goes on from."""

    async def __aenter__(self) -> LogSnapshot:
        self._transaction = self.conn.transaction(isolation="repeatable_read", readonly=True)
        await self._transaction.start()
        self.horizon = await self.conn.fetchval(_HORIZON)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._transaction.rollback()

    async def chunks(self, size: int) -> AsyncIterator[list[FoldRow]]:
        """Every event in the snapshot, in log order, ``size`` at a time."""
        cursor = await self.conn.cursor(self.read_below, self.horizon)
        while rows := await cursor.fetch(size):
            events = [self.row(row) for row in rows]
            self.read += len(events)
            self.last = events[-1]
            yield events
            if self.on_read is not None:
                self.on_read(self.read)

    def row(self, record: asyncpg.Record) -> FoldRow:
        return _fold_row(record)

    async def about(self, facts: Sequence[UUID], entities: Sequence[str]) -> list[FoldRow]:
        """``events_about`` within the snapshot."""
        return await events_about(self.conn, facts, entities, LogCursor(int(self.horizon), 0))

    async def erasures(self) -> list[FoldRow]:
        """Every erasure in the snapshot, in log order."""
        return [_fold_row(row) for row in await self.conn.fetch(_ERASURES, self.horizon)]

    async def erased_notes(self) -> dict[UUID, UUID]:
        """The follow-ups whose note an erasure in the snapshot erases, each with its fact."""
        return {row[0]: row[1] for row in await self.conn.fetch(_ERASED_NOTES, self.horizon)}

    async def references(self, types: Sequence[str]) -> dict[UUID, int]:
        """How many events of ``types`` name each event by its ``event_id`` field."""
        rows = await self.conn.fetch(self.references_statement, self.horizon, list(types))
        return {row["target"]: row["referrers"] for row in rows}


# A follow-up's own fact, for erasures of its note: an erasure names the follow-up only.
_FACTS_FOLLOWED = """
select id, (data ->> 'event_id')::uuid from events
where id = any($1::uuid[]) and type like 'event.%' and type <> 'event.erased'
"""
_ERASURES = f"""
select {_FOLD_COLUMNS}
from {KEYED} where transaction_id < $1::text::xid8 and type = 'event.erased'
order by events.transaction_id, events.position
"""  # noqa: S608
_ERASED_NOTES = """
select f.id, (f.data ->> 'event_id')::uuid from events f
where f.id in (select (data ->> 'event_id')::uuid from events
               where transaction_id < $1::text::xid8 and type = 'event.erased' and data ? 'event_id')
  and f.type like 'event.%'
"""


_ERASURES_AFTER = f"""
select {_LOG_COLUMNS}
from {KEYED}
where (transaction_id, position) > ($1::text::xid8, $2) and type = 'event.erased'
  and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
order by events.transaction_id, events.position
limit $3
"""  # noqa: S608


async def read_erasures(conn: Database, after: LogCursor, limit: int) -> list[EventRow]:
    """The erasure ledger: the log's ``event.erased`` events after ``after``, in its gap-free order."""
    rows = await conn.fetch(_ERASURES_AFTER, str(after.transaction_id), after.position, limit)
    return [_stored(row) for row in rows]


async def facts_followed(db: Database, ids: Sequence[UUID]) -> dict[UUID, UUID]:
    """Of the events ``ids``, the follow-ups, each with the fact it follows up."""
    return {row[0]: row[1] for row in await db.fetch(_FACTS_FOLLOWED, list(ids))}


async def read_stream(conn: Database, stream: str, from_version: int, limit: int) -> list[EventRow]:
    return [_stored(row) for row in await conn.fetch(_READ_STREAM, stream, from_version, limit)]


async def read_event(conn: Database, event_id: UUID) -> EventRow | None:
    row = await conn.fetchrow(_READ_EVENT, event_id)
    return None if row is None else _stored(row)


# The clear ``event_id`` of a follow-up: what its fact is, found through the log's primary key.
_FOLLOWED_UP = """
select id, (data ->> 'event_id')::uuid as fact from events
where id = any($1::uuid[]) and type like 'event.%' and data ? 'event_id'
"""
_LEDGER = f"select {_LOG_COLUMNS} from {KEYED} where type = 'event.erased' order by position"  # noqa: S608


async def whole_ledger(conn: Database) -> list[EventRow]:
    """Every erasure in the log, in log order: the ledger a restore applies again."""
    return [_stored(row) for row in await conn.fetch(_LEDGER)]


# Everything a fold needs to replay some facts and entities from scratch: the facts, their
# follow-ups and the entities' own events, before a point in the log.
_EVENTS_ABOUT = f"""
select {_FOLD_COLUMNS}
from {KEYED}
where (id = any($1::uuid[])
       or (type like 'event.%' and (data ->> 'event_id')::uuid = any($1::uuid[]))
       or (stream = any($2::text[]) and type like 'entity.%'))
  and (transaction_id, position) < ($3::text::xid8, $4)
order by events.transaction_id, events.position
"""  # noqa: S608


async def events_about(
    db: Database, facts: Sequence[UUID], entities: Sequence[str], before: LogCursor
) -> list[FoldRow]:
    """The facts ``facts`` with their follow-ups, and the entities' own events, that come before
    ``before`` in the log, in log order."""
    rows = await db.fetch(
        _EVENTS_ABOUT, list(facts), list(entities), str(before.transaction_id), before.position
    )
    return [_fold_row(row) for row in rows]


async def followed_up(conn: Database, follow_ups: Sequence[UUID]) -> dict[UUID, UUID]:
    """The facts which those of ``follow_ups`` that are in the log follow up, by follow-up."""
    return {row["id"]: row["fact"] for row in await conn.fetch(_FOLLOWED_UP, list(follow_ups))}
