"""The embed page as a reader meets it: a timeline rendered server-side, in the reader's
language, with the words around it, its structured data, and its links.

The template (``templates/embed.html``) escapes every value it is given (Jinja's autoescape);
what this module hands it is plain text, except the JSON-LD, which it escapes for a script
element itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, Template
from markupsafe import Markup

from schemas import PinnedEntry, PinnedTimelinePage, TimelineEntry, TimelinePage, parse_partial_date
from service.presentation.kinds import heading, marked
from service.presentation.languages import locale_of
from service.presentation.words import count, forms, speaks, words

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
_LATER_WORDS = {
    "event.confirmed": "confirmation",
    "event.denied": "denial",
    "event.retracted": "retraction",
}
_encode = msgspec.json.Encoder().encode


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, auto_reload=False)


def go_link(event_id: UUID, index: int) -> str:
    """Our own link to a fact's source: the way out of a sandboxed frame (see ``/go``)."""
    return f"/go/{event_id}/{index}"


def _script_json(value: Any) -> Markup:
    """JSON for a ``<script>`` element: nothing in it can end the element or open a comment."""
    text = _encode(value).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))  # noqa: S704


def _json_ld(entries: Sequence[TimelineEntry], heading: str, canonical: str) -> Markup:
    """schema.org: the timeline as a list of events, each correction or clarification a
    ``CorrectionComment`` (an update is new information, not a correction)."""

    def event(entry: TimelineEntry) -> dict[str, Any]:
        found: dict[str, Any] = {
            "@type": "Event",
            "name": entry.headline,
            "startDate": entry.occurred.value,
            "url": f"{canonical}#event-{entry.id}",
        }
        if entry.summary:
            found["description"] = entry.summary
        if comments := [
            {"@type": "CorrectionComment", "text": note.note, "datePublished": note.date.isoformat()}
            for note in entry.corrections
            if note.kind != "update"
        ]:
            found["subjectOf"] = comments
        return found

    return _script_json(
        {
            "@context": "https://schema.org",
            "@type": "ItemList",
            "name": heading,
            "itemListElement": [
                {"@type": "ListItem", "position": number, "item": event(entry)}
                for number, entry in enumerate(entries, 1)
            ],
        }
    )


_OEMBED_HTML = (
    '<blockquote class="dateline-embed"><a href="{{ url }}">{{ title }}</a></blockquote>'
    '<iframe src="{{ url }}" title="{{ title }}" width="{{ width }}" height="{{ height }}"'
    ' loading="lazy" style="border: 0; max-width: 100%"></iframe>'
)


@lru_cache(maxsize=1)
def _oembed_template() -> Template:
    return _environment().from_string(_OEMBED_HTML)


def oembed_html(url: str, title: str, width: int, height: int) -> str:
    """What a CMS puts in the article: a link anyone can follow, then the page itself."""
    return _oembed_template().render(url=url, title=title, width=width, height=height)


def _order(entry: TimelineEntry) -> str:
    """Timeline order as text that sorts the same: where a fact arriving live goes in the list."""
    span = parse_partial_date(entry.occurred.value)
    return f"{span.start.astimezone(UTC):%Y%m%d%H%M%S%f}.{int(span.precision):02d}.{entry.position:019d}"


def _words_of(language: str) -> dict[str, Any]:
    """What the event template needs besides the fact: the words and dates of ``language``."""
    said = words(language)
    locale = locale_of(language)

    def dates(instant: datetime) -> str:
        return format_date(instant, "long", locale=locale)

    return {
        "words": said,
        "later_word": _LATER_WORDS,
        "dates": dates,
        "go": go_link,
        "order": _order,
        "marked": lambda mark: marked(mark, language),
        "headed": lambda kind: heading(kind, language),
        "amended": lambda n: count(language, "amended", n),
    }


def render_event(entry: TimelineEntry, language: str) -> str:
    """One fact as the embed page's list shows it: what a live stream hands the page."""
    return _environment().get_template("event.html").render(item=entry, **_words_of(speaks(language)))


def render(
    page: TimelinePage | PinnedTimelinePage,
    *,
    heading: str,
    language: str,
    theme: str,
    path: str,
    canonical: str,
    oembed: str,
    next_page: str | None,
    live: str,
    follow: dict[str, str] | None,
    descending: bool,
    keep: Sequence[tuple[str, str]],
    chosen: dict[str, str],
) -> str:
    """The page's HTML. ``live`` is the same page as known now, for a pinned one; ``follow``
    says how its script follows it live (its stream, and what to poll without; none for a
    pinned page); ``keep`` are the query's
    parameters the filter form carries over."""
    language = speaks(language)
    shared = _words_of(language)
    said, dates = shared["words"], shared["dates"]
    pinned = None
    items: Sequence[TimelineEntry | PinnedEntry] = page.items
    if isinstance(page, PinnedTimelinePage):
        since = page.since
        parts = [
            count(language, "added", since.added, at_least=not since.complete),
            count(language, "changed", since.changed, at_least=not since.complete),
        ]
        pinned = {
            "when": said["pinned"].format(date=dates(page.as_of)),
            "since": ", ".join(parts) if since.added or since.changed else "",
            "live": live,
        }
    return (
        _environment()
        .get_template("embed.html")
        .render(
            lang=language,
            theme=theme,
            heading=heading,
            items=items,
            pinned=pinned,
            path=path,
            canonical=canonical,
            oembed=oembed,
            next=next_page,
            follow=follow,
            descending=descending,
            arrived=forms(language, "arrived"),
            keep=keep,
            chosen=chosen,
            json_ld=_json_ld(page.items, heading, canonical),
            **shared,
        )
    )
