"""Timelines as a reader sees them: each item in the reader's language with its corrections and
retraction, pages of them, a fact's revisions, and a view pinned to an instant."""

from __future__ import annotations

from typing import assert_never
from uuid import UUID

import msgspec

from schemas import (
    ChangesSince,
    CorrectionShown,
    ErasedShown,
    FactHistory,
    LaterShown,
    Occurred,
    PinnedEntry,
    PinnedTimelinePage,
    Precision,
    RetractionShown,
    RevisionShown,
    TimelineEntry,
    TimelinePage,
    parse_partial_date,
)
from schemas.events import FollowUpKind
from schemas.read import FollowUpType, HeldShown, MarkShown, PrecisionName
from service.domain import cursors
from service.domain.entities import Profile
from service.domain.timeline import (
    CorrectionNote,
    Erased,
    Hold,
    Item,
    LaterChange,
    Retraction,
    changes,
    mark,
    told,
)
from service.domain.versions import Version
from service.presentation.languages import display_date, pick
from service.presentation.links import event_link
from service.presentation.words import words
from service.projections.newsroom import ItemPage, PinnedPage

_PRECISION_NAMES: dict[Precision, PrecisionName] = {
    Precision.YEAR: "year",
    Precision.MONTH: "month",
    Precision.DAY: "day",
    Precision.INSTANT: "instant",
}


def held(hold: Hold | None, withdrawn: bool = False) -> HeldShown | None:
    """A preview's mark on what is not public yet; None for what is."""
    if hold is None:
        return None
    return HeldShown(draft=hold.draft, publish_at=hold.publish_at, withdrawn=withdrawn)


def _entry(item: Item, language: str) -> TimelineEntry:
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
        corrections=[_correction(note, language) for note in told(item)],
        mark=_mark(mark(item)),
        retracted=_retraction(item.retracted, language) if item.retracted else None,
        held=held(item.hold, withdrawn=item.retracted is not None),
    )


def entry(item: Item, language: str) -> TimelineEntry:
    """An item as a reader of ``language`` sees it; a tombstone says only when it was erased."""
    if item.erased is None:
        return _entry(item, language)
    shown = erased_shown(item.erased, language)
    return msgspec.structs.replace(_entry(item, language), headline=shown.notice, erased=shown)


def erased_shown(erased: Erased, language: str) -> ErasedShown:
    notice = words(language)["erased"].format(date=display_date(erased.on.isoformat(), language))
    return ErasedShown(on=erased.on, notice=notice)


def _correction(note: CorrectionNote, language: str) -> CorrectionShown:
    text, used = pick(note.note, language)
    return CorrectionShown(
        event_id=note.event_id,
        kind=note.kind,
        date=note.recorded_at,
        note=text,
        language=used or language,
        changed=note.changed,
    )


def _mark(note: CorrectionNote | None) -> MarkShown | None:
    return None if note is None else MarkShown(kind=note.kind, date=note.recorded_at)


def _retraction(retraction: Retraction, language: str) -> RetractionShown:
    text, used = pick(retraction.reason, language)
    return RetractionShown(
        event_id=retraction.event_id,
        date=retraction.recorded_at,
        reason=text or "",
        language=used or language,
    )


def timeline_page(page: ItemPage, language: str) -> TimelinePage:
    return TimelinePage(
        items=[entry(item, language) for item in page.items],
        next=None if page.next is None else cursors.encode(page.next),
    )


_FOLLOW_UP_TYPES: dict[str, FollowUpType] = {
    "correction": "event.corrected",
    "clarification": "event.corrected",
    "update": "event.corrected",
    "amendment": "event.corrected",
    "confirmation": "event.confirmed",
    "denial": "event.denied",
    "retraction": "event.retracted",
}


def later_shown(change: LaterChange, language: str) -> LaterShown:
    note, used = pick(change.note, language)
    return LaterShown(
        event_id=change.event_id,
        type=_FOLLOW_UP_TYPES[change.kind],
        kind=_kind_of(change),
        date=change.recorded_at,
        note=note,
        language=used,
        changed=change.changed,
    )


def _kind_of(change: LaterChange) -> FollowUpKind | None:
    """A correction's kind; a verdict or a retraction has none."""
    match change.kind:
        case "correction" | "clarification" | "update" | "amendment":
            return change.kind
        case "confirmation" | "denial" | "retraction":
            return None
        case _:
            assert_never(change.kind)


def fact_history(event_id: UUID, versions: list[Version[Item]], language: str) -> FactHistory:
    def shown(number: int, version: Version[Item]) -> RevisionShown:
        item = version.state
        made = next((change for change in changes(item) if change.event_id == version.made_by), None)
        note, used = pick(made.note, language) if made is not None else (None, None)
        return RevisionShown(
            version=number,
            recorded_at=version.recorded_from,
            event_id=version.made_by,
            type=item.type if made is None else _FOLLOW_UP_TYPES[made.kind],
            kind=None if made is None else _kind_of(made),
            note=note,
            language=used,
            item=entry(item, language),
        )

    return FactHistory(
        event_id=event_id,
        versions=[shown(number, version) for number, version in enumerate(versions, 1)],
    )


def pinned_page(pinned: PinnedPage, language: str, live: str) -> PinnedTimelinePage:
    """A pinned view: the timeline as known then, with what each item has been through since."""
    page = pinned.page

    def since(item: Item) -> PinnedEntry:
        later = pinned.later.get(item.id, [])
        return PinnedEntry(
            **msgspec.structs.asdict(entry(item, language)),
            later=[later_shown(change, language) for change in later if change.kind != "amendment"],
            amendments=sum(change.kind == "amendment" for change in later),
        )

    return PinnedTimelinePage(
        as_of=pinned.at,
        items=[since(item) for item in page.items],
        next=None if page.next is None else cursors.encode(page.next),
        since=ChangesSince(added=pinned.added, changed=pinned.changed, complete=pinned.complete, live=live),
    )


def title(entity: Profile | None, language: str) -> str:
    """What a timeline is called: its entity's name, or "Timeline" in the reader's language."""
    if entity is None:
        return words(language)["timeline"]
    return entity.name or words(language)["erased_entity"]
