"""A timeline as Knight Lab's TimelineJS reads it (its JSON format): newsrooms whose tools already
speak TimelineJS point them at Dateline.

TimelineJS renders a slide's ``text`` as HTML, so everything an editor wrote is escaped here and
sources become links only when they are http or https. TimelineJS loads a whole timeline at once
and cannot page: the export holds at most ``CAP`` events and says so on its title slide.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from schemas import (
    TimelineEntry,
    TimelineJS,
    TimelineJSDate,
    TimelineJSEvent,
    TimelineJSText,
    TimelineJSTitle,
)
from service.presentation.kinds import heading, marked

CAP = 500
"""The most events one export holds; TimelineJS slows down well before this."""


def _start_date(entry: TimelineEntry) -> TimelineJSDate:
    """Only the parts of the date that are known: a year, a month, a day, or an instant."""
    start, precision = entry.occurred.start, entry.occurred.precision
    date = TimelineJSDate(year=start.year)
    if precision in ("month", "day", "instant"):
        date.month = start.month
    if precision in ("day", "instant"):
        date.day = start.day
    if precision == "instant":
        date.hour, date.minute, date.second = start.hour, start.minute, start.second
    return date


def _text(entry: TimelineEntry, language: str) -> str:
    mark = "" if entry.mark is None else f" · {marked(entry.mark, language)}"
    paragraphs: list[Markup] = [Markup("<p>{} · {}{}</p>").format(entry.display_date, entry.status, mark)]
    if entry.summary:
        paragraphs.append(Markup("<p>{}</p>").format(entry.summary))
    if entry.retracted is not None:
        paragraphs.append(Markup("<p><strong>Retracted</strong>: {}</p>").format(entry.retracted.reason))
    paragraphs += [
        Markup("<p><strong>{}</strong> {}: {}</p>").format(
            heading(note.kind, language), note.date.date().isoformat(), note.note
        )
        for note in entry.corrections
        if note.note
    ]
    links = [
        Markup('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>').format(
            source.url, source.title or source.url
        )
        for source in entry.sources
        if source.url.startswith(("https://", "http://"))
    ]
    if links:
        paragraphs.append(Markup("<p>Sources: {}</p>").format(Markup(", ").join(links)))
    return str(Markup("").join(paragraphs))


def document(
    entries: list[TimelineEntry], *, language: str, title: str, capped: bool, whole: str
) -> TimelineJS:
    """The TimelineJS document of ``entries``; ``capped`` when the timeline holds more than them,
    and ``whole`` is where it is all."""
    note = (
        Markup('<p>The first {} events; the whole timeline is at <a href="{}">{}</a>.</p>').format(
            len(entries), whole, whole
        )
        if capped
        else Markup("")
    )
    return TimelineJS(
        title=TimelineJSTitle(text=TimelineJSText(headline=str(escape(title)), text=str(note))),
        events=[
            TimelineJSEvent(
                start_date=_start_date(entry),
                display_date=str(escape(entry.display_date)),
                text=TimelineJSText(headline=str(escape(entry.headline)), text=_text(entry, language)),
                group=entry.type,
                unique_id=f"event-{entry.id}",
            )
            for entry in entries
        ],
    )
