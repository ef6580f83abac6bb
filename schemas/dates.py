"""Partial dates: when something happened, at the precision the newsroom knows it.

A partial date is a year (``2010``), a month (``2024-05``), a day (``2024-05-06``) or an
RFC 3339 instant (``2024-05-06T09:30:00Z``). Each one stands for a span of time: the year 2010
is every instant from 2010-01-01T00:00Z up to, but not including, 2011-01-01T00:00Z. Sorting
uses the span's start, then the precision (a year sorts before a month that starts with it),
and filtering uses overlap with the span, so "May 2024" is inside a query for 2024.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from functools import lru_cache
from typing import NamedTuple

_CALENDAR = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


class Precision(IntEnum):
    """Wikidata-style precision; larger is finer, which is also the sort order within one start."""

    YEAR = 9
    MONTH = 10
    DAY = 11
    INSTANT = 14


class PartialDateSpan(NamedTuple):
    start: datetime
    end: datetime
    precision: Precision


_LAST = datetime.max.replace(tzinfo=UTC)
"""Where the spans of year 9999 end: the calendar has no instant after it."""
_RANGE = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z"


def _first_of_next_month(year: int, month: int) -> datetime:
    if year == 9999 and month == 12:
        return _LAST
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def _after(start: datetime, span: timedelta) -> datetime:
    return _LAST if _LAST - start < span else start + span


@lru_cache(maxsize=4096)  # newsrooms repeat the same dates; spans are immutable
def parse_partial_date(text: str) -> PartialDateSpan:
    """The span a partial date covers; ``ValueError`` with a reader-friendly reason otherwise."""
    calendar = _CALENDAR.fullmatch(text)
    if calendar is None:
        return _parse_instant(text)
    year_text, month_text, day_text = calendar.groups()
    year = int(year_text)
    if year < 1:
        raise ValueError(f"'{text}' is not a date: year 0000 does not exist")
    if month_text is None:
        return PartialDateSpan(
            datetime(year, 1, 1, tzinfo=UTC), _first_of_next_month(year, 12), Precision.YEAR
        )
    month = int(month_text)
    if not 1 <= month <= 12:
        raise ValueError(f"'{text}' is not a date: month must be 01 to 12")
    if day_text is None:
        return PartialDateSpan(
            datetime(year, month, 1, tzinfo=UTC), _first_of_next_month(year, month), Precision.MONTH
        )
    try:
        day = datetime(year, month, int(day_text), tzinfo=UTC)
    except ValueError:
        raise ValueError(f"'{text}' is not a date: {year}-{month:02d} has no day {day_text}") from None
    return PartialDateSpan(day, _after(day, timedelta(days=1)), Precision.DAY)


def _parse_instant(text: str) -> PartialDateSpan:
    reason = (
        f"'{text}' is not a partial date: use YYYY, YYYY-MM, YYYY-MM-DD "
        "or an RFC 3339 instant with a time zone (2024-05-06T09:30:00Z)"
    )
    if "T" not in text.upper() or len(text) > 40:
        raise ValueError(reason)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(reason) from None
    if instant.tzinfo is None:
        raise ValueError(f"'{text}' has no time zone: add Z or an offset such as +02:00")
    instant = in_utc(instant, text)
    return PartialDateSpan(instant, _after(instant, timedelta(microseconds=1)), Precision.INSTANT)


def in_utc(instant: datetime, text: str) -> datetime:
    """``instant`` in UTC; ``ValueError`` when that falls outside the calendar's years 1 to 9999
    (``0001-01-01T00:00:00+01:00`` is in year 0 in UTC)."""
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"'{text}' is outside {_RANGE}") from None
