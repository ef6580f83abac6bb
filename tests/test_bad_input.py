"""Whatever a client sends, the answer is a problem+json with the right status, never a 500."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Client
from tests.factories import bearer, registered, reported


async def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:dateline:problem:")
    assert body["title"]
    return body


async def test_malformed_json_is_400(client: Client, write_key: str) -> None:
    response = await client.post(
        "/v1/events",
        content=b'{"type": "entity.registered",',
        headers={**bearer(write_key), "content-type": "application/json"},
    )
    body = await _problem(response, 400)
    assert "not valid JSON" in body["detail"]


async def test_empty_body_is_400(client: Client, write_key: str) -> None:
    response = await client.post("/v1/events", content=b"", headers=bearer(write_key))
    await _problem(response, 400)


@pytest.mark.parametrize(
    ("body", "path", "reason"),
    [
        ({"type": "nope"}, "$.type", "Invalid value 'nope'"),
        ({**reported("microsoft"), "occurred": "2024-13"}, "$.occurred", "month must be 01 to 12"),
        ({**reported("microsoft"), "occurred": "2023-02-29"}, "$.occurred", "has no day 29"),
        ({**reported("microsoft"), "occurred": "2024-05-06T10:00:00"}, "$.occurred", "no time zone"),
        ({**reported("microsoft"), "occurred": "last spring"}, "$.occurred", "not a partial date"),
        (
            {k: v for k, v in reported("microsoft").items() if k != "headline"},
            "$.headline",
            "missing required",
        ),
        ({**reported("microsoft"), "colour": "red"}, "$.colour", "unknown field"),
        ({**reported("microsoft"), "headline": {}}, "$.headline", "length >= 1"),
        (registered("Micro Soft"), "$.slug", "a slug"),
        ({**reported("microsoft"), "expected_version": -1}, "$.expected_version", ">= 0"),
        ({**reported("microsoft"), "expected_version": "1"}, "$.expected_version", "Invalid enum value"),
        ({**reported("microsoft"), "status": "rumoured"}, "$.status", "Invalid enum value"),
        ({**reported("microsoft"), "sources": [{"url": "ftp://x"}]}, "$.sources[0].url", "http or https URL"),
        (
            {**reported("microsoft"), "sources": [{"url": "https://x.org", "published": "2024-00"}]},
            "$.sources[0].published",
            "month must be 01 to 12",
        ),
        ({**reported("microsoft"), "tags": ["ok"] * 51}, "$.tags", "length <= 50"),
        ({**reported("microsoft"), "id": "not-a-uuid"}, "$.id", "Invalid UUID"),
        ([1, 2], "$", "Expected `object`, got `array`"),
    ],
)
async def test_invalid_field_is_422_with_its_path(
    client: Client, write_key: str, body: Any, path: str, reason: str
) -> None:
    response = await client.post("/v1/events", json=body, headers=bearer(write_key))
    problem = await _problem(response, 422)
    assert problem["errors"][0]["path"] == path
    assert reason in problem["errors"][0]["reason"]


async def test_unknown_entity_is_422_at_its_reference(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    response = await client.post(
        "/v1/events", json=reported("microsoft", "nobody"), headers=bearer(write_key)
    )
    problem = await _problem(response, 422)
    assert problem["errors"] == [
        {
            "path": "$.entities[1].slug",
            "reason": "no entity 'nobody' is registered; register it with entity.registered first",
        }
    ]


async def test_roles_must_fit_entity_kinds(client: Client, write_key: str) -> None:
    await client.post(
        "/v1/events/batch",
        json={"events": [registered("microsoft"), registered("mai-1", "model")]},
        headers=bearer(write_key),
    )
    appointment = {
        "type": "person.appointed",
        "occurred": "2024-03",
        "headline": {"en": "x"},
        "title": "CEO",
        "entities": [{"slug": "mai-1", "role": "appointee"}, {"slug": "microsoft", "role": "employer"}],
    }
    problem = await _problem(
        await client.post("/v1/events", json=appointment, headers=bearer(write_key)), 422
    )
    assert problem["errors"][0]["path"] == "$.entities[0].role"
    assert "needs a person" in problem["errors"][0]["reason"]

    missing_role = {**appointment, "entities": [{"slug": "microsoft", "role": "employer"}]}
    problem = await _problem(
        await client.post("/v1/events", json=missing_role, headers=bearer(write_key)), 422
    )
    assert "role 'appointee'" in problem["errors"][0]["reason"]


async def test_oversize_batch_is_422(client: Client, write_key: str) -> None:
    response = await client.post(
        "/v1/events/batch", json={"events": [registered("x")] * 1001}, headers=bearer(write_key)
    )
    problem = await _problem(response, 422)
    assert problem["errors"][0]["path"] == "$.events"
    assert "length <= 1000" in problem["errors"][0]["reason"]


async def test_body_over_one_mebibyte_is_413(client: Client, write_key: str) -> None:
    huge = {**reported("microsoft"), "summary": {"en": "x" * (1024 * 1024)}}
    await _problem(await client.post("/v1/events", json=huge, headers=bearer(write_key)), 413)


async def test_follow_ups_must_name_a_fact_in_the_log(client: Client, write_key: str) -> None:
    registration = await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    unknown = {"type": "event.confirmed", "event_id": str(uuid.uuid4())}
    not_a_fact = {"type": "event.confirmed", "event_id": registration.json()["id"]}

    problem = await _problem(await client.post("/v1/events", json=unknown, headers=bearer(write_key)), 422)
    assert problem["errors"][0]["path"] == "$.event_id"
    problem = await _problem(await client.post("/v1/events", json=not_a_fact, headers=bearer(write_key)), 422)
    assert "not a fact" in problem["errors"][0]["reason"]


async def test_corrections_change_only_fields_the_fact_has(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    fact = await client.post("/v1/events", json=reported("microsoft"), headers=bearer(write_key))
    fact_id = fact.json()["id"]
    wrong_field = {
        "type": "event.corrected",
        "event_id": fact_id,
        "changes": {"parameters": 5},
        "note": {"en": "x"},
    }
    nothing = {"type": "event.corrected", "event_id": fact_id, "changes": {}, "note": {"en": "x"}}
    right = {
        "type": "event.corrected",
        "event_id": fact_id,
        "changes": {"occurred": "2024-05-07"},
        "note": {"en": "The date was wrong."},
    }

    problem = await _problem(
        await client.post("/v1/events", json=wrong_field, headers=bearer(write_key)), 422
    )
    assert problem["errors"][0]["path"] == "$.changes.parameters"
    await _problem(await client.post("/v1/events", json=nothing, headers=bearer(write_key)), 422)
    corrected = await client.post("/v1/events", json=right, headers=bearer(write_key))
    assert corrected.status_code == 201
    assert corrected.json()["stream"] == "microsoft"


async def test_a_retracted_fact_takes_no_further_follow_ups(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    fact_id = (await client.post("/v1/events", json=reported("microsoft"), headers=bearer(write_key))).json()[
        "id"
    ]
    retraction = {"type": "event.retracted", "event_id": fact_id, "reason": {"en": "Source withdrew it."}}
    confirmation = {"type": "event.confirmed", "event_id": fact_id}

    assert (await client.post("/v1/events", json=retraction, headers=bearer(write_key))).status_code == 201
    problem = await _problem(
        await client.post("/v1/events", json=confirmation, headers=bearer(write_key)), 422
    )
    assert "retracted" in problem["errors"][0]["reason"]


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/v1/events?limit=0", 400),
        ("/v1/events?limit=abc", 400),
        ("/v1/events?after=garbage!", 400),
        ("/v1/events/not-a-uuid", 404),
        (f"/v1/events/{uuid.uuid4()}", 404),
        ("/v1/streams/microsoft?from_version=0", 400),
        ("/v1/nothing-here", 404),
    ],
)
async def test_bad_reads_are_problems(client: Client, url: str, status: int) -> None:
    await _problem(await client.get(url), status)


async def test_wrong_method_is_405(client: Client) -> None:
    await _problem(await client.delete("/v1/events"), 405)


async def test_a_nul_character_is_422_at_its_field(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    body = reported("microsoft", headline="before\x00after")
    problem = await _problem(await client.post("/v1/events", json=body, headers=bearer(write_key)), 422)
    assert problem["errors"][0]["path"] == "$.headline.en"
    assert "U+0000" in problem["errors"][0]["reason"]
