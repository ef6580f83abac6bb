"""Previews: drafts and embargoed events on every read route, for a key that may, marked, as
recorded, and never cached; public reads unchanged by them; publication; rebuilds."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from playwright.sync_api import expect

from service.projections.newsroom import PREVIEW
from service.projections.rebuild import rebuild
from tests.browser import Contexts, launched, run, serving
from tests.conftest import Client, make_key
from tests.factories import bearer, registered, reported
from tests.tables import snapshot
from tests.test_live import SETTINGS as LIVE_SETTINGS
from tests.test_live import Service

EMBARGO = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)
SOURCE = {"url": "https://example.com/newco", "title": "Newco's filing"}


async def hold(
    client: Client, key: str, body: dict[str, Any], publish_at: datetime | None = None
) -> tuple[str, int, datetime]:
    """A held event, appended through the API (a draft without ``publish_at``): its id,
    position and instant recorded."""
    how = {"draft": True} if publish_at is None else {"publish_at": publish_at.isoformat()}
    held = await _append(client, key, {**body, **how})
    return held["id"], held["position"], datetime.fromisoformat(held["recorded_at"])


async def preview_caught_up(database_url: str, position: int) -> None:
    """Wait until the preview read model has folded the merged log up to ``position``."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            reached = await conn.fetchval(
                "select position from projection_checkpoints where name = $1", PREVIEW.name
            )
            if reached >= position:
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError(f"the preview did not reach position {position}")


async def _append(client: Client, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/events", json=body, headers=bearer(key))
    assert response.status_code in (200, 201), response.text
    appended: dict[str, Any] = response.json()
    return appended


class Newsroom(msgspec.Struct):
    """A public entity and fact, and held beside them: a draft entity, an embargoed fact about
    both, and a draft fact withdrawn by a held retraction."""

    public_fact: str
    embargoed: str
    embargoed_at: datetime
    draft: str
    newco: str


async def _newsroom(client: Client, database_url: str, key: str) -> Newsroom:
    await _append(client, key, registered("acme"))
    public = await _append(client, key, reported("acme", headline="Acme ships a model"))
    newco, _, _ = await hold(client, key, registered("newco", name="Newco"))
    embargoed_body = reported(
        "acme", "newco", occurred="2024-06", headline="Acme buys Newco", sources=[SOURCE], tags=["deals"]
    )
    embargoed, _, embargoed_at = await hold(client, key, embargoed_body, EMBARGO)
    draft, _, _ = await hold(client, key, reported("acme", headline="Acme's draft plans"))
    _, last, _ = await hold(
        client, key, {"type": "event.retracted", "event_id": draft, "reason": {"en": "Not going ahead."}}
    )
    await preview_caught_up(database_url, last)
    return Newsroom(public["id"], embargoed, embargoed_at, draft, newco)


def _private(response: Any) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    assert "etag" not in response.headers
    assert "authorization" in response.headers["vary"].lower()


async def _preview(client: Client, key: str, path: str, **params: Any) -> Any:
    response = await client.get(path, params={**params, "preview": "true"}, headers=bearer(key))
    _private(response)
    return response


def _by_id(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in entries}


async def test_every_read_route_previews_held_facts_and_entities_marked(
    client: Client, database_url: str, write_key: str
) -> None:
    room = await _newsroom(client, database_url, write_key)
    editor = await make_key(database_url, "editor", "preview")
    embargo = {"draft": False, "publish_at": "2031-03-01T09:00:00Z"}

    for url, extra in [
        ("/v1/timeline", {"include": "retracted"}),
        ("/v1/entities/acme/timeline", {"include": "retracted"}),
        ("/v1/timeline", {"q": "Newco", "order": "relevance"}),
        ("/v1/timeline", {"tags": "deals"}),
    ]:
        items = _by_id((await _preview(client, editor, url, **extra)).json()["items"])
        assert items[room.embargoed]["held"] == embargo, url
        if "include" in extra:
            assert items[room.draft]["held"] == {"draft": True, "withdrawn": True}
            assert items[room.public_fact]["held"] is None
    # The whole timeline, as TimelineJS reads it.
    exported = (await _preview(client, editor, "/v1/timeline", format="timelinejs")).json()
    assert "Acme buys Newco" in {event["text"]["headline"] for event in exported["events"]}
    # Pinned: as recorded, the held fact was known just after it was recorded.
    just_after = (room.embargoed_at + timedelta(microseconds=1)).isoformat()
    for url in ("/v1/timeline/pinned", "/v1/entities/acme/timeline/pinned"):
        pinned = _by_id((await _preview(client, editor, url, as_of=just_after)).json()["items"])
        assert pinned[room.embargoed]["held"] == embargo
    # Entities: the held registration, marked, in state, list, search and history.
    newco = (await _preview(client, editor, "/v1/entities/newco")).json()
    assert newco["name"] == "Newco"
    assert newco["held"] == {"draft": True}
    listed = {e["slug"]: e for e in (await _preview(client, editor, "/v1/entities")).json()["entities"]}
    assert listed["newco"]["held"] == {"draft": True}
    assert "held" not in listed["acme"]
    found = (await _preview(client, editor, "/v1/entities", q="Newc")).json()["entities"]
    assert [entity["slug"] for entity in found] == ["newco"]
    history = (await _preview(client, editor, "/v1/entities/newco/history")).json()
    assert len(history["versions"]) == 1
    fact_history = (await _preview(client, editor, f"/v1/events/{room.embargoed}/history")).json()
    assert len(fact_history["versions"]) == 1
    # Feeds, embed pages, oEmbed and the sources' redirect.
    for url in ("/v1/feed.atom", "/v1/entities/acme/feed.atom"):
        assert "Acme buys Newco" in (await _preview(client, editor, url)).text
    english = (await _preview(client, editor, "/embed/acme", lang="en", include="retracted")).text
    assert "Acme buys Newco" in english
    assert '<span class="held">Embargoed until' in english
    assert '<span class="held">Withdrawn before publication</span>' in english
    french = (await _preview(client, editor, "/embed", lang="fr", entities="newco")).text
    assert '<span class="held">Sous embargo jusqu' in french
    assert "data-live" not in french  # a browser's EventSource could not send the key
    described = (await _preview(client, editor, "/oembed", url="http://testserver.local/embed/newco")).json()
    assert described["title"] == "Newco"
    gone = await client.get(
        f"/go/{room.embargoed}/0", params={"preview": "true"}, headers=bearer(editor), follow_redirects=False
    )
    assert gone.status_code == 302
    assert gone.headers["location"] == SOURCE["url"]
    assert gone.headers["cache-control"] == "private, no-store"


async def test_preview_needs_a_key_that_may_and_names_the_parameter(
    client: Client, database_url: str, write_key: str
) -> None:
    await _newsroom(client, database_url, write_key)
    admin = await make_key(database_url, "admin", "admin")
    for url in ("/v1/timeline", "/v1/entities/acme", "/embed/acme", "/v1/feed.atom", "/v1/entities"):
        refused = await client.get(url, params={"preview": "true"})
        assert refused.status_code == 401, url
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["path"] == "preview"
        unknown = await client.get(url, params={"preview": "true"}, headers=bearer("dl_not-a-key"))
        assert unknown.status_code == 401, url
        assert unknown.json()["errors"][0]["path"] == "preview"
        # Write and admin keys may preview.
        for key in (write_key, admin):
            _private(await client.get(url, params={"preview": "true"}, headers=bearer(key)))
    assert (await client.get("/v1/entities/newco", params={"preview": "true"})).status_code == 401
    assert (await client.get("/v1/entities/newco")).status_code == 404


async def test_public_reads_are_unchanged_by_held_events(
    client: Client, database_url: str, write_key: str
) -> None:
    await _append(client, write_key, registered("acme"))
    public = await _append(client, write_key, reported("acme", headline="Acme ships a model"))
    now = datetime.now(UTC).isoformat()
    reads: list[tuple[str, dict[str, str]]] = [
        ("/v1/timeline", {}),
        ("/v1/timeline", {"q": "Newco"}),
        ("/v1/timeline", {"format": "timelinejs"}),
        ("/v1/entities/acme/timeline", {}),
        ("/v1/entities/acme", {}),
        ("/v1/entities", {}),
        ("/v1/entities", {"q": "Newc"}),
        ("/v1/entities/acme/history", {}),
        (f"/v1/events/{public['id']}/history", {}),
        ("/v1/feed.atom", {}),
        ("/v1/entities/acme/feed.atom", {}),
        ("/embed/acme", {"lang": "en"}),
        ("/v1/timeline/pinned", {"as_of": now}),
    ]
    position = str(public["position"])
    before = {}
    for path, params in reads:
        response = await client.get(path, params={**params, "min_position": position})
        assert response.status_code == 200, (path, params, response.text)
        before[path, str(params)] = (response.content, response.headers["etag"])
    await hold(client, write_key, registered("newco", name="Newco"))
    _, held_at, _ = await hold(
        client, write_key, reported("acme", "newco", headline="Acme buys Newco"), EMBARGO
    )
    await preview_caught_up(database_url, held_at)
    for path, params in reads:
        response = await client.get(path, params={**params, "min_position": position})
        assert response.status_code == 200, (path, params)
        assert (response.content, response.headers["etag"]) == before[path, str(params)], (path, params)
        assert b"Newco" not in response.content
        assert response.headers["cache-control"].startswith("public")
    # The preview's checkpoint can stand at a held event: only keys that may preview see it.
    [status] = (await client.get("/v1/projections")).json()
    assert (status["name"], status["checkpoint"]) == ("newsroom", public["position"])
    names = [each["name"] for each in (await client.get("/v1/projections", headers=bearer(write_key))).json()]
    assert names == ["newsroom", "newsroom_preview"]
    assert (await client.get("/v1/entities/newco")).status_code == 404


async def test_preview_as_of_is_as_recorded(client: Client, database_url: str, write_key: str) -> None:
    room = await _newsroom(client, database_url, write_key)
    # Read your own held write: min_position names a held event's place, which the preview knows.
    _, position, _ = await hold(client, write_key, reported("acme", headline="Acme's late draft"))
    waited = await _preview(client, write_key, "/v1/timeline", min_position=str(position))
    assert "Acme's late draft" in {item["headline"] for item in waited.json()["items"]}
    before = (room.embargoed_at - timedelta(microseconds=1)).isoformat()
    after = (room.embargoed_at + timedelta(microseconds=1)).isoformat()
    earlier = _by_id((await _preview(client, write_key, "/v1/timeline", as_of=before)).json()["items"])
    later = _by_id((await _preview(client, write_key, "/v1/timeline", as_of=after)).json()["items"])
    assert room.public_fact in earlier
    assert room.embargoed not in earlier
    assert later[room.embargoed]["held"]["publish_at"] == "2031-03-01T09:00:00Z"
    public = _by_id((await client.get("/v1/timeline", params={"as_of": after})).json()["items"])
    assert room.embargoed not in public


async def test_a_published_event_loses_its_mark_and_stays_one_item(
    client: Client, database_url: str, write_key: str
) -> None:
    room = await _newsroom(client, database_url, write_key)
    # Published (part "held"'s endpoint): each appended to the log under its own id, at its own place.
    for event_id in (room.newco, room.embargoed):
        publication = await client.post(f"/v1/events/{event_id}/publish", headers=bearer(write_key))
        assert publication.status_code == 201, publication.text
    published = publication.json()
    await preview_caught_up(database_url, published["position"])

    items = (await _preview(client, write_key, "/v1/timeline")).json()["items"]
    assert [item["id"] for item in items].count(room.embargoed) == 1
    shown = _by_id(items)[room.embargoed]
    assert shown["held"] is None
    newco = (await _preview(client, write_key, "/v1/entities/newco")).json()
    assert "held" not in newco
    public = (await client.get("/v1/timeline", params={"min_position": published["position"]})).json()
    assert room.embargoed in _by_id(public["items"])
    # The preview's item is the public one: same fact, same texts.
    public_item = _by_id(public["items"])[room.embargoed]
    assert {k: v for k, v in shown.items() if k not in ("position", "recorded_at", "updated_at")} == {
        k: v for k, v in public_item.items() if k not in ("position", "recorded_at", "updated_at")
    }
    # A rebuild of the preview folds the publications the same way.
    live = await snapshot(database_url, "preview", PREVIEW.name)
    await rebuild(database_url, PREVIEW, batch=2)
    assert await snapshot(database_url, "preview", PREVIEW.name) == live


async def test_a_rebuild_of_the_preview_gives_the_tables_the_live_fold_gave(
    client: Client, database_url: str, write_key: str
) -> None:
    await _newsroom(client, database_url, write_key)
    await _append(
        client,
        write_key,
        {
            "type": "event.confirmed",
            "event_id": (await _append(client, write_key, reported("acme", headline="Acme confirms")))["id"],
        },
    )
    # A held correction of a public fact, folded in the preview only.
    public = (await client.get("/v1/timeline")).json()["items"][0]["id"]
    _, last, _ = await hold(
        client,
        write_key,
        {
            "type": "event.corrected",
            "event_id": public,
            "changes": {"headline": {"en": "Acme ships two models"}},
            "note": {"en": "Two, not one."},
        },
    )
    await preview_caught_up(database_url, last)
    live = await snapshot(database_url, "preview", PREVIEW.name)
    public_tables = await snapshot(database_url)
    assert live["timeline_items"] != public_tables["timeline_items"]
    applied = await rebuild(database_url, PREVIEW)
    assert applied >= 8
    assert await snapshot(database_url, "preview", PREVIEW.name) == live
    assert await snapshot(database_url) == public_tables


async def test_a_preview_live_stream_tells_held_facts_marked_and_a_public_one_does_not(
    database_url: str,
) -> None:
    with serving(database_url, **LIVE_SETTINGS) as base:
        service = Service(base, await make_key(database_url))
        try:
            (acme,) = await service.post(registered("acme"))
            known = await service.http.get("/v1/entities/acme", params={"min_position": acme["position"]})
            assert known.status_code == 200
            async with (
                service.live(bearer(service.key), entity="acme", preview="true") as preview,
                service.live(entity="acme") as public,
            ):
                assert preview.response.headers["cache-control"] == "private, no-store"
                held = await service.post({**reported("acme", headline="Acme's draft"), "draft": True})
                draft = held[0]["id"]
                kind, change = await preview.next()
                assert (kind, change["entry"]["id"]) == ("change", draft)
                assert change["entry"]["held"] == {"draft": True}
                await public.quiet(1.5)
            refused = await service.http.get("/v1/live", params={"preview": "true", "entity": "acme"})
            assert refused.status_code == 401
            assert refused.json()["errors"][0]["path"] == "preview"
        finally:
            await service.http.aclose()


@pytest.mark.browser
@pytest.mark.slow
def test_a_preview_embed_page_shows_its_badges_in_chromium(database_url: str) -> None:
    with serving(database_url) as base, launched() as browser, Contexts(browser) as contexts:
        key = run(make_key(database_url, "editor", "preview"))
        writer = run(make_key(database_url))
        registering = httpx.post(
            f"{base}/v1/events", json=registered("acme"), headers=bearer(writer), timeout=30
        )
        assert registering.status_code == 201
        for how in ({"draft": True}, {"publish_at": EMBARGO.isoformat()}):
            body = {**reported("acme", headline="Acme's held fact"), **how}
            held = httpx.post(f"{base}/v1/events", json=body, headers=bearer(writer), timeout=30)
            assert held.status_code == 201, held.text
        last = held.json()["position"]
        run(preview_caught_up(database_url, last))
        page = contexts.new(extra_http_headers=bearer(key)).new_page()
        answer = page.goto(f"{base}/embed/acme?preview=true&lang=en")
        assert answer is not None
        assert answer.status == 200
        assert answer.headers["cache-control"] == "private, no-store"
        badges = page.locator("li.event .held")
        expect(badges).to_have_count(2)
        expect(badges.filter(has_text="Draft")).to_be_visible()
        expect(badges.filter(has_text="Embargoed until March 1, 2031")).to_be_visible()
        public = contexts.new().new_page()
        public.goto(f"{base}/embed/acme?lang=en")
        expect(public.locator("li.event")).to_have_count(0)
