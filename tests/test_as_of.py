"""Reads "as known at" an instant: later events are absent, later corrections not applied."""

from __future__ import annotations

import asyncio
from datetime import datetime

from tests.conftest import Client
from tests.factories import bearer, registered, reported


def _between(first: str, second: str) -> str:
    earlier, later = datetime.fromisoformat(first), datetime.fromisoformat(second)
    return (earlier + (later - earlier) / 2).isoformat()


async def test_as_of_between_two_appends(client: Client, write_key: str) -> None:
    await client.post(
        "/v1/events", json=registered("microsoft", kind="organization"), headers=bearer(write_key)
    )
    first = (
        await client.post(
            "/v1/events", json=reported("microsoft", headline="First"), headers=bearer(write_key)
        )
    ).json()
    await asyncio.sleep(0.02)
    second = (
        await client.post(
            "/v1/events", json=reported("microsoft", headline="Second"), headers=bearer(write_key)
        )
    ).json()
    correction = {
        "type": "event.corrected",
        "event_id": first["id"],
        "changes": {"headline": {"en": "First, corrected"}},
        "note": {"en": "Headline fixed."},
    }
    corrected = (await client.post("/v1/events", json=correction, headers=bearer(write_key))).json()
    instant = _between(first["recorded_at"], second["recorded_at"])
    latest = {"min_position": corrected["position"]}

    then = (await client.get("/v1/entities/microsoft/timeline", params={**latest, "as_of": instant})).json()
    now = (await client.get("/v1/entities/microsoft/timeline", params=latest)).json()
    everything_then = (await client.get("/v1/timeline", params={**latest, "as_of": instant})).json()

    assert [(item["headline"], item["corrections"]) for item in then["items"]] == [("First", [])]
    assert [item["headline"] for item in everything_then["items"]] == ["First"]
    assert [item["headline"] for item in now["items"]] == ["First, corrected", "Second"]
    assert now["items"][0]["corrections"][0]["note"] == "Headline fixed."

    after_correction = (
        await client.get(
            "/v1/entities/microsoft/timeline", params={**latest, "as_of": corrected["recorded_at"]}
        )
    ).json()
    assert after_correction["items"][0]["headline"] == "First, corrected"


async def test_entity_as_of_before_it_existed_is_404(client: Client, write_key: str) -> None:
    registration = (
        await client.post("/v1/events", json=registered("openai"), headers=bearer(write_key))
    ).json()
    before = "2000-01-01T00:00:00Z"
    params = {"min_position": registration["position"]}
    assert (await client.get("/v1/entities/openai", params={**params, "as_of": before})).status_code == 404
    known = await client.get("/v1/entities/openai", params={**params, "as_of": registration["recorded_at"]})
    assert known.status_code == 200
    assert known.json()["name"] == "Openai"


async def test_as_of_needs_a_time_zone(client: Client) -> None:
    response = await client.get("/v1/timeline", params={"as_of": "2024-05-07T10:00:00"})
    assert response.status_code == 400
    assert "time zone" in response.text
