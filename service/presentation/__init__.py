"""How the read model reads to a person: in their language, dates at their own precision, with
links to where each thing lives.

The pure domain says what is known; this module says how it is shown, for the JSON API now and
the HTML embed next: which language a text is shown in (with a fallback), how a partial date is
written in that language ("May 2024", "mai 2024"), and each resource's link.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC
from functools import lru_cache
from typing import Any
from uuid import UUID

import msgspec
from babel import Locale, UnknownLocaleError, localedata
from babel.core import get_global
from babel.dates import format_datetime, format_skeleton

from schemas import (
    ChangesSince,
    CorrectionShown,
    EntityHistory,
    EntityPage,
    EntityRevisionShown,
    EntitySummary,
    EntityView,
    FactHistory,
    FactShown,
    LaterShown,
    MergeShown,
    Occurred,
    PinnedEntry,
    PinnedTimelinePage,
    Precision,
    RetractionShown,
    RevisionShown,
    RoleShown,
    TimelineEntry,
    TimelinePage,
    parse_partial_date,
)
from schemas.read import FollowUpType, PrecisionName
from service.domain import cursors
from service.domain.entities import FactRef, Profile, RoleHeld, profile_change
from service.domain.timeline import CorrectionNote, Item, LaterChange, Retraction, changes
from service.projections.newsroom import EntityHistory as NewsroomEntityHistory
from service.projections.newsroom import EntityListing, EntityState, PinnedPage
from service.projections.newsroom import TimelinePage as Page
from service.store.newsroom import ItemVersion

_uuid_text = msgspec.json.Encoder().encode


def event_link(event_id: UUID) -> str:
    # msgspec writes a UUID's text in C, three times as fast as str(): twenty of these a page.
    return f"/v1/events/{_uuid_text(event_id)[1:-1].decode()}"


def timeline_link(slug: str) -> str:
    return f"/v1/entities/{slug}/timeline"


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
    summary, summary_language = pick(item.summary, language)
    return TimelineEntry(
        id=item.id,
        type=item.type,
        stream=item.stream,
        occurred=Occurred(
            value=item.occurred, precision=_PRECISION_NAMES[span.precision], start=span.start, end=span.end
        ),
        # The date is the reader's, always; only texts fall back, each saying its language.
        display_date=display_date(item.occurred, language),
        headline=headline or "",
        language=used or language,
        summary=summary,
        summary_language=summary_language,
        status=item.status,
        entities=item.entities,
        sources=item.sources,
        tags=item.tags,
        details=item.details,
        position=item.position,
        recorded_at=item.recorded_at,
        updated_at=item.updated_at,
        link=event_link(item.id),
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


def timeline_page(page: Page, language: str) -> TimelinePage:
    return TimelinePage(
        items=[entry(item, language) for item in page.items],
        next=None if page.next is None else cursors.encode(page.next),
    )


def _shown(value: Any) -> Any:
    """What an entity's facts establish, each with its fact's link."""
    if isinstance(value, FactRef):
        return FactShown(
            value=value.value, status=value.status, occurred=value.occurred, event=event_link(value.event)
        )
    if isinstance(value, RoleHeld):
        return RoleShown(
            title=value.title,
            person=value.person,
            organization=value.organization,
            since=value.since,
            status=value.status,
            event=event_link(value.event),
            until=value.until,
            ended_by=None if value.ended_by is None else event_link(value.ended_by),
        )
    if isinstance(value, list):
        return [_shown(part) for part in value]
    return value


def entity_view(state: EntityState) -> EntityView:
    profile = state.profile
    return EntityView(
        slug=profile.slug,
        kind=profile.kind,
        name=profile.name,
        aliases=profile.aliases,
        description=profile.description,
        wikidata_id=profile.wikidata_id,
        merged_from=state.merged_from,
        facts={name: _shown(value) for name, value in state.facts.items()},
        timeline=timeline_link(profile.slug),
    )


def _summary(profile: Profile) -> EntitySummary:
    return EntitySummary(
        slug=profile.slug,
        kind=profile.kind,
        name=profile.name,
        aliases=profile.aliases,
        merged_into=profile.merged_into,
    )


def entity_page(listing: EntityListing) -> EntityPage:
    return EntityPage(
        entities=[_summary(profile) for profile in listing.entities],
        next=None if listing.next is None else cursors.encode(listing.next),
    )


_FOLLOW_UP_TYPES: dict[str, FollowUpType] = {
    "correction": "event.corrected",
    "confirmation": "event.confirmed",
    "denial": "event.denied",
    "retraction": "event.retracted",
}


def later_shown(change: LaterChange, language: str) -> LaterShown:
    note, used = pick(change.note, language)
    return LaterShown(
        event_id=change.event_id,
        type=_FOLLOW_UP_TYPES[change.kind],
        date=change.recorded_at,
        note=note,
        language=used,
        changed=change.changed,
    )


def fact_history(event_id: UUID, versions: list[ItemVersion], language: str) -> FactHistory:
    def shown(number: int, version: ItemVersion) -> RevisionShown:
        item = version.item
        made = next((change for change in changes(item) if change.event_id == version.made_by), None)
        note, used = pick(made.note, language) if made is not None else (None, None)
        return RevisionShown(
            version=number,
            recorded_at=version.recorded_from,
            event_id=version.made_by,
            type=item.type if made is None else _FOLLOW_UP_TYPES[made.kind],
            note=note,
            language=used,
            item=entry(item, language),
        )

    return FactHistory(
        event_id=event_id,
        versions=[shown(number, version) for number, version in enumerate(versions, 1)],
    )


def entity_history(history: NewsroomEntityHistory) -> EntityHistory:
    versions = history.versions
    return EntityHistory(
        slug=history.slug,
        versions=[
            EntityRevisionShown(
                version=number,
                recorded_at=version.recorded_from,
                event_id=version.made_by,
                type=profile_change(versions[number - 2].state if number > 1 else None, version.state),
                name=version.state.name,
                aliases=version.state.aliases,
                merged_into=version.state.merged_into,
            )
            for number, version in enumerate(versions, 1)
        ],
        merges=[
            MergeShown(
                slug=span.slug,
                into=span.into,
                merged_at=span.merged_at,
                merged_by=event_link(span.merged_by),
                undone_at=span.undone_at,
                undone_by=None if span.undone_by is None else event_link(span.undone_by),
            )
            for span in history.merges
        ],
    )


def pinned_page(pinned: PinnedPage, language: str, live: str) -> PinnedTimelinePage:
    """A pinned view: the timeline as known then, with what each item has been through since."""
    page = pinned.page
    return PinnedTimelinePage(
        as_of=pinned.at,
        items=[
            PinnedEntry(
                **msgspec.structs.asdict(entry(item, language)),
                later=[later_shown(change, language) for change in pinned.later.get(item.id, [])],
            )
            for item in page.items
        ],
        next=None if page.next is None else cursors.encode(page.next),
        since=ChangesSince(added=pinned.added, changed=pinned.changed, complete=pinned.complete, live=live),
    )
