"""Appending events: read the state their rules need, decide, and write.

What the rules need is read in one statement (``domain.appending.needs`` says what), and the
decision is the domain's alone (``decide``): a plan to write, or a retry to answer.

Retries of the same request are safe: events posted with an ``id`` that is already in the log
are answered with the original result when their content is the same, and refused with a
conflict when it is not.

Concurrent appends share transactions. Each commit waits for the WAL to reach disk, and on a
busy newsroom day most of an append's cost is that wait, so requests that arrive while a write
is in flight are written together in the next one (as long as they touch different streams),
and each still gets its own answer. A group that fails for any reason is retried one request
at a time, so one client's conflict never becomes another's error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from schemas import Appended, Event, EventErased, Held, Tombstone
from service.domain.appending import (
    AppendNeeds,
    AppendPlan,
    AppendState,
    Replay,
    StreamState,
    decide,
    hold_of,
    needs,
    replay,
)
from service.domain.errors import Conflict, FieldProblem, Rejected
from service.store import REFUSED, UNREACHABLE, Pool, held, keys
from service.store import events as log

# What one write of a shared group can cause that the others should not hear of.
_SOMEONES_REFUSAL: tuple[type[Exception], ...] = (
    *REFUSED,
    Conflict,
    log.EventIdTaken,
    log.NulCharacter,
    keys.Revoked,
)


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    rows: list[Appended]
    replayed: bool
    """True when every event was already in the log: nothing new was written."""


@dataclass(slots=True)
class _Write:
    plan: AppendPlan
    metadata: Sequence[Mapping[str, Any]]
    writers: tuple[bytes, ...]
    """The hash of the key it is written with; none for the service's own writes."""
    done: asyncio.Future[list[Appended]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Appender:
    """Appends for one process: a cache of entity kinds and a few writers sharing commits."""

    def __init__(self, pool: Pool, on_commit: Callable[[], None] | None = None) -> None:
        self.pool = pool
        self.on_commit = on_commit
        self.on_held: Callable[[], None] | None = None
        """Told after each held append (the publisher's wake-up)."""
        # Entities are never deleted and their kind never changes, so once seen, a slug's kind
        # can be trusted for as long as the process lives: plain facts skip the lookup.
        self.kinds: dict[str, str] = {}
        self._queue: asyncio.Queue[_Write] = asyncio.Queue()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, pool: Pool, writers: int = 4, on_commit: Callable[[], None] | None = None
    ) -> AsyncIterator[Appender]:
        appender = cls(pool, on_commit)
        tasks = [asyncio.create_task(appender._write_forever()) for _ in range(writers)]
        try:
            yield appender
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def append(
        self,
        posted: Sequence[Event],
        metadata: Mapping[str, Any],
        paths: Sequence[str],
        key: bytes | None = None,
        *,
        admin: bool = False,
    ) -> AppendOutcome:
        """Append ``posted`` atomically; ``paths`` name each event's place in the request body.

        ``key`` is the hash of the API key it is written with: ``keys.Revoked`` unless that key
        is still live when the write reaches the log (the write checks it itself, exactly);
        ``admin`` says whether it is an admin key, which alone may erase.
        """
        writers = () if key is None else (key,)
        needed = needs(posted)
        hold = hold_of(posted, paths)
        if hold is not None:
            return await self._hold(posted, metadata, paths, writers, needed, hold)
        # The rules decide from a snapshot; the write re-checks atomically whatever can change
        # meanwhile (stream versions, merges).
        state = await self._state(needed)
        try:
            decided = decide(posted, state, paths, admin=admin)
        except Rejected:
            await self._explain_held(posted, paths, needed, state, admin)
            raise
        if isinstance(decided, Replay):
            return await self._replayed(decided, writers)
        write = _Write(decided, [_event_metadata(metadata, event) for event in posted], writers)
        await self._queue.put(write)
        try:
            rows = await write.done
        except log.NulCharacter:
            # PostgreSQL text cannot hold U+0000; say where it is instead of failing.
            raise Rejected(list(_nul_characters(posted, paths))) from None
        except log.EventIdTaken:
            # Two identical retries raced past the id check: answer the loser from the winner's rows.
            state = await log.append_state(self.pool, msgspec.structs.replace(needed, slugs=[], targets=[]))
            return await self._replayed(replay(posted, state.prior), writers)
        for change in decided.streams:
            if change.registers_kind is not None:
                self.kinds[change.stream] = change.registers_kind
        return AppendOutcome(rows, replayed=False)

    async def _hold(
        self,
        posted: Sequence[Event],
        metadata: Mapping[str, Any],
        paths: Sequence[str],
        writers: Sequence[bytes],
        needed: AppendNeeds,
        hold: Held,
    ) -> AppendOutcome:
        """Append held events: decided against the log and the pending held events, written to
        ``held_events``. Rare enough to skip the shared commits."""
        public = await self._state(needed)
        pending = await held.held_state(self.pool, needed)
        # What the log holds wins: a held event retried after its publication replays from the log.
        state = AppendState(
            {**pending.streams, **public.streams},
            {**pending.targets, **public.targets},
            {**pending.prior, **public.prior},
            public.erased,
        )
        decided = decide(posted, state, paths, hold, datetime.now(UTC))
        if isinstance(decided, Replay):
            return await self._replayed(decided, writers)
        metas = [_event_metadata(metadata, event) for event in posted]
        try:
            rows = await held.write_held(self.pool, decided, metas, hold, writers)
        except log.NulCharacter:
            raise Rejected(list(_nul_characters(posted, paths))) from None
        except log.EventIdTaken:  # two identical retries raced past the id check
            again = await held.held_state(self.pool, msgspec.structs.replace(needed, slugs=[], targets=[]))
            return await self._replayed(replay(posted, again.prior), writers)
        if self.on_held is not None:
            self.on_held()
        with contextlib.suppress(*UNREACHABLE, *REFUSED):  # the others' publishers also look every second
            await held.announce(self.pool)
        return AppendOutcome(rows, replayed=False)

    async def _explain_held(
        self,
        posted: Sequence[Event],
        paths: Sequence[str],
        needed: AppendNeeds,
        state: AppendState,
        admin: bool,
    ) -> None:
        """Refuse a public append that names a held entity or event by saying so, rather than
        calling it unknown; only on the way to a refusal, so public appends never pay for it."""
        pending = await held.held_state(self.pool, msgspec.structs.replace(needed, ids=[]))
        if pending.streams or pending.targets:
            decide(
                posted,
                AppendState(
                    {**pending.streams, **state.streams},
                    {**pending.targets, **state.targets},
                    {},
                    state.erased,
                ),
                paths,
                admin=admin,
            )

    async def erase(
        self, erasure: EventErased, metadata: Mapping[str, Any], key: bytes | None = None
    ) -> tuple[Tombstone, bool]:
        """Erase for an admin (the API's admin key, or the operator's ``dateline erase``): the
        tombstone the log records, and whether it was a retry that appended nothing."""
        outcome = await self.append([erasure], metadata, ["$"], key, admin=True)
        return tombstone(erasure, outcome.rows[0], str(metadata["author"])), outcome.replayed

    async def _state(self, needed: AppendNeeds) -> AppendState:
        """The state ``needed``, read in one statement, less what the cached kinds answer (plain
        facts asking nothing else read nothing)."""
        if not needed.versions and all(slug in self.kinds for slug in needed.slugs):
            cached = {slug: StreamState(None, self.kinds[slug], None) for slug in needed.slugs}
            state = await log.append_state(self.pool, msgspec.structs.replace(needed, slugs=[]))
            return AppendState(cached, state.targets, state.prior, state.erased)
        state = await log.append_state(self.pool, needed)
        self.kinds.update((slug, stream.kind) for slug, stream in state.streams.items())
        return state

    async def _replayed(self, replayed: Replay, writers: Sequence[bytes]) -> AppendOutcome:
        # A retry writes nothing, so no append checks its key: it is checked here (retries are
        # rare), and a revoked key learns nothing of what it wrote before.
        if writers and not await keys.live(self.pool, writers):
            raise keys.Revoked
        return AppendOutcome(replayed.rows, replayed=True)

    async def _write_forever(self) -> None:
        while True:
            group = [await self._queue.get()]
            while not self._queue.empty():
                group.append(self._queue.get_nowait())
            together, later = _disjoint(group)
            for write in later:  # they touch a stream already in this group: next round
                self._queue.put_nowait(write)
            await self._write_group(together)
            if self.on_commit is not None:  # wake the projections (a failed group costs one idle look)
                self.on_commit()

    async def _write_group(self, group: list[_Write]) -> None:
        if len(group) > 1:
            merged = AppendPlan(
                [event for write in group for event in write.plan.events],
                sorted((change for write in group for change in write.plan.streams), key=lambda c: c.stream),
            )
            try:
                rows = await log.write_plan(
                    self.pool,
                    merged,
                    [meta for write in group for meta in write.metadata],
                    [key for write in group for key in write.writers],
                )
            except _SOMEONES_REFUSAL:
                pass  # someone's conflict, reused id or revoked key: find out whose, one at a time
            except Exception as error:  # the database is gone: everyone gets the same news
                for write in group:
                    _settle(write, error=error)
                return
            else:
                start = 0
                for write in group:
                    _settle(write, rows=rows[start : start + len(write.plan.events)])
                    start += len(write.plan.events)
                return
        for write in group:
            try:
                _settle(
                    write, rows=await log.write_plan(self.pool, write.plan, write.metadata, write.writers)
                )
            except Exception as error:
                _settle(write, error=error)


def tombstone(erasure: EventErased, row: Appended, author: str) -> Tombstone:
    """An erasure as the ledger shows it."""
    return Tombstone(
        id=row.id,
        position=row.position,
        recorded_at=row.recorded_at,
        stream=row.stream,
        author=author,
        basis=erasure.basis,
        reference=erasure.reference,
        event_id=erasure.event_id,
        slug=erasure.slug,
    )


def _settle(write: _Write, *, rows: list[Appended] | None = None, error: Exception | None = None) -> None:
    """Answer a waiting request, unless it gave up (its client went away)."""
    if write.done.done():
        return
    if error is not None:
        write.done.set_exception(error)
    else:
        write.done.set_result(rows or [])


def _disjoint(group: list[_Write]) -> tuple[list[_Write], list[_Write]]:
    """Split writes into those that can share a transaction and those that must wait."""
    taken: set[str] = set()
    together: list[_Write] = []
    later: list[_Write] = []
    for write in group:
        streams = {change.stream for change in write.plan.streams}
        if streams & taken:
            later.append(write)
        else:
            taken |= streams
            together.append(write)
    return together, later


def _nul_characters(posted: Sequence[Event], paths: Sequence[str]) -> Iterator[FieldProblem]:
    def walk(value: Any, path: str) -> Iterator[FieldProblem]:
        if isinstance(value, str) and "\x00" in value:
            yield FieldProblem(path, "contains U+0000 (NUL), which cannot be stored")
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    yield FieldProblem(path, "a key contains U+0000 (NUL), which cannot be stored")
                yield from walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, f"{path}[{index}]")

    for event, path in zip(posted, paths, strict=True):
        yield from walk(msgspec.to_builtins(event), path)


def _event_metadata(metadata: Mapping[str, Any], event: Event) -> Mapping[str, Any]:
    """The request's metadata plus the event's own trace ids; the very same object when it has none,
    so that a batch's metadata is encoded once."""
    if event.correlation_id is None and event.causation_id is None:
        return metadata
    traces = {"correlation_id": event.correlation_id, "causation_id": event.causation_id}
    return {**metadata, **{name: value for name, value in traces.items() if value is not None}}
