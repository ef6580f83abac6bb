"""Liveness and readiness."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from service.store.database import create_database, with_database
from tests.conftest import Client, client_for


async def test_health_and_readiness(client: Client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


@asynccontextmanager
async def _blank_database(server_url: str) -> AsyncIterator[str]:
    name = f"blank_{uuid.uuid4().hex[:12]}"
    await create_database(server_url, name)
    conn = await asyncpg.connect(server_url)
    try:
        yield with_database(server_url, name)
    finally:
        await conn.execute(f'drop database "{name}" with (force)')
        await conn.close()


async def test_not_ready_until_migrated(server_url: str) -> None:
    async with _blank_database(server_url) as url, client_for(url) as client:
        response = await client.get("/readyz")
        assert response.status_code == 503
        # A problem+json, as the contract says: what is pending is in its detail, not a "status".
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:dateline:problem:not-ready"
        assert "db upgrade" in response.json()["detail"]
        assert (await client.get("/healthz")).status_code == 200


async def test_a_database_made_here_has_postgresql_s_own_c_utf8_locale(server_url: str) -> None:
    async with _blank_database(server_url) as url:
        conn = await asyncpg.connect(url)
        try:
            if conn.get_server_version() < (17,):
                pytest.skip("PostgreSQL's builtin locale provider came in 17")
            locale = await conn.fetchrow(
                "select datlocprovider::text, datlocale from pg_database where datname = current_database()"
            )
        finally:
            await conn.close()
    assert locale is not None
    assert (locale["datlocprovider"], locale["datlocale"]) == ("b", "C.UTF-8")
