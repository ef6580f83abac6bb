"""Whatever a client sends, the answer is a problem+json with the right status, never a 500."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from service.http.body import MAX_DEPTH
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
        (f"/v1/events/{uuid.UUID(int=0x7ED06928)}", 404),
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
    # msgspec names a map's value by its map, not its key.
    assert problem["errors"][0]["path"] == "$.headline[...]"
    assert "no control character" in problem["errors"][0]["reason"]
    body = reported("microsoft", sources=[{"url": "https://x.example/a\x00b"}])
    problem = await _problem(await client.post("/v1/events", json=body, headers=bearer(write_key)), 422)
    assert problem["errors"][0]["path"] == "$.sources[0].url"
    assert "U+0000" in problem["errors"][0]["reason"]


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/v1/entities/a%00b", "path"),
        ("/v1/streams/a%00", "path"),
        ("/static/a%00b.js", "path"),
        ("/v1/entities?q=a%00b", "q"),
        ("/v1/timeline?q=a%00b", "q"),
        ("/v1/timeline?tags=a%00b", "tags"),
        ("/oembed?url=http://x.example/%00", "url"),
        ("/embed/mai-1?theme=%01", "theme"),
        ("/v1/timeline?from=0001-01-01T00:00:00%2B01:00", "from"),
        ("/v1/timeline?to=0001-01-01T00:00:00%2B01:00", "to"),
        ("/v1/timeline?as_of=0001-01-01T00:00:00%2B01:00", "as_of"),
        ("/v1/timeline/pinned?as_of=0001-01-01T00:00:00%2B01:00", "as_of"),
        ("/v1/entities/mai-1?as_of=0001-01-01T00:00:00%2B01:00", "as_of"),
        ("/v1/entities/mai-1?as_of=9999-12-31T23:59:59.999999-01:00", "as_of"),
        ("/v1/entities/mai-1/timeline?as_of=0001-01-01T00:00:00%2B01:00", "as_of"),
        ("/v1/timeline?lang=en%0A", "lang"),
    ],
)
async def test_control_characters_and_instants_off_the_calendar_are_400_by_name(
    demo_client: Client, url: str, name: str
) -> None:
    body = await _problem(await demo_client.get(url), 400)
    assert body["detail"].startswith(f"{name}: "), body


@pytest.mark.parametrize(
    "url",
    [
        "/v1/timeline?from=9999-12-31",
        "/v1/timeline?from=9999",
        "/v1/timeline?to=9999-12-31T23:59:59.999999Z",
        "/v1/timeline?to=9999-12",
        "/v1/timeline?as_of=9999-12-31T23:59:59.999999Z",
        "/v1/timeline?from=0001-01-01T00:00:00Z",
    ],
)
async def test_the_calendars_last_and_first_days_are_ordinary_bounds(demo_client: Client, url: str) -> None:
    response = await demo_client.get(url)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("occurred", "status"),
    [
        ("9999-12-31", 201),
        ("9999", 201),
        ("9999-12-31T23:59:59.999999Z", 201),
        ("9999-12-31T23:59:59.999999-01:00", 422),
        ("0001-01-01T00:00:00+01:00", 422),
    ],
)
async def test_occurred_at_the_calendars_edges(
    client: Client, write_key: str, occurred: str, status: int
) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    response = await client.post(
        "/v1/events", json={**reported("microsoft"), "occurred": occurred}, headers=bearer(write_key)
    )
    assert response.status_code == status, response.text
    if status == 201:
        timeline = await client.get("/v1/entities/microsoft/timeline", params={"min_position": 2})
        assert timeline.json()["items"][-1]["occurred"]["value"] == occurred


@pytest.mark.parametrize("text", ["a\u000bb", "a\u0001b", "a\uffffb", "a\u0085b", "a\ufdd0b"])
async def test_control_characters_and_noncharacters_are_refused_in_texts(
    client: Client, write_key: str, text: str
) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    response = await client.post(
        "/v1/events", json={**reported("microsoft"), "headline": {"en": text}}, headers=bearer(write_key)
    )
    body = await _problem(response, 422)
    assert body["errors"][0]["path"].startswith("$.headline")


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"sources": [{"url": "https://x.example/ok\n"}]}, "$.sources[0].url"),
        ({"entities": [{"slug": "microsoft\n", "role": "developer"}]}, "$.entities[0].slug"),
    ],
)
async def test_a_final_newline_does_not_pass_a_pattern(
    client: Client, write_key: str, change: dict[str, Any], path: str
) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    response = await client.post(
        "/v1/events", json={**reported("microsoft"), **change}, headers=bearer(write_key)
    )
    body = await _problem(response, 422)
    assert body["errors"][0]["path"] == path


async def test_a_new_entity_slug_with_a_final_newline_is_refused(client: Client, write_key: str) -> None:
    response = await client.post("/v1/events", json=registered("probe-a\n"), headers=bearer(write_key))
    body = await _problem(response, 422)
    assert body["errors"][0]["path"] == "$.slug"


async def test_json_nested_past_the_depth_limit_is_422_naming_it(client: Client, write_key: str) -> None:
    def nested(depth: int) -> bytes:
        """A fact with an unknown field whose value nests ``depth`` levels in all."""
        inner = depth - 1  # the fact's own object is the first level
        return b'{"type":"fact.reported","x":' + b"[" * inner + b"]" * inner + b"}"

    thousands = b'{"a":' * 3000 + b"1" + b"}" * 3000
    for body in (thousands, nested(MAX_DEPTH + 1)):
        response = await client.post(
            "/v1/events", content=body, headers={**bearer(write_key), "content-type": "application/json"}
        )
        problem = await _problem(response, 422)
        assert problem["errors"] == [
            {"path": "$", "reason": f"Arrays and objects nest more than {MAX_DEPTH} levels deep"}
        ]
    # At the limit the body is decoded, and refused for what it holds; brackets in strings are text.
    brackets = "[{" * 5000
    for body, path in (
        (nested(MAX_DEPTH), "$.x"),
        (
            json.dumps({**reported("nobody"), "headline": {"en": brackets[:300]}}).encode(),
            "$.entities[0].slug",
        ),
    ):
        response = await client.post(
            "/v1/events", content=body, headers={**bearer(write_key), "content-type": "application/json"}
        )
        problem = await _problem(response, 422)
        assert problem["errors"][0]["path"] == path, problem
