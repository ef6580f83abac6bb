"""Partial dates: spans, precision and the errors a newsroom would understand."""

from __future__ import annotations

import gc
import re
import tracemalloc
from datetime import UTC, datetime

import pytest
from babel import localedata

from schemas import Precision, parse_partial_date
from schemas.common import LANGUAGE_PATTERN
from service.presentation.languages import display_date


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


@pytest.mark.slow
def test_a_run_of_every_locale_babel_knows_keeps_memory_bounded() -> None:
    """Readers may ask for any of Babel's locales; only the last few asked for stay loaded."""
    names = [name.replace("_", "-") for name in localedata.locale_identifiers()]
    languages = [name for name in names if re.match(LANGUAGE_PATTERN, name)][:400]
    assert len(languages) == 400
    tracemalloc.start()
    try:
        for language in languages[:100]:  # enough to fill the kept locales
            display_date("2024-05-06", language)
        gc.collect()
        filled = tracemalloc.get_traced_memory()[0]
        for language in languages[100:]:
            display_date("2024-05-06", language)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert filled < 25_000_000  # 32 locales and their parents; all 100 would be about 55 MB
    assert after - filled < 2_000_000  # 300 more: nothing kept past the bound
