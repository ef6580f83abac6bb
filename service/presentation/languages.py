"""How a text reads in the reader's language: which of an item's texts is shown (with a
fallback), and how a partial date is written there ("May 2024", "mai 2024"), with the locales
that takes kept bounded."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC
from functools import lru_cache

from babel import Locale, UnknownLocaleError, localedata
from babel.core import get_global
from babel.dates import format_datetime, format_skeleton

from schemas import Precision, parse_partial_date

# Babel skeletons: the fields to show, laid out as each language does ("May 2024", "mai 2024").
_SKELETONS = {Precision.YEAR: "y", Precision.MONTH: "yMMMM", Precision.DAY: "yMMMMd"}


_LOCALES_KEPT = 32
"""Locales kept loaded at once: a newsroom reads in a handful, and each costs Babel about half a
megabyte of data with its parents, so this holds them to about 18 MB (tests/test_dates.py
measures it) whatever languages readers ask for."""
_locales: OrderedDict[str, Locale] = OrderedDict()
_locales_lock = threading.Lock()


def locale_of(language: str) -> Locale:
    """The Babel locale of ``language`` (English for one Babel does not know), among the
    ``_LOCALES_KEPT`` last asked for."""
    with _locales_lock:
        if (kept := _locales.get(language)) is not None:
            _locales.move_to_end(language)
            return kept
    try:
        locale = Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        locale = Locale.parse("en")
    with _locales_lock:
        _locales[language] = locale
        if len(_locales) > _LOCALES_KEPT:
            _locales.popitem(last=False)
            _release({str(kept) for kept in _locales.values()})
            _display_date.cache_clear()
    return locale


def _release(kept: set[str]) -> None:
    """Let go of Babel's data for every locale but ``kept`` and those they inherit from.

    Babel caches each locale it loads, and each one's parents, for the life of the process, in
    module dicts it offers no way to trim but emptying them: emptying them would make each new
    locale load its parents afresh while kept ones still hold the old copies.
    """
    parents = get_global("parent_exceptions")
    needed = {"root"}
    for name in kept:
        while name and name not in needed:
            needed.add(name)
            name = parents.get(name) or name.rpartition("_")[0]
    with localedata._cache_lock:
        for cache in (localedata._cache, localedata._dict_cache):
            for name in [name for name in cache if name not in needed]:
                del cache[name]


def display_date(occurred: str, language: str) -> str:
    """A partial date shown at its own precision: "2010", "May 2024", "6 mai 2024"."""
    return _display_date(occurred, locale_of(language))


# Formatting costs about 10 µs a date, twenty a page; a newsroom's dates are few (days over a few
# decades, in a few languages), and each one always reads the same. Keyed by the locale, so
# that it never keeps one the bound above has let go (it is cleared when one goes).
@lru_cache(maxsize=65536)
def _display_date(occurred: str, locale: Locale) -> str:
    span = parse_partial_date(occurred)
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
