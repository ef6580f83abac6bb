"""Projection checkpoints, and the locks and notifications that keep one runner per projection.

A checkpoint is a projection's place in the log, ``(transaction_id, position)`` like any log
cursor, committed in the same transaction as the rows it covers. The leader lock (a session
advisory lock) says which runner works; the apply lock (a transaction advisory lock) is held by
every step that writes a projection's live tables, and by a rebuild while it switches over.

Leadership is a lease that the server ends. A runner's session holds the leader lock only as
long as it keeps talking: PostgreSQL ends a session that sits idle, in a transaction or not,
for ``LEASE_SECONDS``, and a statement that runs past ``STATEMENT_SECONDS``. A killed runner's
socket closes at once; a frozen one (SIGSTOP, a paused machine, a stuck event loop) keeps its
connection open, and the kernel even answers keepalives for it, so without the lease its lock
would be held for ever. The session a lease ended can no longer write: a runner that wakes
after being replaced finds its connection closed, and everything it had begun rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from service.domain.cursors import LogCursor
from service.store import UNREACHABLE, Connection, Database
from service.store.database import connect
from service.store.events import EventRow, FoldRow
from service.store.rebuilds import SCHEMA_PREFIX

EVENTS_CHANNEL = "dateline_events"
"""Appends are announced here, after their commit: runners in other processes wake up."""
PROJECTIONS_CHANNEL = "dateline_projections"
"""Each step announces ``<projection>:<position>`` here once it has committed."""
LEASE_SECONDS = 3.0
"""How long a runner's session may sit idle before the server ends it and frees the leader lock.
A frozen leader is replaced within about this plus ``BEAT_SECONDS``: well within the 10 s the
service promises, with room for a busy machine. Shorter would end healthy leaders: the longest
silence inside a step is Python folding a batch between two statements (milliseconds for 500
events), but a loaded machine can stall a process for a second or more."""
BEAT_SECONDS = LEASE_SECONDS / 3
"""A leader says something at least this often, whatever it waits for (the next poll, the retry
after an event it cannot apply): it may miss a beat and still keep its lease. A standby tries
for the lead this often too, so it takes over within a beat of the lease's end."""
STATEMENT_SECONDS = 10.0
"""A runner's statement that has not ended by then is cancelled, and the runner gives up the
lead (``LEASE_LOST``): a statement that hangs, on a lock or a stuck disk, must not hold a
projection for ever. A step's statements take well under a second for a 500-event batch."""
_LEASE = {
    "idle_session_timeout": f"{LEASE_SECONDS * 1000:.0f}",
    "idle_in_transaction_session_timeout": f"{LEASE_SECONDS * 1000:.0f}",
    "statement_timeout": f"{STATEMENT_SECONDS * 1000:.0f}",
}
LEASE_LOST: tuple[type[Exception], ...] = (
    *UNREACHABLE,
    asyncpg.OperatorInterventionError,  # a statement past its timeout, the server shutting down
    asyncpg.IdleInTransactionSessionTimeoutError,
)
"""What a runner's session raises once the lease is over or the connection gone: no fault of the
event being applied, and never recorded as one. The runner starts again, as a standby."""
_LEADER_LOCK = "dateline.projection."
_APPLY_LOCK = "dateline.projection.{}.apply"

_CHECKPOINT = """
select transaction_id::text::bigint as transaction_id, position
from projection_checkpoints where name = $1
"""
_MOVE = """
update projection_checkpoints
set transaction_id = $2::text::xid8, position = $3, recorded_at = $4, updated_at = now(),
    failing_event = null, error = null
where name = $1
"""
_FAIL = "update projection_checkpoints set failing_event = $2, error = $3, updated_at = now() where name = $1"
# Whether the checkpoint covers the event at a position; null when no event has that position,
# with the log's highest position, so that a position past it can be told apart from a gap.
_COVERS = """
select (select (c.transaction_id, c.position) >= (e.transaction_id, e.position)
        from events e where e.position = $1) as covered,
       c.position as checkpoint,
       (select coalesce(max(position), 0) from events) as head
from projection_checkpoints c where c.name = $2
"""
# The same for the preview, whose log holds the held events too (their positions are the log's).
_COVERS_MERGED = """
select (select (c.transaction_id, c.position) >= (e.transaction_id, e.position)
        from (select transaction_id, position from events where position = $1
              union all select transaction_id, position from held_events where position = $1) e) as covered,
       c.position as checkpoint,
       greatest((select coalesce(max(position), 0) from events),
                (select coalesce(max(position), 0) from held_events)) as head
from projection_checkpoints c where c.name = $2
"""
# Whether anything could still be recorded at or before an instant, or has been and is not yet
# in the projection: events are recorded at their statement's start (statement_timestamp), so a
# statement running since then, or a transaction that wrote since then and has not ended, may
# still add one; so may any statement to come, for an instant not yet past. Sessions the role
# may not see (state null) count as running, to be safe.
_SETTLED = """
select $2 < statement_timestamp() and not exists (
    select 1 from pg_stat_activity a
    where a.datname = current_database() and a.pid <> pg_backend_pid() and a.backend_type = 'client backend'
      and (a.state is null or (a.state = 'active' and a.query_start <= $2)
           or (a.backend_xid is not null and a.xact_start <= $2))
) and (
    -- In log order, so that the planner walks events_in_commit_order from the checkpoint on
    -- (a scalar subquery keeps its order and limit; an EXISTS drops them, and the planner,
    -- guessing a third of the log past the checkpoint, read all of it).
    select e.position from events e
    where (e.transaction_id, e.position) > (select transaction_id, position from projection_checkpoints where name = $1)
      and e.recorded_at <= $2
    order by e.transaction_id, e.position limit 1
) is null
"""
_STATES = """
with horizon as (select pg_snapshot_xmin(pg_current_snapshot()) as xmin),
head as (
    select coalesce(max(position), 0) as position from events, horizon
    where transaction_id < horizon.xmin
)
select c.name, c.transaction_id::text::bigint as transaction_id, c.position, c.failing_event, c.error,
       head.position as head,
       exists (select 1 from pg_namespace where nspname = $2::text || c.name) as rebuilding,
       exists (
           select 1 from pg_locks l
           where l.locktype = 'advisory' and l.objsubid = 1 and l.granted
             and l.classid = ((hashtext($1::text || c.name)::bigint >> 32) & 4294967295)::oid
             and l.objid = (hashtext($1::text || c.name)::bigint & 4294967295)::oid
       ) as running,
       (select count(*) from events e, horizon
        where (e.transaction_id, e.position) > (c.transaction_id, c.position)
          and e.transaction_id < horizon.xmin) as lag_events,
       coalesce(extract(epoch from now() - (
           select min(e.recorded_at) from events e, horizon
           where (e.transaction_id, e.position) > (c.transaction_id, c.position)
             and e.transaction_id < horizon.xmin)), 0)::float8 as lag_seconds
from projection_checkpoints c, head
order by c.name
"""


async def settled(db: Database, name: str, instant: datetime) -> bool:
    """Whether the projection ``name`` holds everything that will ever be recorded by ``instant``."""
    return bool(await db.fetchval(_SETTLED, name, instant))


class CheckpointState(msgspec.Struct, frozen=True):
    """A checkpoint as the database sees it now, with the log's head and the lag behind it."""

    name: str
    transaction_id: int
    position: int
    failing_event: UUID | None
    error: str | None
    running: bool
    """Some runner holds the projection's leader lock."""
    rebuilding: bool
    head: int
    lag_events: int
    lag_seconds: float


class Coverage(msgspec.Struct, frozen=True):
    """Whether a projection has applied the event at a position."""

    covered: bool | None
    """None when no event has that position."""
    checkpoint: int
    head: int
    """The highest position in the log."""


async def cursor(conn: Database, name: str) -> LogCursor:
    checkpoint = await conn.fetchrow(_CHECKPOINT, name)
    if checkpoint is None:
        raise LookupError(f"no checkpoint for projection {name}: is the database migrated?")
    return LogCursor(checkpoint["transaction_id"], checkpoint["position"])


async def move(conn: Connection, name: str, last: EventRow | FoldRow) -> None:
    """The projection ``name`` has applied every event up to ``last``."""
    await conn.execute(_MOVE, name, str(last.transaction_id), last.position, last.recorded_at)


async def fail(conn: Connection, name: str, failing: UUID | None, error: str) -> None:
    await conn.execute(_FAIL, name, failing, error)


async def hold_apply_lock(conn: Connection, name: str) -> None:
    """Until the transaction ends, no one else writes ``name``'s live tables."""
    await conn.execute("select pg_advisory_xact_lock(hashtext($1))", _APPLY_LOCK.format(name))


async def try_lead(conn: Connection, name: str) -> bool:
    """Take ``name``'s leader lock for this session, if no other session holds it."""
    led: bool = await conn.fetchval("select pg_try_advisory_lock(hashtext($1))", _LEADER_LOCK + name)
    return led


async def beat(conn: Connection) -> None:
    """Keep the session's lease: the server ends a session that says nothing for a while."""
    await conn.execute("select 1")


async def announce_progress(conn: Connection, name: str, position: int) -> None:
    await conn.execute("select pg_notify($1, $2)", PROJECTIONS_CHANNEL, f"{name}:{position}")


async def announce_append(pool: Database) -> None:
    await pool.execute("select pg_notify($1, '')", EVENTS_CHANNEL)


@contextlib.asynccontextmanager
async def listening(
    database_url: str, channel: str, on_notice: Callable[[str], None], settings: dict[str, str] | None = None
) -> AsyncIterator[Connection]:
    """A connection of its own, handed each notice's payload on ``channel``; ended with the block.

    It is terminated, not closed: after a cancellation it may be mid-query, and ending the
    session is also what releases a runner's leader lock.
    """
    conn = await connect(database_url, settings)
    try:
        await conn.add_listener(channel, lambda _conn, _pid, _channel, payload: on_notice(payload))
        yield conn
    finally:
        conn.terminate()


async def woken(event: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``event`` (set by a notice) is; whether it was.

    ``asyncio.timeout``, not ``wait_for``: Python 3.11's ``wait_for`` loses a cancellation that
    arrives as the event is set, which left a stopping process's loops running on."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(seconds, 0.0)):
            await event.wait()
    return event.is_set()


def session(
    database_url: str, on_append: Callable[[], None], search_path: str | None = None
) -> contextlib.AbstractAsyncContextManager[Connection]:
    """A connection of its own for a runner, told of every append, on the lease (``LEASE_SECONDS``),
    writing the tables ``search_path`` finds first (the public ones by default)."""
    path = {} if search_path is None else {"search_path": search_path}
    return listening(database_url, EVENTS_CHANNEL, lambda _: on_append(), {**_LEASE, **path})


def progress(
    database_url: str, on_progress: Callable[[], None]
) -> contextlib.AbstractAsyncContextManager[Connection]:
    """A connection of its own, told each time a projection has moved (``announce_progress``)."""
    return listening(database_url, PROJECTIONS_CHANNEL, lambda _: on_progress())


async def states(conn: Database) -> list[CheckpointState]:
    rows = await conn.fetch(_STATES, _LEADER_LOCK, SCHEMA_PREFIX)
    return [CheckpointState(**dict(row)) for row in rows]


async def coverage(conn: Database, name: str, position: int, *, merged: bool = False) -> Coverage:
    """Whether ``name`` has applied the event at ``position``: of the log, or of the log merged
    with its held events (the preview's)."""
    row = await conn.fetchrow(_COVERS_MERGED if merged else _COVERS, position, name)
    if row is None:
        raise LookupError(f"no checkpoint for projection {name}: is the database migrated?")
    return Coverage(row["covered"], row["checkpoint"], row["head"])
