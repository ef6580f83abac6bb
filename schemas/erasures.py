"""The erasure ledger: every ``event.erased`` in the log, one JSON line each, for keeping apart
from backups (``dateline erasures export``), so that a log restored from before an erasure can
have it applied again."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from msgspec import Struct


class LedgerEntry(Struct, kw_only=True, omit_defaults=True):
    """One erasure: which event recorded it and where, who made it, what it erased and why."""

    id: UUID
    """The erasure event's own id: appending it again with this id changes nothing."""
    position: int
    recorded_at: datetime
    author: str | None = None
    """The name of the key that appended it."""
    event_id: UUID | None = None
    """The fact, or the follow-up whose note, it erased."""
    slug: str | None = None
    """The entity whose personal fields it erased."""
    basis: str
    reference: str
