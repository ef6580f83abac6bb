"""Timelines as other newsroom tools read them: Knight Lab's TimelineJS JSON format
(``format=timelinejs`` on the timelines). Field names are TimelineJS's own."""

from __future__ import annotations

from msgspec import Struct


class TimelineJSDate(Struct, kw_only=True, omit_defaults=True):
    """Only the parts of a date that are known: a year, then a month, a day, or a time of day."""

    year: int
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    minute: int | None = None
    second: int | None = None


class TimelineJSText(Struct, kw_only=True):
    headline: str
    """Escaped: TimelineJS shows it as HTML."""
    text: str
    """HTML made of escaped texts and, for sources, http and https links."""


class TimelineJSTitle(Struct, kw_only=True):
    """The title slide: the timeline's name, and whether the export holds only its first events."""

    text: TimelineJSText


class TimelineJSEvent(Struct, kw_only=True):
    """One fact as a TimelineJS slide."""

    start_date: TimelineJSDate
    display_date: str
    text: TimelineJSText
    group: str
    """The fact's event type."""
    unique_id: str
    """``event-<the fact's id>``."""


class TimelineJS(Struct, kw_only=True):
    """A timeline as TimelineJS loads it: all at once, up to a cap (the ``format`` parameter
    says which), which the title slide says was reached."""

    title: TimelineJSTitle
    events: list[TimelineJSEvent]
