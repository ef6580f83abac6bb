"""History you can trust: merges undone, entity histories, the pinned view, and caching what is
known at an instant only once it can no longer change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import pytest

from service.store.database import with_database
from tests.conftest import Client, _admin, _database_from, client_for, make_key
from tests.factories import bearer, registered, reported


async def _post(client: Client, key: str, *events: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.post("/v1/events/batch", json={"events": list(events)}, headers=bearer(key))
    assert response.status_code == 201, response.text
    appended: list[dict[str, Any]] = response.json()["events"]
    return appended


async def _get(client: Client, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _fact(event_id: uuid.UUID, *slugs: str, occurred: str, headline: str) -> dict[str, Any]:
    event = reported(*slugs, occurred=occurred, headline=headline)
    event["entities"] = [{"slug": slug, "role": "developer"} for slug in slugs]
    return {**event, "id": str(event_id)}


@pytest.fixture
async def unmerged_twin(server_url: str, empty_template: str) -> AsyncIterator[tuple[Client, str]]:
    """A second database, for the same facts appended without the merge."""
    name = await _database_from(server_url, empty_template)
    url = with_database(server_url, name)
    async with client_for(url) as twin:
        yield twin, await make_key(url)
    await _admin(server_url, f'drop database "{name}" with (force)')


async def test_undoing_a_merge_leaves_both_entities_as_if_it_never_happened(
    client: Client, write_key: str, unmerged_twin: tuple[Client, str]
) -> None:
    twin, twin_key = unmerged_twin
    ids = [uuid.uuid4() for _ in range(4)]
    entities = [registered("deepmind"), registered("google-deepmind"), registered("mai-1", kind="model")]
    facts = [
        _fact(ids[0], "deepmind", occurred="2014", headline="DeepMind acquired"),
        _fact(ids[1], "google-deepmind", occurred="2023-04", headline="Google DeepMind formed"),
    ]
    later_facts = [
        # Appended while deepmind was merged: each names the slug it was written with.
        _fact(ids[2], "deepmind", occurred="2016", headline="AlphaGo wins"),
        _fact(ids[3], "deepmind", "google-deepmind", occurred="2024", headline="Gemini ships"),
    ]
    await _post(client, write_key, *entities, *facts)
    await _post(client, write_key, {"type": "entity.merged", "slug": "deepmind", "into": "google-deepmind"})
    merged = await _post(client, write_key, *later_facts)
    during = await _get(client, "/v1/entities/deepmind", min_position=merged[-1]["position"])
    assert (during["slug"], during["merged_from"]) == ("google-deepmind", ["deepmind"])

    undo = {"type": "entity.unmerged", "slug": "deepmind", "into": "google-deepmind"}
    undone = (await _post(client, write_key, undo))[-1]["position"]
    twin_last = (await _post(twin, twin_key, *entities, *facts, *later_facts))[-1]["position"]

    for slug, expected in [("deepmind", {0, 2, 3}), ("google-deepmind", {1, 3})]:
        timeline = await _get(client, f"/v1/entities/{slug}/timeline", min_position=undone)
        assert {item["id"] for item in timeline["items"]} == {str(ids[n]) for n in expected}, slug
        state = await _get(client, f"/v1/entities/{slug}", min_position=undone)
        assert state == await _get(twin, f"/v1/entities/{slug}", min_position=twin_last), slug
        assert "merged_from" not in state
    # The merge stays true of the time it held.
    before_undo = await _get(client, "/v1/entities/deepmind", as_of=merged[-1]["recorded_at"])
    assert (before_undo["slug"], before_undo["merged_from"]) == ("google-deepmind", ["deepmind"])


async def test_undoing_the_later_of_two_chained_merges_keeps_the_earlier(
    client: Client, write_key: str
) -> None:
    await _post(client, write_key, *(registered(slug) for slug in ("a", "b", "c")))
    await _post(client, write_key, reported("a", headline="About a"), reported("b", headline="About b"))
    await _post(client, write_key, {"type": "entity.merged", "slug": "a", "into": "b"})
    await _post(client, write_key, {"type": "entity.merged", "slug": "b", "into": "c"})
    chained = (await _post(client, write_key, reported("c", headline="About c")))[-1]["position"]
    assert (await _get(client, "/v1/entities/a", min_position=chained))["merged_from"] == ["a", "b"]

    undone = await _post(client, write_key, {"type": "entity.unmerged", "slug": "b", "into": "c"})
    latest = {"min_position": undone[-1]["position"]}
    survivor = await _get(client, "/v1/entities/a", **latest)
    assert (survivor["slug"], survivor["merged_from"]) == ("b", ["a"])
    assert "merged_from" not in await _get(client, "/v1/entities/c", **latest)
    headlines = [
        item["headline"] for item in (await _get(client, "/v1/entities/b/timeline", **latest))["items"]
    ]
    assert sorted(headlines) == ["About a", "About b"]


async def test_a_merge_only_undoes_what_was_merged(client: Client, write_key: str) -> None:
    await _post(client, write_key, *(registered(slug) for slug in ("a", "b", "c")))
    await _post(client, write_key, {"type": "entity.merged", "slug": "a", "into": "b"})
    for undo, reason in [
        ({"slug": "c", "into": "b"}, "'c' is not merged"),
        ({"slug": "a", "into": "c"}, "merged into 'b', not into 'c'"),
        ({"slug": "nobody", "into": "b"}, "nobody"),
    ]:
        refused = await client.post(
            "/v1/events", json={"type": "entity.unmerged", **undo}, headers=bearer(write_key)
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert reason in refused.text


async def test_a_merge_and_its_undoing_show_in_both_entities_histories(
    client: Client, write_key: str
) -> None:
    await _post(client, write_key, registered("deepmind"), registered("google-deepmind"))
    merge = (
        await _post(
            client, write_key, {"type": "entity.merged", "slug": "deepmind", "into": "google-deepmind"}
        )
    )[0]
    rename = {"type": "entity.updated", "slug": "deepmind", "name": "DeepMind Ltd"}
    await _post(client, write_key, rename)
    undo = {"type": "entity.unmerged", "slug": "deepmind", "into": "google-deepmind"}
    undone = (await _post(client, write_key, undo))[0]
    latest = {"min_position": undone["position"]}

    merged = await _get(client, "/v1/entities/deepmind/history", **latest)
    assert [(v["type"], v.get("merged_into")) for v in merged["versions"]] == [
        ("entity.registered", None),
        ("entity.merged", "google-deepmind"),
        ("entity.updated", "google-deepmind"),
        ("entity.unmerged", None),
    ]
    assert merged["versions"][-1]["event_id"] == undone["id"]
    survivor = await _get(client, "/v1/entities/google-deepmind/history", **latest)
    for history in (merged, survivor):
        assert history["merges"] == [
            {
                "slug": "deepmind",
                "into": "google-deepmind",
                "merged_at": merge["recorded_at"],
                "merged_by": f"/v1/events/{merge['id']}",
                "undone_at": undone["recorded_at"],
                "undone_by": f"/v1/events/{undone['id']}",
            }
        ]
    assert (await client.get("/v1/entities/nobody/history")).status_code == 404


async def test_a_pinned_view_freezes_the_context_and_announces_what_came_since(
    client: Client, write_key: str
) -> None:
    await _post(client, write_key, registered("microsoft"), registered("openai"))
    first, second = await _post(
        client,
        write_key,
        reported("microsoft", occurred="2024-05", headline="MIA-1 reported"),
        reported("microsoft", occurred="2024-04", headline="Suleyman hired"),
    )
    published = datetime.fromisoformat(second["recorded_at"]) + timedelta(microseconds=1)
    await asyncio.sleep(0.002)
    correction = {
        "type": "event.corrected",
        "event_id": first["id"],
        "changes": {"headline": {"en": "MAI-1 reported"}},
        "note": {"en": "The model is MAI-1.", "fr": "Le modèle s'appelle MAI-1."},
    }
    denial = {"type": "event.denied", "event_id": second["id"], "note": {"en": "Microsoft denies it."}}
    corrected, _ = await _post(client, write_key, correction, denial)
    latest = (await _post(client, write_key, reported("microsoft", "openai", occurred="2024-06")))[0]

    params = {"as_of": published.isoformat(), "min_position": latest["position"]}
    pinned = await _get(client, "/v1/entities/microsoft/timeline/pinned", **params)
    assert [item["headline"] for item in pinned["items"]] == ["Suleyman hired", "MIA-1 reported"]
    assert [item["status"] for item in pinned["items"]] == ["reported", "reported"]
    later = {item["headline"]: item["later"] for item in pinned["items"]}
    assert later["MIA-1 reported"] == [
        {
            "event_id": corrected["id"],
            "type": "event.corrected",
            "kind": "correction",
            "date": corrected["recorded_at"],
            "note": "The model is MAI-1.",
            "language": "en",
            "changed": ["headline"],
        }
    ]
    assert [(change["type"], change["note"]) for change in later["Suleyman hired"]] == [
        ("event.denied", "Microsoft denies it.")
    ]
    assert pinned["since"] == {
        "added": 1,
        "changed": 2,
        "complete": True,
        "live": "/v1/entities/microsoft/timeline",
    }
    assert datetime.fromisoformat(pinned["as_of"]) == published

    french = await _get(client, "/v1/timeline/pinned", **params, lang="fr", entities="microsoft")
    assert french["items"][1]["later"][0]["note"] == "Le modèle s'appelle MAI-1."
    path, query = french["since"]["live"].split("?")
    assert (path, parse_qs(query)) == ("/v1/timeline", {"lang": ["fr"], "entities": ["microsoft"]})
    missing = await client.get("/v1/timeline/pinned")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["path"] == "as_of"


async def test_an_answer_as_known_at_an_instant_is_cached_for_long_only_once_it_cannot_change(
    client: Client, write_key: str, database_url: str
) -> None:
    appended = (await _post(client, write_key, registered("acme"), reported("acme", headline="Old news")))[-1]
    past = appended["recorded_at"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    latest = {"min_position": appended["position"]}
    await _get(client, "/v1/timeline", **latest)

    settled = await client.get("/v1/entities/acme/timeline", params={"as_of": past})
    assert settled.headers["cache-control"] == "public, max-age=86400"
    # Final: later appends leave it in the process's cache.
    newer = (await _post(client, write_key, reported("acme", headline="New news")))[-1]
    await _get(client, "/v1/timeline", min_position=newer["position"])
    again = await client.get("/v1/entities/acme/timeline", params={"as_of": past})
    assert (again.headers["cache-status"], again.json()) == ("dateline; hit", settled.json())

    coming = await client.get("/v1/timeline", params={"as_of": future})
    assert coming.headers["cache-control"].startswith("public, max-age=5")
    # A transaction still open since before the instant may yet record at it.
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.fetchval("select pg_current_xact_id()")
            await asyncio.sleep(0.01)
            instant = datetime.now(UTC).isoformat()
            await asyncio.sleep(0.01)
            open_then = await client.get("/v1/entities/acme", params={"as_of": instant})
            assert open_then.headers["cache-control"].startswith("public, max-age=5")
    finally:
        await conn.close()
    # The same instant written otherwise: another URL, so not the answer cached a moment ago.
    closed = await client.get("/v1/entities/acme", params={"as_of": instant.replace("+00:00", "Z")})
    assert closed.headers["cache-control"] == "public, max-age=86400"
