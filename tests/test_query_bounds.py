"""What a query may hold: only the names its route takes, each once and of bounded length; and
what the read cache may hold for all the URLs a client can make up: a bounded weight."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from service.http.query import MAX_PARAMETERS, MAX_VALUE_CHARS
from service.server import MAX_TARGET_BYTES
from tests.browser import demo_folded, free_port, serving
from tests.conftest import Client, caught_up, client_for

_ROUTES = [
    "/v1/timeline",
    "/v1/timeline/pinned?as_of=2024-06-01T00:00:00Z",
    "/v1/entities/mai-1/timeline",
    "/v1/entities",
    "/v1/entities/mai-1",
    "/v1/entities/mai-1/history",
    "/v1/events",
    "/v1/streams/mai-1",
    "/v1/feed.atom",
    "/v1/entities/mai-1/feed.atom",
    "/v1/live",
    "/embed",
    "/embed/mai-1",
    "/oembed?url=http://testserver.local/embed",
    "/v1/projections",
    "/healthz",
]


def _join(route: str, extra: str) -> str:
    return f"{route}{'&' if '?' in route else '?'}{extra}"


@pytest.mark.parametrize("route", _ROUTES)
async def test_a_parameter_the_route_does_not_take_is_refused_by_name(
    demo_client: Client, route: str
) -> None:
    response = await demo_client.get(_join(route, "z=" + "x" * 1000))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:dateline:problem:invalid-parameter"
    assert problem["errors"] == [{"path": "z", "reason": "is not a parameter of this route"}]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("lang=en&lang=fr", "lang"),  # Litestar would take either one silently
        ("tags=chips&tags=cloud", "tags"),
        (f"tags={'a' * (MAX_VALUE_CHARS + 1)}", "tags"),
        ("from=2024&to=2025&colour=red", "colour"),
    ],
)
async def test_a_parameter_given_twice_or_too_long_is_refused_by_name(
    demo_client: Client, query: str, named: str
) -> None:
    response = await demo_client.get(f"/embed/mai-1?{query}")
    assert response.status_code == 400, response.text
    assert [error["path"] for error in response.json()["errors"]] == [named]


async def test_filters_a_dependency_takes_are_the_routes_own(demo_client: Client) -> None:
    # tags, q, from, to and lang are parameters of ``filters``, not of the handlers.
    await caught_up(demo_client)
    for route in ("/v1/timeline", "/embed", "/v1/feed.atom"):
        response = await demo_client.get(
            route, params={"tags": "chips", "q": "model", "from": "2020", "lang": "fr"}
        )
        assert response.status_code == 200, (route, response.text)


async def test_campaign_tags_and_cache_busters_reach_neither_the_page_nor_the_cache(
    demo_client: Client,
) -> None:
    await caught_up(demo_client)
    first = await demo_client.get("/embed/mai-1?lang=fr&utm_source=newsletter&_=1717171717")
    again = await demo_client.get("/embed/mai-1?utm_campaign=launch&lang=fr&_=1717171718")
    assert first.status_code == again.status_code == 200
    assert "utm_" not in first.text
    assert "1717171717" not in first.text
    assert "utm_" not in first.headers["link"]
    assert again.headers["cache-status"] == "dateline; hit"
    assert again.content == first.content


async def test_the_same_parameters_in_another_order_are_one_read(demo_client: Client) -> None:
    await caught_up(demo_client)
    first = await demo_client.get("/v1/timeline?lang=fr&limit=3&order=desc")
    again = await demo_client.get("/v1/timeline?order=desc&limit=3&lang=fr")
    assert first.headers["cache-status"] == "dateline; fwd=miss"
    assert again.headers["cache-status"] == "dateline; hit"


async def test_the_read_cache_lets_the_oldest_go_past_its_weight(demo_database_url: str) -> None:
    async with (
        client_for(demo_database_url) as roomy,
        client_for(demo_database_url, read_cache_mb=1) as tight,
    ):
        for client in (roomy, tight):
            await caught_up(client)
            assert (await client.get("/embed/mai-1")).headers["cache-status"] == "dateline; fwd=miss"
            # Each page repeats its 4,000-character query in its links: 40 of them outweigh a MiB.
            for n in range(40):
                tags = ",".join(f"t{n}-{i}" for i in range(600))[:MAX_VALUE_CHARS]
                assert (await client.get("/embed/mai-1", params={"tags": tags})).status_code == 200
        assert (await roomy.get("/embed/mai-1")).headers["cache-status"] == "dateline; hit"
        assert (await tight.get("/embed/mai-1")).headers["cache-status"] == "dateline; fwd=miss"


@contextmanager
def _service_process(database_url: str, **environment: str) -> Iterator[tuple[psutil.Process, str]]:
    """``dateline run`` in a process of its own, so that its memory is its own."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, **environment}
    command = [str(Path(sys.executable).parent / "dateline"), "run", "--port", str(port)]
    # A file, not a pipe nobody reads: every 414 is a line in the log, and a full pipe would
    # stop the server mid-test.
    with tempfile.TemporaryFile() as errors:
        process = psutil.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None:
                    errors.seek(0)
                    raise AssertionError(errors.read().decode())
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.2)
            yield process, base
        finally:
            process.terminate()
            process.wait(timeout=30)


CACHE_MB = 2
MARGIN_MB = 16
"""What a process may grow by besides its cache: the allocator's arenas, the pools' statements."""


def test_a_thousand_made_up_urls_grow_the_process_by_its_cache_bound_at_most(demo_database_url: str) -> None:
    with (
        # One client asks for 1,000 pages no cache holds: the read rate limit would refuse most
        # of them before they cost memory, and memory is what is measured here.
        _service_process(
            demo_database_url, DATELINE_READ_CACHE_MB=str(CACHE_MB), DATELINE_READ_RATE="off"
        ) as (
            process,
            base,
        ),
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        junk = "z" * 60_000
        # The process folds the demo's log as it starts: its pages are there once that is done.
        demo_folded(base)

        def read(n: int) -> None:
            # Past 16 KiB the server refuses the target itself, before any route.
            assert http.get("/embed/mai-1", params={"z": junk, "n": str(n)}).status_code == 414
            # Valid and distinct: each page repeats its 8,000-character query in its links.
            tags = ",".join(f"t{n}-{i}" for i in range(600))[:MAX_VALUE_CHARS]
            assert http.get("/embed/mai-1", params={"tags": tags, "types": tags}).status_code == 200

        # Warm up, filling the cache: the first requests of a kind build what later ones reuse.
        for n in range(100):
            read(10_000 + n)
        before = process.memory_info().rss
        for n in range(500):
            read(n)
        grown = (process.memory_info().rss - before) / 2**20
    print(f"RSS grew by {grown:.1f} MiB over 1,000 requests (bound {CACHE_MB} + {MARGIN_MB} MiB)")
    assert grown <= CACHE_MB + MARGIN_MB


async def test_a_query_of_more_parameters_than_any_route_takes_is_refused(demo_client: Client) -> None:
    await caught_up(demo_client)
    campaign = "&".join(f"utm_{n}=x" for n in range(MAX_PARAMETERS))  # each tolerated, alone
    response = await demo_client.get(f"/embed/mai-1?lang=fr&{campaign}")
    assert response.status_code == 400, response.text
    assert response.json()["errors"] == [
        {"path": "query", "reason": f"names more than {MAX_PARAMETERS} parameters"}
    ]
    assert (await demo_client.get(f"/embed/mai-1?{campaign}")).status_code == 200


def _sent(base: str, target: bytes) -> bytes:
    address = urlsplit(base)
    with socket.create_connection((address.hostname or "", address.port or 80), timeout=10) as connection:
        connection.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: dateline\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


@pytest.mark.parametrize("target", [b"/v1/entities/" + b"a" * 100_000, b"/v1/timeline?q=" + b"a" * 20_000])
def test_a_request_target_past_16_kib_is_a_414_through_uvicorn(demo_database_url: str, target: bytes) -> None:
    with serving(demo_database_url) as base:
        head, _, body = _sent(base, target).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 414 "), head
        assert b"content-type: application/problem+json" in head.lower()
        problem = json.loads(body)
        assert problem["type"] == "urn:dateline:problem:uri-too-long"
        assert f"{MAX_TARGET_BYTES:,} bytes" in problem["detail"]
        # Just under the bound, the request is routed, and answered by its route.
        fits = target[: MAX_TARGET_BYTES - 1]
        assert _sent(base, fits).split(b"\r\n", 1)[0] in {
            b"HTTP/1.1 400 Bad Request",
            b"HTTP/1.1 404 Not Found",
        }
        assert httpx.get(f"{base}/healthz").status_code == 200
