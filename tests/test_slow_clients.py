"""Clients that never finish sending a request are closed after DATELINE_REQUEST_TIMEOUT_SECONDS,
while everyone else goes on being answered: through a real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import http.client
import resource
import socket
import time
from urllib.parse import urlsplit

from tests.browser import serving

_HALF_SENT = [
    b"",  # connected, and not a byte since
    b"GET /v1/timeline HTTP/1.1\r\nHost: dateline\r\n",  # headers never ended
    b'POST /v1/events HTTP/1.1\r\nHost: dateline\r\nContent-Length: 100\r\n\r\n{"type"',  # a body cut short
    b"GE",
]
_CLIENTS = 1000
_TIMEOUT = 2.0


def _closed(connection: socket.socket) -> bool:
    try:
        return connection.recv(1024) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


def _healthy(base: str) -> float:
    """How long an ordinary request took, on a connection of its own."""
    address = urlsplit(base)
    started = time.monotonic()
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    return time.monotonic() - started


def _slow_clients(base: str) -> tuple[int, int, list[float]]:
    address = urlsplit(base)
    sockets = []
    answered: list[float] = []
    try:
        for number in range(_CLIENTS):
            connection = socket.create_connection((address.hostname or "", address.port or 80), timeout=5)
            if part := _HALF_SENT[number % len(_HALF_SENT)]:
                connection.sendall(part)
            connection.setblocking(False)
            sockets.append(connection)
            if number % 100 == 0:
                answered.append(_healthy(base))
        opened = time.monotonic()
        answered.extend(_healthy(base) for _ in range(10))
        early = sum(_closed(connection) for connection in sockets)
        time.sleep(max(0.0, opened + _TIMEOUT + 2.0 - time.monotonic()))
        answered.extend(_healthy(base) for _ in range(10))
        late = sum(_closed(connection) for connection in sockets)
        return early, late, answered
    finally:
        for connection in sockets:
            connection.close()


async def test_half_sent_requests_are_closed_and_others_answered(database_url: str) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Both ends of every connection live in this process.
    wanted = 3 * _CLIENTS + 1000
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    with serving(database_url, request_timeout_seconds=_TIMEOUT) as base:
        early, late, answered = await asyncio.to_thread(_slow_clients, base)
    # The first ones opened may already have had their time when the last is opened.
    assert early < _CLIENTS / 2, early
    assert late == _CLIENTS
    assert max(answered) < 2.0, answered
