"""Bodies of the read API: timelines, entities and projection status."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from msgspec import Struct

from schemas.common import EntityRef, Source
from schemas.events import FollowUpKind

PrecisionName = Literal["year", "month", "day", "instant"]
FollowUpType = Literal["event.corrected", "event.confirmed", "event.denied", "event.retracted"]


class Occurred(Struct, kw_only=True):
    value: str
    precision: PrecisionName
    start: datetime
    end: datetime


class CorrectionShown(Struct, kw_only=True):
    """A correction, clarification or update readers are told of (amendments are silent)."""

    event_id: UUID
    kind: FollowUpKind = "correction"
    """`correction`, `clarification` or `update`."""
    date: datetime
    note: str | None
    """Its public note; an update may have none."""
    language: str
    """The note's language."""
    changed: list[str]


class MarkShown(Struct, kw_only=True):
    """What a fact is marked by: its latest correction, clarification or update ("Corrected",
    "Clarified", "Updated" with its date). Amendments leave no mark."""

    kind: FollowUpKind
    date: datetime


class RetractionShown(Struct, kw_only=True):
    event_id: UUID
    date: datetime
    reason: str
    language: str


class HeldShown(Struct, kw_only=True, omit_defaults=True):
    """Why a preview shows what the public does not see yet: a draft, or an embargo."""

    draft: bool
    """Waiting for an editor to publish it; otherwise embargoed until ``publish_at``."""
    publish_at: datetime | None = None
    """When the embargo ends and it is published by itself."""
    withdrawn: bool = False
    """Retracted before it was ever published: a withdrawn draft or embargo."""


class ErasedShown(Struct, kw_only=True):
    """What is left of an erased fact or entity: when it was erased, and the reader's notice."""

    on: date
    notice: str
    """"Removed on <date> for legal reasons", in the reader's language."""


class TimelineEntry(Struct, kw_only=True):
    """One fact as a reader sees it now, in the requested language where it exists."""

    id: UUID
    type: str
    stream: str
    occurred: Occurred
    display_date: str
    headline: str
    language: str
    """The language the headline is shown in: the one asked for where it exists, else a fallback."""
    status: str
    entities: list[EntityRef]
    sources: list[Source]
    tags: list[str]
    position: int
    recorded_at: datetime
    updated_at: datetime
    link: str
    summary: str | None = None
    summary_language: str | None = None
    """The language the summary is shown in, which may differ from the headline's."""
    details: dict[str, Any] = {}
    corrections: list[CorrectionShown] = []
    """The public notes of its corrections, clarifications and updates, oldest first."""
    mark: MarkShown | None = None
    retracted: RetractionShown | None = None
    held: HeldShown | None = None
    """Only in a preview (``preview=true``): the fact is not public yet. Always null otherwise."""
    erased: ErasedShown | None = None
    """Set on a fact erased for legal reasons: its headline is then the notice, and it has no text."""


class RevisionShown(Struct, kw_only=True, omit_defaults=True):
    """One version of a fact: what changed it, when, its public note, and the fact after it."""

    version: int
    recorded_at: datetime
    event_id: UUID
    """The event that made this version: the fact itself, then each follow-up that changed it."""
    type: str
    kind: FollowUpKind | None = None
    """For `event.corrected`: its kind, amendments included."""
    note: str | None = None
    language: str | None = None
    """The note's language."""
    item: TimelineEntry


class FactHistory(Struct, kw_only=True):
    event_id: UUID
    versions: list[RevisionShown]


class LaterShown(Struct, kw_only=True, omit_defaults=True):
    """A follow-up recorded after a pinned view's instant: its date and its public note."""

    event_id: UUID
    type: FollowUpType
    kind: FollowUpKind | None = None
    """For `event.corrected`: `correction`, `clarification` or `update` (amendments are only
    counted, in the item's `amendments`)."""
    date: datetime
    """When it was recorded."""
    note: str | None = None
    language: str | None = None
    """The note's language."""
    changed: list[str] = []
    """For a correction: the fields it changed."""


class PinnedEntry(TimelineEntry, kw_only=True):
    """A fact as it was known at the pinned instant, and what was recorded about it since."""

    later: list[LaterShown] = []
    amendments: int = 0
    """How many silent fixes (typos, translations, sources) were recorded since; not told one by one."""


class ChangesSince(Struct, kw_only=True):
    """What happened to a pinned timeline after its instant."""

    added: int
    """Facts recorded since."""
    changed: int
    """Facts known then that a later follow-up changed."""
    complete: bool
    """False when the counting stopped early: the counts are lower bounds."""
    live: str
    """The same timeline as known now."""


class PinnedTimelinePage(Struct, kw_only=True):
    """A timeline pinned to an instant (an article's publication time): its context frozen, its
    corrections never."""

    as_of: datetime
    items: list[PinnedEntry]
    next: str | None
    since: ChangesSince


class TimelinePage(Struct, kw_only=True):
    items: list[TimelineEntry]
    next: str | None
    """Pass back as `cursor` for the following page; null at the end."""


LiveKind = Literal[
    "added", "corrected", "clarified", "updated", "amended", "confirmed", "denied", "retracted", "erased"
]


class LiveChange(Struct, kw_only=True, omit_defaults=True):
    """A live timeline's fact as it is now (Server-Sent Event `change`): new, corrected,
    clarified, updated, confirmed, denied or retracted; or `amended`, a silent fix, to put in
    place without telling. A reader puts it in place of the fact with its `id`, or adds it."""

    kind: LiveKind
    entry: TimelineEntry
    html: str | None = None
    """With `render=html`: the fact as the embed page shows it, every text escaped."""


class LiveRemoved(Struct, kw_only=True):
    """A fact the timeline showed and shows no more (Server-Sent Event `removed`): a correction
    took it out of the timeline's entities, tags, type, status, words or dates."""

    id: UUID


class LiveReload(Struct, kw_only=True):
    """The stream cannot tell what changed (Server-Sent Event `reload`): load the timeline again,
    then follow it anew. Sent past the resume window, to a reader too slow to keep up, and when a
    merge changes which facts an entity's timeline holds."""

    reason: str


class EntitySummary(Struct, kw_only=True, omit_defaults=True):
    slug: str
    kind: str
    name: str
    aliases: list[str] = []
    merged_into: str | None = None
    held: HeldShown | None = None
    """Only in a preview: the entity's registration is not public yet."""
    erased: ErasedShown | None = None
    """Set once its personal fields are erased: its name is then a neutral one."""


class EntityPage(Struct, kw_only=True):
    entities: list[EntitySummary]
    next: str | None


class FactShown(Struct, kw_only=True, omit_defaults=True):
    """A value an entity's facts establish, and the fact it comes from."""

    value: Any
    status: str
    occurred: str
    event: str
    """The fact's link."""


class RoleShown(Struct, kw_only=True, omit_defaults=True):
    """A position someone holds or held: person and organization seen from either side."""

    title: str | None
    person: str
    organization: str
    since: str
    status: str
    event: str
    until: str | None = None
    ended_by: str | None = None


class EntityView(Struct, kw_only=True, omit_defaults=True):
    """What we know about an entity now."""

    slug: str
    kind: str
    name: str
    aliases: list[str] = []
    description: dict[str, str] | None = None
    wikidata_id: str | None = None
    merged_into: str | None = None
    merged_from: list[str] = []
    facts: dict[str, Any] = {}
    timeline: str
    held: HeldShown | None = None
    """Only in a preview: the entity's registration is not public yet."""
    erased: ErasedShown | None = None
    """Set once its personal fields are erased: its name is then a neutral one."""


class EntityRevisionShown(Struct, kw_only=True, omit_defaults=True):
    """One version of an entity's profile, and the event that made it."""

    version: int
    recorded_at: datetime
    event_id: UUID
    type: Literal["entity.registered", "entity.updated", "entity.merged", "entity.unmerged"]
    name: str
    aliases: list[str] = []
    merged_into: str | None = None


class MergeShown(Struct, kw_only=True, omit_defaults=True):
    """A merge of ``slug`` into ``into``, and its undoing if it was undone."""

    slug: str
    into: str
    merged_at: datetime
    merged_by: str
    """The merge event's link."""
    undone_at: datetime | None = None
    undone_by: str | None = None
    """The link of the event that undid it."""


class EntityHistory(Struct, kw_only=True):
    slug: str
    versions: list[EntityRevisionShown]
    merges: list[MergeShown]
    """Every merge the entity took part in, merged or merged into, oldest first."""


class ProjectionStatus(Struct, kw_only=True):
    name: str
    state: Literal["running", "stopped", "failing", "rebuilding"]
    checkpoint: int
    head: int
    lag_events: int
    lag_seconds: float
    failing_event: UUID | None = None
    error: str | None = None
