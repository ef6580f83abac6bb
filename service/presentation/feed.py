"""A timeline as an Atom feed (RFC 4287), paged as RFC 5005 pages a feed.

Entries come the latest changed first: a correction of any kind, a confirmation, a denial or a
retraction brings its fact back up with a new ``updated``, which is how feed readers tell an
entry changed. A silent amendment does too, so readers fetch the mended text, but it leaves no
mark and no line in the entry.
The standard library's ElementTree writes the XML, escaping every text it is given; the entries'
contents are plain text (``type="text"``), so nothing an editor wrote is read as markup.
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from schemas import TimelineEntry
from service.presentation.kinds import heading, marked

ATOM = "http://www.w3.org/2005/Atom"
ET.register_namespace("", ATOM)


def _element(parent: ET.Element, name: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{name}", attributes)
    if text is not None:
        element.text = text
    return element


def _stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _content(entry: TimelineEntry, language: str) -> str:
    """What an entry says: its date, status and mark, summary, corrections and sources, as text."""
    mark = "" if entry.mark is None else f" · {marked(entry.mark, language)}"
    lines = [f"{entry.display_date} · {entry.status}{mark}"]
    if entry.summary:
        lines.append(entry.summary)
    if entry.retracted is not None:
        lines.append(f"Retracted {_stamp(entry.retracted.date)}: {entry.retracted.reason}")
    lines += [
        f"{heading(note.kind, language)} {_stamp(note.date)}: {note.note}"
        for note in entry.corrections
        if note.note
    ]
    lines += [f"Source: {source.title or source.url} <{source.url}>" for source in entry.sources]
    return "\n".join(lines)


def render(
    entries: list[TimelineEntry],
    *,
    language: str,
    title: str,
    self_url: str,
    first_url: str,
    next_url: str | None,
    page_url: str,
    updated: datetime,
) -> bytes:
    """The feed's XML. ``page_url`` is the embed page entries link into, by their ``#event-``."""
    feed = ET.Element(f"{{{ATOM}}}feed")
    _element(feed, "id", self_url.split("?")[0])
    _element(feed, "title", title)
    _element(feed, "updated", _stamp(updated))
    author = _element(feed, "author")
    _element(author, "name", "Dateline")
    _element(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    _element(feed, "link", rel="first", href=first_url, type="application/atom+xml")
    if next_url is not None:
        _element(feed, "link", rel="next", href=next_url, type="application/atom+xml")
    _element(feed, "link", rel="alternate", href=page_url, type="text/html")
    for entry in entries:
        item = _element(feed, "entry")
        _element(item, "id", f"urn:uuid:{entry.id}")
        _element(item, "title", entry.headline)
        _element(item, "published", _stamp(entry.recorded_at))
        _element(item, "updated", _stamp(entry.updated_at))
        _element(item, "link", rel="alternate", href=f"{page_url}#event-{entry.id}", type="text/html")
        for tag in entry.tags:
            _element(item, "category", term=tag)
        _element(item, "content", _content(entry, language), type="text")
    xml: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return xml
