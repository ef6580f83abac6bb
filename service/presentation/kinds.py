"""How each kind of correction reads, in the reader's language: the mark it leaves on its fact
("Corrected", "Clarified", "Updated 7 May 2024") and the heading of its public note
("Correction", "Clarification", "Update"). Amendments are silent: they have neither.

The embed page, the live stream's HTML, the Atom feed and the TimelineJS export all say them
through here, so a kind reads the same wherever it is shown.
"""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_date

from schemas.events import FollowUpKind
from schemas.read import MarkShown
from service.presentation.languages import locale_of
from service.presentation.words import Word, speaks, words

_MARKS: dict[FollowUpKind, Word] = {
    "correction": "corrected",
    "clarification": "clarified",
    "update": "updated",
}
_HEADINGS: dict[FollowUpKind, Word] = {
    "correction": "correction",
    "clarification": "clarification",
    "update": "update",
}


def day(instant: datetime, language: str) -> str:
    """An instant's day as the reader's language writes it: "7 May 2024", "7 mai 2024"."""
    return format_date(instant, "long", locale=locale_of(speaks(language)))


def marked(mark: MarkShown, language: str) -> str:
    """The mark a fact carries for its latest correction, clarification or update."""
    return words(language)[_MARKS[mark.kind]].format(date=day(mark.date, language))


def heading(kind: FollowUpKind, language: str) -> str:
    """What a public note is headed by: the kind's own noun."""
    return words(language)[_HEADINGS[kind]]
