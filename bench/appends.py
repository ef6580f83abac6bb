"""Append throughput: Dateline over HTTP against raw asyncpg and the eventsourcing library.

Everything runs against the same PostgreSQL server in the same run, so the ratios hold even
when the machine is shared: raw asyncpg is the ceiling (no HTTP, no validation, no stream
check), the eventsourcing library is the peer a Python team would otherwise pick, and a
globally locked insert shows what the lock-based gap-free design would cost.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
import msgspec
from eventsourcing.domain import Aggregate, event

from bench.harness import Rate, fresh_database, measure, measure_threads, ratio, service, write_key
from tests.factories import registered, reported

BATCH = 1000
STREAMS = 64

_FACT = reported(
    "stream-0",
    headline="Microsoft reported to be training MAI-1, up to 500 billion parameters, to rival the best models",
    summary={"en": "Mustafa Suleyman is said to oversee the model. " * 4},
    sources=[{"url": "https://example.com/mai-1", "publisher": "Example News", "language": "en"}],
    tags=["large-models"],
)
_DATA = msgspec.json.encode({k: v for k, v in _FACT.items() if k != "type"}).decode()


class Story(Aggregate):
    """The eventsourcing library's side of the comparison: one story, one event."""

    @event("Reported")
    def __init__(self, headline: str, data: str) -> None:
        self.headline = headline
        self.data = data


@dataclass
class AppendSettings:
    seconds: float = 5.0
    max_ops: int = 200_000
    clients: tuple[int, ...] = (1, 16, 64)
    batch_clients: int = 2
    results: dict[str, Rate] = field(default_factory=dict)


def _fact(client: int) -> bytes:
    return msgspec.json.encode(
        {**_FACT, "entities": [{"slug": f"stream-{client % STREAMS}", "role": "subject"}]}
    )


async def _register_streams(base: str, key: str) -> None:
    async with aiohttp.ClientSession() as http:
        body = {"events": [registered(f"stream-{n}") for n in range(STREAMS)]}
        async with http.post(
            f"{base}/v1/events/batch", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as r:
            assert r.status == 201, await r.text()


async def http_single(base: str, key: str, clients: int, settings: AppendSettings) -> Rate:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bodies = [_fact(client) for client in range(clients)]
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def append(client: int, _n: int) -> int:
            async with http.post(f"{base}/v1/events", data=bodies[client], headers=headers) as response:
                await response.read()
                if response.status != 201:
                    raise RuntimeError(f"append failed: {response.status} {await response.text()}")
            return 1

        return await measure(clients, settings.seconds, settings.max_ops, append)


async def http_batch(base: str, key: str, settings: AppendSettings) -> Rate:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body = msgspec.json.encode({"events": [msgspec.json.decode(_fact(n)) for n in range(BATCH)]})
    async with aiohttp.ClientSession() as http:

        async def append(_client: int, _n: int) -> int:
            async with http.post(f"{base}/v1/events/batch", data=body, headers=headers) as response:
                await response.read()
                if response.status != 201:
                    raise RuntimeError(f"batch failed: {response.status}")
            return BATCH

        return await measure(settings.batch_clients, settings.seconds, settings.max_ops // BATCH, append)


_RAW_TABLE = "create table raw_events (like events including all)"
# The same columns and values as the service writes, metadata included.
_META = msgspec.json.encode({"author": "bench", "request_id": uuid.uuid4().hex}).decode()
_RAW_INSERT = """
insert into raw_events (id, stream, version, type, schema_version, data, metadata, occurred)
values ($1, $2, $3, $4, 1, $5::jsonb, $6::jsonb, $7)
"""
_RAW_BATCH = """
insert into raw_events (id, stream, version, type, schema_version, data, metadata, occurred)
select id, stream, version, type, 1, data::jsonb, metadata::jsonb, occurred
from unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[])
     as new (id, stream, version, type, data, metadata, occurred)
"""


def _raw_row(stream: str, version: int) -> tuple[Any, ...]:
    return uuid.uuid4(), stream, version, "fact.reported", _DATA, _META, "2024-05"


async def raw_single(url: str, clients: int, settings: AppendSettings, *, global_lock: bool = False) -> Rate:
    """One row per transaction, as fast as asyncpg goes; optionally behind one global lock."""
    pool = await asyncpg.create_pool(url, min_size=clients, max_size=clients)
    assert pool is not None
    label = uuid.uuid4().hex[:6]
    try:

        async def insert(client: int, n: int) -> int:
            async with pool.acquire() as conn:
                if global_lock:
                    async with conn.transaction():
                        await conn.execute("select pg_advisory_xact_lock(7)")
                        await conn.execute(_RAW_INSERT, *_raw_row(f"{label}-{client}", n + 1))
                else:
                    await conn.execute(_RAW_INSERT, *_raw_row(f"{label}-{client}", n + 1))
            return 1

        return await measure(clients, settings.seconds, settings.max_ops, insert)
    finally:
        await pool.close()


async def raw_batch(url: str, settings: AppendSettings) -> Rate:
    clients = settings.batch_clients
    pool = await asyncpg.create_pool(url, min_size=clients, max_size=clients)
    assert pool is not None
    label = uuid.uuid4().hex[:6]
    try:

        async def insert(client: int, n: int) -> int:
            ids = [uuid.uuid4() for _ in range(BATCH)]
            versions = list(range(n * BATCH + 1, (n + 1) * BATCH + 1))
            async with pool.acquire() as conn:
                await conn.execute(
                    _RAW_BATCH,
                    ids,
                    [f"{label}-b{client}"] * BATCH,
                    versions,
                    ["fact.reported"] * BATCH,
                    [_DATA] * BATCH,
                    [_META] * BATCH,
                    ["2024-05"] * BATCH,
                )
            return BATCH

        return await measure(clients, settings.seconds, settings.max_ops // BATCH, insert)
    finally:
        await pool.close()


def eventsourcing_single(url: str, threads: int, settings: AppendSettings) -> Rate:
    """The eventsourcing library's PostgreSQL persistence, one event per saved aggregate."""
    from eventsourcing.application import Application

    parts = urlsplit(url)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0],
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
        "POSTGRES_POOL_SIZE": str(threads),
        "POSTGRES_MAX_OVERFLOW": "0",
        "CREATE_TABLE": "y",
    }
    app: Any = Application(env=env)
    try:

        def save(_client: int, _n: int) -> int:
            app.save(Story(headline="MAI-1", data=_DATA))
            return 1

        return measure_threads(threads, settings.seconds, settings.max_ops, save)
    finally:
        app.close()


async def _prepare_raw(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(_RAW_TABLE)
    finally:
        await conn.close()


def run(server_url: str, settings: AppendSettings) -> list[str]:
    """Every append measurement, in one run against one server; the report's lines."""
    results = settings.results
    with fresh_database(server_url) as url:
        key = asyncio.run(write_key(url, "bench"))
        asyncio.run(_prepare_raw(url))
        with service(url) as base:
            asyncio.run(_register_streams(base, key))
            for clients in settings.clients:
                results[f"http single x{clients}"] = asyncio.run(http_single(base, key, clients, settings))
            results["http batch"] = asyncio.run(http_batch(base, key, settings))
        for clients in settings.clients:
            results[f"raw single x{clients}"] = asyncio.run(raw_single(url, clients, settings))
        results["raw single x16 global lock"] = asyncio.run(raw_single(url, 16, settings, global_lock=True))
        results["raw batch"] = asyncio.run(raw_batch(url, settings))
        for threads in (1, 16):
            results[f"eventsourcing x{threads}"] = eventsourcing_single(url, threads, settings)
    return report(settings)


def report(settings: AppendSettings) -> list[str]:
    results = settings.results
    lines = [f"{'measurement':34} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8}  vs raw  vs eventsourcing"]
    for name, rate in results.items():
        clients = name.split(" x")[-1].split(" ")[0] if " x" in name else ""
        raw = results.get("raw batch") if "batch" in name else results.get(f"raw single x{clients}")
        peer = results.get("eventsourcing x16") if clients != "1" else results.get("eventsourcing x1")
        lines.append(
            f"{name:34} {rate.per_second:10.0f} {rate.p50_ms:8.2f} {rate.p99_ms:8.2f}"
            f"  {ratio(rate.per_second, raw.per_second) if raw else '   n/a'}"
            f"  {ratio(rate.per_second, peer.per_second) if peer and 'batch' not in name else '   n/a'}"
        )
    return lines
