"""Drafts and embargoes through HTTP: held events change nothing public until they are published,
then appear by themselves, once, at their own place in the log."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Client, caught_up, make_key
from tests.factories import bearer, registered, reported


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


async def test_a_withdrawn_draft_is_never_published(client: Client, write_key: str) -> None:
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
