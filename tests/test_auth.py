"""Writes need a key with the right scope; keys are stored hashed; reads are public."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from service.store import keys
from service.store.keys import hash_key
from tests.conftest import Client, client_for, make_key
from tests.factories import bearer, registered


async def test_writes_without_a_key_are_401(client: Client) -> None:
    response = await client.post("/v1/events", json=registered("microsoft"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


async def test_unknown_and_malformed_keys_are_401(client: Client) -> None:
    for header in ("Bearer dl_not-a-key", "Basic abc", "Bearer ", "Bearer " + "x" * 500):
        response = await client.post("/v1/events", json=registered("x"), headers={"Authorization": header})
        assert response.status_code == 401, header


async def test_reads_are_public(client: Client) -> None:
    assert (await client.get("/v1/events")).status_code == 200


async def test_keys_need_admin_scope(client: Client, database_url: str, write_key: str) -> None:
    response = await client.get("/v1/keys", headers=bearer(write_key))
    assert response.status_code == 403
    assert "scope 'write'" in response.json()["detail"]


async def test_admin_creates_lists_and_revokes_keys(client: Client, database_url: str) -> None:
    admin = await make_key(database_url, "root", "admin")
    created = await client.post("/v1/keys", json={"name": "cms", "scope": "write"}, headers=bearer(admin))
    assert created.status_code == 201
    key = created.json()["key"]

    assert (
        await client.post("/v1/events", json=registered("microsoft"), headers=bearer(key))
    ).status_code == 201
    names = [item["name"] for item in (await client.get("/v1/keys", headers=bearer(admin))).json()]
    assert names == ["root", "cms"]
    duplicate = await client.post("/v1/keys", json={"name": "cms"}, headers=bearer(admin))
    assert duplicate.status_code == 409

    assert (await client.delete("/v1/keys/cms", headers=bearer(admin))).status_code == 204
    assert (
        await client.post("/v1/events", json=registered("openai"), headers=bearer(key))
    ).status_code == 401
    assert (await client.delete("/v1/keys/cms", headers=bearer(admin))).status_code == 404


async def test_admin_keys_can_write_and_authors_are_recorded(client: Client, database_url: str) -> None:
    admin = await make_key(database_url, "chief-editor", "admin")
    response = await client.post("/v1/events", json=registered("microsoft"), headers=bearer(admin))
    assert response.status_code == 201
    logged = (await client.get(f"/v1/events/{response.json()['id']}")).json()
    assert logged["metadata"]["author"] == "chief-editor"


async def test_only_the_hash_of_a_key_is_stored(database_url: str) -> None:
    key = await make_key(database_url, "cms")
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("select * from api_keys")
    finally:
        await conn.close()
    stored = [value for row in rows for value in row.values()]
    assert hash_key(key) in stored
    assert not any(key in str(value) or key.encode() == value for value in stored)


async def test_a_revoked_key_cannot_write_even_while_the_process_remembers_it(database_url: str) -> None:
    """The append checks its key as it writes: the key cache, here an hour long, only says who
    a key is. Neither a new write, a batch, nor the retry of an earlier write gets through."""
    cms, wire = await make_key(database_url, "cms"), await make_key(database_url, "wire")
    async with client_for(database_url, key_cache_seconds=3600) as api:
        earlier = {**registered("microsoft"), "id": str(uuid.uuid4())}
        assert (await api.post("/v1/events", json=earlier, headers=bearer(cms))).status_code == 201
        wired = await api.post("/v1/events", json=registered("openai"), headers=bearer(wire))
        assert wired.status_code == 201
        conn = await asyncpg.connect(database_url)
        try:
            assert await keys.revoke(conn, "cms")
            written = await conn.fetchval("select count(*) from events")
            # Writes of both keys at once share a commit: the revoked one's refusal is its own.
            refused, accepted = await asyncio.gather(
                api.post("/v1/events", json=registered("anthropic"), headers=bearer(cms)),
                api.post("/v1/events", json=registered("mistral"), headers=bearer(wire)),
            )
            assert (refused.status_code, accepted.status_code) == (401, 201)
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert refused.headers["content-type"] == "application/problem+json"
            batch = {"events": [registered("xai"), registered("meta")]}
            assert (await api.post("/v1/events/batch", json=batch, headers=bearer(cms))).status_code == 401
            assert (await api.post("/v1/events", json=earlier, headers=bearer(cms))).status_code == 401
            assert await conn.fetchval("select count(*) from events") == written + 1
        finally:
            await conn.close()
