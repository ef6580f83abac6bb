"""How items read in a given language: dates at their own precision, texts with a fallback."""

from __future__ import annotations

from datetime import UTC

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime, format_skeleton

from schemas import (
    CorrectionShown,
    Occurred,
    Precision,
    RetractionShown,
    TimelineEntry,
    parse_partial_date,
)
from schemas.read import PrecisionName
from service.domain.timeline import CorrectionNote, Item, Retraction

# Babel skeletons: the fields to show, laid out as each language does ("May 2024", "mai 2024").
_SKELETONS = {Precision.YEAR: "y", Precision.MONTH: "yMMMM", Precision.DAY: "yMMMMd"}


def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def display_date(occurred: str, language: str) -> str:
    """A partial date shown at its own precision: "2010", "May 2024", "6 mai 2024"."""
    span = parse_partial_date(occurred)
    locale = _locale(language)
    if span.precision is Precision.INSTANT:
        return str(format_datetime(span.start, "medium", tzinfo=UTC, locale=locale)) + " UTC"
    return str(format_skeleton(_SKELETONS[span.precision], span.start, locale=locale))


def pick(texts: dict[str, str] | None, language: str) -> tuple[str | None, str | None]:
    """The text in ``language`` (or its base language), else the first one written; and which it is."""
    if not texts:
        return None, None
    for candidate in (language, language.split("-")[0]):
        if candidate in texts:
            return texts[candidate], candidate
    first = next(iter(texts))
    return texts[first], first


_PRECISION_NAMES: dict[Precision, PrecisionName] = {
    Precision.YEAR: "year",
    Precision.MONTH: "month",
    Precision.DAY: "day",
    Precision.INSTANT: "instant",
}


def entry(item: Item, language: str) -> TimelineEntry:
    """An item as a reader of ``language`` sees it."""
    span = parse_partial_date(item.occurred)
    headline, used = pick(item.headline, language)
    summary, _ = pick(item.summary, used or language)
    return TimelineEntry(
        id=item.id,
        type=item.type,
        stream=item.stream,
        occurred=Occurred(
            value=item.occurred, precision=_PRECISION_NAMES[span.precision], start=span.start, end=span.end
        ),
        display_date=display_date(item.occurred, used or language),
        headline=headline or "",
        language=used or language,
        summary=summary,
        status=item.status,
        entities=item.entities,
        sources=item.sources,
        tags=item.tags,
        details=item.details,
        position=item.position,
        recorded_at=item.recorded_at,
        updated_at=item.updated_at,
        link=f"/v1/events/{item.id}",
        corrections=[_correction(note, language) for note in item.corrections],
        retracted=_retraction(item.retracted, language) if item.retracted else None,
    )


def _correction(note: CorrectionNote, language: str) -> CorrectionShown:
    text, used = pick(note.note, language)
    return CorrectionShown(
        event_id=note.event_id,
        date=note.recorded_at,
        note=text or "",
        language=used or language,
        changed=note.changed,
    )


def _retraction(retraction: Retraction, language: str) -> RetractionShown:
    text, used = pick(retraction.reason, language)
    return RetractionShown(
        event_id=retraction.event_id,
        date=retraction.recorded_at,
        reason=text or "",
        language=used or language,
    )
