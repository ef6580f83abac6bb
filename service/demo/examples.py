"""Examples for the API contract, built from the wire types so that the type checker sees every
field name and type.

Each request example is accepted as it stands by a service that has the demo loaded
(``tests/test_openapi.py`` posts every one); each answer is what that service gives, or would
give, about the demo's story: MAI-1 reported, its name corrected an append later.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar
from uuid import UUID

import msgspec

from schemas import (
    ENVELOPE_FIELDS,
    AcquisitionAnnounced,
    ApiKeyInfo,
    Appended,
    BatchAppend,
    BatchAppended,
    ChangesSince,
    Correction,
    CorrectionShown,
    CreatedApiKey,
    EntityHistory,
    EntityMerged,
    EntityPage,
    EntityRef,
    EntityRegistered,
    EntityRevisionShown,
    EntitySummary,
    EntityUnmerged,
    EntityUpdated,
    EntityView,
    Event,
    EventConfirmed,
    EventCorrected,
    EventDenied,
    EventErased,
    EventPage,
    EventRetracted,
    FactHistory,
    FactReported,
    FactShown,
    FundingRaised,
    Health,
    LaterShown,
    LiveChange,
    LoggedEvent,
    MergeShown,
    ModelAnnounced,
    ModelReleased,
    ModelReported,
    Money,
    NewApiKey,
    Occurred,
    OEmbed,
    OrganizationFounded,
    PartnershipEnded,
    PartnershipFormed,
    PersonAppointed,
    PersonDeparted,
    PinnedEntry,
    PinnedTimelinePage,
    ProjectionStatus,
    RevisionShown,
    Source,
    StreamPage,
    TimelineEntry,
    TimelineJS,
    TimelineJSDate,
    TimelineJSEvent,
    TimelineJSText,
    TimelineJSTitle,
    TimelinePage,
)
from service.demo.story import THE_INFORMATION, demo_batches, demo_id

_Event = TypeVar("_Event", bound=Event)

_STORY = {event.id: event for batch in demo_batches() for event in batch.events}


def _in_story(event_id: UUID, kind: type[_Event]) -> _Event:
    """An event of the demo's story, as the type it is."""
    event = _STORY[event_id]
    if not isinstance(event, kind):
        raise TypeError(f"the story's {event_id} is a {type(event).__name__}, not a {kind.__name__}")
    return event


def _at(instant: str) -> datetime:
    return datetime.fromisoformat(instant)


def _link(event_id: UUID) -> str:
    return f"/v1/events/{event_id}"


_REPORT_ID, _SERVERS_ID = demo_id("fact/mai-1-reported"), demo_id("fact/mai-1-servers")
_RENAMED_ID, _DEEPMIND_ID = demo_id("correction/mai-1-name"), demo_id("entity/deepmind")
_REPORTED = _in_story(_REPORT_ID, ModelReported)
_SERVERS = _in_story(_SERVERS_ID, FactReported)
_RENAMED = _in_story(_RENAMED_ID, EventCorrected)
_MAI_1 = _in_story(demo_id("entity/mai-1"), EntityRegistered)
_DEEPMIND = _in_story(_DEEPMIND_ID, EntityRegistered)
# The story's facts are appended together, their correction in an append of its own.
_RECORDED = _at("2024-05-07T08:12:30.123456Z")
_CORRECTED = _at("2024-05-07T10:02:11Z")
_PINNED_AT = _at("2024-05-07T09:00:00Z")
_SOURCE = msgspec.convert(THE_INFORMATION, Source)


def _tag(event: Event) -> str:
    return str(type(event).__struct_config__.tag)


EVENTS: dict[str, Event] = {
    _tag(event): event
    for event in (
        EntityRegistered(
            slug="mistral-ai",
            kind="organization",
            name="Mistral AI",
            aliases=["Mistral"],
            description={
                "en": "Paris-based AI company founded in 2023.",
                "fr": "Entreprise d'IA parisienne.",
            },
            expected_version="none",
        ),
        EntityUpdated(
            slug="mustafa-suleyman",
            description={"en": "British AI entrepreneur; co-founder of DeepMind and Inflection AI."},
        ),
        EntityMerged(slug="deepmind", into="google-deepmind"),
        EntityUnmerged(slug="deepmind", into="google-deepmind"),
        OrganizationFounded(
            occurred="2024-03",
            headline={"en": "Microsoft forms Microsoft AI, led by Mustafa Suleyman"},
            entities=[
                EntityRef(slug="microsoft-ai", role="organization"),
                EntityRef(slug="microsoft", role="founder"),
            ],
            status="confirmed",
        ),
        PersonAppointed(
            occurred="2024-03-19",
            headline={"en": "Mustafa Suleyman joins Microsoft as executive vice president"},
            entities=[
                EntityRef(slug="mustafa-suleyman", role="appointee"),
                EntityRef(slug="microsoft", role="employer"),
            ],
            title="Executive Vice President",
            status="confirmed",
        ),
        PersonDeparted(
            occurred="2024-03-19",
            headline={"en": "Mustafa Suleyman steps down as CEO of Inflection AI"},
            entities=[
                EntityRef(slug="mustafa-suleyman", role="person"),
                EntityRef(slug="inflection-ai", role="employer"),
            ],
            title="CEO",
            status="confirmed",
        ),
        ModelReported(
            occurred="2024-05-06",
            headline={"en": "Microsoft reported to be readying MAI-1 to compete with Google and OpenAI"},
            entities=[EntityRef(slug="mai-1", role="model"), EntityRef(slug="microsoft", role="developer")],
            parameters=500_000_000_000,
            parameters_qualifier="about",
            sources=[_SOURCE],
            tags=["large-models"],
        ),
        ModelAnnounced(
            occurred="2024-04-23",
            headline={"en": "Microsoft announces the Phi-3 family of small language models"},
            entities=[
                EntityRef(slug="phi-3-mini", role="model"),
                EntityRef(slug="microsoft", role="developer"),
            ],
            status="confirmed",
            tags=["small-models"],
        ),
        ModelReleased(
            occurred="2024-02-21",
            headline={"en": "Google releases Gemma in 2B and 7B sizes"},
            entities=[EntityRef(slug="gemma", role="model"), EntityRef(slug="google", role="developer")],
            parameters=7_000_000_000,
            status="confirmed",
        ),
        PartnershipFormed(
            occurred="2023-01",
            headline={"en": "Microsoft extends its partnership with OpenAI"},
            entities=[EntityRef(slug="microsoft", role="partner"), EntityRef(slug="openai", role="partner")],
            status="confirmed",
            tags=["partnerships"],
        ),
        PartnershipEnded(
            occurred="2024-07",
            headline={"en": "Microsoft gives up its observer seat on OpenAI's board"},
            entities=[EntityRef(slug="microsoft", role="partner"), EntityRef(slug="openai", role="partner")],
            status="reported",
        ),
        AcquisitionAnnounced(
            occurred="2024-03",
            headline={"en": "Microsoft hires most of Inflection AI's staff in a licensing deal"},
            entities=[
                EntityRef(slug="microsoft", role="acquirer"),
                EntityRef(slug="inflection-ai", role="target"),
            ],
            price=Money(amount=650_000_000, currency="USD"),
            status="reported",
        ),
        FundingRaised(
            occurred="2023-06",
            headline={"en": "Inflection AI raises 1.3 billion dollars"},
            entities=[
                EntityRef(slug="inflection-ai", role="recipient"),
                EntityRef(slug="microsoft", role="investor"),
                EntityRef(slug="nvidia", role="investor"),
            ],
            amount=Money(amount=1_300_000_000, currency="USD"),
            round="Series B",
            status="confirmed",
        ),
        FactReported(
            occurred="2024-05",
            headline={"en": "MAI-1 could be previewed at Microsoft's Build conference"},
            entities=[EntityRef(slug="mai-1", role="model"), EntityRef(slug="microsoft", role="developer")],
            status="reported",
            sources=[_SOURCE],
        ),
        EventConfirmed(
            event_id=_SERVERS_ID,
            note={"en": "Microsoft confirmed the GPU clusters in its earnings call."},
        ),
        EventDenied(
            event_id=_SERVERS_ID,
            note={"en": "Microsoft denies that the clusters were built for MAI-1."},
        ),
        EventCorrected(
            event_id=_REPORT_ID,
            changes=Correction(occurred="2024-05-06"),
            note={"en": "The report was published on 6 May 2024, not later in the month."},
        ),
        EventRetracted(
            event_id=_SERVERS_ID,
            reason={"en": "The only source for this item withdrew its claim."},
        ),
        EventErased(event_id=_SERVERS_ID, basis="GDPR Art. 17", reference="Request 2024-117"),
    )
}
"""A request body of each event type, by its tag."""

_MISTRAL = EVENTS["entity.registered"]
BATCH = BatchAppend(
    events=[
        _MISTRAL,
        FundingRaised(
            occurred="2024-06",
            headline={"en": "Mistral AI raises 600 million euros"},
            entities=[EntityRef(slug="mistral-ai", role="recipient")],
            amount=Money(amount=600_000_000, currency="EUR"),
            status="reported",
        ),
    ]
)
"""Register an entity and report a fact about it, in one append."""

NEW_KEY = NewApiKey(name="wordpress-newsroom", scope="write")


def _data(event: Event) -> dict[str, object]:
    """What the log keeps of an event besides its envelope, which goes in columns."""
    wire = msgspec.to_builtins(event)
    return {name: value for name, value in wire.items() if name not in ENVELOPE_FIELDS}


_LOGGED = LoggedEvent(
    position=21,
    id=_REPORT_ID,
    stream="mai-1",
    version=2,
    type=_tag(_REPORTED),
    schema_version=_REPORTED.SCHEMA_VERSION,
    occurred=_REPORTED.occurred,
    recorded_at=_RECORDED,
    data=_data(_REPORTED),
    metadata={"author": "newsdesk", "request_id": "5b1f0c3e9a7d4f0e8c2b6a1d3e5f7a9b"},
)
_APPENDED = Appended(id=_REPORT_ID, stream="mai-1", version=2, position=21, recorded_at=_RECORDED)

_MAY_2024 = Occurred(
    value="2024-05", precision="month", start=_at("2024-05-01T00:00:00Z"), end=_at("2024-06-01T00:00:00Z")
)
# The report as it was known before its correction, and as it is known since.
_REPORT_THEN = TimelineEntry(
    id=_REPORT_ID,
    type=_tag(_REPORTED),
    stream="mai-1",
    occurred=_MAY_2024,
    display_date="May 2024",
    headline=_REPORTED.headline["en"],
    language="en",
    status=_REPORTED.status,
    entities=_REPORTED.entities,
    sources=_REPORTED.sources,
    tags=_REPORTED.tags,
    position=21,
    recorded_at=_RECORDED,
    updated_at=_RECORDED,
    link=_link(_REPORT_ID),
    summary=_REPORTED.summary["en"] if _REPORTED.summary else None,
    summary_language="en",
    details={"parameters": _REPORTED.parameters, "parameters_qualifier": _REPORTED.parameters_qualifier},
)
_RENAMING = CorrectionShown(
    event_id=_RENAMED_ID, date=_CORRECTED, note=_RENAMED.note["en"], language="en", changed=["headline"]
)


def _corrected(entry: TimelineEntry, correction: EventCorrected, shown: CorrectionShown) -> TimelineEntry:
    headline = correction.changes.headline
    return msgspec.structs.replace(
        entry,
        headline=headline["en"] if headline else entry.headline,
        updated_at=shown.date,
        corrections=[*entry.corrections, shown],
    )


_REPORT_NOW = _corrected(_REPORT_THEN, _RENAMED, _RENAMING)
_SERVERS_ENTRY = TimelineEntry(
    id=_SERVERS_ID,
    type=_tag(_SERVERS),
    stream="microsoft",
    occurred=_MAY_2024,
    display_date="May 2024",
    headline=_SERVERS.headline["en"],
    language="en",
    status=_SERVERS.status,
    entities=_SERVERS.entities,
    sources=_SERVERS.sources,
    tags=_SERVERS.tags,
    position=22,
    recorded_at=_RECORDED,
    updated_at=_RECORDED,
    link=_link(_SERVERS_ID),
)


def _pinned(entry: TimelineEntry, later: list[LaterShown]) -> PinnedEntry:
    return PinnedEntry(**msgspec.structs.asdict(entry), later=later)


def _fact_shown(value: object) -> FactShown:
    return FactShown(
        value=value, status=_REPORTED.status, occurred=_REPORTED.occurred, event=_link(_REPORT_ID)
    )


_MERGE_ID, _UNMERGE_ID = demo_id("merge/deepmind"), demo_id("unmerge/deepmind")
_MERGED, _UNMERGED = _at("2024-05-08T09:00:00Z"), _at("2024-05-08T09:20:00Z")
_MISTRAL_RECORDED = _at("2024-06-11T07:45:00Z")
_REPORT_SLIDE = TimelineJSText(
    headline=_REPORT_NOW.headline,
    text="<p>May 2024 · reported</p><p>Mustafa Suleyman is said to oversee the model, meant to compete with"
    " OpenAI&#39;s and Google&#39;s largest.</p><p><strong>Corrected</strong> 2024-05-07: The model is called"
    " MAI-1; an earlier version of this item used the report&#39;s spelling, MIA-1.</p><p>Sources: <a"
    f' href="{_SOURCE.url}" target="_blank" rel="noopener noreferrer">{_SOURCE.title}</a>, <a'
    ' href="https://seed.dateline.invalid/mia-1-report-fr" target="_blank" rel="noopener noreferrer">'
    "Microsoft pourrait travailler sur un grand LLM nommé MIA-1</a></p>",
)

RESPONSES: dict[str, object] = {
    "appended": _APPENDED,
    "batch": BatchAppended(
        events=[
            Appended(
                id=demo_id("example/mistral-ai"),
                stream="mistral-ai",
                version=1,
                position=24,
                recorded_at=_MISTRAL_RECORDED,
            ),
            Appended(
                id=demo_id("example/mistral-ai-funding"),
                stream="mistral-ai",
                version=2,
                position=25,
                recorded_at=_MISTRAL_RECORDED,
            ),
        ]
    ),
    "logged": _LOGGED,
    "page": EventPage(events=[_LOGGED], next="WyJsb2ciLDc1NSwyMV0"),
    "stream": StreamPage(stream="mai-1", version=3, events=[_LOGGED], next_from_version=3),
    "keys": [
        ApiKeyInfo(name="newsdesk", scope="write", created_at=_at("2024-05-01T09:00:00Z")),
        ApiKeyInfo(
            name="old-cms",
            scope="write",
            created_at=_at("2024-01-10T09:00:00Z"),
            revoked_at=_at("2024-04-30T17:00:00Z"),
        ),
    ],
    "created_key": CreatedApiKey(
        name="newsdesk", scope="write", key="dl_3q2W8m0Zb5Yt1kV7xR9cN4uH6pL2sD8fG0jA5eT1wQ"
    ),
    "health": Health(status="ok"),
    "ready": Health(status="ready", migration="0007"),
    "revoked": None,
    "timeline": TimelinePage(items=[_REPORT_NOW], next="WyJ0aW1lIiwiMjAyNC0wNS0wMVQwMDowMDowMFoiLDEwLDIxXQ"),
    "live": LiveChange(kind="corrected", entry=_REPORT_NOW),
    "timelinejs": TimelineJS(
        title=TimelineJSTitle(text=TimelineJSText(headline=_MAI_1.name, text="")),
        events=[
            TimelineJSEvent(
                start_date=TimelineJSDate(year=2024, month=5),
                display_date="May 2024",
                text=_REPORT_SLIDE,
                group=_tag(_REPORTED),
                unique_id=f"event-{_REPORT_ID}",
            )
        ],
    ),
    "oembed": OEmbed(
        title=_MAI_1.name,
        provider_name="Dateline",
        provider_url="https://dateline.example/",
        cache_age=3600,
        width=640,
        height=1000,
        html='<blockquote class="dateline-embed"><a href="https://dateline.example/embed/mai-1">MAI-1</a>'
        '</blockquote><iframe src="https://dateline.example/embed/mai-1" title="MAI-1" width="640" height="1000"'
        ' loading="lazy" style="border: 0; max-width: 100%"></iframe>',
    ),
    "pinned": PinnedTimelinePage(
        as_of=_PINNED_AT,
        items=[
            _pinned(
                _REPORT_THEN,
                [
                    LaterShown(
                        event_id=_RENAMED_ID,
                        type="event.corrected",
                        date=_CORRECTED,
                        note=_RENAMING.note,
                        language="en",
                        changed=["headline"],
                    )
                ],
            ),
            _pinned(_SERVERS_ENTRY, []),
        ],
        next=None,
        since=ChangesSince(added=0, changed=1, complete=True, live="/v1/entities/mai-1/timeline"),
    ),
    "history": FactHistory(
        event_id=_REPORT_ID,
        versions=[
            RevisionShown(
                version=1, recorded_at=_RECORDED, event_id=_REPORT_ID, type=_tag(_REPORTED), item=_REPORT_THEN
            ),
            RevisionShown(
                version=2,
                recorded_at=_CORRECTED,
                event_id=_RENAMED_ID,
                type=_tag(_RENAMED),
                note=_RENAMING.note,
                language="en",
                item=_REPORT_NOW,
            ),
        ],
    ),
    "entity_history": EntityHistory(
        slug=_DEEPMIND.slug,
        versions=[
            EntityRevisionShown(
                version=1,
                recorded_at=_RECORDED,
                event_id=_DEEPMIND_ID,
                type="entity.registered",
                name=_DEEPMIND.name,
                aliases=_DEEPMIND.aliases,
            ),
            EntityRevisionShown(
                version=2,
                recorded_at=_MERGED,
                event_id=_MERGE_ID,
                type="entity.merged",
                name=_DEEPMIND.name,
                aliases=_DEEPMIND.aliases,
                merged_into="google-deepmind",
            ),
            EntityRevisionShown(
                version=3,
                recorded_at=_UNMERGED,
                event_id=_UNMERGE_ID,
                type="entity.unmerged",
                name=_DEEPMIND.name,
                aliases=_DEEPMIND.aliases,
            ),
        ],
        merges=[
            MergeShown(
                slug=_DEEPMIND.slug,
                into="google-deepmind",
                merged_at=_MERGED,
                merged_by=_link(_MERGE_ID),
                undone_at=_UNMERGED,
                undone_by=_link(_UNMERGE_ID),
            )
        ],
    ),
    "entities": EntityPage(
        entities=[
            EntitySummary(slug=_MAI_1.slug, kind=_MAI_1.kind, name=_MAI_1.name, aliases=_MAI_1.aliases)
        ],
        next=None,
    ),
    "entity": EntityView(
        slug=_MAI_1.slug,
        kind=_MAI_1.kind,
        name=_MAI_1.name,
        aliases=_MAI_1.aliases,
        description=_MAI_1.description,
        facts={
            "stage": _fact_shown("reported"),
            "developer": _fact_shown("microsoft"),
            "parameters": _fact_shown(
                {"count": _REPORTED.parameters, "qualifier": _REPORTED.parameters_qualifier}
            ),
            "overseen_by": _fact_shown(["mustafa-suleyman"]),
        },
        timeline="/v1/entities/mai-1/timeline",
    ),
    "projections": [
        ProjectionStatus(
            name="newsroom", state="running", checkpoint=23, head=23, lag_events=0, lag_seconds=0.0
        )
    ],
    # Pages, feeds and scripts are shown by their beginning: enough to tell what they are.
    "feed": (
        "<?xml version='1.0' encoding='utf-8'?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">"
        "<id>https://dateline.example/v1/entities/mai-1/feed.atom</id><title>MAI-1</title>"
        "<updated>2024-05-07T10:02:11Z</updated><author><name>Dateline</name></author>"
        '<link rel="self" href="https://dateline.example/v1/entities/mai-1/feed.atom" type="application/atom+xml" />'
        f"<entry><id>urn:uuid:{_REPORT_ID}</id><title>{_REPORT_NOW.headline}</title>"
        "<updated>2024-05-07T10:02:11Z</updated>…</entry></feed>"
    ),
    "embed": (
        '<!doctype html>\n<html lang="en" data-theme="auto">\n<head>\n<meta charset="utf-8">\n'
        "<title>MAI-1 · Dateline</title>\n…"
    ),
    "source": None,
    "host_script": '(function () {\n  "use strict";\n  window.addEventListener("message", …',
    "widget": 'import { TimelineView } from "./static/timeline.js";\n…',
}
"""An answer of each operation, by the name its route documents it with; the HTTP floor shows
each as its wire form."""
