"""Live timelines for every reader this process streams to: the log followed once, each change
told to the streams whose timeline shows it.

One task per process (``Hub.run``) follows the newsroom's checkpoint: woken by the projection's
notices (LISTEN), and polling in case one is lost. For each run of events the projection has
applied, it reads the facts they touched once, asks once per distinct timeline (a group: its
query, language and rendering) which of them it shows, encodes each message once per group, and
hands the same bytes to every stream of the group. A stream is a bounded queue: a reader too
slow to take what it is handed is told to reload instead of holding memory without end.

A stream resumed from an event id it was told first catches up on its own from the log, at
most ``window`` events, and then takes the group's messages from where it stands: ids are
places in the log (``LogCursor``), so a stream skips what it has already told, whichever process
told it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import msgspec
from litestar.response.sse import ServerSentEventMessage

from schemas import LiveChange, LiveReload, LiveRemoved
from service.domain import cursors
from service.domain.cursors import LogCursor
from service.domain.live import Regrouped, Touch, latest, touch
from service.domain.queries import TimelineQuery
from service.domain.timeline import Item, RecordedEvent
from service.presentation.embed import render_event
from service.presentation.timelines import entry
from service.projections.engine import ReadLog, logged
from service.projections.newsroom import NewsroomReader
from service.store import REFUSED, UNREACHABLE, Pool, checkpoints
from service.store import events as log

_log = logging.getLogger("dateline.live")
_encode = msgspec.json.Encoder().encode
_BATCH = 500
"""Events read from the log at a time."""
_JUST_BEFORE = timedelta(microseconds=1)


class Busy(Exception):
    """This process streams to as many readers, or follows as many distinct timelines, as it may."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ReaderBusy(Exception):
    """One client address already holds as many streams as one may."""

    def __init__(self, most: int) -> None:
        super().__init__(f"this address already holds {most} live streams, as many as one may")
        self.detail = str(self)


@dataclass(frozen=True)
class Timeline:
    """What a stream follows: a timeline query, and how its facts are told."""

    query: TimelineQuery
    language: str
    html: bool


@dataclass(frozen=True)
class Told:
    """Messages for one run of events, encoded: each with its place in the log, and where the
    run ends."""

    messages: Sequence[tuple[LogCursor, bytes]]
    end: LogCursor
    reload: str | None = None
    """Why readers must load the timeline again instead: what changed cannot be told."""


@dataclass(frozen=True)
class _Changes:
    """What a run of events changed, read once for every group."""

    events: Sequence[RecordedEvent]
    facts: list[Touch]
    items: dict[UUID, Item]
    regrouped: bool


@dataclass(eq=False)
class Stream:
    """One reader's stream: what it follows, how far it has told, and what it is still to tell.

    The hub hands it runs of events (``take``) and its heartbeats (``beat``); the response
    writes what ``next`` gives. Waking a stream costs one future: thousands wake per append.
    """

    timeline: Timeline
    client: str
    """The address the reader came from: what its share of the hub is counted by."""
    after: LogCursor
    """The place in the log the reader has been told up to: nothing at or before it is told."""
    joined: LogCursor
    """The hub's place when the stream joined: it is handed everything after, and catches up
    on its own from ``after`` to here."""
    depth: int
    """How many runs may wait for the reader before it is told to reload instead."""
    reload: str | None = None
    """Why the stream must end with a ``reload``, once set."""
    parting: bool = False
    """The process is stopping: the stream ends, once what it was handed is told."""
    pending: deque[Told] = field(default_factory=deque)
    quiet: bool = True
    """Nothing has been written since the last heartbeat."""
    _beat: bool = False
    _waiting: asyncio.Future[None] | None = None

    def take(self, told: Told) -> None:
        """Hand the stream a run of events, for it to tell when its reader is ready."""
        if len(self.pending) >= self.depth:
            self.reload = "this reader fell too far behind the timeline"
        else:
            self.pending.append(told)
        self._wake()

    def beat(self) -> None:
        """A heartbeat is due if nothing was written since the last one."""
        if self.quiet:
            self._beat = True
            self._wake()
        self.quiet = True

    def part(self) -> None:
        """End the stream once what it was handed is told: the process stops."""
        self.parting = True
        self._wake()

    def _wake(self) -> None:
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(None)

    async def next(self) -> bytes | None:
        """What to write next, once there is something: what piled up while the last write went
        out, in one write, or a heartbeat; None once the stream must reload or part."""
        while True:
            frames: list[bytes] = []
            while self.pending and self.reload is None:
                frames += self.frames(self.pending.popleft())
            if self.reload is not None:
                return None
            if frames:
                self.quiet = False
                return b"".join(frames)
            if self.parting:
                return None
            if self._beat:
                self._beat = False
                return heartbeat(self)
            self._waiting = asyncio.get_running_loop().create_future()
            await self._waiting

    def frames(self, told: Told) -> list[bytes]:
        """The messages of ``told`` this reader has not been told, and then how far it has got;
        none once the stream must reload."""
        if told.reload and told.end > self.after:
            self.reload = told.reload
        if self.reload is not None:
            return []
        fresh = [data for cursor, data in told.messages if cursor > self.after]
        self.after = max(self.after, told.end)
        return fresh


@dataclass(eq=False)
class _Group:
    timeline: Timeline
    streams: set[Stream] = field(default_factory=set)


class Hub:
    """Every live stream of this process, and the one task that tells them what changed."""

    def __init__(
        self,
        newsroom: NewsroomReader,
        pool: Pool,
        database_url: str,
        *,
        most: int,
        per_client: int,
        timelines: int,
        window: int,
        heartbeat_seconds: float = 15.0,
        poll_seconds: float = 1.0,
        depth: int = 256,
        read: ReadLog = log.read_log,
    ) -> None:
        self.newsroom = newsroom
        self.pool = pool
        self.read = read
        """The log its read model folds: the log, or for previews the log with its held events."""
        self.database_url = database_url
        self.most = most
        """How many streams at most this process serves at once."""
        self.per_client = per_client
        """How many of them at most one client address holds."""
        self.timelines = timelines
        """How many distinct timelines at most the streams follow: each costs a query and a
        render on every append."""
        self.window = window
        """How many events at most a resumed stream catches up on, before it is told to reload."""
        self.heartbeat_seconds = heartbeat_seconds
        """How often a quiet stream says it is still there: each tick, unless it wrote since the last."""
        self.poll_seconds = poll_seconds
        self.depth = depth
        """How many runs of events a stream may have waiting before it is told to reload."""
        self.cursor: LogCursor | None = None
        self._groups: dict[Timeline, _Group] = {}
        self._streams = 0
        self._clients: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._parting = False

    @property
    def streams(self) -> int:
        return self._streams

    async def take_place(self) -> None:
        """Start where the newsroom stands, so that streams are served from the first request
        (``run`` would find its place only once it listens). A database not yet migrated or not
        reachable leaves that to ``run``: the process still starts, and says it is not ready."""
        with contextlib.suppress(*UNREACHABLE, *REFUSED):
            self.cursor = await self.newsroom.live_cursor()

    async def run(self) -> None:
        """Follow the newsroom's checkpoint, and keep quiet streams beating, for as long as the
        process serves."""
        beating = asyncio.create_task(self._beat())
        try:
            await self._follow_forever()
        finally:
            beating.cancel()

    async def _beat(self) -> None:
        # One timer for every stream, instead of one per stream per wake.
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            for group in list(self._groups.values()):
                for stream in list(group.streams):
                    stream.beat()

    async def _follow_forever(self) -> None:
        while True:
            try:
                async with checkpoints.progress(self.database_url, self._wake.set) as listener:
                    if self.cursor is None:
                        self.cursor = await self.newsroom.live_cursor()
                    # A listener the server cut hears nothing more, and says so only here.
                    while not listener.is_closed():
                        self._wake.clear()
                        await self._follow()
                        await checkpoints.woken(self._wake, self.poll_seconds)
                    _log.warning("live streams lost their notices; listening again")
            except (*UNREACHABLE, *REFUSED) as error:
                _log.warning("live streams lost the database (%s); reconnecting", error)
            except Exception:  # whatever fails, the streams wait for the hub to try again
                _log.exception("live streams could not follow the log; trying again")
            await asyncio.sleep(self.poll_seconds)

    def join(self, timeline: Timeline, after: LogCursor | None, client: str) -> Stream:
        """A stream of ``timeline`` from ``after`` (the hub's place if None) for ``client``:
        ``Busy`` past ``most`` streams or ``timelines`` groups, ``ReaderBusy`` past ``per_client``.

        The stream is handed the group's messages from the moment it joins; what lies between
        ``after`` and that moment is for ``catch_up``. ``leave`` ends it.
        """
        if self._parting:
            raise Busy("this process is stopping: another one serves live streams")
        if self._streams >= self.most or self.cursor is None:
            raise Busy("this process streams to as many live readers as it may")
        if self._clients.get(client, 0) >= self.per_client:
            raise ReaderBusy(self.per_client)
        if timeline not in self._groups and len(self._groups) >= self.timelines:
            raise Busy("this process follows as many distinct live timelines as it may")
        stream = Stream(timeline, client, after or self.cursor, self.cursor, self.depth)
        self._groups.setdefault(timeline, _Group(timeline)).streams.add(stream)
        self._streams += 1
        self._clients[stream.client] = self._clients.get(stream.client, 0) + 1
        return stream

    def part(self) -> None:
        """The process stops taking requests: every stream ends now, with a hint to come back
        (to another process, behind the same address), instead of being cut at the deadline."""
        self._parting = True
        for group in self._groups.values():
            for stream in group.streams:
                stream.part()

    def leave(self, stream: Stream) -> None:
        """End a stream; ending one twice is ending it once."""
        group = self._groups.get(stream.timeline)
        if group is None or stream not in group.streams:
            return
        group.streams.discard(stream)
        self._streams -= 1
        if (held := self._clients.pop(stream.client) - 1) > 0:
            self._clients[stream.client] = held
        if not group.streams:
            del self._groups[stream.timeline]

    async def catch_up(self, stream: Stream) -> Told | None:
        """What ``stream`` missed from its place up to where it joined the hub; None, with
        ``stream.reload`` set, when that is more than ``window`` events."""
        found: list[RecordedEvent] = []
        until = stream.joined
        after = stream.after
        while after < until:
            stored = await self.read(self.pool, after, min(_BATCH, self.window + 1))
            found += [logged(event) for event in stored if event.cursor <= until]
            if len(found) > self.window:
                stream.reload = f"more than {self.window} events happened since this stream's last event id"
                return None
            if not stored or stored[-1].cursor >= until:
                break
            after = stored[-1].cursor
        if not found:
            return None
        return await self._told(stream.timeline, await self._changes(found))

    async def _follow(self) -> None:
        """Tell every group what the events the projection has applied since the last call changed."""
        assert self.cursor is not None
        target = await self.newsroom.live_cursor()
        while self.cursor < target:
            if not self._groups:  # nobody to tell: nothing to read
                self.cursor = target
                return
            stored = await self.read(self.pool, self.cursor, _BATCH)
            events = [logged(event) for event in stored if event.cursor <= target]
            if not events:
                return
            changes = await self._changes(events)
            # Every group present when the messages are handed out must have its own: a group
            # that formed meanwhile is told too, and the hub's place moves only then.
            told: dict[Timeline, Told] = {}
            while missing := [timeline for timeline in self._groups if timeline not in told]:
                for timeline in missing:
                    told[timeline] = await self._told(timeline, changes)
            for timeline, group in self._groups.items():
                for stream in group.streams:
                    stream.take(told[timeline])
            self.cursor = events[-1].cursor

    async def _changes(self, events: Sequence[RecordedEvent]) -> _Changes:
        touched = [touch(event) for event in events]
        found = [one for one in touched if isinstance(one, Touch)]
        if erased := [one.fact for one in found if one.kind == "erased"]:
            # An erasure names a fact or a follow-up: a follow-up's erased note changes its fact.
            facts_of = await log.followed_up(self.pool, erased)
            found = [msgspec.structs.replace(one, fact=facts_of.get(one.fact, one.fact)) for one in found]
        facts = latest(found)
        items = await self.newsroom.facts([found.fact for found in facts]) if facts else {}
        regrouped = any(isinstance(found, Regrouped) for found in touched)
        return _Changes(events, facts, items, regrouped)

    async def _told(self, timeline: Timeline, changes: _Changes) -> Told:
        """The messages a run of events makes for readers of ``timeline``."""
        end = changes.events[-1].cursor
        if changes.regrouped and timeline.query.entity is not None:
            return Told([], end, "a merge changed which facts this entity's timeline holds")
        if not changes.facts:
            return Told([], end)
        before = min(event.recorded_at for event in changes.events) - _JUST_BEFORE
        shown, gone = await self.newsroom.shown(
            timeline.query, [found.fact for found in changes.facts], before
        )
        messages = []
        for found in changes.facts:
            if found.fact in shown and found.fact in changes.items:
                messages.append((found.cursor, _change(found, changes.items[found.fact], timeline)))
            elif found.fact in gone:
                messages.append((found.cursor, _message("removed", LiveRemoved(id=found.fact), found.cursor)))
        return Told(messages, end)


def _change(found: Touch, item: Item, timeline: Timeline) -> bytes:
    shown = entry(item, timeline.language)
    html = render_event(shown, timeline.language) if timeline.html else None
    return _message("change", LiveChange(kind=found.kind, entry=shown, html=html), found.cursor)


def _message(event: str, body: msgspec.Struct, cursor: LogCursor | None = None) -> bytes:
    """A Server-Sent Event, its id the place in the log a reader told it resumes after."""
    place = None if cursor is None else cursors.encode(cursor)
    return ServerSentEventMessage(data=_encode(body).decode(), event=event, id=place).encode()


def heartbeat(stream: Stream) -> bytes:
    """A comment that keeps proxies from closing the connection, and the id of where the stream
    stands: a reader that resumes from it catches up on nothing it was not told about."""
    return ServerSentEventMessage(data=None, comment="", id=cursors.encode(stream.after)).encode()


def first(retry_ms: int, stream: Stream) -> bytes:
    """How soon to reconnect, and where the stream starts."""
    return ServerSentEventMessage(data=None, retry=retry_ms, id=cursors.encode(stream.after)).encode()


def parting(stream: Stream, soonest_ms: int) -> bytes:
    """The last words of a stream whose process stops: where it stands, and to come back after
    ``soonest_ms`` to three times that, spread so that a process's readers do not all come back
    in the same instant."""
    retry = random.randint(soonest_ms, 3 * soonest_ms)  # noqa: S311 (a spread, not a secret)
    return ServerSentEventMessage(
        data=None, comment="this process is stopping", retry=retry, id=cursors.encode(stream.after)
    ).encode()


def reload(reason: str) -> bytes:
    return _message("reload", LiveReload(reason=reason))
