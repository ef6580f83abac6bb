"""What operators see: a request id on every answer and in the log, JSON log lines no request
can forge, and /metrics counting what every worker process served.

The metrics and the logs are read from a real ``dateline run --workers 2`` on loopback, its
stderr captured: the figures must be the sum of both workers', the lines JSON however the
request was written.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.browser import demo_folded, free_port
from tests.conftest import PROJECT_ROOT, Client, make_key
from tests.factories import bearer, registered

DATELINE = str(Path(PROJECT_ROOT) / ".venv" / "bin" / "dateline")


# In process: the id itself.


async def test_a_sensible_request_id_is_kept_and_recorded_in_the_event(
    client: Client, write_key: str
) -> None:
    answered = await client.post(
        "/v1/events", json=registered("acme"), headers={**bearer(write_key), "X-Request-Id": "desk-42"}
    )
    assert answered.status_code == 201
    assert answered.headers["x-request-id"] == "desk-42"
    logged = (await client.get(answered.headers["location"])).json()
    assert logged["metadata"]["request_id"] == "desk-42"


async def test_without_a_sensible_one_a_fresh_id_is_made_and_is_the_one_recorded(
    client: Client, write_key: str
) -> None:
    answered = await client.post(
        "/v1/events", json=registered("acme"), headers={**bearer(write_key), "X-Request-Id": "two words"}
    )
    made = answered.headers["x-request-id"]
    assert made != "two words"
    assert len(made) == 32
    logged = (await client.get(answered.headers["location"])).json()
    assert logged["metadata"]["request_id"] == made
    again = await client.get("/healthz")
    assert again.headers["x-request-id"] not in (made, "")


async def test_problems_304s_and_heads_carry_the_id_too(client: Client) -> None:
    sent = {"X-Request-Id": "check-1"}
    assert (await client.get("/v1/entities/nobody", headers=sent)).headers["x-request-id"] == "check-1"
    assert (await client.get("/no/such/route", headers=sent)).headers["x-request-id"] == "check-1"
    page = await client.get("/v1/timeline", headers=sent)
    unchanged = await client.get("/v1/timeline", headers={**sent, "If-None-Match": page.headers["etag"]})
    assert unchanged.status_code == 304
    assert unchanged.headers["x-request-id"] == "check-1"
    head = await client.head("/v1/timeline", headers=sent)
    assert head.headers["x-request-id"] == "check-1"
    cors = await client.get("/v1/timeline", headers={"Origin": "https://news.example"})
    assert "x-request-id" in cors.headers["access-control-expose-headers"].lower()


async def test_metrics_need_an_admin_key_by_default(
    client: Client, write_key: str, database_url: str
) -> None:
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers=bearer(write_key))).status_code == 403
    admin = await make_key(database_url, "prometheus", "admin")
    scraped = await client.get("/metrics", headers=bearer(admin))
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert "dateline_projection_lag_events" in scraped.text


# Through real processes.


@dataclass
class Served:
    base: str
    port: int
    admin: str
    writer: str
    stderr: list[str] = field(default_factory=list)
    """The lines the server has written to stderr so far."""

    def logged(self, until: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """Every line logged, each decoded as JSON, once ``until`` holds of them (within 10 s)."""
        deadline = time.monotonic() + 10
        while True:
            lines = [json.loads(line) for line in list(self.stderr) if line.strip()]
            if until(lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.1)


@pytest.fixture(scope="module")
def served(module_demo_database_url: str) -> Iterator[Served]:
    """``dateline run --workers 2 --access-log`` on the demo's database, until the module ends."""
    url = module_demo_database_url
    admin = asyncio.run(make_key(url, "prometheus", "admin"))
    writer = asyncio.run(make_key(url, "observer", "write"))
    port = free_port()
    env = {
        **{name: value for name, value in os.environ.items() if name != "PROMETHEUS_MULTIPROC_DIR"},
        "DATABASE_URL": url,
        "DATELINE_WRITE_RATE": "off",
        "DATELINE_READ_RATE": "off",
        "DATELINE_PROJECTION_POLL_SECONDS": "0.05",
        "DATELINE_KEY_CACHE_SECONDS": "0",
    }
    arguments = [DATELINE, "run", "--workers", "2", "--no-demo", "--port", str(port), "--access-log"]
    process = subprocess.Popen(
        [*arguments, "--log-level", "info"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found = Served(f"http://127.0.0.1:{port}", port, admin, writer)
    assert process.stderr is not None
    threading.Thread(target=lambda: found.stderr.extend(process.stderr or ()), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            assert process.poll() is None, "the service stopped"
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        demo_folded(found.base)
        yield found
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        return _request(port, "GET", "/readyz")[0] == 200
    except OSError:
        return False


def _request(
    port: int, method: str, target: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on a connection of its own (so that either worker may take it)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        sent = {"Content-Type": "application/json", **(headers or {})}
        connection.request(method, target, body=body, headers=sent)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _scrape(served: Served) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, _, body = _request(served.port, "GET", "/metrics", headers=bearer(served.admin))
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def _total(scraped: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(
        value
        for (found, pairs), value in scraped.items()
        if found == name and all((key, wanted) in pairs for key, wanted in labels.items())
    )


_ENTITY = "/v1/entities/{slug}"
_SECONDS = "dateline_http_request_duration_seconds"


def test_metrics_count_every_worker_s_requests(served: Served) -> None:
    before = _scrape(served)
    slugs = ["mai-1", "microsoft", "mustafa-suleyman", "no-such-entity"]
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        for _ in range(5):  # rounds of 40 concurrent requests, each on a connection of its own
            answers = list(
                pool.map(lambda n: _request(served.port, "GET", f"/v1/entities/{slugs[n % 4]}"), range(40))
            )
            sent += len(answers)
            assert {status for status, _, _ in answers} == {200, 404}
    reads = 60
    timeline = [_request(served.port, "GET", "/v1/timeline?limit=5") for _ in range(reads)]
    assert all(status == 200 for status, _, _ in timeline)

    headers = {**bearer(served.writer), "X-Request-Id": "desk-7"}
    event_id = str(uuid.uuid4())
    body = json.dumps({**registered("observed-co"), "id": event_id}).encode()
    assert _request(served.port, "POST", "/v1/events", body, headers)[0] == 201
    assert _request(served.port, "POST", "/v1/events", body, headers)[0] == 200  # a retry: replayed
    clash = json.dumps({**registered("observed-co"), "expected_version": "none"}).encode()
    assert _request(served.port, "POST", "/v1/events", clash, headers)[0] == 409

    after = _scrape(served)

    def grew(name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    assert grew(f"{_SECONDS}_count", route=_ENTITY, method="GET") == sent
    assert grew(f"{_SECONDS}_count", route=_ENTITY, status="2xx") == sent * 3 / 4
    assert grew(f"{_SECONDS}_count", route=_ENTITY, status="4xx") == sent / 4
    assert grew(f"{_SECONDS}_count", route="/v1/timeline", method="GET") == reads
    # The route's template labels them, never the path as sent.
    assert not any("mai-1" in str(pairs) for _, pairs in after)
    assert grew("dateline_appends_total", outcome="appended") == 1
    assert grew("dateline_appends_total", outcome="replayed") == 1
    assert grew("dateline_appends_total", outcome="conflict") == 1
    assert grew("dateline_appended_events_total") == 1
    answered = grew("dateline_read_cache_answers_total", result="hit")
    built = grew("dateline_read_cache_answers_total", result="miss")
    assert answered + built == sent * 3 / 4 + reads  # every read the cache saw, hit or built
    assert answered >= reads - 4, "a repeated read is answered from each worker's cache"
    assert grew("dateline_read_cache_body_bytes_total", result="hit") > 0

    # Each series' buckets are cumulative, and the last one is its count.
    for (name, pairs), count in after.items():
        if name != f"{_SECONDS}_count":
            continue
        buckets = sorted(
            (float(dict(bucket)["le"]), value)
            for (found, bucket), value in after.items()
            if found == f"{_SECONDS}_bucket" and {k: v for k, v in bucket if k != "le"} == dict(pairs)
        )
        values = [value for _, value in buckets]
        assert values == sorted(values), pairs
        assert buckets[-1] == (float("inf"), count), pairs
        assert after[(f"{_SECONDS}_sum", pairs)] > 0, pairs

    assert _total(after, "dateline_projection_lag_events", projection="newsroom") >= 0
    assert _total(after, "dateline_projection_running", projection="newsroom") == 1
    assert _total(after, "dateline_database_connections", state="max") == 2 * 10  # both workers' pools
    assert _total(after, "dateline_live_streams") == 0


def _raw(port: int, head: bytes) -> bytes:
    """What the server answers to a request written byte for byte."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


_FORGERIES = [
    "/v1/entities/acme%0A%7B%22level%22:%22error%22%7D",
    '/v1/entities/acme"}{"level":"error","message":"forged"}',
    '/v1/timeline?q=%0D%0A{"logger":"dateline.access"}&limit="5"',
    '/v1/entities/acme\\u000a\\"',
]


def test_log_lines_are_json_with_the_request_id_and_cannot_be_forged(served: Served) -> None:
    for target in _FORGERIES:
        head = f"GET {target} HTTP/1.1\r\nHost: x\r\nX-Request-Id: forge-1\r\nConnection: close\r\n\r\n"
        answer = _raw(served.port, head.encode())
        assert answer.startswith(b"HTTP/1.1 "), answer[:100]
    # Raw control bytes in the target: refused by the parser (a 400), and logged as JSON too.
    refused = _raw(served.port, b"GET /v1/entities/a\x1b[2J\x01b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert refused.startswith(b"HTTP/1.1 400")
    assert _live_headers(served.port)["x-request-id"] == "stream-1"
    headers = {**bearer(served.writer), "X-Request-Id": "desk-8"}
    assert (
        _request(served.port, "POST", "/v1/events", json.dumps(registered("logged-co")).encode(), headers)[0]
        == 201
    )
    with ThreadPoolExecutor(8) as pool:  # enough connections for both workers to take some
        list(pool.map(lambda _: _request(served.port, "GET", "/healthz"), range(40)))

    def complete(lines: list[dict[str, Any]]) -> bool:
        ids = {line.get("request_id") for line in lines if line["logger"] == "dateline.access"}
        return {"forge-1", "stream-1", "desk-8"} <= ids

    logged = served.logged(complete)  # every line one JSON object
    assert all({"level", "logger", "message", "timestamp", "pid"} <= set(line) for line in logged)
    assert not any(line["message"] == "forged" or line["level"] == "ERROR" for line in logged)
    access = [line for line in logged if line["logger"] == "dateline.access"]
    for target in _FORGERIES:
        path, _, query = target.partition("?")
        [line] = [
            line
            for line in access
            if line["request_id"] == "forge-1" and line["path"] == path and line["query"] == query
        ]
        assert line["method"] == "GET"
        assert line["duration_ms"] >= 0
        assert line["route"] in (_ENTITY, "/v1/timeline", "unmatched"), line
    assert len({line["pid"] for line in access}) == 2, "both workers log"
    assert any(line["message"] == "Invalid HTTP request received." for line in logged)
    [live] = [line for line in access if line["request_id"] == "stream-1"]
    assert (live["route"], live["status"]) == ("/v1/live", 200)
    [appended] = [line for line in access if line["request_id"] == "desk-8"]
    assert (appended["method"], appended["route"], appended["status"]) == ("POST", "/v1/events", 201)


def _live_headers(port: int) -> dict[str, str]:
    """A live stream's headers, then the stream is closed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/v1/live", headers={"X-Request-Id": "stream-1"})
        response = connection.getresponse()
        assert response.status == 200
        return {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
