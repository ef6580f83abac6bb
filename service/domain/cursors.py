"""Cursors: where a reader stands in a list, handed out as opaque text and taken back checked.

Every list the API pages (the log, timelines, entity listings) hands out a ``next`` value and
takes it back as a parameter. A cursor is a small tagged struct, encoded as JSON and then as
URL-safe base64: readers must treat it as opaque, and the service decodes it into exactly the
type the list expects, every number in range. A cursor of another list, of another order, or
altered by hand is refused with a reason the HTTP layer reports under the parameter's name.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, TypeVar

import msgspec
from msgspec import Meta

_Big = Annotated[int, Meta(ge=0, le=2**63 - 1)]
_Offset = Annotated[int, Meta(ge=0, le=2**31 - 1)]


class Cursor(msgspec.Struct, frozen=True, array_like=True, tag_field="k"):
    """Base of every cursor; a subclass's tag says which list it belongs to."""


class LogCursor(Cursor, frozen=True, tag="log", order=True):
    """A place in the global log: after the event written by ``transaction_id`` at ``position``."""

    transaction_id: _Big
    position: _Big


class TimelineCursor(Cursor, frozen=True, tag="time"):
    """A place in timeline order: after (or before, newest first) the item with this sort key."""

    start: Annotated[datetime, Meta(tz=True)]
    precision: Annotated[int, Meta(ge=9, le=14)]
    position: _Big


class RankCursor(Cursor, frozen=True, tag="rank"):
    """A place in a ranked list: after its first ``offset`` entries. Ranks move as items are
    corrected, so a ranked list pages by count, not by a key."""

    offset: _Offset


class SlugCursor(Cursor, frozen=True, tag="slug"):
    """A place in a list of entities by slug: after ``slug``."""

    slug: Annotated[str, Meta(min_length=1, max_length=80)]


class FeedCursor(Cursor, frozen=True, tag="feed"):
    """A place in a feed, newest change first: before the item that took its current form at
    ``since``, at ``position``."""

    since: Annotated[datetime, Meta(tz=True)]
    position: _Big


START = LogCursor(0, 0)
MAX_LENGTH = 200

C = TypeVar("C", bound=Cursor)
_encode = msgspec.json.Encoder().encode


def encode(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(_encode(cursor)).decode("ascii").rstrip("=")


def decode(text: str, kind: type[C]) -> C:
    """The cursor ``text`` stands for, if it is one of ``kind``; ``ValueError`` saying why not."""
    if len(text) > MAX_LENGTH:
        raise ValueError("not a cursor from this API: pass back a `next` value unchanged")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not a cursor from this API: pass back a `next` value unchanged") from None
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError:
        raise ValueError(
            f"not a cursor of this list ({_reading[kind]}): pass back its own `next` value"
        ) from None
    except msgspec.DecodeError:
        raise ValueError("not a cursor from this API: pass back a `next` value unchanged") from None


_reading: dict[type[Cursor], str] = {
    LogCursor: "the log",
    TimelineCursor: "a timeline in date order",
    RankCursor: "a ranked list",
    SlugCursor: "entities by slug",
    FeedCursor: "a feed",
}
