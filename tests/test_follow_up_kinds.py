"""The kinds of follow-up, through HTTP: a correction, a clarification and an update are told
(each with its own words, in English and French, and the latest as the item's mark), an
amendment mends the fact silently; every kind is in the fact's history, the pinned view lists
the told ones and counts the amendments, and a log written before kinds keeps its meaning."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import feedparser
import httpx
import msgspec
import pytest
from babel.dates import format_date

from schemas import Event, EventCorrected
from service.demo import examples
from service.demo.story import demo_id
from service.domain.cursors import LogCursor
from service.domain.live import Touch, latest
from service.domain.timeline import Item, RecordedEvent, fold
from tests.browser import serving
from tests.conftest import Client, make_key
from tests.factories import bearer, registered, reported

FIXED = "Typo in the headline fixed."
"""The amendment's note: in the fact's history, nowhere a reader of the timeline looks."""


def follow_up(fact: str, kind: str | None, note: str | None, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "event.corrected", "event_id": fact, "changes": changes}
    if kind is not None:
        event["kind"] = kind
    if note is not None:
        event["note"] = {"en": note, "fr": f"{note} (fr)"}
    return event


async def _post(client: Client, key: str, *events: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.post("/v1/events/batch", json={"events": list(events)}, headers=bearer(key))
    assert response.status_code == 201, response.text
    appended: list[dict[str, Any]] = response.json()["events"]
    return appended


async def _get(client: Client, path: str, **params: Any) -> httpx.Response:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response


class Story:
    """One fact through every kind, and one only ever amended."""

    def __init__(self, fact: dict[str, Any], amended: dict[str, Any], pinned_at: str, last: int) -> None:
        self.fact, self.amended, self.pinned_at, self.last = fact["id"], amended["id"], pinned_at, last


@pytest.fixture
async def story(client: Client, write_key: str) -> Story:
    await _post(client, write_key, registered("acme"))
    fact, amended = await _post(
        client,
        write_key,
        reported("acme", occurred="2024-05", headline="Acme ships the Rocket"),
        reported("acme", occurred="2024-04", headline="Acme hirse a CEO"),
    )
    steps = [
        follow_up(fact["id"], "amendment", FIXED, headline={"en": "Acme ships the Rocket model"}),
        follow_up(fact["id"], "correction", "It shipped in June.", occurred="2024-06"),
        follow_up(fact["id"], "clarification", "Rocket is a model, not a launcher.", tags=["models"]),
        follow_up(
            fact["id"], "update", "Acme has since shipped a second size.", summary={"en": "Two sizes."}
        ),
        follow_up(fact["id"], "amendment", None, sources=[{"url": "https://acme.example/rocket"}]),
        follow_up(amended["id"], "amendment", FIXED, headline={"en": "Acme hires a CEO"}),
    ]
    last = 0
    for step in steps:  # one append each, so that each is recorded at an instant of its own
        (appended,) = await _post(client, write_key, step)
        last = appended["position"]
    return Story(fact, amended, fact["recorded_at"], last)


def _item(page: dict[str, Any], fact: str) -> dict[str, Any]:
    [item] = [item for item in page["items"] if item["id"] == fact]
    found: dict[str, Any] = item
    return found


async def test_each_kind_is_told_by_its_kind_and_an_amendment_not_at_all(
    client: Client, story: Story
) -> None:
    page = (await _get(client, "/v1/entities/acme/timeline", min_position=story.last)).json()
    item = _item(page, story.fact)
    assert item["headline"] == "Acme ships the Rocket model"  # the amendment did mend it
    assert item["sources"] == [{"url": "https://acme.example/rocket"}]
    assert [(note["kind"], note["note"]) for note in item["corrections"]] == [
        ("correction", "It shipped in June."),
        ("clarification", "Rocket is a model, not a launcher."),
        ("update", "Acme has since shipped a second size."),
    ]
    assert item["mark"] == {"kind": "update", "date": item["corrections"][-1]["date"]}
    amended = _item(page, story.amended)
    assert amended["headline"] == "Acme hires a CEO"
    assert (amended["corrections"], amended["mark"]) == ([], None)
    assert FIXED not in json.dumps(page)


async def test_an_update_without_a_note_is_marked_and_has_no_note(client: Client, write_key: str) -> None:
    await _post(client, write_key, registered("acme"))
    (fact,) = await _post(client, write_key, reported("acme", headline="Acme raises"))
    (update,) = await _post(client, write_key, follow_up(fact["id"], "update", None, summary={"en": "More."}))
    item = (await _get(client, "/v1/entities/acme/timeline", min_position=update["position"])).json()[
        "items"
    ][0]
    assert [(note["kind"], note["note"]) for note in item["corrections"]] == [("update", None)]
    assert item["mark"]["kind"] == "update"
    page = (await _get(client, "/embed/acme", lang="en", min_position=update["position"])).text
    assert 'class="mark mark-update"' in page
    assert "kind-update" not in page  # no note to head


async def test_the_history_keeps_every_kind_amendments_too(client: Client, story: Story) -> None:
    history = (await _get(client, f"/v1/events/{story.fact}/history", min_position=story.last)).json()
    assert [(version["type"], version.get("kind")) for version in history["versions"]] == [
        ("fact.reported", None),
        ("event.corrected", "amendment"),
        ("event.corrected", "correction"),
        ("event.corrected", "clarification"),
        ("event.corrected", "update"),
        ("event.corrected", "amendment"),
    ]
    assert history["versions"][1]["note"] == FIXED
    assert history["versions"][1]["item"]["headline"] == "Acme ships the Rocket model"
    # Each version is the item as readers saw it then: the amendment left no mark of its own.
    assert history["versions"][1]["item"]["mark"] is None
    assert history["versions"][-1]["item"]["mark"]["kind"] == "update"


async def test_the_pinned_view_lists_what_was_told_since_and_counts_the_amendments(
    client: Client, story: Story
) -> None:
    pinned = (
        await _get(
            client, "/v1/entities/acme/timeline/pinned", as_of=story.pinned_at, min_position=story.last
        )
    ).json()
    item = _item(pinned, story.fact)
    assert item["headline"] == "Acme ships the Rocket"  # as known then
    assert [(later["type"], later["kind"]) for later in item["later"]] == [
        ("event.corrected", "correction"),
        ("event.corrected", "clarification"),
        ("event.corrected", "update"),
    ]
    assert item["amendments"] == 2
    amended = _item(pinned, story.amended)
    assert (amended["later"], amended["amendments"]) == ([], 1)
    assert FIXED not in json.dumps(pinned)
    whole = (await _get(client, "/v1/timeline/pinned", as_of=story.pinned_at, min_position=story.last)).json()
    assert _item(whole, story.fact)["amendments"] == 2


def _day(instant: str, language: str) -> str:
    return format_date(datetime.fromisoformat(instant), "long", locale=language)


@pytest.mark.parametrize(
    ("language", "mark", "headings", "fixes"),
    [
        (
            "en",
            "Updated {date}",
            ["Correction", "Clarification", "Update"],
            ["2 minor fixes since", "1 minor fix since"],
        ),
        (
            "fr",
            "Mis à jour le {date}",
            ["Rectificatif", "Précision", "Mise à jour"],
            ["2 retouches mineures depuis", "1 retouche mineure depuis"],
        ),
    ],
)
async def test_the_embed_page_says_each_kind_in_the_readers_language(
    client: Client, story: Story, language: str, mark: str, headings: list[str], fixes: list[str]
) -> None:
    item = _item(
        (await _get(client, "/v1/entities/acme/timeline", min_position=story.last)).json(), story.fact
    )
    page = (await _get(client, "/embed/acme", lang=language, min_position=story.last)).text
    date = _day(item["mark"]["date"], language)
    assert f'<span class="mark mark-update">{mark.format(date=date)}</span>' in page
    for heading in headings:
        assert f"<strong>{heading}</strong>" in page
    assert page.count('class="mark ') == 1  # the amended fact has none
    assert FIXED not in page
    # Marked by its latest kind only.
    assert "Corrected" not in page
    assert "Corrigé" not in page

    pinned = (await _get(client, "/embed/acme", lang=language, as_of=story.pinned_at)).text
    for heading in headings:
        assert f"<strong>{heading}</strong>" in pinned
    for fix in fixes:
        assert f'<p class="amended">{fix}</p>' in pinned
    assert FIXED not in pinned


@pytest.mark.parametrize(
    ("language", "mark", "headings"),
    [
        ("en", "Updated", ["Correction", "Clarification", "Update"]),
        ("fr", "Mis à jour le", ["Rectificatif", "Précision", "Mise à jour"]),
    ],
)
async def test_the_feed_and_timelinejs_say_each_kind(
    client: Client, story: Story, language: str, mark: str, headings: list[str]
) -> None:
    feed = await _get(client, "/v1/entities/acme/feed.atom", lang=language, min_position=story.last)
    parsed = feedparser.parse(feed.content)
    [entry] = [entry for entry in parsed.entries if entry.id == f"urn:uuid:{story.fact}"]
    [amended] = [entry for entry in parsed.entries if entry.id == f"urn:uuid:{story.amended}"]
    assert f" · {mark}" in entry.summary.splitlines()[0]
    for heading in headings:
        assert any(line.startswith(f"{heading} ") for line in entry.summary.splitlines()), heading
    assert amended.title == "Acme hires a CEO"
    assert amended.summary.splitlines()[0].count(" · ") == 1  # a date and a status, no mark
    assert FIXED.encode() not in feed.content

    exported = await _get(
        client, "/v1/entities/acme/timeline", format="timelinejs", lang=language, min_position=story.last
    )
    slides = {event["unique_id"]: event["text"]["text"] for event in exported.json()["events"]}
    text = slides[f"event-{story.fact}"]
    assert f" · {mark}" in text
    for heading in headings:
        assert f"<strong>{heading}</strong>" in text
    assert "<strong>" not in slides[f"event-{story.amended}"]
    assert FIXED not in exported.text


async def test_an_event_without_a_kind_is_a_correction_as_before(client: Client, write_key: str) -> None:
    await _post(client, write_key, registered("acme"))
    (fact,) = await _post(client, write_key, reported("acme", headline="Acme ships"))
    (old,) = await _post(
        client, write_key, follow_up(fact["id"], None, "Fixed.", headline={"en": "Acme ships late"})
    )
    logged = (await _get(client, f"/v1/events/{old['id']}")).json()
    assert "kind" not in logged["data"]  # what the log holds of it, as a log from before kinds does
    item = (await _get(client, "/v1/entities/acme/timeline", min_position=old["position"])).json()["items"][0]
    assert [(note["kind"], note["note"]) for note in item["corrections"]] == [("correction", "Fixed.")]
    assert item["mark"]["kind"] == "correction"
    history = (await _get(client, f"/v1/events/{fact['id']}/history")).json()
    assert history["versions"][-1]["kind"] == "correction"


def test_an_old_payload_decodes_and_folds_as_a_correction() -> None:
    """What logs and read models written before kinds hold: no ``kind`` anywhere."""
    fact = {
        "type": "fact.reported",
        "occurred": "2024-05",
        "headline": {"en": "Acme ships"},
        "entities": [{"slug": "acme", "role": "subject"}],
    }
    old = {
        "type": "event.corrected",
        "event_id": str(demo_id("old/fact")),
        "changes": {"tags": ["x"]},
        "note": {"en": "Tagged."},
    }
    logged = [
        RecordedEvent(
            demo_id(name),
            "acme",
            position,
            datetime.fromisoformat(f"2024-05-0{position}T00:00:00Z"),
            msgspec.json.decode(json.dumps(body), type=Event),
            position,
        )
        for position, (name, body) in enumerate([("old/fact", fact), ("old/correction", old)], 1)
    ]
    event = logged[1].event
    assert isinstance(event, EventCorrected)
    assert event.kind == "correction"
    [item] = fold(logged).values()
    assert [(note.kind, note.note) for note in item.corrections] == [("correction", {"en": "Tagged."})]
    # An item the read model stored before kinds: its corrections have no kind either.
    stored = msgspec.json.decode(msgspec.json.encode(item))
    for note in stored["corrections"]:
        del note["kind"]
    assert msgspec.json.decode(json.dumps(stored), type=Item).corrections[0].kind == "correction"


@pytest.mark.parametrize(
    ("event", "path"),
    [
        ({"kind": "correction"}, "$.note"),
        ({"kind": "clarification"}, "$.note"),
        ({"kind": "erratum", "note": {"en": "x"}}, "$.kind"),
    ],
)
async def test_a_kind_that_needs_a_note_or_a_kind_unknown_is_refused(
    client: Client, write_key: str, event: dict[str, Any], path: str
) -> None:
    await _post(client, write_key, registered("acme"))
    (fact,) = await _post(client, write_key, reported("acme"))
    body = {"type": "event.corrected", "event_id": fact["id"], "changes": {"tags": ["x"]}, **event}
    response = await client.post("/v1/events", json=body, headers=bearer(write_key))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["path"] for error in response.json()["errors"]] == [path]
    batch = await client.post("/v1/events/batch", json={"events": [body]}, headers=bearer(write_key))
    assert batch.status_code == 422
    assert [error["path"] for error in batch.json()["errors"]] == [f"$.events[0]{path[1:]}"]
    log = (await _get(client, "/v1/events", limit=100)).json()["events"]
    assert [event["type"] for event in log] == ["entity.registered", "fact.reported"]  # nothing written


@pytest.mark.parametrize("kind", ["update", "amendment"])
async def test_an_update_or_an_amendment_may_come_without_a_note(
    client: Client, write_key: str, kind: str
) -> None:
    await _post(client, write_key, registered("acme"))
    (fact,) = await _post(client, write_key, reported("acme"))
    response = await client.post(
        "/v1/events", json=follow_up(fact["id"], kind, None, tags=["x"]), headers=bearer(write_key)
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("example", examples.KINDS.values(), ids=list(examples.KINDS))
async def test_each_kinds_example_is_accepted_on_the_demo(
    demo_client: Client, demo_key: str, example: EventCorrected
) -> None:
    body = msgspec.to_builtins(example)
    response = await demo_client.post("/v1/events", json=body, headers=bearer(demo_key))
    assert response.status_code == 201, response.text


async def test_the_demos_amendment_is_in_the_history_and_nowhere_else(demo_client: Client) -> None:
    servers = str(demo_id("fact/mai-1-servers"))
    head = max(
        event["position"] for event in (await _get(demo_client, "/v1/events", limit=100)).json()["events"]
    )
    history = (await _get(demo_client, f"/v1/events/{servers}/history", min_position=head)).json()
    assert [version.get("kind") for version in history["versions"]] == [None, "amendment"]
    page = (await _get(demo_client, "/v1/entities/mai-1/timeline")).json()
    item = _item(page, servers)
    assert (item["corrections"], item["mark"]) == ([], None)
    assert "https://www.theinformation.com" in json.dumps(item["sources"])
    reported_at = (await _get(demo_client, f"/v1/events/{demo_id('fact/mai-1-reported')}")).json()[
        "recorded_at"
    ]
    pinned = (await _get(demo_client, "/v1/entities/mai-1/timeline/pinned", as_of=reported_at)).json()
    assert _item(pinned, servers)["amendments"] == 1


class _Stream:
    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()

    async def next(self) -> tuple[str, Any]:
        async with asyncio.timeout(10):
            event, data = "message", list[str]()
            async for line in self.lines:
                if not line and data:
                    return event, json.loads("\n".join(data))
                name, _, value = line.partition(":")
                if name == "event":
                    event = value.strip()
                elif name == "data":
                    data.append(value.removeprefix(" "))
            raise EOFError


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    key = await make_key(database_url)
    with serving(database_url, live_heartbeat_seconds=5) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            response = await http.post("/v1/events", json=registered("acme"), headers=bearer(key))
            assert response.status_code == 201
            known = await http.get("/v1/entities/acme", params={"min_position": response.json()["position"]})
            assert known.status_code == 200
            yield http, key


@pytest.mark.parametrize(
    ("language", "headings"),
    [("en", ["Correction", "Clarification", "Update"]), ("fr", ["Rectificatif", "Précision", "Mise à jour"])],
)
async def test_a_live_stream_says_each_kind_and_mends_an_amendment_silently(
    live: tuple[httpx.AsyncClient, str], language: str, headings: list[str]
) -> None:
    http, key = live

    async def post(event: dict[str, Any]) -> dict[str, Any]:
        response = await http.post("/v1/events", json=event, headers=bearer(key))
        assert response.status_code == 201, response.text
        appended: dict[str, Any] = response.json()
        return appended

    params = {"entity": "acme", "lang": language, "render": "html"}
    async with http.stream("GET", "/v1/live", params=params) as response:
        assert response.status_code == 200
        stream = _Stream(response)
        fact = await post(reported("acme", headline="Acme ships"))
        assert (await stream.next())[1]["kind"] == "added"
        told = []
        for kind, note in [
            ("correction", "Date."),
            ("clarification", "Meant."),
            ("update", "More."),
            ("amendment", FIXED),
        ]:
            await post(follow_up(fact["id"], kind, note, headline={"en": f"Acme ships ({kind})"}))
            event, change = await stream.next()
            assert event == "change"
            told.append(change)
    assert [change["kind"] for change in told] == ["corrected", "clarified", "updated", "amended"]
    for change, heading in zip(told, headings, strict=False):
        assert f"<strong>{heading}</strong>" in change["html"]
    amended = told[-1]
    assert amended["entry"]["headline"] == "Acme ships (amendment)"
    assert [note["kind"] for note in amended["entry"]["corrections"]] == [
        "correction",
        "clarification",
        "update",
    ]
    assert amended["entry"]["mark"]["kind"] == "update"
    assert FIXED not in json.dumps(told)


def test_a_run_that_amends_after_a_correction_tells_the_correction() -> None:
    """Told once per run, a fact keeps the kind readers must hear of: an amendment after a
    correction in the same run does not make the correction silent."""
    fact = demo_id("run/fact")
    first, second = LogCursor(1, 1), LogCursor(1, 2)
    [told] = latest([Touch(fact, "corrected", first), Touch(fact, "amended", second)])
    assert (told.kind, told.cursor) == ("corrected", second)
    [silent] = latest([Touch(fact, "amended", first)])
    assert silent.kind == "amended"
    [louder] = latest([Touch(fact, "amended", first), Touch(fact, "clarified", second)])
    assert louder.kind == "clarified"
