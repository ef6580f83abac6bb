"""Running projections: follow the log from a checkpoint, never skipping, never applying twice.

Each step reads the next events in the log's gap-free order (the same reader as
``GET /v1/events``), applies them, and moves the checkpoint, all in one transaction: a crash at
any moment leaves rows and checkpoint together, before or after the step, never between.

One runner per projection is active across every process: a runner works only while it holds
a session advisory lock on a connection of its own; the others wait on standby and take over
when that connection goes away. Runners wake when an append announces itself (LISTEN/NOTIFY,
or directly within the process) and also poll, so a lost notification delays and never stalls.

A batch that fails is retried one event at a time, so the checkpoint stops exactly before the
event that cannot be applied; the runner reports that event and the error in
``projection_checkpoints`` and tries again later. It never skips it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import msgspec

from schemas import NewEvent
from schemas.unchecked import unchecked
from service.domain.timeline import LoggedFact
from service.projections.writers import Writers
from service.store import events as log

EVENTS_CHANNEL = "dateline_events"
# Held by every step that writes a projection's live tables; a rebuild takes it to switch over.
APPLY_LOCK = "dateline.projection.{}.apply"
PROJECTIONS_CHANNEL = "dateline_projections"
_log = logging.getLogger("dateline.projections")
# Events were checked when they were appended; reading them back checks their shape only.
_decode_event = msgspec.json.Decoder(unchecked(NewEvent)).decode

Apply = Callable[[asyncpg.Connection, Sequence[LoggedFact]], Awaitable[None]]
Load = Callable[[log.LogSnapshot, Writers], Awaitable[None]]

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


class EventNotApplied(Exception):
    """An event a projection cannot apply: which one, and why."""

    def __init__(self, event_id: UUID, error: Exception) -> None:
        super().__init__(f"event {event_id}: {type(error).__name__}: {error}")
        self.event_id = event_id


@dataclass(frozen=True)
class Projection:
    name: str
    apply: Apply
    """Folds the next events into the tables, in the caller's transaction."""
    load: Load | None = None
    """Folds a whole snapshot of the log into empty tables, handing its inserts to the writers:
    how a rebuild fills its fresh tables before following the live log with ``apply``."""


def logged(row: asyncpg.Record) -> LoggedFact:
    return LoggedFact(
        id=row["id"],
        stream=row["stream"],
        position=row["position"],
        recorded_at=row["recorded_at"],
        event=_decode_event(row["data"]),
    )


async def _cursor(conn: asyncpg.Connection, name: str) -> log.LogCursor:
    checkpoint = await conn.fetchrow(_CHECKPOINT, name)
    if checkpoint is None:
        raise LookupError(f"no checkpoint for projection {name}: is the database migrated?")
    return log.LogCursor(checkpoint["transaction_id"], checkpoint["position"])


async def move_checkpoint(conn: asyncpg.Connection, name: str, last: asyncpg.Record) -> None:
    """The projection ``name`` has applied every event up to ``last``."""
    await conn.execute(_MOVE, name, str(last["transaction_id"]), last["position"], last["recorded_at"])


async def step(conn: asyncpg.Connection, projection: Projection, limit: int, *, live: bool = True) -> int:
    """Apply the next events (up to ``limit``); how many were applied.

    ``live`` steps write the tables readers use: they take the apply lock and announce progress.
    """
    async with conn.transaction():
        if live:
            await conn.execute(
                "select pg_advisory_xact_lock(hashtext($1))", APPLY_LOCK.format(projection.name)
            )
        rows = await log.read_log(conn, await _cursor(conn, projection.name), limit)
        if not rows:
            return 0
        await projection.apply(conn, [logged(row) for row in rows])
        await move_checkpoint(conn, projection.name, rows[-1])
    if live:
        await conn.execute(
            "select pg_notify($1, $2)", PROJECTIONS_CHANNEL, f"{projection.name}:{rows[-1]['position']}"
        )
    return len(rows)


async def _pinpoint(conn: asyncpg.Connection, projection: Projection, error: Exception) -> bool:
    """Apply one event at a time until the one that fails, and record it; whether one failed."""
    try:
        while await step(conn, projection, 1):
            pass
    except Exception as failure:  # the event that cannot be applied, whatever the reason
        rows = await log.read_log(conn, await _cursor(conn, projection.name), 1)
        failing = rows[0]["id"] if rows else None
        await conn.execute(_FAIL, projection.name, failing, f"{type(failure).__name__}: {failure}")
        _log.error("projection %s stopped before event %s: %s", projection.name, failing, failure)
        return True
    _log.warning("projection %s: a batch failed (%s) but each event applied alone", projection.name, error)
    return False


async def catch_up(conn: asyncpg.Connection, projection: Projection, batch: int = 500) -> bool:
    """Apply everything the log holds now; False if it stopped before an event it cannot apply.

    Raises nothing an event causes: such failures are recorded in the checkpoint row.
    """
    while True:
        try:
            applied = await step(conn, projection, batch)
        except Exception as error:  # whatever an event does to a projection, it is recorded, not raised
            return not await _pinpoint(conn, projection, error)
        if not applied:
            return True


def _lock_key(name: str) -> str:
    return f"dateline.projection.{name}"


class Runner:
    """Keeps one projection up to date for as long as it runs."""

    def __init__(
        self,
        database_url: str,
        projection: Projection,
        *,
        poll_seconds: float = 1.0,
        retry_seconds: float = 10.0,
    ) -> None:
        self.database_url = database_url
        self.projection = projection
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.wake = asyncio.Event()

    async def run_forever(self) -> None:
        while True:
            try:
                await self._lead()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                _log.warning(
                    "projection %s lost its connection (%s); reconnecting", self.projection.name, error
                )
            await asyncio.sleep(self.poll_seconds)

    async def _lead(self) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.add_listener(EVENTS_CHANNEL, lambda *_: self.wake.set())
            while not await conn.fetchval(
                "select pg_try_advisory_lock(hashtext($1))", _lock_key(self.projection.name)
            ):
                await self._sleep(self.poll_seconds * 5)  # standby: another process leads
            while True:
                self.wake.clear()
                caught_up = await catch_up(conn, self.projection)
                await self._sleep(self.poll_seconds if caught_up else self.retry_seconds)
        finally:
            # terminate, not close: after a cancellation the connection may be mid-query, and
            # ending the session is also what releases the advisory lock.
            conn.terminate()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)


@contextlib.asynccontextmanager
async def running(runners: Sequence[Runner]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(runner.run_forever()) for runner in runners]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)


class Announcer:
    """Tells runners that the log grew: at once within this process, by NOTIFY to the others.

    The NOTIFY is sent after the append's commit, from a connection of its own: a NOTIFY inside
    the append would take PostgreSQL's notification lock while committing and serialise every
    append. Notifications that pile up while one is being sent collapse into one more.
    """

    def __init__(self, pool: asyncpg.Pool, local: Sequence[asyncio.Event]) -> None:
        self.pool = pool
        self.local = local
        self._sending: asyncio.Task[None] | None = None
        self._again = False

    def appended(self) -> None:
        for wake in self.local:
            wake.set()
        if self._sending is not None and not self._sending.done():
            self._again = True
        else:
            self._sending = asyncio.create_task(self._send())

    async def close(self) -> None:
        if self._sending is not None:
            self._sending.cancel()
            await asyncio.wait([self._sending], timeout=5)

    async def _send(self) -> None:
        while True:
            self._again = False
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                async with self.pool.acquire() as conn:
                    await conn.execute("select pg_notify($1, '')", EVENTS_CHANNEL)
            if not self._again:
                return
