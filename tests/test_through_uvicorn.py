"""What an HTTP client with a connection pool, a proxy or a CDN meets: the service through a real
uvicorn on loopback, requests one after another on one kept-alive connection."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser import demo_folded, serving
from tests.conftest import make_key
from tests.factories import registered

_READS = [
    "/healthz",
    "/v1/events?limit=5",
    "/v1/timeline",
    "/v1/entities/mai-1/timeline?lang=fr",
    "/v1/entities/mai-1",
    "/v1/entities/mai-1/feed.atom",
    "/embed/mai-1",
    "/static/embed.css",
    "/docs",
    "/schema/openapi.yaml",
]


def _exchange(base: str) -> list[tuple[str, int, int, str | None, int, str | None]]:
    """HEAD then GET of each read, all on one connection: what each answered, and how long."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    seen = []
    try:
        for path in _READS:
            connection.request("HEAD", path)
            head = connection.getresponse()
            head_body = head.read()
            assert head_body == b"", path
            connection.request("GET", path)
            get = connection.getresponse()
            body = get.read()
            seen.append(
                (
                    path,
                    head.status,
                    get.status,
                    head.getheader("content-length"),
                    len(body),
                    get.getheader("content-length"),
                )
            )
    finally:
        connection.close()
    return seen


async def test_head_keeps_the_connection_and_announces_the_gets_length(
    demo_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with serving(demo_database_url) as base, caplog.at_level(logging.ERROR):
        await asyncio.to_thread(demo_folded, base)
        seen = await asyncio.to_thread(_exchange, base)
    for path, head_status, get_status, head_length, length, get_length in seen:
        assert head_status == get_status == 200, path
        assert head_length == get_length == str(length), path
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def _headers(base: str, path: str, sent: dict[str, str]) -> http.client.HTTPResponse:
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request("GET", path, headers=sent)
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


@pytest.mark.parametrize(
    "sent",
    [
        {},
        {"Origin": "https://news.example"},
        {"Cookie": "session=1"},
        {"Cookie": "session=1", "Origin": "https://news.example"},
    ],
)
async def test_a_cookie_or_an_origin_leaves_vary_and_the_public_origin_alone(
    demo_database_url: str, sent: dict[str, str]
) -> None:
    with serving(demo_database_url) as base:
        await asyncio.to_thread(demo_folded, base)
        response = await asyncio.to_thread(_headers, base, "/embed/mai-1", {"Accept-Language": "fr", **sent})
    assert response.status == 200
    assert response.getheader("vary") == "Accept-Language"
    if "Origin" in sent:
        assert response.getheader("access-control-allow-origin") == "*"


@pytest.mark.parametrize(("trusted", "scheme"), [("", "http"), ("127.0.0.1", "https")])
async def test_forwarded_headers_count_only_from_a_trusted_proxy(
    demo_database_url: str, trusted: str, scheme: str
) -> None:
    with serving(demo_database_url, trusted_proxies=trusted) as base:
        await asyncio.to_thread(demo_folded, base)
        response = await asyncio.to_thread(
            _headers, base, "/embed/mai-1", {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        )
    host = urlsplit(base).netloc
    # The oEmbed link a CMS follows is absolute: it carries the scheme the service believes.
    assert (response.getheader("link") or "").startswith(f"<{scheme}://{host}/oembed?")


def _post(base: str, path: str, body: bytes | Iterator[bytes], key: str) -> int:
    """POST ``body`` with ``key``; a body given in chunks goes with Transfer-Encoding: chunked."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            encode_chunked=not isinstance(body, bytes),
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


async def test_a_revoked_key_stops_at_once_in_every_process(database_url: str) -> None:
    """Two API processes on one database, each having just let the key write, and keeping keys
    for a minute: once `dateline keys revoke` returns, the next write through either is a 401."""
    key = await make_key(database_url, "cms")
    minute = {"key_cache_seconds": 60.0}
    with serving(database_url, **minute) as first, serving(database_url, **minute) as second:
        for number, base in enumerate((first, second)):
            body = json.dumps(registered(f"org-{number}")).encode()
            assert await asyncio.to_thread(_post, base, "/v1/events", body, key) == 201
        revoked = await asyncio.to_thread(
            subprocess.run,
            [str(Path(sys.executable).parent / "dateline"), "keys", "revoke", "cms"],
            env={**os.environ, "DATABASE_URL": database_url},
            capture_output=True,
            timeout=60,
            check=True,
        )
        assert revoked.returncode == 0
        for number, base in enumerate((first, second)):
            body = json.dumps(registered(f"late-{number}")).encode()
            assert await asyncio.to_thread(_post, base, "/v1/events", body, key) == 401


def _get(base: str, path: str) -> http.client.HTTPResponse:
    return _headers(base, path, {})


async def test_writes_per_key_and_uncached_reads_per_client_are_rate_limited(database_url: str) -> None:
    key = await make_key(database_url, "cms")
    other = await make_key(database_url, "wire")
    with serving(database_url, write_rate="3/minute", read_rate="4/minute") as base:
        statuses = [
            await asyncio.to_thread(
                _post, base, "/v1/events", json.dumps(registered(f"org-{n}")).encode(), key
            )
            for n in range(4)
        ]
        assert statuses == [201, 201, 201, 429]
        # Another key has a count of its own.
        body = json.dumps(registered("org-other")).encode()
        assert await asyncio.to_thread(_post, base, "/v1/events", body, other) == 201
        await asyncio.sleep(0.5)  # the projection has applied the appends: the cache stays valid
        first = await asyncio.to_thread(_get, base, "/v1/timeline?limit=1")
        # Reads the cache answers cost nothing and are not counted; each distinct URL is a miss.
        for _ in range(10):
            assert (await asyncio.to_thread(_get, base, "/v1/timeline?limit=2")).status == 200
        misses = [await asyncio.to_thread(_get, base, f"/v1/timeline?limit={n}") for n in range(3, 6)]
    assert first.status == 200
    assert [miss.status for miss in misses] == [200, 200, 429]
    assert misses[-1].getheader("content-type") == "application/problem+json"
    assert 1 <= int(misses[-1].getheader("retry-after") or "0") <= 60


async def test_a_chunked_body_over_a_mebibyte_is_413(database_url: str) -> None:
    """No Content-Length to refuse by: the body is counted as it arrives."""
    key = await make_key(database_url)
    with serving(database_url) as base:
        chunks = (b"x" * 65536 for _ in range(32))
        assert await asyncio.to_thread(_post, base, "/v1/events", chunks, key) == 413
