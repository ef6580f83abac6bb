"""Appending events over HTTP: results, streams, idempotency, optimistic concurrency, batches."""

from __future__ import annotations

import uuid

from tests.conftest import Client
from tests.factories import bearer, registered, reported


async def test_append_returns_where_the_event_landed(client: Client, write_key: str) -> None:
    response = await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["stream"] == "microsoft"
    assert body["version"] == 1
    assert body["position"] >= 1
    assert body["recorded_at"].endswith("Z")
    assert response.headers["location"] == f"/v1/events/{body['id']}"

    logged = (await client.get(response.headers["location"])).json()
    assert logged["type"] == "entity.registered"
    assert logged["data"] == {
        "type": "entity.registered",
        "slug": "microsoft",
        "kind": "organization",
        "name": "Microsoft",
    }
    assert logged["metadata"]["author"] == "tester"
    assert logged["metadata"]["request_id"]


async def test_fact_goes_to_the_end_of_its_first_entitys_stream(client: Client, write_key: str) -> None:
    for slug in ("microsoft", "openai"):
        await client.post("/v1/events", json=registered(slug), headers=bearer(write_key))

    first = await client.post("/v1/events", json=reported("microsoft", "openai"), headers=bearer(write_key))
    second = await client.post(
        "/v1/events", json=reported("microsoft", "openai", stream="openai"), headers=bearer(write_key)
    )

    assert (first.json()["stream"], first.json()["version"]) == ("microsoft", 2)
    assert (second.json()["stream"], second.json()["version"]) == ("openai", 2)
    stream = (await client.get("/v1/streams/microsoft")).json()
    assert stream["version"] == 2
    assert [event["version"] for event in stream["events"]] == [1, 2]
    assert stream["events"][1]["occurred"] == "2024-05"


async def test_stream_reads_page_by_version(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    await client.post(
        "/v1/events/batch", json={"events": [reported("microsoft")] * 4}, headers=bearer(write_key)
    )

    page = (await client.get("/v1/streams/microsoft", params={"from_version": 2, "limit": 2})).json()
    assert [event["version"] for event in page["events"]] == [2, 3]
    assert page["next_from_version"] == 4
    last = (await client.get("/v1/streams/microsoft", params={"from_version": 4})).json()
    assert [event["version"] for event in last["events"]] == [4, 5]
    assert last["next_from_version"] is None
    assert (await client.get("/v1/streams/nobody")).status_code == 404


async def test_expected_version_conflict_is_409_with_current_version(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    ok = await client.post(
        "/v1/events", json=reported("microsoft", expected_version=1), headers=bearer(write_key)
    )
    stale = await client.post(
        "/v1/events", json=reported("microsoft", expected_version=1), headers=bearer(write_key)
    )

    assert ok.status_code == 201
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "application/problem+json"
    problem = stale.json()
    assert problem["status"] == 409
    assert problem["stream"] == "microsoft"
    assert problem["current_version"] == 2


async def test_expected_none_means_the_stream_must_not_exist(client: Client, write_key: str) -> None:
    first = await client.post(
        "/v1/events", json=registered("microsoft", expected_version="none"), headers=bearer(write_key)
    )
    again = await client.post(
        "/v1/events", json=registered("microsoft", expected_version="none"), headers=bearer(write_key)
    )
    assert first.status_code == 201
    assert again.status_code == 409
    assert again.json()["current_version"] == 1


async def test_registering_an_existing_entity_is_a_conflict(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    again = await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    assert again.status_code == 409
    assert "already registered" in again.json()["detail"]


async def test_same_id_same_content_is_answered_once(client: Client, write_key: str) -> None:
    event = registered("microsoft", id=str(uuid.uuid4()))
    first = await client.post("/v1/events", json=event, headers=bearer(write_key))
    retry = await client.post("/v1/events", json=event, headers=bearer(write_key))

    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert (await client.get("/v1/streams/microsoft")).json()["version"] == 1


async def test_same_id_with_other_content_is_409(client: Client, write_key: str) -> None:
    event_id = str(uuid.uuid4())
    await client.post("/v1/events", json=registered("microsoft", id=event_id), headers=bearer(write_key))
    other = await client.post(
        "/v1/events", json=registered("microsoft", id=event_id, name="MSFT"), headers=bearer(write_key)
    )
    assert other.status_code == 409
    assert event_id in other.json()["detail"]


async def test_retried_batch_replays_and_appends_nothing(client: Client, write_key: str) -> None:
    batch = {
        "events": [registered("microsoft", id=str(uuid.uuid4())), reported("microsoft", id=str(uuid.uuid4()))]
    }
    first = await client.post("/v1/events/batch", json=batch, headers=bearer(write_key))
    retry = await client.post("/v1/events/batch", json=batch, headers=bearer(write_key))

    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json() == first.json()
    log = (await client.get("/v1/events")).json()["events"]
    assert len(log) == 2


async def test_batch_lands_in_order_with_consecutive_versions(client: Client, write_key: str) -> None:
    batch = {
        "events": [
            registered("microsoft"),
            registered("openai"),
            reported("microsoft", "openai"),
            reported("openai", "microsoft"),
            reported("microsoft"),
        ]
    }
    response = await client.post("/v1/events/batch", json=batch, headers=bearer(write_key))

    assert response.status_code == 201, response.text
    landed = response.json()["events"]
    assert [(e["stream"], e["version"]) for e in landed] == [
        ("microsoft", 1),
        ("openai", 1),
        ("microsoft", 2),
        ("openai", 2),
        ("microsoft", 3),
    ]
    positions = [e["position"] for e in landed]
    assert positions == sorted(positions)
    assert [e["id"] for e in (await client.get("/v1/events")).json()["events"]] == [e["id"] for e in landed]


async def test_batch_is_all_or_nothing(client: Client, write_key: str) -> None:
    batch = {"events": [registered("microsoft"), reported("microsoft"), reported("nobody")]}
    response = await client.post("/v1/events/batch", json=batch, headers=bearer(write_key))

    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$.events[2].entities[0].slug"
    assert (await client.get("/v1/events")).json()["events"] == []


async def test_batch_expected_versions_are_checked_together(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    consistent = {
        "events": [reported("microsoft", expected_version=1), reported("microsoft", expected_version=2)]
    }
    contradictory = {
        "events": [reported("microsoft", expected_version=3), reported("microsoft", expected_version=3)]
    }

    assert (
        await client.post("/v1/events/batch", json=consistent, headers=bearer(write_key))
    ).status_code == 201
    bad = await client.post("/v1/events/batch", json=contradictory, headers=bearer(write_key))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["path"] == "$.events[1].expected_version"


async def test_a_conflicting_batch_writes_nothing(client: Client, write_key: str) -> None:
    await client.post(
        "/v1/events/batch", json={"events": [registered("a"), registered("b")]}, headers=bearer(write_key)
    )
    batch = {"events": [reported("a"), reported("b", expected_version=7)]}
    response = await client.post("/v1/events/batch", json=batch, headers=bearer(write_key))
    assert response.status_code == 409
    assert (await client.get("/v1/streams/a")).json()["version"] == 1


async def test_entity_events_follow_the_rules(client: Client, write_key: str) -> None:
    await client.post(
        "/v1/events/batch",
        json={"events": [registered("deepmind"), registered("google-deepmind")]},
        headers=bearer(write_key),
    )
    merged = await client.post(
        "/v1/events",
        json={"type": "entity.merged", "slug": "deepmind", "into": "google-deepmind"},
        headers=bearer(write_key),
    )
    again = await client.post(
        "/v1/events",
        json={"type": "entity.merged", "slug": "deepmind", "into": "google-deepmind"},
        headers=bearer(write_key),
    )
    updated = await client.post(
        "/v1/events",
        json={"type": "entity.updated", "slug": "google-deepmind", "aliases": ["GDM"]},
        headers=bearer(write_key),
    )
    empty_update = await client.post(
        "/v1/events", json={"type": "entity.updated", "slug": "google-deepmind"}, headers=bearer(write_key)
    )

    assert merged.status_code == 201
    assert again.status_code == 422
    assert "already merged" in again.json()["errors"][0]["reason"]
    assert updated.status_code == 201
    assert empty_update.status_code == 422


async def test_trace_ids_and_request_id_are_kept_in_metadata(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    response = await client.post(
        "/v1/events",
        json=reported("microsoft", correlation_id="story-42", causation_id="cms-edit-7"),
        headers={**bearer(write_key), "X-Request-Id": "req-123"},
    )
    logged = (await client.get(response.headers["location"])).json()
    assert logged["metadata"] == {
        "author": "tester",
        "request_id": "req-123",
        "correlation_id": "story-42",
        "causation_id": "cms-edit-7",
    }
    assert "correlation_id" not in logged["data"]
