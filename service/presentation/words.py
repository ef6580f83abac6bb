"""The embed page's own words, in each language it speaks.

Editors' texts come from the log in whatever languages they were written in; these are the few
words around them (statuses, labels, the pinned line, each kind of correction's mark and note). Counts follow each language's plural
rule through Babel, so "1 fact" and "0 fait" read right.
"""

from __future__ import annotations

from typing import Literal

from babel import Locale
from babel.core import UnknownLocaleError

LANGUAGES = ("en", "fr")
"""The languages the page speaks; any other falls back to English."""

Word = Literal[
    "timeline",
    "reported",
    "confirmed",
    "denied",
    "retracted",
    "sources",
    "summary",
    "corrected",
    "clarified",
    "updated",
    "correction",
    "clarification",
    "update",
    "confirmation",
    "denial",
    "retraction",
    "more",
    "earlier",
    "live",
    "pinned",
    "all_statuses",
    "filter",
    "status",
    "link",
    "empty",
    "see_new",
    "reload",
    "draft",
    "embargoed",
    "withdrawn",
    "erased",
    "erased_entity",
]

_WORDS: dict[str, dict[Word, str]] = {
    "en": {
        "timeline": "Timeline",
        "reported": "Reported",
        "confirmed": "Confirmed",
        "denied": "Denied",
        "retracted": "Retracted",
        "sources": "Sources",
        "summary": "Details and sources",
        "corrected": "Corrected",
        "clarified": "Clarified",
        "updated": "Updated {date}",
        "correction": "Correction",
        "clarification": "Clarification",
        "update": "Update",
        "confirmation": "Confirmed",
        "denial": "Denied",
        "retraction": "Retracted",
        "more": "Later events",
        "earlier": "Earlier events",
        "live": "See the timeline as it is now",
        "pinned": "As known on {date}.",
        "all_statuses": "Any status",
        "filter": "Show",
        "status": "Status",
        "link": "Link to this event",
        "empty": "Nothing here yet.",
        "see_new": "Show",
        "reload": "This timeline has changed: reload it",
        "draft": "Draft",
        "embargoed": "Embargoed until {date}",
        "withdrawn": "Withdrawn before publication",
        "erased": "Removed on {date} for legal reasons",
        "erased_entity": "Erased entity",
    },
    "fr": {
        "timeline": "Chronologie",
        "reported": "Rapporté",
        "confirmed": "Confirmé",
        "denied": "Démenti",
        "retracted": "Retiré",
        "sources": "Sources",
        "summary": "Détails et sources",
        "corrected": "Corrigé",
        "clarified": "Précisé",
        "updated": "Mis à jour le {date}",
        "correction": "Rectificatif",
        "clarification": "Précision",
        "update": "Mise à jour",
        "confirmation": "Confirmé",
        "denial": "Démenti",
        "retraction": "Retiré",
        "more": "Événements suivants",
        "earlier": "Événements précédents",
        "live": "Voir la chronologie à jour",
        "pinned": "Tel que connu le {date}.",
        "all_statuses": "Tous les statuts",
        "filter": "Afficher",
        "status": "Statut",
        "link": "Lien vers cet événement",
        "empty": "Rien pour l'instant.",
        "see_new": "Voir",
        "reload": "Cette chronologie a changé : la recharger",
        "draft": "Brouillon",
        "embargoed": "Sous embargo jusqu'au {date}",
        "withdrawn": "Retiré avant publication",
        "erased": "Supprimé le {date} pour des raisons juridiques",
        "erased_entity": "Entité effacée",
    },
}
_COUNTS: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "added": {"one": "{n} fact added", "other": "{n} facts added"},
        "changed": {"one": "{n} changed", "other": "{n} changed"},
        "arrived": {"one": "{n} new event", "other": "{n} new events"},
        "amended": {"one": "{n} minor fix since", "other": "{n} minor fixes since"},
    },
    "fr": {
        "added": {"one": "{n} fait ajouté", "other": "{n} faits ajoutés"},
        "changed": {"one": "{n} modifié", "other": "{n} modifiés"},
        "arrived": {"one": "{n} nouvel événement", "other": "{n} nouveaux événements"},
        "amended": {"one": "{n} retouche mineure depuis", "other": "{n} retouches mineures depuis"},
    },
}


def speaks(language: str) -> str:
    """The page's language for a requested one: itself or its base, else English."""
    base = language.split("-")[0].lower()
    return base if base in LANGUAGES else "en"


def words(language: str) -> dict[Word, str]:
    return _WORDS[speaks(language)]


Counted = Literal["added", "changed", "arrived", "amended"]


def forms(language: str, what: Counted) -> dict[str, str]:
    """Each plural form's text of a count, ``{n}`` in place of the number: for the page's script,
    which counts what arrives live (by the browser's own plural rules, ``Intl.PluralRules``)."""
    return _COUNTS[speaks(language)][what]


def count(language: str, what: Counted, n: int, *, at_least: bool = False) -> str:
    """``n`` things, in the language's plural form; ``at_least`` when counting stopped there."""
    language = speaks(language)
    try:
        form = Locale.parse(language).plural_form(n)
    except UnknownLocaleError:
        form = "other"
    text = _COUNTS[language][what].get(form, _COUNTS[language][what]["other"])
    return text.format(n=f"{n}+" if at_least else n)
