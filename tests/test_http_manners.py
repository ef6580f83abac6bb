"""HTTP as a new user meets it: HEAD, errors that name what was written, cursors that cannot be
forged into a 500, validators that survive unrelated appends, and bodies that match the contract."""

from __future__ import annotations

import base64
from typing import Any

import asyncpg
import pytest

from service.demo.story import demo_id
from tests.conftest import Client, caught_up, make_key
from tests.factories import bearer, registered, reported

MAI_1_REPORT = str(demo_id("fact/mai-1-reported"))


@pytest.mark.parametrize(
    "url",
    [
        "/v1/timeline",
        "/v1/entities/mai-1/timeline?lang=fr",
        "/v1/entities/mai-1",
        "/v1/entities?q=micro",
        f"/v1/events/{MAI_1_REPORT}",
        "/v1/events?limit=5",
        "/v1/streams/mai-1",
        "/v1/projections",
        "/healthz",
        "/readyz",
        "/schema/openapi.yaml",
        "/docs",
    ],
)
async def test_head_answers_wherever_get_does_with_the_same_headers_and_no_body(
    demo_client: Client, url: str
) -> None:
    await caught_up(demo_client)
    got = await demo_client.get(url)
    head = await demo_client.head(url)
    assert got.status_code == head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "etag", "cache-control"):
        assert head.headers.get(name) == got.headers.get(name), name


async def test_head_of_a_post_only_route_is_still_405(client: Client) -> None:
    response = await client.head("/v1/events/batch")
    assert response.status_code == 405


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"from": "2024-13"}, "from"),
        ({"to": "someday"}, "to"),
        ({"lang": "!!"}, "lang"),
        ({"order": "sideways"}, "order"),
        ({"min_position": 0}, "min_position"),
        ({"as_of": "yesterday"}, "as_of"),
    ],
)
async def test_a_bad_query_parameter_is_named_as_it_was_written(
    demo_client: Client, params: dict[str, Any], name: str
) -> None:
    response = await demo_client.get("/v1/timeline", params=params)
    assert response.status_code == 400
    problem = response.json()
    assert [error["path"] for error in problem["errors"]] == [name]
    assert "ParamType" not in response.text
    assert problem["detail"].startswith(f"{name}: ")


def _forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/v1/entities?q=a", "cursor"),
        ("/v1/entities", "cursor"),
        ("/v1/timeline", "cursor"),
        ("/v1/timeline?q=model&order=relevance", "cursor"),
        ("/v1/entities/mai-1/timeline", "cursor"),
        ("/v1/events", "after"),
    ],
)
@pytest.mark.parametrize(
    "cursor",
    [
        _forged("o:-5"),
        _forged("s:microsoft"),
        _forged('["rank",-5]'),
        _forged('["rank",99999999999]'),
        _forged('["time","2024-05-01T00:00:00",10,5]'),
        _forged('["time","2024-05-01T00:00:00Z",99,5]'),
        _forged('["log",-1,0]'),
        _forged('["log",1,9223372036854775808]'),
        _forged('["slug",""]'),
        _forged('{"k":"rank","offset":3}'),
        "not base64!",
        "A" * 500,
    ],
)
async def test_a_tampered_or_foreign_cursor_is_a_400_naming_the_parameter(
    demo_client: Client, url: str, name: str, cursor: str
) -> None:
    response = await demo_client.get(url, params={("after" if name == "after" else "cursor"): cursor})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["path"] for error in response.json()["errors"]] == [name]


async def test_each_list_refuses_the_cursors_of_the_others(demo_client: Client) -> None:
    await caught_up(demo_client)
    log = (await demo_client.get("/v1/events", params={"limit": 2})).json()["next"]
    timeline = (await demo_client.get("/v1/timeline", params={"limit": 2})).json()["next"]
    entities = (await demo_client.get("/v1/entities", params={"limit": 2})).json()["next"]
    ranked = (await demo_client.get("/v1/entities", params={"limit": 1, "q": "microsoft ai"})).json()["next"]
    assert None not in (log, timeline, entities, ranked)
    for url, param, foreign in [
        ("/v1/events", "after", timeline),
        ("/v1/timeline", "cursor", log),
        ("/v1/timeline", "cursor", entities),
        ("/v1/timeline", "cursor", ranked),
        ("/v1/entities", "cursor", timeline),
        ("/v1/entities", "cursor", ranked),
    ]:
        response = await demo_client.get(url, params={param: foreign})
        assert response.status_code == 400, (url, foreign)
        assert "not a cursor of this list" in response.json()["errors"][0]["reason"]
    # and each takes its own
    for url, param, own in [
        ("/v1/events", "after", log),
        ("/v1/timeline", "cursor", timeline),
        ("/v1/entities", "cursor", entities),
    ]:
        assert (await demo_client.get(url, params={param: own})).status_code == 200


async def test_a_304_stays_a_304_when_an_unrelated_append_lands(demo_client: Client, demo_key: str) -> None:
    await caught_up(demo_client)
    first = await demo_client.get("/v1/entities/mai-1/timeline")
    etag = first.headers["etag"]
    assert not etag.startswith("W/")

    other = (
        await demo_client.post(
            "/v1/events", json=reported("google", headline="Unrelated"), headers=bearer(demo_key)
        )
    ).json()
    later = await demo_client.get(
        "/v1/entities/mai-1/timeline",
        params={"min_position": other["position"]},
    )
    assert later.status_code == 200
    still = await demo_client.get("/v1/entities/mai-1/timeline", headers={"If-None-Match": etag})
    assert still.status_code == 304
    assert still.headers["etag"] == etag

    # a change to this timeline is a new body, and a new validator
    confirm = {"type": "event.confirmed", "event_id": MAI_1_REPORT}
    confirmed = (await demo_client.post("/v1/events", json=confirm, headers=bearer(demo_key))).json()
    changed = await demo_client.get(
        "/v1/entities/mai-1/timeline",
        params={"min_position": confirmed["position"]},
        headers={"If-None-Match": etag},
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


async def test_the_read_cache_says_whether_it_answered(demo_client: Client) -> None:
    await caught_up(demo_client)
    first = await demo_client.get("/v1/entities/microsoft/timeline?limit=3")
    again = await demo_client.get("/v1/entities/microsoft/timeline?limit=3")
    assert first.headers["cache-status"] == "dateline; fwd=miss"
    assert again.headers["cache-status"] == "dateline; hit"
    assert first.content == again.content


async def test_readiness_failure_is_the_problem_its_contract_documents(database_url: str) -> None:
    from tests.conftest import client_for

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("update alembic_version set version_num = 'an-old-one'")
        async with client_for(database_url) as client:
            response = await client.get("/readyz")
    finally:
        await conn.close()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]
    problem = response.json()
    assert problem["type"] == "urn:dateline:problem:not-ready"
    assert problem["migration"] == "an-old-one"


@pytest.mark.parametrize("path", ["/schema/nope", "/schema/swagger", "/schema/nope.json", "/nowhere"])
async def test_an_unknown_document_is_a_problem_not_a_page(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["instance"] == path


async def test_a_failing_projection_shows_its_error_to_admins_only(database_url: str, client: Client) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "update projection_checkpoints set error = $1, failing_event = gen_random_uuid()",
            "ValueError: secret payload from the broken event",
        )
    finally:
        await conn.close()
    admin = await make_key(database_url, "admin-tester", "admin")
    writer = await make_key(database_url, "writer-tester", "write")

    public = await client.get("/v1/projections")
    assert public.headers["vary"] == "Authorization"
    [status] = public.json()  # the preview's checkpoint only to keys that may preview
    assert status["state"] == "failing"
    assert "secret payload" not in public.text
    assert "admin key" in status["error"]
    as_writer, preview = (await client.get("/v1/projections", headers=bearer(writer))).json()
    assert preview["state"] == "failing"
    assert "secret payload" not in as_writer["error"]
    as_admin, _ = (await client.get("/v1/projections", headers=bearer(admin))).json()
    assert as_admin["error"] == "ValueError: secret payload from the broken event"


async def test_reads_of_an_entity_that_was_never_there_say_so(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    response = await client.get("/v1/entities/nobody/timeline")
    assert response.status_code == 404
    assert response.json()["type"] == "urn:dateline:problem:not-found"
