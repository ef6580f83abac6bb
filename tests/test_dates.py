"""Partial dates: spans, precision and the errors a newsroom would understand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import Precision, parse_partial_date


@pytest.mark.parametrize(
    ("text", "start", "end", "precision"),
    [
        ("2010", datetime(2010, 1, 1, tzinfo=UTC), datetime(2011, 1, 1, tzinfo=UTC), Precision.YEAR),
        ("2024-12", datetime(2024, 12, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC), Precision.MONTH),
        ("2024-02-29", datetime(2024, 2, 29, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC), Precision.DAY),
    ],
)
def test_calendar_dates_cover_their_whole_span(
    text: str, start: datetime, end: datetime, precision: Precision
) -> None:
    assert parse_partial_date(text) == (start, end, precision)


def test_instants_are_normalised_to_utc() -> None:
    span = parse_partial_date("2024-05-06T11:30:00+02:00")
    assert span.start == datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
    assert span.precision is Precision.INSTANT


def test_a_year_sorts_before_a_month_it_contains() -> None:
    year, month = parse_partial_date("2024"), parse_partial_date("2024-01")
    assert (year.start, year.precision) < (month.start, month.precision)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2024-13", "month must be 01 to 12"),
        ("2023-02-29", "has no day 29"),
        ("0000", "year 0000"),
        ("2024-05-06T10:00", "no time zone"),
        ("May 2024", "not a partial date"),
        ("2024-5", "not a partial date"),
    ],
)
def test_impossible_dates_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_partial_date(text)
