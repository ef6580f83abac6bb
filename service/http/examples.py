"""Example request bodies for the API contract: one per event type, each accepted as it stands
by a service that has the demo data loaded (``tests/test_openapi.py`` posts every one)."""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import Example

from service.demo.story import THE_INFORMATION, demo_id

_MAI_1_REPORT = str(demo_id("fact/mai-1-reported"))
_SERVERS_REPORT = str(demo_id("fact/mai-1-servers"))


def _fact(
    kind: str, occurred: str, headline: str, entities: list[tuple[str, str]], **fields: Any
) -> dict[str, Any]:
    return {
        "type": kind,
        "occurred": occurred,
        "headline": {"en": headline},
        "entities": [{"slug": slug, "role": role} for slug, role in entities],
        **fields,
    }


EVENT_BODIES: dict[str, dict[str, Any]] = {
    "entity.registered": {
        "type": "entity.registered",
        "slug": "mistral-ai",
        "kind": "organization",
        "name": "Mistral AI",
        "aliases": ["Mistral"],
        "description": {"en": "Paris-based AI company founded in 2023.", "fr": "Entreprise d'IA parisienne."},
        "expected_version": "none",
    },
    "entity.updated": {
        "type": "entity.updated",
        "slug": "mustafa-suleyman",
        "description": {"en": "British AI entrepreneur; co-founder of DeepMind and Inflection AI."},
    },
    "entity.merged": {"type": "entity.merged", "slug": "deepmind", "into": "google-deepmind"},
    "entity.unmerged": {"type": "entity.unmerged", "slug": "deepmind", "into": "google-deepmind"},
    "organization.founded": _fact(
        "organization.founded",
        "2024-03",
        "Microsoft forms Microsoft AI, led by Mustafa Suleyman",
        [("microsoft-ai", "organization"), ("microsoft", "founder")],
        status="confirmed",
    ),
    "person.appointed": _fact(
        "person.appointed",
        "2024-03-19",
        "Mustafa Suleyman joins Microsoft as executive vice president",
        [("mustafa-suleyman", "appointee"), ("microsoft", "employer")],
        title="Executive Vice President",
        status="confirmed",
    ),
    "person.departed": _fact(
        "person.departed",
        "2024-03-19",
        "Mustafa Suleyman steps down as CEO of Inflection AI",
        [("mustafa-suleyman", "person"), ("inflection-ai", "employer")],
        title="CEO",
        status="confirmed",
    ),
    "model.reported": _fact(
        "model.reported",
        "2024-05-06",
        "Microsoft reported to be readying MAI-1 to compete with Google and OpenAI",
        [("mai-1", "model"), ("microsoft", "developer")],
        parameters=500_000_000_000,
        parameters_qualifier="about",
        sources=[THE_INFORMATION],
        tags=["large-models"],
    ),
    "model.announced": _fact(
        "model.announced",
        "2024-04-23",
        "Microsoft announces the Phi-3 family of small language models",
        [("phi-3-mini", "model"), ("microsoft", "developer")],
        status="confirmed",
        tags=["small-models"],
    ),
    "model.released": _fact(
        "model.released",
        "2024-02-21",
        "Google releases Gemma in 2B and 7B sizes",
        [("gemma", "model"), ("google", "developer")],
        parameters=7_000_000_000,
        status="confirmed",
    ),
    "partnership.formed": _fact(
        "partnership.formed",
        "2023-01",
        "Microsoft extends its partnership with OpenAI",
        [("microsoft", "partner"), ("openai", "partner")],
        status="confirmed",
        tags=["partnerships"],
    ),
    "partnership.ended": _fact(
        "partnership.ended",
        "2024-07",
        "Microsoft gives up its observer seat on OpenAI's board",
        [("microsoft", "partner"), ("openai", "partner")],
        status="reported",
    ),
    "acquisition.announced": _fact(
        "acquisition.announced",
        "2024-03",
        "Microsoft hires most of Inflection AI's staff in a licensing deal",
        [("microsoft", "acquirer"), ("inflection-ai", "target")],
        price={"amount": 650_000_000, "currency": "USD"},
        status="reported",
    ),
    "funding.raised": _fact(
        "funding.raised",
        "2023-06",
        "Inflection AI raises 1.3 billion dollars",
        [("inflection-ai", "recipient"), ("microsoft", "investor"), ("nvidia", "investor")],
        amount={"amount": 1_300_000_000, "currency": "USD"},
        round="Series B",
        status="confirmed",
    ),
    "fact.reported": _fact(
        "fact.reported",
        "2024-05",
        "MAI-1 could be previewed at Microsoft's Build conference",
        [("mai-1", "model"), ("microsoft", "developer")],
        status="reported",
        sources=[THE_INFORMATION],
    ),
    "event.confirmed": {
        "type": "event.confirmed",
        "event_id": _SERVERS_REPORT,
        "note": {"en": "Microsoft confirmed the GPU clusters in its earnings call."},
    },
    "event.denied": {
        "type": "event.denied",
        "event_id": _SERVERS_REPORT,
        "note": {"en": "Microsoft denies that the clusters were built for MAI-1."},
    },
    "event.corrected": {
        "type": "event.corrected",
        "event_id": _MAI_1_REPORT,
        "changes": {"occurred": "2024-05-06"},
        "note": {"en": "The report was published on 6 May 2024, not later in the month."},
    },
    "event.retracted": {
        "type": "event.retracted",
        "event_id": _SERVERS_REPORT,
        "reason": {"en": "The only source for this item withdrew its claim."},
    },
}

EVENT_EXAMPLES = [
    Example(summary=kind, description=f"A {kind} event", value=body) for kind, body in EVENT_BODIES.items()
]
BATCH_EXAMPLES = [
    Example(
        summary="Register an entity and report a fact about it",
        value={
            "events": [
                EVENT_BODIES["entity.registered"],
                _fact(
                    "funding.raised",
                    "2024-06",
                    "Mistral AI raises 600 million euros",
                    [("mistral-ai", "recipient")],
                    amount={"amount": 600_000_000, "currency": "EUR"},
                    status="reported",
                ),
            ]
        },
    )
]

_LOGGED = {
    "position": 21,
    "id": _MAI_1_REPORT,
    "stream": "mai-1",
    "version": 2,
    "type": "model.reported",
    "schema_version": 1,
    "occurred": "2024-05",
    "recorded_at": "2024-05-07T08:12:30.123456Z",
    "data": {
        "type": "model.reported",
        "occurred": "2024-05",
        "headline": {"en": "Microsoft reported to be training MAI-1, up to 500 billion parameters"},
        "entities": [{"slug": "mai-1", "role": "model"}, {"slug": "microsoft", "role": "developer"}],
        "status": "reported",
        "parameters": 500_000_000_000,
        "parameters_qualifier": "up_to",
    },
    "metadata": {"author": "newsdesk", "request_id": "5b1f0c3e9a7d4f0e8c2b6a1d3e5f7a9b"},
}
_APPENDED = {
    "id": _MAI_1_REPORT,
    "stream": "mai-1",
    "version": 2,
    "position": 21,
    "recorded_at": "2024-05-07T08:12:30.123456Z",
}
RESPONSE_EXAMPLES: dict[str, Any] = {
    "appended": _APPENDED,
    "batch": {"events": [_APPENDED, {**_APPENDED, "version": 3, "position": 22}]},
    "logged": _LOGGED,
    "page": {"events": [_LOGGED], "next": "WyJsb2ciLDc1NSwyMV0"},
    "stream": {"stream": "mai-1", "version": 3, "events": [_LOGGED], "next_from_version": 3},
    "keys": [
        {"name": "newsdesk", "scope": "write", "created_at": "2024-05-01T09:00:00Z"},
        {
            "name": "old-cms",
            "scope": "write",
            "created_at": "2024-01-10T09:00:00Z",
            "revoked_at": "2024-04-30T17:00:00Z",
        },
    ],
    "created_key": {
        "name": "newsdesk",
        "scope": "write",
        "key": "dl_3q2W8m0Zb5Yt1kV7xR9cN4uH6pL2sD8fG0jA5eT1wQ",
    },
    "health": {"status": "ok"},
    "ready": {"status": "ready", "migration": "0001"},
    "revoked": None,
    "timeline": {
        "items": [
            {
                "id": _MAI_1_REPORT,
                "type": "model.reported",
                "stream": "mai-1",
                "occurred": {
                    "value": "2024-05",
                    "precision": "month",
                    "start": "2024-05-01T00:00:00Z",
                    "end": "2024-06-01T00:00:00Z",
                },
                "display_date": "May 2024",
                "headline": "Microsoft reported to be training MAI-1, up to 500 billion parameters",
                "language": "en",
                "status": "reported",
                "entities": [
                    {"slug": "mai-1", "role": "model"},
                    {"slug": "microsoft", "role": "developer"},
                    {"slug": "mustafa-suleyman", "role": "overseer"},
                ],
                "sources": [THE_INFORMATION],
                "tags": ["large-models"],
                "details": {"parameters": 500_000_000_000, "parameters_qualifier": "up_to"},
                "position": 21,
                "recorded_at": "2024-05-07T08:12:30Z",
                "updated_at": "2024-05-07T10:02:11Z",
                "link": f"/v1/events/{_MAI_1_REPORT}",
                "corrections": [
                    {
                        "event_id": str(demo_id("correction/mai-1-name")),
                        "date": "2024-05-07T10:02:11Z",
                        "note": "The model is called MAI-1; an earlier version of this item used the report's "
                        "spelling, MIA-1.",
                        "language": "en",
                        "changed": ["headline"],
                    }
                ],
            }
        ],
        "next": "WyJ0aW1lIiwiMjAyNC0wNS0wMVQwMDowMDowMFoiLDEwLDIxXQ",
    },
    "oembed": {
        "type": "rich",
        "version": "1.0",
        "title": "MAI-1",
        "provider_name": "Dateline",
        "provider_url": "https://dateline.example/",
        "cache_age": 3600,
        "width": 640,
        "height": 1000,
        "html": '<blockquote class="dateline-embed"><a href="https://dateline.example/embed/mai-1">MAI-1</a>'
        '</blockquote><iframe src="https://dateline.example/embed/mai-1" title="MAI-1" width="640" height="1000"'
        ' loading="lazy" style="border: 0; max-width: 100%"></iframe>',
    },
    "pinned": {
        "as_of": "2024-05-07T09:00:00Z",
        "items": [
            {
                "id": _MAI_1_REPORT,
                "type": "model.reported",
                "headline": "Microsoft reported to be training MIA-1, up to 500 billion parameters",
                "status": "reported",
                "later": [
                    {
                        "event_id": str(demo_id("correction/mai-1-name")),
                        "type": "event.corrected",
                        "date": "2024-05-07T10:02:11Z",
                        "note": "The model is called MAI-1; an earlier version of this item used the report's "
                        "spelling, MIA-1.",
                        "language": "en",
                        "changed": ["headline"],
                    }
                ],
            }
        ],
        "next": None,
        "since": {
            "added": 3,
            "changed": 1,
            "complete": True,
            "live": "/v1/entities/mai-1/timeline",
        },
    },
    "history": {
        "event_id": _MAI_1_REPORT,
        "versions": [
            {
                "version": 1,
                "recorded_at": "2024-05-07T08:12:30Z",
                "event_id": _MAI_1_REPORT,
                "type": "model.reported",
                "item": {"headline": "Microsoft reported to be training MIA-1, up to 500 billion parameters"},
            },
            {
                "version": 2,
                "recorded_at": "2024-05-07T10:02:11Z",
                "event_id": str(demo_id("correction/mai-1-name")),
                "type": "event.corrected",
                "note": "The model is called MAI-1; an earlier version of this item used the report's spelling, MIA-1.",
                "language": "en",
                "item": {"headline": "Microsoft reported to be training MAI-1, up to 500 billion parameters"},
            },
        ],
    },
    "entity_history": {
        "slug": "deepmind",
        "versions": [
            {
                "version": 1,
                "recorded_at": "2024-05-01T09:00:00Z",
                "event_id": str(demo_id("entity/deepmind")),
                "type": "entity.registered",
                "name": "DeepMind",
            },
            {
                "version": 2,
                "recorded_at": "2024-05-02T09:00:00Z",
                "event_id": str(demo_id("merge/deepmind")),
                "type": "entity.merged",
                "name": "DeepMind",
                "merged_into": "google-deepmind",
            },
            {
                "version": 3,
                "recorded_at": "2024-05-03T09:00:00Z",
                "event_id": str(demo_id("unmerge/deepmind")),
                "type": "entity.unmerged",
                "name": "DeepMind",
            },
        ],
        "merges": [
            {
                "slug": "deepmind",
                "into": "google-deepmind",
                "merged_at": "2024-05-02T09:00:00Z",
                "merged_by": f"/v1/events/{demo_id('merge/deepmind')}",
                "undone_at": "2024-05-03T09:00:00Z",
                "undone_by": f"/v1/events/{demo_id('unmerge/deepmind')}",
            }
        ],
    },
    "entities": {
        "entities": [
            {"slug": "mai-1", "kind": "model", "name": "MAI-1", "aliases": ["MIA-1", "MAI 1"]},
        ],
        "next": None,
    },
    "entity": {
        "slug": "mai-1",
        "kind": "model",
        "name": "MAI-1",
        "aliases": ["MIA-1", "MAI 1"],
        "facts": {
            "stage": {
                "value": "reported",
                "status": "reported",
                "occurred": "2024-05",
                "event": f"/v1/events/{_MAI_1_REPORT}",
            },
            "developer": {
                "value": "microsoft",
                "status": "reported",
                "occurred": "2024-05",
                "event": f"/v1/events/{_MAI_1_REPORT}",
            },
            "parameters": {
                "value": {"count": 500_000_000_000, "qualifier": "up_to"},
                "status": "reported",
                "occurred": "2024-05",
                "event": f"/v1/events/{_MAI_1_REPORT}",
            },
        },
        "timeline": "/v1/entities/mai-1/timeline",
    },
    "projections": [
        {
            "name": "newsroom",
            "state": "running",
            "checkpoint": 24,
            "head": 24,
            "lag_events": 0,
            "lag_seconds": 0.0,
        }
    ],
}
RESPONSE_EXAMPLES["live"] = {"kind": "corrected", "entry": RESPONSE_EXAMPLES["timeline"]["items"][0]}
RESPONSE_EXAMPLES["timelinejs"] = {
    "title": {"text": {"headline": "MAI-1", "text": ""}},
    "events": [
        {
            "start_date": {"year": 2024, "month": 5},
            "display_date": "May 2024",
            "text": {
                "headline": "Microsoft reported to be training MAI-1, up to 500 billion parameters",
                "text": '<p>May 2024 · reported</p><p>Sources: <a href="https://example.com/story"'
                ' target="_blank" rel="noopener noreferrer">Meet MAI-1</a></p>',
            },
            "group": "model.reported",
            "unique_id": f"event-{_MAI_1_REPORT}",
        }
    ],
}
# Pages, feeds and scripts are shown by their beginning: enough to tell what they are.
RESPONSE_EXAMPLES["feed"] = (
    "<?xml version='1.0' encoding='utf-8'?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">"
    "<id>https://dateline.example/v1/entities/mai-1/feed.atom</id><title>MAI-1</title>"
    "<updated>2024-05-07T10:02:11Z</updated><author><name>Dateline</name></author>"
    '<link rel="self" href="https://dateline.example/v1/entities/mai-1/feed.atom" type="application/atom+xml" />'
    f"<entry><id>urn:uuid:{_MAI_1_REPORT}</id>"
    "<title>Microsoft reported to be training MAI-1, up to 500 billion parameters</title>"
    "<updated>2024-05-07T10:02:11Z</updated>…</entry></feed>"
)
RESPONSE_EXAMPLES["embed"] = (
    '<!doctype html>\n<html lang="en" data-theme="auto">\n<head>\n<meta charset="utf-8">\n'
    "<title>MAI-1 · Dateline</title>\n…"
)
RESPONSE_EXAMPLES["source"] = None
RESPONSE_EXAMPLES["host_script"] = '(function () {\n  "use strict";\n  window.addEventListener("message", …'
RESPONSE_EXAMPLES["widget"] = 'import { TimelineView } from "./static/timeline.js";\n…'
NEW_KEY_EXAMPLES = [
    Example(summary="A key for the CMS", value={"name": "wordpress-newsroom", "scope": "write"})
]
