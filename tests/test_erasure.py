"""Legal erasure through HTTP and the CLI: the event, who may append it, and what every read
shows of an erased fact, follow-up note or entity, compared with a twin database that never saw
them, and with a rebuild."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.projections import PROJECTIONS
from service.projections.rebuild import rebuild
from service.store.database import with_database
from tests.browser import serving
from tests.conftest import Client, _admin, _database_from, caught_up, client_for, make_key
from tests.factories import bearer, registered, reported
from tests.processes import DATELINE
from tests.tables import snapshot
from tests.test_live import Events

NEWSROOM = next(projection for projection in PROJECTIONS if projection.name == "newsroom")

# What is erased in A, and must appear in no read of A afterwards.
SECRET_HEADLINE = "Zorvath Quillington arrested at dawn"
SECRET_SUMMARY = "Quillington lives at 12 Quernmoor Lane"
SECRET_TAG = "quernmoor-affair"
SECRET_NOTE = "Confirmed by his neighbour Maudeline Frostweather"
PERSON_NAME = "Zorvath Quillington"
PERSON_ALIAS = "Zed Quill"
PERSON_DESCRIPTION = "Private individual, born 1971 in Quernmoor"
ERASED_STRINGS = (
    "Zorvath",
    "Quillington",
    "Quernmoor",
    "quernmoor",
    "Maudeline",
    "Frostweather",
    "Zed Quill",
)


Http = Client | httpx.AsyncClient
"""The app in process, or served by uvicorn (live streams need a real server)."""


async def _append(client: Http, key: str, *events: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.post("/v1/events/batch", json={"events": list(events)}, headers=bearer(key))
    assert response.status_code == 201, response.text
    rows: list[dict[str, Any]] = response.json()["events"]
    return rows


async def _caught_up(client: Http, position: int) -> None:
    response = await client.get("/v1/timeline", params={"min_position": position})
    assert response.status_code == 200, response.text


async def _erase(client: Http, key: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/erasures",
        json={"basis": "GDPR Art. 17", "reference": "DPO-2026-17", **body},
        headers=bearer(key),
    )
    assert response.status_code == 201, response.text
    erased: dict[str, Any] = response.json()
    await _caught_up(client, erased["position"])
    return erased


@pytest.fixture
async def twin_url(server_url: str, empty_template: str) -> AsyncIterator[str]:
    """A second fresh database: B, which never sees what A erases."""
    name = await _database_from(server_url, empty_template)
    yield with_database(server_url, name)
    await _admin(server_url, f'drop database "{name}" with (force)')


class Story:
    """The same story told to A and B; only A is told the erased fact, note and person."""

    def __init__(self, client: Http, key: str, erased: bool) -> None:
        self.client, self.key, self.erased = client, key, erased
        self.ids: dict[str, str] = {}
        self.instants: dict[str, str] = {}
        """When each step of the story was recorded: the same steps in A and B, but for A's own."""

    async def tell(self) -> None:
        (_, people) = await _append(
            self.client,
            self.key,
            registered("acme", name="Acme Robotics", aliases=["Acme"]),
            registered("bob-ceo", kind="person", name="Bob Vance"),
        )
        self.instants["entities"] = people["recorded_at"]
        if self.erased:
            await _append(
                self.client,
                self.key,
                registered(
                    "zq",
                    kind="person",
                    name=PERSON_NAME,
                    aliases=[PERSON_ALIAS],
                    description={"en": PERSON_DESCRIPTION},
                ),
            )
        rows = await _append(
            self.client,
            self.key,
            reported("acme", occurred="2024-03", headline="Acme Robotics opens a lab in Lyon", tags=["labs"]),
            {
                "type": "person.appointed",
                "occurred": "2024-04-02",
                "headline": {"en": "Bob Vance appointed CEO of Acme", "fr": "Bob Vance nommé PDG d'Acme"},
                "entities": [{"slug": "bob-ceo", "role": "appointee"}, {"slug": "acme", "role": "employer"}],
                "title": "CEO",
            },
        )
        self.ids["lab"], self.ids["ceo"] = rows[0]["id"], rows[1]["id"]
        self.instants["facts"] = rows[1]["recorded_at"]
        if self.erased:
            (secret,) = await _append(
                self.client,
                self.key,
                reported(
                    "acme",
                    "zq",
                    occurred="2024-05",
                    headline=SECRET_HEADLINE,
                    summary={"en": SECRET_SUMMARY},
                    tags=[SECRET_TAG],
                    sources=[{"url": "https://example.com/quernmoor", "title": "Quernmoor Gazette"}],
                ),
            )
            self.ids["secret"] = secret["id"]
            self.instants["secret"] = secret["recorded_at"]
            (corrected,) = await _append(
                self.client,
                self.key,
                {
                    "type": "event.corrected",
                    "event_id": secret["id"],
                    "changes": {"headline": {"en": f"{SECRET_HEADLINE}, police say"}},
                    "note": {"en": "Quillington's arrest was confirmed by the police."},
                },
            )
            self.instants["corrected"] = corrected["recorded_at"]
        confirmation: dict[str, Any] = {"type": "event.confirmed", "event_id": self.ids["ceo"]}
        if self.erased:
            confirmation["note"] = {"en": SECRET_NOTE}
        (confirmed,) = await _append(self.client, self.key, confirmation)
        self.ids["confirmation"] = confirmed["id"]
        self.instants["confirmed"] = confirmed["recorded_at"]
        await _caught_up(self.client, confirmed["position"])

    async def erase(self, admin: str) -> list[dict[str, Any]]:
        return [
            await _erase(self.client, admin, event_id=self.ids["secret"]),
            await _erase(self.client, admin, event_id=self.ids["confirmation"]),
            await _erase(self.client, admin, slug="zq"),
        ]


# What differs between A and B although a reader sees the same: the ids and places the log gave
# each event, the instants each was recorded at, and what is made of them (links, cursors,
# validators). Texts, dates of facts, statuses, entities, tags and the order of items are kept.
_VOLATILE = {
    "id",
    "event_id",
    "event",
    "ended_by",
    "position",
    "recorded_at",
    "updated_at",
    "date",
    "link",
    "next",
    "unique_id",
    "merged_by",
    "merged_at",
}


_NOTICE = re.compile(r"Removed on .* for legal reasons|Supprimé le .* pour des raisons juridiques")


def _tombstone(value: dict[str, Any]) -> bool:
    """An entry, entity or TimelineJS slide that A shows in place of what it erased: JSON says
    so in ``erased``, a slide (TimelineJS has no such field) by its headline, the notice."""
    text = value.get("text")
    return "erased" in value or (isinstance(text, dict) and bool(_NOTICE.fullmatch(text.get("headline", ""))))


def _reader_view(value: Any) -> Any:
    """A JSON body as a reader sees it: tombstones (and entities erased) taken out, the
    volatile fields above dropped."""
    if isinstance(value, dict):
        if _tombstone(value):
            return None
        return {key: _reader_view(part) for key, part in value.items() if key not in _VOLATILE}
    if isinstance(value, list):
        return [shown for part in value if (shown := _reader_view(part)) is not None]
    return value


def _clean(text: str) -> None:
    for secret in ERASED_STRINGS:
        assert secret not in text, f"{secret!r} is still shown: {text[:2000]}"
        assert secret.lower() not in text.lower(), f"{secret!r} is still shown: {text[:2000]}"


_JSON_READS = [
    ("/v1/timeline", {}),
    ("/v1/timeline", {"lang": "fr"}),
    ("/v1/timeline", {"status": "confirmed"}),
    ("/v1/timeline", {"tags": "labs"}),
    ("/v1/timeline", {"q": "Acme"}),
    ("/v1/timeline", {"q": "Acme", "order": "relevance"}),
    ("/v1/entities/acme/timeline", {}),
    ("/v1/entities/acme/timeline", {"format": "timelinejs"}),
    ("/v1/entities/acme/timeline", {"format": "timelinejs", "lang": "fr"}),
    ("/v1/entities/acme", {}),
    ("/v1/entities/bob-ceo", {}),
    ("/v1/entities/acme/history", {}),
    ("/v1/entities", {}),
    ("/v1/entities", {"q": "Acme"}),
]


async def _json(client: Client, path: str, params: dict[str, str]) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, (path, params, response.text)
    _clean(response.text)
    return response.json()


async def test_every_public_read_of_an_erased_story_equals_a_twin_that_never_saw_it(
    database_url: str, twin_url: str
) -> None:
    async with client_for(database_url) as a, client_for(twin_url) as b:
        key_a, key_b = await make_key(database_url), await make_key(twin_url)
        admin = await make_key(database_url, "legal-desk", "admin")
        story_a, story_b = Story(a, key_a, erased=True), Story(b, key_b, erased=False)
        await story_a.tell()
        await story_b.tell()
        before = (await a.get("/v1/timeline")).text
        assert SECRET_HEADLINE in before
        assert SECRET_NOTE in (await a.get(f"/v1/events/{story_a.ids['ceo']}/history")).text
        await story_a.erase(admin)

        for path, params in _JSON_READS:
            seen_a, seen_b = await _json(a, path, params), await _json(b, path, params)
            assert _reader_view(seen_a) == _reader_view(seen_b), (path, params)

        # Search for the erased words finds nothing, in every language's index.
        for words in ("Quillington", "arrested", "Quernmoor", "Frostweather", "Zed", "quernmoor-affair"):
            found = await _json(a, "/v1/timeline", {"q": words})
            assert found["items"] == [], words
            assert (await _json(a, "/v1/entities", {"q": words}))["entities"] == [], words
        assert (await _json(a, "/v1/timeline", {"tags": SECRET_TAG}))["items"] == []
        # The erased person's aliases no longer resolve; its slug shows a neutral name.
        assert (await a.get("/v1/entities/zed-quill")).status_code == 404
        person = await _json(a, "/v1/entities/zq", {})
        assert person["name"] == "Erased entity"
        assert "aliases" not in person
        assert "description" not in person
        assert person["erased"]["notice"].startswith("Removed on ")
        assert all(
            version["name"] == "Erased entity"
            for version in (await _json(a, "/v1/entities/zq/history", {}))["versions"]
        )

        # The tombstone keeps its place, with the notice in the reader's language.
        timeline = await _json(a, "/v1/entities/acme/timeline", {})
        tombstone = next(item for item in timeline["items"] if item["id"] == story_a.ids["secret"])
        assert tombstone["erased"]["notice"] == tombstone["headline"]
        assert re.fullmatch(r"Removed on \w+ \d+, \d{4} for legal reasons", tombstone["headline"])
        assert tombstone["occurred"]["value"] == "2024-05"
        assert tombstone["corrections"] == []
        assert {ref["slug"] for ref in tombstone["entities"]} == {"acme", "zq"}
        french = await _json(a, "/v1/entities/acme/timeline", {"lang": "fr"})
        notice = next(item for item in french["items"] if item["id"] == story_a.ids["secret"])["headline"]
        assert re.fullmatch(r"Supprimé le \d+ \w+ \d{4} pour des raisons juridiques", notice), notice
        history = await _json(a, f"/v1/events/{story_a.ids['secret']}/history", {})
        assert history["versions"]
        assert all("erased" in version["item"] for version in history["versions"])
        ceo = await _json(a, f"/v1/events/{story_a.ids['ceo']}/history", {})
        assert ceo["versions"][-1]["item"]["status"] == "confirmed"  # the note goes, its effect stays

        # As known at every instant, before the erasure too, the text is gone; at each step of
        # the story, A as known then is B as known at the same step.
        for step, instant in story_a.instants.items():
            response = await a.get("/v1/entities/zq", params={"as_of": instant})
            assert response.status_code == (404 if step == "entities" else 200), response.text
            _clean(response.text)
            for path in ("/v1/timeline", "/v1/entities/acme/timeline", "/v1/timeline/pinned"):
                seen_a = await _json(a, path, {"as_of": instant})
                if step in story_b.instants:
                    seen_b = await _json(b, path, {"as_of": story_b.instants[step]})
                    # A pinned view counts what came since: A's tombstone too, if it came after.
                    since_a, since_b = seen_a.pop("since", {}), seen_b.pop("since", {})
                    later = 1 if step in ("entities", "facts") and since_a else 0
                    assert since_a.get("added", 0) == since_b.get("added", 0) + later, (path, step)
                    assert since_a.get("changed") == since_b.get("changed"), (path, step)
                    seen_a.pop("as_of", None), seen_b.pop("as_of", None)
                    assert _reader_view(seen_a) == _reader_view(seen_b), (path, step)
        seen_a = await _json(a, f"/v1/events/{story_a.ids['ceo']}/history", {})
        seen_b = await _json(b, f"/v1/events/{story_b.ids['ceo']}/history", {})
        assert _reader_view(seen_a) == _reader_view(seen_b)

        # Feeds, embed and pinned pages, oEmbed: none of the erased words; the notice in place.
        for path, params in [
            ("/v1/feed.atom", {}),
            ("/v1/entities/acme/feed.atom", {}),
            ("/embed/acme", {}),
            ("/embed/acme", {"lang": "fr"}),
            ("/embed/zq", {}),
            ("/embed/acme", {"as_of": story_a.instants["confirmed"]}),
            ("/oembed", {"url": f"{str(a.base_url).rstrip('/')}/embed/zq"}),
        ]:
            twin = {**params, "as_of": story_b.instants["confirmed"]} if "as_of" in params else params
            response_a, response_b = await a.get(path, params=params), await b.get(path, params=twin)
            assert response_a.status_code == 200, (path, response_a.text)
            _clean(response_a.text)
            if path != "/oembed" and "zq" not in path:
                assert response_b.status_code == 200
                assert _titles(response_a.text) == _titles(response_b.text), path
        oembed = (await a.get("/oembed", params={"url": f"{str(a.base_url).rstrip('/')}/embed/zq"})).json()
        assert oembed["title"] == "Erased entity"


def _titles(page: str) -> list[str]:
    """The headlines an Atom feed or an embed page shows, in order, tombstones left out."""
    found = re.findall(r"<title[^>]*>([^<]*)</title>|<h2 id=\"headline-[^\"]*\">([^<]*)</h2>", page)
    texts = [text for pair in found for text in pair if text]
    return [text for text in texts if "legal reasons" not in text and "raisons juridiques" not in text]


async def test_rebuilding_after_an_erasure_gives_the_same_read_model(database_url: str) -> None:
    async with client_for(database_url) as a:
        key, admin = await make_key(database_url), await make_key(database_url, "legal-desk", "admin")
        story = Story(a, key, erased=True)
        await story.tell()
        await story.erase(admin)
        # An update after the erasure gives the person a name again: folded as it is, both ways.
        (renamed,) = await _append(a, key, {"type": "entity.updated", "slug": "zq", "name": "Z. Q."})
        await _caught_up(a, renamed["position"])
        built = await snapshot(database_url)
        _clean(repr(built).lower())  # search vectors hold lexemes, in lower case
        await rebuild(database_url, NEWSROOM)
        assert await snapshot(database_url) == built


async def test_only_an_admin_key_erases_and_bad_erasures_are_refused(
    demo_client: Client, demo_database_url: str
) -> None:
    write = await make_key(demo_database_url, "newsdesk")
    admin = await make_key(demo_database_url, "legal-desk", "admin")
    await caught_up(demo_client)
    fact = (await demo_client.get("/v1/timeline", params={"limit": 1})).json()["items"][0]
    body = {"event_id": fact["id"], "basis": "court order", "reference": "TJ 1"}
    for path, sent in [
        ("/v1/erasures", body),
        ("/v1/events", {"type": "event.erased", **body}),
        ("/v1/events/batch", {"events": [{"type": "event.erased", **body}]}),
    ]:
        refused = await demo_client.post(path, json=sent, headers=bearer(write))
        assert refused.status_code == 403, (path, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"] == "urn:dateline:problem:forbidden"
    assert (await demo_client.post("/v1/erasures", json=body)).status_code == 401
    assert (await demo_client.get("/v1/erasures", headers=bearer(write))).status_code == 403

    cases = [
        ({"basis": "b", "reference": "r"}, 422, "$"),
        ({**body, "slug": "mai-1"}, 422, "$"),
        ({**body, "basis": ""}, 422, "$.basis"),
        ({"event_id": "not-a-uuid", "basis": "b", "reference": "r"}, 422, "$.event_id"),
        ({"event_id": str(uuid.uuid4()), "basis": "b", "reference": "r"}, 422, "$.event_id"),
        ({"slug": "no-such-entity", "basis": "b", "reference": "r"}, 422, "$.slug"),
        ({**body, "colour": "red"}, 422, "$.colour"),
    ]
    for sent, status, where in cases:
        response = await demo_client.post("/v1/erasures", json=sent, headers=bearer(admin))
        assert response.status_code == status, (sent, response.text)
        assert any(error["path"].startswith(where) for error in response.json()["errors"]), response.text
    malformed = await demo_client.post(
        "/v1/erasures", content=b"{", headers={**bearer(admin), "content-type": "application/json"}
    )
    assert malformed.status_code == 400

    first = await demo_client.post(
        "/v1/erasures", json={**body, "id": str(uuid.uuid4())}, headers=bearer(admin)
    )
    assert first.status_code == 201, first.text
    tombstone = first.json()
    assert (tombstone["author"], tombstone["basis"], tombstone["reference"]) == (
        "legal-desk",
        "court order",
        "TJ 1",
    )
    assert tombstone["event_id"] == fact["id"]
    retried = await demo_client.post(
        "/v1/erasures", json={**body, "id": tombstone["id"]}, headers=bearer(admin)
    )
    assert retried.status_code == 200
    assert retried.json() == tombstone
    again = await demo_client.post("/v1/erasures", json=body, headers=bearer(admin))
    assert again.status_code == 409, again.text  # erased already: nothing more to erase
    follow = await demo_client.post(
        "/v1/events", json={"type": "event.confirmed", "event_id": fact["id"]}, headers=bearer(write)
    )
    assert follow.status_code == 422
    assert "erased" in follow.text

    ledger = await demo_client.get("/v1/erasures", params={"limit": 1}, headers=bearer(admin))
    assert ledger.status_code == 200
    assert ledger.json()["erasures"] == [tombstone]
    after = await demo_client.get(
        "/v1/erasures", params={"after": ledger.json()["next"]}, headers=bearer(admin)
    )
    assert after.json()["erasures"] == []
    bad_cursor = await demo_client.get("/v1/erasures", params={"after": "nonsense"}, headers=bearer(admin))
    assert bad_cursor.status_code == 400


async def test_the_cli_erases_as_the_api_does(database_url: str) -> None:
    async with client_for(database_url) as a:
        key = await make_key(database_url)
        story = Story(a, key, erased=True)
        await story.tell()
        env = {**os.environ, "DATABASE_URL": database_url}

        def erase(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [DATELINE, "erase", *args, "--basis", "GDPR Art. 17", "--reference", "CNIL-1", "--author", "dpo"],
                env=env, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip

        done = [
            await asyncio.to_thread(erase, "--event", story.ids["secret"]),
            await asyncio.to_thread(erase, "--event", story.ids["confirmation"]),
            await asyncio.to_thread(erase, "--entity", "zq"),
        ]
        for result in done:
            assert result.returncode == 0, result.stderr
        tombstones = [json.loads(result.stdout) for result in done]
        assert [t.get("event_id") or t.get("slug") for t in tombstones] == [
            story.ids["secret"], story.ids["confirmation"], "zq",
        ]  # fmt: skip
        assert {t["author"] for t in tombstones} == {"dpo"}
        await _caught_up(a, tombstones[-1]["position"])
        for path, params in _JSON_READS:
            await _json(a, path, params)
        both = await asyncio.to_thread(erase, "--event", story.ids["lab"], "--entity", "acme")
        assert both.returncode != 0
        assert "exactly one" in both.stderr
        twice = await asyncio.to_thread(erase, "--entity", "zq")
        assert twice.returncode != 0
        assert "already erased" in twice.stderr


async def test_every_process_stops_showing_the_text_at_once(database_url: str) -> None:
    async with client_for(database_url) as one, client_for(database_url) as two:
        key, admin = await make_key(database_url), await make_key(database_url, "legal-desk", "admin")
        story = Story(one, key, erased=True)
        await story.tell()
        # The second process has read (and keeps) each page as it was.
        for path in ("/v1/timeline", "/v1/entities/acme/timeline", "/embed/acme", "/v1/feed.atom"):
            assert SECRET_HEADLINE in (await two.get(path)).text
        erased = await _erase(one, admin, event_id=story.ids["secret"])
        await _caught_up(two, erased["position"])
        for path in ("/v1/timeline", "/v1/entities/acme/timeline", "/embed/acme", "/v1/feed.atom"):
            response = await two.get(path)
            assert response.status_code == 200
            assert SECRET_HEADLINE not in response.text, path
            assert "for legal reasons" in response.text, path


async def test_an_open_live_stream_sees_the_fact_become_its_tombstone_and_a_note_leave(
    database_url: str,
) -> None:
    key, admin = await make_key(database_url), await make_key(database_url, "legal-desk", "admin")
    with serving(database_url) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            story = Story(http, key, erased=True)  # the same calls, over uvicorn
            await story.tell()
            async with http.stream("GET", "/v1/live", params={"entity": "acme"}) as response:
                assert response.status_code == 200
                events = Events(response)
                await _erase(http, admin, event_id=story.ids["secret"])
                kind, change = await events.next()
                # A follow-up's note erased: its fact is told again at once, without the note.
                await _erase(http, admin, event_id=story.ids["confirmation"])
                note_kind, note_change = await events.next()
        assert (kind, change["kind"]) == ("change", "erased")
        assert change["entry"]["erased"]["notice"] == change["entry"]["headline"]
        assert (note_kind, note_change["kind"], note_change["entry"]["id"]) == (
            "change",
            "erased",
            story.ids["ceo"],
        )
        assert note_change["entry"]["erased"] is None  # the fact stays; only the note went
        for told in (change, note_change):
            _clean(json.dumps(told))
