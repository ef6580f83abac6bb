"""Which appends are valid, decided without I/O.

An append is decided in three steps, only the middle one touching the database:
``needs`` says what state the rules need for the posted events, the store reads all of it in
one statement, and ``decide`` answers from that state alone. Its answer is a ``Replay`` when the
events are already in the log (a retry), an ``AppendPlan`` holding the exact rows and stream
changes to write, or a ``Rejected``/``Conflict`` that says what is wrong and where. The store
then writes the plan and re-checks the version expectations atomically in SQL, so a plan made
from a snapshot that has gone stale is refused there, never written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, assert_never
from uuid import UUID

import msgspec

from schemas import (
    ENVELOPE_FIELDS,
    EVENT_TYPES,
    Appended,
    EntityMerged,
    EntityRegistered,
    EntityUnmerged,
    EntityUpdated,
    Envelope,
    Event,
    EventConfirmed,
    EventCorrected,
    EventDenied,
    EventErased,
    EventRetracted,
    Fact,
    FollowUp,
    Held,
)
from service.domain.errors import Conflict, FieldProblem, Forbidden, Rejected


class StreamState(msgspec.Struct, frozen=True):
    """A stream as the log holds it: every stream is an entity's.

    ``version`` is None when it was not read: the write checks versions atomically anyway.
    """

    version: int | None
    kind: str
    merged_into: str | None
    held: bool = False
    """Registered by a held event, not yet published: only held events may name it."""


class TargetState(msgspec.Struct, frozen=True):
    """A follow-up's target as the log holds it."""

    type: str
    stream: str
    retracted: bool
    held: bool = False
    """A held event, not yet published: only held events may follow it up (or withdraw it)."""
    erased: bool = False


class PriorEvent(msgspec.Struct, frozen=True):
    """An event already in the log under an id the append posts: what a retry is answered with."""

    row: Appended
    type: str
    data: str
    """Its data as the log's JSON."""


class AppendNeeds(msgspec.Struct, frozen=True):
    """What state the rules need to decide an append."""

    slugs: list[str]
    """Every slug the events name."""
    versions: bool
    """Whether the streams' versions and merges matter, not just which entities exist and their
    kinds: plain facts and follow-ups without an expected version need only the kinds."""
    targets: list[UUID]
    """The events the follow-ups are about."""
    ids: list[UUID]
    """The client's ids, any of which already in the log makes the append a retry."""
    erasures: list[str] = []
    """The entities erasures name, which may be erased already."""


class AppendState(msgspec.Struct, frozen=True):
    """The state an append is decided from, keyed as ``AppendNeeds`` asked for it.

    ``streams`` holds the slugs the log knows, ``targets`` the follow-ups' targets it holds, and
    ``prior`` the events it already holds under the posted ids.
    """

    streams: Mapping[str, StreamState]
    targets: Mapping[UUID, TargetState]
    prior: Mapping[UUID, PriorEvent]
    erased: frozenset[str] = frozenset()
    """Of the entities ``AppendNeeds.erasures`` asked about, those erased already."""


class Replay(msgspec.Struct, frozen=True):
    """A retry of an earlier append: nothing to write, the earlier rows to answer with."""

    rows: list[Appended]


class PlannedEvent(msgspec.Struct, frozen=True):
    id: UUID | None
    """The client's id, or None for the database to generate one."""
    stream: str
    type: str
    schema_version: int
    data: str
    """The event as JSON, its ``type`` tag included and its envelope left out."""
    occurred: str | None
    withdraws: bool = False
    """A held retraction of a held event: it withdraws it, and is never published itself."""


class StreamChange(msgspec.Struct):
    """How one stream moves: by ``count`` versions, from ``expected`` when the client said so."""

    stream: str
    count: int = 0
    expected: int | None = None
    registers_kind: str | None = None
    merges_into: str | None = None
    unmerges_from: str | None = None
    """The entity a merge into which this stream's ``entity.unmerged`` undoes."""


class AppendPlan(msgspec.Struct, frozen=True):
    events: list[PlannedEvent]
    streams: list[StreamChange]


def _unknown(slug: str) -> str:
    return f"no entity '{slug}' is registered; register it with entity.registered first"


_NO_ENVELOPE: dict[str, Any] = {**dict.fromkeys(ENVELOPE_FIELDS), "draft": False}
_encode = msgspec.json.Encoder().encode


def stored_data(event: Event) -> str:
    """What the log keeps as an event's ``data``: the event as JSON, without its envelope.

    The ``type`` tag stays, so stored data decodes back into the same tagged union.
    """
    if any(getattr(event, name) != empty for name, empty in _NO_ENVELOPE.items()):
        event = msgspec.structs.replace(event, **_NO_ENVELOPE)
    return _encode(event).decode()


def hold_of(events: Sequence[Event], paths: Sequence[str]) -> Held | None:
    """How the posted events are held back (all alike), or None when they are public at once.

    Whether ``publish_at`` is still to come is for ``decide``: a retry is answered even after it.
    """
    holds = [
        None
        if not event.draft and event.publish_at is None
        else Held(publish_at=event.publish_at, draft=event.draft)
        for event in events
    ]
    problems = [
        FieldProblem(
            f"{path}.publish_at", "an event is either a draft or embargoed until publish_at, not both"
        )
        for path, event in zip(paths, events, strict=True)
        if event.draft and event.publish_at is not None
    ]
    problems.extend(
        FieldProblem(path, "a batch is held alike or not at all: this event's publish_at or draft differs")
        for path, hold in zip(paths, holds, strict=True)
        if hold != holds[0]
    )
    if problems:
        raise Rejected(problems)
    return holds[0] if holds else None


def event_type(event: Envelope) -> str:
    return str(type(event).__struct_config__.tag)


class _Planner:
    """Walks the posted events in order, tracking what earlier events of the batch changed."""

    def __init__(
        self,
        streams: Mapping[str, StreamState],
        earlier: Mapping[UUID, TargetState],
        paths: Sequence[str],
        erased: frozenset[str] = frozenset(),
        admin: bool = False,
        holding: bool = False,
    ) -> None:
        self.holding = holding
        self.withdrawals: set[UUID] = set()
        self.streams = dict(streams)
        self.earlier = dict(earlier)
        self.paths = paths
        self.erased = set(erased)
        self.admin = admin
        self.problems: list[FieldProblem] = []
        self.changes: dict[str, StreamChange] = {}
        self.events: list[PlannedEvent] = []

    def reject(self, index: int, name: str, reason: str) -> None:
        self.problems.append(
            FieldProblem(f"{self.paths[index]}.{name}" if name else self.paths[index], reason)
        )

    def entity(self, index: int, name: str, slug: str) -> StreamState | None:
        known = self.streams.get(slug)
        if known is None:
            self.reject(index, name, _unknown(slug))
        return known

    def public(self, index: int, name: str, held: bool, what: str) -> bool:
        """Whether a public event may name ``what``: not while it is held."""
        if held and not self.holding:
            self.reject(
                index, name, f"{what} is held (a draft or embargoed): publish it first, or hold this too"
            )
        return not held or self.holding

    def plan(self, index: int, event: Event) -> None:
        stream = self.stream_of(index, event)
        if stream is None:
            return
        change = self.changes.get(stream) or self.changes.setdefault(stream, StreamChange(stream))
        self.expect(index, event, change)
        change.count += 1
        kind = event_type(event)
        occurred = event.occurred if isinstance(event, Fact) else None
        self.events.append(
            PlannedEvent(
                id=event.id,
                stream=stream,
                type=kind,
                schema_version=event.SCHEMA_VERSION,
                data=stored_data(event),
                occurred=occurred,
                withdraws=isinstance(event, EventRetracted) and event.event_id in self.withdrawals,
            )
        )
        if occurred is not None and event.id is not None:  # a later event of the batch may follow it up
            self.earlier[event.id] = TargetState(kind, stream, retracted=False, held=self.holding)

    def expect(self, index: int, event: Event, change: StreamChange) -> None:
        """Fold the event's expected_version into the stream's expectation at the batch's start."""
        if event.expected_version is None:
            return
        claimed = 0 if event.expected_version == "none" else event.expected_version
        at_start = claimed - change.count
        if at_start < 0 or (change.expected is not None and change.expected != at_start):
            self.reject(
                index,
                "expected_version",
                "contradicts the expected_version of an earlier event of the same stream in this batch",
            )
        elif change.expected is None:
            change.expected = at_start

    def stream_of(self, index: int, event: Event) -> str | None:
        # Facts first: they are most of any batch, and each class pattern costs an isinstance.
        match event:
            case Fact():
                return self.fact(index, event)
            case FollowUp():
                return self.follow(index, event)
            case EntityRegistered():
                return self.register(index, event)
            case EntityUpdated() | EntityMerged() | EntityUnmerged():
                return self.change_entity(index, event)
            case EventErased():
                return self.erase(index, event)
            case _:
                assert_never(event)

    def erase(self, index: int, event: EventErased) -> str | None:
        """An erasure's stream is its target's; erasing what is erased already is a conflict (a
        retry of the same erasure, with its id, is answered as a replay before this)."""
        if not self.admin:
            raise Forbidden("Only an admin key may erase (event.erased).")
        if event.slug is not None:
            if self.entity(index, "slug", event.slug) is None:
                return None
            if event.slug in self.erased:
                raise Conflict(f"entity '{event.slug}' is already erased", stream=event.slug)
            self.erased.add(event.slug)
            return self.claimed_stream(index, event, event.slug)
        assert event.event_id is not None
        target = self.earlier.get(event.event_id)
        if target is None:
            self.reject(index, "event_id", f"no event {event.event_id} is in the log")
            return None
        if target.type.startswith("entity.") or target.type == "event.erased":
            self.reject(index, "event_id", f"a {target.type} event is neither a fact nor a follow-up")
            return None
        if target.erased:
            raise Conflict(f"event {event.event_id} is already erased", stream=target.stream)
        self.earlier[event.event_id] = msgspec.structs.replace(target, erased=True)
        return self.claimed_stream(index, event, target.stream)

    def claimed_stream(self, index: int, event: Envelope, stream: str) -> str | None:
        if event.stream is not None and event.stream != stream:
            self.reject(index, "stream", f"this event belongs to stream '{stream}', not '{event.stream}'")
            return None
        return stream

    def register(self, index: int, event: EntityRegistered) -> str | None:
        if self.claimed_stream(index, event, event.slug) is None:
            return None
        if event.slug in self.streams:
            held = " (held until published)" if self.streams[event.slug].held else ""
            raise Conflict(
                f"entity '{event.slug}' is already registered{held}",
                stream=event.slug,
                current_version=self.streams[event.slug].version,
            )
        self.streams[event.slug] = StreamState(
            version=0, kind=event.kind, merged_into=None, held=self.holding
        )
        change = self.changes.setdefault(event.slug, StreamChange(event.slug))
        change.registers_kind = event.kind
        change.expected = 0
        return event.slug

    def change_entity(self, index: int, event: EntityUpdated | EntityMerged | EntityUnmerged) -> str | None:
        known = self.entity(index, "slug", event.slug)
        if known is None or not self.public(index, "slug", known.held, f"entity '{event.slug}'"):
            return None
        if self.claimed_stream(index, event, event.slug) is None:
            return None
        if isinstance(event, EntityUnmerged):
            if known.merged_into != event.into:
                merged = f"merged into '{known.merged_into}'" if known.merged_into else "not merged"
                self.reject(index, "into", f"'{event.slug}' is {merged}, not into '{event.into}'")
            else:
                self.streams[event.slug] = StreamState(known.version, known.kind, None)
                self.changes.setdefault(event.slug, StreamChange(event.slug)).unmerges_from = event.into
        elif isinstance(event, EntityMerged):
            into = self.entity(index, "into", event.into)
            if into is None or not self.public(index, "into", into.held, f"entity '{event.into}'"):
                return None
            if event.into == event.slug:
                self.reject(index, "into", "an entity cannot be merged into itself")
            elif known.merged_into is not None:
                self.reject(index, "slug", f"'{event.slug}' was already merged into '{known.merged_into}'")
            elif into.merged_into is not None:
                self.reject(index, "into", f"'{event.into}' was itself merged into '{into.merged_into}'")
            elif into.kind != known.kind:
                self.reject(
                    index,
                    "into",
                    f"'{event.into}' is a {into.kind} and '{event.slug}' a {known.kind}: "
                    "only entities of the same kind can be merged",
                )
            else:
                self.streams[event.slug] = StreamState(known.version, known.kind, event.into)
                self.changes.setdefault(event.slug, StreamChange(event.slug)).merges_into = event.into
        return event.slug

    def fact(self, index: int, event: Fact) -> str | None:
        self.check_entities(index, "entities", event)
        for role in sorted(event.REQUIRED_ROLES - {ref.role for ref in event.entities}):
            self.reject(index, "entities", f"a {event_type(event)} event needs an entity with role '{role}'")
        if event.stream is None:
            return event.entities[0].slug
        if all(ref.slug != event.stream for ref in event.entities):
            self.reject(index, "stream", f"'{event.stream}' is not one of the entities this event involves")
            return None
        return event.stream

    def check_entities(self, index: int, name: str, event: Fact | EventCorrected) -> None:
        refs = event.changes.entities if isinstance(event, EventCorrected) else event.entities
        seen: set[tuple[str, str]] = set()
        # Paths are only spelled out on failure: this runs for every event of a 1,000-event batch.
        for position, ref in enumerate(refs or ()):
            if (ref.slug, ref.role) in seen:
                self.reject(index, f"{name}[{position}]", f"'{ref.slug}' is listed twice as {ref.role}")
            seen.add((ref.slug, ref.role))
            known = self.streams.get(ref.slug)
            if known is None:
                self.reject(index, f"{name}[{position}].slug", _unknown(ref.slug))
                continue
            if not self.public(index, f"{name}[{position}].slug", known.held, f"entity '{ref.slug}'"):
                continue
            kinds = Fact.ROLE_KINDS.get(ref.role)
            if kinds is not None and known.kind not in kinds:
                self.reject(
                    index,
                    f"{name}[{position}].role",
                    f"'{ref.slug}' is a {known.kind}; the role '{ref.role}' needs a {' or '.join(sorted(kinds))}",
                )

    def follow(self, index: int, event: FollowUp) -> str | None:
        target = self.earlier.get(event.event_id)
        if target is None:
            self.reject(index, "event_id", f"no event {event.event_id} is in the log")
            return None
        if not self.public(index, "event_id", target.held, f"event {event.event_id}"):
            return None
        if target.held and isinstance(event, EventRetracted):
            # Withdrawing a held event, of any type: it will never be published.
            self.withdrawals.add(event.event_id)
            self.earlier[event.event_id] = TargetState(target.type, target.stream, retracted=True, held=True)
            return self.claimed_stream(index, event, target.stream)
        if target.type.startswith(("entity.", "event.")):
            self.reject(index, "event_id", f"a {target.type} event is not a fact and cannot be followed up")
            return None
        if target.retracted:
            self.reject(index, "event_id", f"event {event.event_id} was retracted")
            return None
        if target.erased:
            self.reject(index, "event_id", f"event {event.event_id} was erased")
            return None
        if isinstance(event, EventCorrected):
            self.check_correction(index, event, target)
        if isinstance(event, EventRetracted):
            self.earlier[event.event_id] = TargetState(target.type, target.stream, True, target.held)
        return self.claimed_stream(index, event, target.stream)

    def check_correction(self, index: int, event: EventCorrected, target: TargetState) -> None:
        # A correction may change the fields every fact has, and the target type's own.
        fields = EVENT_TYPES[target.type].__struct_fields__
        for name in event.changes.__struct_fields__:
            if getattr(event.changes, name) is not None and name not in fields:
                self.reject(index, f"changes.{name}", f"a {target.type} event has no field '{name}'")
        if event.changes.entities is not None:
            self.check_entities(index, "changes.entities", event)


def needs(events: Sequence[Event]) -> AppendNeeds:
    """What state deciding ``events`` needs, so the store can read all of it at once."""
    slugs: set[str] = set()
    versions = False
    erasures: list[str] = []
    targets = {event.event_id for event in events if isinstance(event, FollowUp)}
    for event in events:
        if event.stream is not None:
            slugs.add(event.stream)
        if event.expected_version is not None:
            versions = True
        match event:
            case Fact():
                slugs.update(ref.slug for ref in event.entities)
            case EventCorrected():
                slugs.update(ref.slug for ref in event.changes.entities or ())
            case EventConfirmed() | EventDenied() | EventRetracted():
                pass  # their stream is their fact's, found by its id
            case EntityRegistered() | EntityUpdated():
                slugs.add(event.slug)
                versions = True
            case EntityMerged() | EntityUnmerged():
                slugs.update((event.slug, event.into))
                versions = True
            case EventErased():
                if event.slug is not None:
                    slugs.add(event.slug)
                    erasures.append(event.slug)
                if event.event_id is not None:
                    targets.add(event.event_id)
            case _:
                assert_never(event)
    return AppendNeeds(
        slugs=sorted(slugs),
        versions=versions,
        targets=sorted(targets),
        ids=[event.id for event in events if event.id is not None],
        erasures=sorted(erasures),
    )


def decide(
    events: Sequence[Event],
    state: AppendState,
    paths: Sequence[str],
    hold: Held | None = None,
    now: datetime | None = None,
    *,
    admin: bool = False,
) -> AppendPlan | Replay:
    """What appending ``events`` does, given the ``state`` that ``needs(events)`` asked for.

    A retry is answered before any rule is checked: what it posted was valid when first
    appended, and the log has moved on since. ``paths`` locates each event in the request for
    error messages. Held events (``hold``, from ``hold_of``) may name the held entities and
    events in ``state``, and must be embargoed until after ``now``; public events may not. Only an
    ``admin`` key's append may erase.
    """
    if state.prior:
        return replay(events, state.prior)
    planner = _Planner(state.streams, state.targets, paths, state.erased, admin, holding=hold is not None)
    if hold is not None and hold.publish_at is not None and now is not None and hold.publish_at <= now:
        for index in range(len(events)):
            planner.reject(index, "publish_at", f"must be in the future (it is {now.isoformat()} now)")
    seen_ids: set[UUID] = set()
    for index, event in enumerate(events):
        if event.id is not None:
            if event.id in seen_ids:
                planner.reject(index, "id", f"id {event.id} is used twice in this request")
            seen_ids.add(event.id)
        planner.plan(index, event)
    if planner.problems:
        raise Rejected(planner.problems)
    for change in planner.changes.values():
        known = state.streams.get(change.stream)
        if change.expected is not None and known is not None and known.version not in (None, change.expected):
            raise Conflict(
                f"stream '{change.stream}' is at version {known.version}, not {change.expected}",
                stream=change.stream,
                current_version=known.version,
            )
    return AppendPlan(planner.events, sorted(planner.changes.values(), key=lambda change: change.stream))


def replay(events: Sequence[Event], prior: Mapping[UUID, PriorEvent]) -> Replay:
    """The earlier rows of a retried append, or ``Conflict`` if its ids were reused for other events."""
    for event in events:
        found = prior.get(event.id) if event.id is not None else None
        if found is None:
            raise Conflict(
                "some events of this request are already in the log and others are not: "
                "a retry must resend exactly the original request"
            )
        same_stream = event.stream is None or event.stream == found.row.stream
        same_data = msgspec.json.decode(found.data) == msgspec.json.decode(stored_data(event))
        if found.type != event_type(event) or not same_data or not same_stream:
            raise Conflict(f"event id {event.id} is already used by a different event")
    return Replay([prior[event.id].row for event in events if event.id is not None])
