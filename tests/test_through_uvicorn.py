"""What an HTTP client with a connection pool, a proxy or a CDN meets: the service through a real
uvicorn on loopback, requests one after another on one kept-alive connection."""

from __future__ import annotations

import asyncio
import http.client
import logging
from urllib.parse import urlsplit

import pytest

from tests.browser import serving

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
        # The demo's entities are there once the projection has folded the log.
        for _ in range(100):
            if await asyncio.to_thread(_status, base, "/v1/entities/mai-1") == 200:
                break
            await asyncio.sleep(0.1)
        seen = await asyncio.to_thread(_exchange, base)
    for path, head_status, get_status, head_length, length, get_length in seen:
        assert head_status == get_status == 200, path
        assert head_length == get_length == str(length), path
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def _status(base: str, path: str) -> int:
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


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
        for _ in range(100):
            if await asyncio.to_thread(_status, base, "/v1/entities/mai-1") == 200:
                break
            await asyncio.sleep(0.1)
        response = await asyncio.to_thread(_headers, base, "/embed/mai-1", {"Accept-Language": "fr", **sent})
    assert response.status == 200
    assert response.getheader("vary") == "Accept-Language"
    if "Origin" in sent:
        assert response.getheader("access-control-allow-origin") == "*"
