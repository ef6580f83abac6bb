"""Request and response bodies of the HTTP API (v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from msgspec import Meta, Struct

from schemas.common import Slug
from schemas.events import Event

MAX_BATCH = 1000

JsonObject = dict[str, Any]
"""A JSON object passed through as stored: the server hands PostgreSQL's text over unchanged."""


class BatchAppend(Struct, kw_only=True, forbid_unknown_fields=True):
    """Events appended together, all or none."""

    events: Annotated[list[Event], Meta(min_length=1, max_length=MAX_BATCH)]


class Held(Struct, kw_only=True, omit_defaults=True):
    """Why an event is not public yet: an embargo until ``publish_at``, or a draft."""

    publish_at: datetime | None = None
    draft: bool = False


class Appended(Struct, kw_only=True, omit_defaults=True):
    """Where an event landed in the log, or, while it is held, among the held events."""

    id: UUID
    stream: Slug
    version: int | None
    """Its stream's version; none while it is held (it gets one when it is published)."""
    position: int
    recorded_at: datetime
    held: Held | None = None
    """Present while it is held: not public until published."""


class BatchAppended(Struct, kw_only=True):
    events: list[Appended]


class LoggedEvent(Struct, kw_only=True, omit_defaults=True):
    """One event as the log holds it, or a held one (read with ``preview=true``)."""

    position: int
    id: UUID
    stream: Slug
    version: int | None
    """Its stream's version; none while it is held."""
    type: str
    schema_version: int
    occurred: str | None
    recorded_at: datetime
    data: JsonObject
    metadata: JsonObject
    held: Held | None = None
    """Present on a held event (a preview): not public until published."""


class EventPage(Struct, kw_only=True):
    """A page of the global log. ``next`` always resumes right after this page, even an empty one."""

    events: list[LoggedEvent]
    next: str


class StreamPage(Struct, kw_only=True):
    """A page of one stream, in version order."""

    stream: Slug
    version: int
    events: list[LoggedEvent]
    next_from_version: int | None


class FieldError(Struct, kw_only=True):
    path: str
    reason: str


class OEmbed(Struct, kw_only=True):
    """An oEmbed 1.0 answer (https://oembed.com) of type ``rich``."""

    type: Literal["rich"] = "rich"
    version: Literal["1.0"] = "1.0"
    title: str
    provider_name: str
    provider_url: str
    cache_age: int
    width: int
    height: int
    html: str
    """A link to the page, then the page in an iframe, for a CMS to place in an article."""


class Problem(Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
    stream: str | None = None
    current_version: int | None = None
    head: int | None = None
    """With a position past the log's end: the log's last position."""
    migration: str | None = None
    """While the database is not migrated: the revision it is at."""


class Health(Struct, kw_only=True, omit_defaults=True):
    status: str
    migration: str | None = None


KeyName = Annotated[str, Meta(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]*(?!\n)$")]
KeyScope = Literal["write", "admin", "preview"]


class NewApiKey(Struct, kw_only=True, forbid_unknown_fields=True):
    name: KeyName
    scope: KeyScope = "write"


class ApiKeyInfo(Struct, kw_only=True):
    """A key's record; the key itself is never stored, only its hash."""

    name: str
    scope: KeyScope
    created_at: datetime
    revoked_at: datetime | None = None


class CreatedApiKey(Struct, kw_only=True):
    name: str
    scope: KeyScope
    key: str
    """Shown once: store it now."""


class Tombstone(Struct, kw_only=True, omit_defaults=True):
    """An erasure as the log records it: what, when, by which key, on which basis."""

    id: UUID
    """The ``event.erased`` event's id."""
    position: int
    recorded_at: datetime
    stream: Slug
    author: str
    """The name of the key that erased it."""
    basis: str
    reference: str
    event_id: UUID | None = None
    slug: str | None = None


class TombstonePage(Struct, kw_only=True):
    """A page of the erasure ledger, in log order; ``next`` resumes right after it."""

    erasures: list[Tombstone]
    next: str
