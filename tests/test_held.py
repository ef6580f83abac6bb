"""Drafts and embargoes through HTTP: held events change nothing public until they are published,
then appear by themselves, once, at their own place in the log."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from service.cli import load_demo
from service.demo.story import demo_id
from service.http.read_cache import CACHE_CONTROL
from tests.browser import demo_folded, serving
from tests.conftest import Client, caught_up, client_for, make_key
from tests.factories import bearer, registered, reported
from tests.test_live import Events


def _soon(seconds: float = 1.5) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def _log(client: Client, key: str | None = None, **params: Any) -> list[dict[str, Any]]:
    """The whole log; with a key, previewed (held events too)."""
    preview = {} if key is None else {"preview": "true"}
    headers = {} if key is None else bearer(key)
    page = await client.get("/v1/events", params={"limit": 1000, **preview, **params}, headers=headers)
    assert page.status_code == 200, page.text
    events: list[dict[str, Any]] = page.json()["events"]
    return events


async def _until_published(client: Client, event_id: str, within: float = 3.0) -> float:
    """Seconds until the log holds ``event_id``."""
    started = asyncio.get_running_loop().time()
    while (await client.get(f"/v1/events/{event_id}")).status_code != 200:
        assert asyncio.get_running_loop().time() - started < within, f"{event_id} was not published"
        await asyncio.sleep(0.05)
    return asyncio.get_running_loop().time() - started


async def test_a_held_append_says_it_is_held_and_stays_out_of_the_log(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    before = await _log(client)

    draft = await client.post(
        "/v1/events", json={**reported("microsoft"), "draft": True}, headers=bearer(write_key)
    )
    embargoed = await client.post(
        "/v1/events", json={**reported("microsoft"), "publish_at": _soon(60)}, headers=bearer(write_key)
    )

    assert draft.status_code == 201, draft.text
    assert draft.json()["held"] == {"draft": True}
    assert draft.json()["version"] is None
    assert embargoed.json()["held"]["publish_at"].endswith("Z")
    assert await _log(client) == before
    assert (await client.get(draft.headers["location"])).status_code == 404
    previewed = await client.get(
        draft.headers["location"], params={"preview": "true"}, headers=bearer(write_key)
    )
    assert previewed.status_code == 200, previewed.text
    assert previewed.json()["held"] == {"draft": True}
    assert previewed.headers["cache-control"] == "private, no-store"
    merged = await _log(client, write_key)
    assert [event["id"] for event in merged] == [
        *(event["id"] for event in before),
        draft.json()["id"],
        embargoed.json()["id"],
    ]
    assert [event.get("held") for event in merged][-2:] == [
        {"draft": True},
        {"publish_at": embargoed.json()["held"]["publish_at"]},
    ]


async def _post(client: Client, key: str, *events: dict[str, Any]) -> Any:
    response = await client.post("/v1/events/batch", json={"events": list(events)}, headers=bearer(key))
    assert response.status_code in (200, 201), response.text
    return response.json()["events"]


async def _refused(client: Client, key: str, event: dict[str, Any], status: int = 422) -> dict[str, Any]:
    response = await client.post("/v1/events", json=event, headers=bearer(key))
    assert response.status_code == status, response.text
    problem: dict[str, Any] = response.json()
    return problem


async def test_publish_at_must_be_a_future_instant_with_its_time_zone(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    naive = await _refused(client, write_key, {**reported("acme"), "publish_at": "2099-01-01T00:00:00"})
    past = await _refused(client, write_key, {**reported("acme"), "publish_at": "2020-01-01T00:00:00Z"})
    both = await _refused(client, write_key, {**reported("acme"), "publish_at": _soon(60), "draft": True})
    mixed = await client.post(
        "/v1/events/batch",
        json={"events": [{**reported("acme"), "draft": True}, reported("acme")]},
        headers=bearer(write_key),
    )

    assert [error["path"] for error in naive["errors"]] == ["$.publish_at"]
    assert "timezone" in naive["errors"][0]["reason"]
    assert past["errors"] == [{"path": "$.publish_at", "reason": past["errors"][0]["reason"]}]
    assert "future" in past["errors"][0]["reason"]
    assert both["errors"][0]["path"] == "$.publish_at"
    assert mixed.status_code == 422
    assert [error["path"] for error in mixed.json()["errors"]] == ["$.events[1]"]
    assert await _log(client, write_key) == await _log(client)  # nothing was held either


async def test_held_events_may_name_held_entities_and_public_ones_may_not(
    client: Client, write_key: str
) -> None:
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    entity, fact = await _post(
        client,
        write_key,
        {**registered("newco"), "draft": True},
        {**reported("newco", "acme"), "draft": True},
    )
    correction = await _post(
        client,
        write_key,
        {"type": "event.confirmed", "event_id": fact["id"], "draft": True},
    )
    assert correction[0]["held"] == {"draft": True}

    named = await _refused(client, write_key, reported("newco"))
    followed = await _refused(client, write_key, {"type": "event.confirmed", "event_id": fact["id"]})
    twice = await _refused(client, write_key, {**registered("newco"), "draft": True}, 409)

    assert named["errors"][0]["path"] == "$.entities[0].slug"
    assert "held" in named["errors"][0]["reason"]
    assert followed["errors"][0]["path"] == "$.event_id"
    assert "held" in followed["errors"][0]["reason"]
    assert "already registered" in twice["detail"]
    assert (await client.get("/v1/streams/newco")).status_code == 404
    stream = await client.get("/v1/streams/newco", params={"preview": "true"}, headers=bearer(write_key))
    assert [event["id"] for event in stream.json()["events"]] == [
        entity["id"],
        fact["id"],
        correction[0]["id"],
    ]
    assert {event["version"] for event in stream.json()["events"]} == {None}


async def test_a_retried_held_append_replays(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    event = {**reported("acme"), "id": str(uuid.uuid4()), "publish_at": _soon(60)}
    first = await client.post("/v1/events", json=event, headers=bearer(write_key))
    again = await client.post("/v1/events", json=event, headers=bearer(write_key))
    other = await client.post(
        "/v1/events", json={**event, "headline": {"en": "Else"}}, headers=bearer(write_key)
    )

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert again.json() == first.json()
    assert [event["id"] for event in await _log(client, write_key)].count(event["id"]) == 1


async def test_the_publish_endpoint_publishes_a_draft_now_and_once(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    (draft,) = await _post(client, write_key, {**reported("acme", headline="Acme ships"), "draft": True})

    published = await client.post(f"/v1/events/{draft['id']}/publish", headers=bearer(write_key))
    again = await client.post(f"/v1/events/{draft['id']}/publish", headers=bearer(write_key))
    unknown = await client.post(f"/v1/events/{uuid.uuid4()}/publish", headers=bearer(write_key))
    anonymous = await client.post(f"/v1/events/{draft['id']}/publish")

    assert (published.status_code, again.status_code, unknown.status_code) == (201, 200, 404), published.text
    assert anonymous.status_code == 401
    assert published.json()["version"] == 2
    assert "held" not in published.json()
    assert again.json() == published.json()
    logged = (await client.get(published.headers["location"])).json()
    assert logged["id"] == draft["id"]
    assert logged["position"] > draft["position"]
    assert logged["metadata"]["author"] == "tester"
    assert logged["metadata"]["published_by"] == "tester"
    assert logged["metadata"]["held"] == {
        "recorded_at": logged["metadata"]["held"]["recorded_at"],
        "draft": True,
    }
    assert [event["id"] for event in await _log(client, write_key)].count(draft["id"]) == 1
    await caught_up(client)
    timeline = (await client.get("/v1/timeline")).json()
    assert [item["headline"] for item in timeline["items"]] == ["Acme ships"]


async def _refusals(client: Client, admin: str) -> float:
    """Publications the rules refused, as /metrics counts them."""
    scraped = (await client.get("/metrics", headers=bearer(admin))).text
    found = re.search(r'^dateline_publications_total\{outcome="refused"\} (\S+)$', scraped, re.MULTILINE)
    return 0.0 if found is None else float(found.group(1))


async def test_a_withdrawn_draft_is_never_published(
    client: Client, database_url: str, write_key: str
) -> None:
    admin = await make_key(database_url, "prometheus", "admin")
    refusals = await _refusals(client, admin)
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    newco, draft = await _post(
        client, write_key, {**registered("newco"), "draft": True}, {**reported("acme"), "draft": True}
    )
    embargoed = await _post(client, write_key, {**reported("newco", "acme"), "publish_at": _soon(1)})
    withdrawals = [
        {
            "type": "event.retracted",
            "event_id": held["id"],
            "reason": {"en": "Not running it."},
            "draft": True,
        }
        for held in (draft, newco)
    ]
    (withdrawal, _) = await _post(client, write_key, *withdrawals)

    refused = await client.post(f"/v1/events/{draft['id']}/publish", headers=bearer(write_key))
    itself = await client.post(f"/v1/events/{withdrawal['id']}/publish", headers=bearer(write_key))
    assert (refused.status_code, itself.status_code) == (409, 409)
    assert "withdrawn" in refused.json()["detail"]
    await asyncio.sleep(2)  # past the embargo of the fact naming the withdrawn entity: it stays held
    assert (await client.get(f"/v1/events/{embargoed[0]['id']}")).status_code == 404
    assert await _refusals(client, admin) == refusals + 1  # counted once, not at every look
    public = [event["id"] for event in await _log(client)]
    assert not {draft["id"], newco["id"], withdrawal["id"], embargoed[0]["id"]} & set(public)
    previewed = [event["id"] for event in await _log(client, write_key)]
    assert draft["id"] not in previewed
    assert newco["id"] not in previewed
    assert embargoed[0]["id"] in previewed


async def test_preview_needs_a_key_that_may_and_a_preview_key_cannot_write(
    client: Client, database_url: str, write_key: str
) -> None:
    preview_key = await make_key(database_url, "editor", "preview")
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    (draft,) = await _post(client, write_key, {**reported("acme"), "draft": True})

    anonymous = await client.get("/v1/events", params={"preview": "true"})
    unknown = await client.get("/v1/events", params={"preview": "true"}, headers=bearer("dl_nope"))
    writes = await client.post("/v1/events", json=reported("acme"), headers=bearer(preview_key))
    publishes = await client.post(f"/v1/events/{draft['id']}/publish", headers=bearer(preview_key))
    created = await client.post(
        "/v1/keys",
        json={"name": "desk", "scope": "preview"},
        headers=bearer(await make_key(database_url, "root", "admin")),
    )

    assert (anonymous.status_code, unknown.status_code) == (401, 401)
    assert "preview=true" in anonymous.json()["detail"]
    assert (writes.status_code, publishes.status_code) == (403, 403)
    assert created.status_code == 201
    assert created.json()["scope"] == "preview"
    for key in (preview_key, write_key, created.json()["key"]):
        assert draft["id"] in [event["id"] for event in await _log(client, key)]
    assert draft["id"] not in [event["id"] for event in await _log(client)]
    event = await client.get(
        f"/v1/events/{draft['id']}", params={"preview": "true"}, headers=bearer(preview_key)
    )
    assert event.status_code == 200
    assert event.json()["held"] == {"draft": True}


async def test_at_publish_at_it_appears_by_itself_once_in_every_process(database_url: str) -> None:
    """Two API processes on one database through uvicorn, each with its publisher: the embargoed
    fact is published within a second of its publish_at, once, and every public read learns of
    it then: a live stream says "added", the feed gains the entry, "as known at" tells before
    from after, and a follower of the log without a key meets it exactly once."""
    key = await make_key(database_url)
    with serving(database_url) as first, serving(database_url) as second:
        a = httpx.AsyncClient(base_url=first, timeout=10)
        b = httpx.AsyncClient(base_url=second, timeout=10)
        acme = (await a.post("/v1/events", json=registered("acme"), headers=bearer(key))).json()
        await b.get("/v1/entities/acme", params={"min_position": acme["position"]})
        follower = (await b.get("/v1/events")).json()["next"]
        async with b.stream("GET", "/v1/live", params={"entity": "acme"}) as response:
            stream = Events(response)
            publish_at = datetime.now(UTC) + timedelta(seconds=1.5)
            fact = reported("acme", headline="Acme unveils its rocket", publish_at=publish_at.isoformat())
            held = (await a.post("/v1/events", json=fact, headers=bearer(key))).json()
            before = datetime.now(UTC)
            await asyncio.sleep(0.3)  # the other process hears of it

            assert (await b.get("/v1/events", params={"after": follower})).json()["events"] == []
            left = (publish_at - datetime.now(UTC)).total_seconds()
            bounded = (await b.get("/v1/timeline")).headers["cache-control"]
            fresh, stale = (int(part.split("=")[1]) for part in bounded.split(", ")[1:])
            assert fresh + stale <= left < 5
            kind, change = await stream.next(4)
            arrived = datetime.now(UTC)

        assert (kind, change["kind"], change["entry"]["id"]) == ("change", "added", held["id"])
        assert publish_at <= arrived < publish_at + timedelta(seconds=1.5)
        for client in (a, b):
            logged = [
                event["id"]
                for event in (await client.get("/v1/events", params={"limit": 1000})).json()["events"]
            ]
            assert logged.count(held["id"]) == 1
        followed = (await b.get("/v1/events", params={"after": follower})).json()["events"]
        assert [event["id"] for event in followed] == [held["id"]]
        published = followed[0]
        assert published["metadata"]["published_by"] == "publisher"
        assert published["metadata"]["author"] == "tester"
        assert datetime.fromisoformat(published["recorded_at"]) >= publish_at
        feed = (
            await b.get("/v1/entities/acme/feed.atom", params={"min_position": published["position"]})
        ).text
        assert "Acme unveils its rocket" in feed
        then = await b.get("/v1/entities/acme/timeline", params={"as_of": before.isoformat()})
        now = await b.get("/v1/entities/acme/timeline", params={"as_of": published["recorded_at"]})
        assert [item["id"] for item in then.json()["items"]] == []
        assert [item["id"] for item in now.json()["items"]] == [held["id"]]
        assert (await b.get("/v1/timeline")).headers["cache-control"] == CACHE_CONTROL
        await a.aclose()
        await b.aclose()


_PUBLIC_READS = [
    "/v1/timeline",
    "/v1/timeline?lang=fr&include=retracted",
    "/v1/timeline?q=Microsoft&order=relevance",
    "/v1/timeline?format=timelinejs",
    "/v1/entities/microsoft/timeline",
    "/v1/entities/microsoft",
    "/v1/entities/microsoft/history",
    "/v1/entities",
    "/v1/entities?q=Micr",
    "/v1/entities?kind=organization",
    "/v1/entities/newco",
    "/v1/entities/newco/timeline",
    "/v1/feed.atom",
    "/v1/entities/microsoft/feed.atom",
    "/embed/microsoft",
    "/embed/microsoft?lang=fr",
    "/v1/events?limit=1000",
    "/v1/streams/microsoft",
    "/v1/streams/newco",
    "/v1/projections",
]


async def _public(
    client: httpx.AsyncClient, as_of: str, fact: str
) -> list[tuple[str, int, bytes, str | None]]:
    """Every public read, as bodies and validators (the live stream's first frame included)."""
    reads = [
        *_PUBLIC_READS,
        f"/v1/timeline?as_of={as_of}",
        f"/v1/entities/microsoft/timeline?as_of={as_of}",
        f"/v1/entities/microsoft?as_of={as_of}",
        f"/v1/timeline/pinned?as_of={as_of}",
        f"/v1/entities/microsoft/timeline/pinned?as_of={as_of}",
        f"/v1/events/{fact}/history",
        f"/oembed?url={client.base_url}/embed/microsoft",
    ]
    answers = []
    for path in reads:
        response = await client.get(path)
        answers.append((path, response.status_code, response.content, response.headers.get("etag")))
    async with client.stream("GET", "/v1/live", params={"entity": "microsoft"}) as live:
        first = await anext(live.aiter_bytes())
    answers.append(("/v1/live", live.status_code, first, None))
    return answers


async def test_held_events_change_nothing_public(demo_database_url: str) -> None:
    """Before and after a held entity registration, a held fact naming it, and held follow-ups
    of a public fact: every public read answers byte for byte the same, with the same ETag."""
    key = await make_key(demo_database_url)
    with serving(demo_database_url) as base:
        client = httpx.AsyncClient(base_url=base, timeout=10)
        demo_folded(base)
        logged = (await client.get("/v1/events", params={"limit": 1000})).json()["events"]
        fact = next(event["id"] for event in logged if event["type"] == "model.reported")
        await client.get("/v1/timeline", params={"min_position": logged[-1]["position"]})
        as_of = datetime.now(UTC).isoformat()
        before = await _public(client, as_of, fact)
        later = _soon(60)

        held = await client.post(
            "/v1/events/batch",
            json={
                "events": [
                    {**registered("newco"), "publish_at": later},
                    {
                        **reported("newco", "microsoft", headline="Microsoft buys Newco"),
                        "publish_at": later,
                    },
                    {"type": "event.confirmed", "event_id": fact, "publish_at": later},
                    {
                        "type": "event.corrected",
                        "event_id": fact,
                        "changes": {"headline": {"en": "Changed"}},
                        "note": {"en": "Fixed."},
                        "publish_at": later,
                    },
                ]
            },
            headers=bearer(key),
        )
        draft = await client.post(
            "/v1/events",
            json={"type": "event.retracted", "event_id": fact, "reason": {"en": "No."}, "draft": True},
            headers=bearer(key),
        )
        assert (held.status_code, draft.status_code) == (201, 201), held.text
        await asyncio.sleep(0.3)  # what would move, had anything been appended to the log
        after = await _public(client, as_of, fact)
        await client.aclose()

    for was, now in zip(before, after, strict=True):
        assert was == now, was[0]


async def test_the_demo_holds_a_fact_that_appears_by_itself(database_url: str) -> None:
    assert await load_demo(database_url, embargo=timedelta(seconds=1))
    assert not await load_demo(database_url, embargo=timedelta(seconds=1))  # held: replayed
    embargoed = str(demo_id("fact/mai-1-embargoed"))
    async with client_for(database_url) as client:
        assert await _until_published(client, embargoed) < 2
    assert not await load_demo(database_url, embargo=timedelta(seconds=1))  # published: replayed
