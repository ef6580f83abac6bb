"""Query parameters several routes share, and how a bad one is reported: under its own name."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from babel import negotiate_locale
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

from schemas.common import LANGUAGE_PATTERN, SLUG_PATTERN
from schemas.dates import in_utc
from service.domain import cursors
from service.presentation.words import LANGUAGES

_SLUG = re.compile(SLUG_PATTERN)
C = TypeVar("C", bound=cursors.Cursor)

Language = Annotated[
    str,
    QueryParameter(
        pattern=LANGUAGE_PATTERN, description="The language to show texts and dates in; falls back per item."
    ),
]
MinPosition = Annotated[
    int | None,
    QueryParameter(
        ge=1,
        le=2**63 - 1,
        description=(
            "Answer only once the read model includes the event at this position (read your own "
            "write); 503 with Retry-After if it does not within seconds, 400 if the log has no such position."
        ),
    ),
]
Preview = Annotated[
    bool,
    QueryParameter(
        description=(
            "Read the preview: drafts and embargoed events too, each marked (`held`), as recorded. Needs an "
            "API key with the preview scope (write and admin keys have it); never cached by anyone."
        )
    ),
]
AsOf = Annotated[
    datetime | None,
    QueryParameter(
        description="An RFC 3339 instant: answer from only what had been recorded by then (corrections too)."
    ),
]


def instant(value: datetime | None) -> datetime | None:
    """``as_of`` in UTC, checked: with a time zone, and an instant of the calendar."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise bad_parameter("as_of", "needs a time zone: add Z or an offset such as +02:00")
    try:
        return in_utc(value, value.isoformat())
    except ValueError as reason:
        raise bad_parameter("as_of", str(reason)) from None


def bad_parameter(name: str, reason: str) -> ValidationException:
    return ValidationException(extra=[{"key": name, "source": "query", "message": reason}])


def cursor(name: str, text: str | None, kind: type[C]) -> C | None:
    """The cursor a ``next`` value passed back as ``name`` stands for; 400 if it is none of ``kind``."""
    if not text:
        return None
    try:
        return cursors.decode(text, kind)
    except ValueError as reason:
        raise bad_parameter(name, str(reason)) from None


def slugs(name: str, value: str | None) -> list[str]:
    """A comma-separated list of slugs, each checked."""
    if not value:
        return []
    found = [part.strip() for part in value.split(",") if part.strip()]
    for slug in found:
        if not _SLUG.match(slug) or len(slug) > 80:
            raise bad_parameter(name, f"'{slug}' is not a slug")
    if len(found) > 50:
        raise bad_parameter(name, "at most 50 values")
    return found


def query_without(request: Request[Any, Any, Any], *dropped: str) -> list[tuple[str, str]]:
    """The request's query parameters, in their order, but ``dropped``."""
    return [(name, value) for name, value in request.query_params.multi_items() if name not in dropped]


def with_query(path: str, query: list[tuple[str, str]]) -> str:
    """``path`` with ``query``, or bare when there is none."""
    return path + (f"?{urlencode(query)}" if query else "")


def _languages(header: str) -> list[str]:
    """The languages of an Accept-Language header, most wanted first."""
    weighted = []
    for order, part in enumerate(header.split(",")):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag and weight > 0:
            weighted.append((-weight, order, tag.replace("-", "_")))
    return [tag for *_, tag in sorted(weighted)]


def reader_language(request: Request[Any, Any, Any]) -> str | None:
    """The language the browser asks for, when the URL does not say: None if it does."""
    if "lang" in request.query_params:
        return None
    chosen = negotiate_locale(_languages(request.headers.get("accept-language", "")), list(LANGUAGES))
    return chosen or "en"
