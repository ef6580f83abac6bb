"""Running projections: follow the log from a checkpoint, never skipping, never applying twice.

Each step reads the next events in the log's gap-free order (the same reader as
``GET /v1/events``), applies them, and moves the checkpoint, all in one transaction: a crash at
any moment leaves rows and checkpoint together, before or after the step, never between.

One runner per projection is active across every process: a runner works only while it holds
a session advisory lock on a connection of its own, on a lease the server ends when the session
falls silent (``checkpoints.LEASE_SECONDS``). The leader beats at least every
``checkpoints.BEAT_SECONDS``, whatever it waits for; the others wait on standby, try for the lock
as often, and take over when the leader's session goes, killed or frozen. A runner whose session
ended starts again as a standby. Runners wake when an append announces itself (LISTEN/NOTIFY,
or directly within the process) and also poll, so a lost notification delays and never stalls.

A batch that fails is retried one event at a time, so the checkpoint stops exactly before the
event that cannot be applied; the runner reports that event and the error in
``projection_checkpoints`` and tries again later. It never skips it.

A runner asked to stop finishes the step it is in, which commits, and then stops: it ends at a
batch boundary, and is cancelled only if that takes longer than ``STOP_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import msgspec

from schemas import Event
from schemas.unchecked import unchecked
from service.domain.cursors import LogCursor
from service.domain.timeline import RecordedEvent
from service.store import REFUSED, UNREACHABLE, Connection, Database, Pool, checkpoints
from service.store import events as log
from service.store.merged import MergedRow
from service.store.writers import Writers

_log = logging.getLogger("dateline.projections")
# Events were checked when they were appended; reading them back checks their shape only.
_decode_event = msgspec.json.Decoder(unchecked(Event)).decode

STOP_SECONDS = 5.0
"""How long stopping runners may take to finish their batches before they are cancelled: a step
takes well under a second, and a statement is cut at ``checkpoints.STATEMENT_SECONDS`` anyway."""

Apply = Callable[[Connection, Sequence[RecordedEvent]], Awaitable[None]]
Load = Callable[[log.LogSnapshot, Writers], Awaitable[None]]
ReadLog = Callable[[Database, LogCursor, int], Awaitable[Sequence[log.EventRow | log.FoldRow]]]


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
    tables: tuple[str, ...]
    """The tables it owns: what a rebuild makes afresh and switches over."""
    load: Load | None = None
    """Folds a whole snapshot of the log into empty tables, handing its inserts to the writers:
    how a rebuild fills its fresh tables before following the live log with ``apply``."""
    schema: str = "public"
    """Where its tables live: its runner's session puts this schema first on its search path."""
    read: ReadLog = log.read_log
    """What it folds, in the log's gap-free order: the log, or the log with its held events."""
    snapshot: type[log.LogSnapshot] = log.LogSnapshot
    """What a rebuild loads, the same events as ``read`` in one snapshot."""

    @property
    def search_path(self) -> str | None:
        return None if self.schema == "public" else f"{self.schema}, public"


def logged(stored: log.EventRow | log.FoldRow) -> RecordedEvent:
    merged = stored if isinstance(stored, MergedRow) else None
    return RecordedEvent(
        id=stored.id,
        stream=stored.stream,
        position=stored.position,
        recorded_at=stored.recorded_at,
        event=_decode_event(stored.data),
        transaction_id=stored.transaction_id,
        hold=None if merged is None else merged.hold,
        publishes=merged is not None and merged.publishes,
    )


async def step(conn: Connection, projection: Projection, limit: int, *, live: bool = True) -> int:
    """Apply the next events (up to ``limit``); how many were applied.

    ``live`` steps write the tables readers use: they take the apply lock and announce progress.
    """
    async with conn.transaction():
        if live:
            await checkpoints.hold_apply_lock(conn, projection.name)
        stored = await projection.read(conn, await checkpoints.cursor(conn, projection.name), limit)
        if not stored:
            return 0
        await projection.apply(conn, [logged(event) for event in stored])
        await checkpoints.move(conn, projection.name, stored[-1])
    if live:
        await checkpoints.announce_progress(conn, projection.name, stored[-1].position)
    return len(stored)


async def _pinpoint(
    conn: Connection, projection: Projection, error: Exception, stopping: asyncio.Event
) -> bool:
    """Apply one event at a time until the one that fails, and record it; whether one failed."""
    try:
        while not stopping.is_set() and await step(conn, projection, 1):
            pass
    except checkpoints.LEASE_LOST:
        raise
    except Exception as failure:  # the event that cannot be applied, whatever the reason
        stored = await projection.read(conn, await checkpoints.cursor(conn, projection.name), 1)
        failing = stored[0].id if stored else None
        await checkpoints.fail(conn, projection.name, failing, f"{type(failure).__name__}: {failure}")
        _log.error("projection %s stopped before event %s: %s", projection.name, failing, failure)
        return True
    _log.warning("projection %s: a batch failed (%s) but each event applied alone", projection.name, error)
    return False


async def catch_up(
    conn: Connection, projection: Projection, batch: int = 500, stopping: asyncio.Event | None = None
) -> bool:
    """Apply everything the log holds now, or until ``stopping`` is set (at the end of a batch);
    False if it stopped before an event it cannot apply.

    Raises nothing an event causes: such failures are recorded in the checkpoint row. What the
    session itself meets (``checkpoints.LEASE_LOST``) is raised.
    """
    stopping = stopping or asyncio.Event()
    while not stopping.is_set():
        try:
            applied = await step(conn, projection, batch)
        except checkpoints.LEASE_LOST:
            raise
        except Exception as error:  # whatever an event does to a projection, it is recorded, not raised
            return not await _pinpoint(conn, projection, error, stopping)
        if not applied:
            return True
    return True


class Runner:
    """Keeps one projection up to date for as long as it runs, or waits on standby to."""

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
        self.stopping = asyncio.Event()
        self.leading = False

    def stop(self) -> None:
        """Finish the batch being applied, if any, and stop."""
        self.stopping.set()
        self.wake.set()

    async def run_forever(self) -> None:
        """Until stopped: lead, or stand by while another process does."""
        while not self.stopping.is_set():
            try:
                await self._lead()
            except (*checkpoints.LEASE_LOST, *REFUSED) as error:
                if self.leading:
                    _log.warning(
                        "projection %s lost the lead (%s); back on standby", self.projection.name, error
                    )
                else:
                    _log.warning(
                        "projection %s lost its connection (%s); reconnecting", self.projection.name, error
                    )
            self.leading = False
            await checkpoints.woken(self.stopping, self.poll_seconds)

    async def _lead(self) -> None:
        async with checkpoints.session(
            self.database_url, on_append=self.wake.set, search_path=self.projection.search_path
        ) as conn:
            while not await checkpoints.try_lead(conn, self.projection.name):
                # Standby: another process leads. Trying is what keeps this session's own lease.
                if await checkpoints.woken(self.stopping, checkpoints.BEAT_SECONDS):
                    return
            self.leading = True
            _log.info("projection %s: leading", self.projection.name)
            while not self.stopping.is_set():
                self.wake.clear()
                caught_up = await catch_up(conn, self.projection, stopping=self.stopping)
                await self._beating(conn, self.poll_seconds if caught_up else self.retry_seconds)

    async def _beating(self, conn: Connection, seconds: float) -> None:
        """Wait ``seconds`` or until woken (by an append, or to stop), keeping the lease meanwhile."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while (left := until - loop.time()) > 0:
            if await checkpoints.woken(self.wake, min(left, checkpoints.BEAT_SECONDS)):
                return
            await checkpoints.beat(conn)


@contextlib.asynccontextmanager
async def running(runners: Sequence[Runner], stop_seconds: float = STOP_SECONDS) -> AsyncIterator[None]:
    """The runners run for the block; at its end each finishes its batch and stops, and any still
    running after ``stop_seconds`` is cancelled."""
    tasks = [asyncio.create_task(runner.run_forever()) for runner in runners]
    try:
        yield
    finally:
        for runner in runners:
            runner.stop()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=stop_seconds)
            for task in late:
                _log.warning("a projection runner did not stop within %s s: cancelled", stop_seconds)
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1)


class Announcer:
    """Tells runners that the log grew: at once within this process, by NOTIFY to the others.

    The NOTIFY is sent after the append's commit, from a connection of its own: a NOTIFY inside
    the append would take PostgreSQL's notification lock while committing and serialise every
    append. Notifications that pile up while one is being sent collapse into one more.
    """

    def __init__(self, pool: Pool, local: Sequence[asyncio.Event]) -> None:
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
            with contextlib.suppress(*UNREACHABLE, *REFUSED):
                await checkpoints.announce_append(self.pool)
            if not self._again:
                return


State = Literal["running", "stopped", "failing", "rebuilding"]


def state(checkpoint: checkpoints.CheckpointState) -> State:
    """What a projection is doing, from its checkpoint."""
    if checkpoint.error:
        return "failing"
    if checkpoint.rebuilding:
        return "rebuilding"
    return "running" if checkpoint.running else "stopped"


async def progress(db: Database) -> list[checkpoints.CheckpointState]:
    """Every projection's checkpoint, the log's head and the lag behind it."""
    return await checkpoints.states(db)
