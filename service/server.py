"""How uvicorn serves the app: one set of options, for `dateline run` and for the tests, so that
what the tests meet is what users meet."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from schemas import Problem
from service.http.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPES
from service.settings import Settings

STOPPING = "dateline.stopping"
"""The key, in the lifespan's state, of what the app asks to be told the moment the server stops
taking requests: uvicorn tells the app only once every request has ended, too late for live
streams, which never end of themselves."""
MAX_TARGET_BYTES = 16 * 1024
"""The longest request target (path and query) a request may have, as sent: room for the links
the service makes itself (an oEmbed link carries an embed URL of up to 4,096 characters, each
percent-encoded in up to 3 bytes), and twice what nginx and Apache let through by default."""


def _problem(kind: str, title: str, status: int, detail: str) -> bytes:
    """A problem's body, for the answers given before or after the app has a request in hand."""
    assert kind in PROBLEM_TYPES, kind
    return msgspec.json.encode(
        Problem(type=f"urn:dateline:problem:{kind}", title=title, status=status, detail=detail)
    )


def _too_long() -> bytes:
    detail = f"The request's path and query are longer than {MAX_TARGET_BYTES:,} bytes together."
    body = _problem("uri-too-long", "URI too long", 414, detail)
    head = f"HTTP/1.1 414 URI Too Long\r\ncontent-type: {PROBLEM_MEDIA_TYPE}\r\n"
    return f"{head}content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body


_TOO_LONG = _too_long()


def _cut_short() -> list[dict[str, Any]]:
    detail = "This API process stopped before it could answer; retry (another one answers)."
    body = _problem("stopping", "Service unavailable", 503, detail)
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    return [
        {"type": "http.response.start", "status": 503, "headers": headers},
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


CUT_SHORT = _cut_short()
"""The answer to a request still running when the shutdown's deadline passes, as ASGI messages:
uvicorn cancels it then, and would answer 500."""


class _TargetTooLong(Exception):
    """Stops the parser: uvicorn answers a parser's error through ``send_400_response``."""


class TimedRequests(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, but a request must arrive whole within ``request_timeout``
    seconds of its first byte (of the connection's opening, for the first), or the connection is
    closed. uvicorn waits for a request's headers and body without end, so a client sending a
    byte a minute could hold a connection, and a thousand of them the process's file descriptors.
    A response may take as long as it likes: live streams are long answers, not slow requests.
    A request target longer than ``MAX_TARGET_BYTES`` is answered 414 as soon as it is.
    """

    def __init__(self, *args: Any, request_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_timeout = request_timeout
        self._arrival: asyncio.TimerHandle | None = None
        self._refusal: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._arrival is None:
            self._await_request()

    def on_message_complete(self) -> None:
        self._arrived()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._arrived()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        # The server stopped listening and asks each connection to end after its response.
        stopping = self.app_state.get(STOPPING)
        if stopping is not None:
            stopping()
        super().shutdown()

    def on_url(self, url: bytes) -> None:
        # uvicorn holds the target whole, however long, until the headers end (httptools fails
        # past 64 KiB only then, with a plain-text 400): this stops it as it grows.
        if len(self.url) + len(url) > MAX_TARGET_BYTES:
            self._refusal = _TOO_LONG
            raise _TargetTooLong
        super().on_url(url)

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            super().send_400_response(msg)
            return
        self.transport.write(self._refusal)
        self.transport.close()

    def _await_request(self) -> None:
        self._arrival = self.loop.call_later(self._request_timeout, self._too_slow)

    def _arrived(self) -> None:
        if self._arrival is not None:
            self._arrival.cancel()
            self._arrival = None

    def _too_slow(self) -> None:
        self._arrival = None
        if not self.transport.is_closing():
            self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's keyword arguments that follow from the settings."""
    return {
        # A partial of a class defined here, so that worker processes can unpickle it.
        "http": partial(TimedRequests, request_timeout=settings.request_timeout_seconds),
        # Forwarded headers (X-Forwarded-For, X-Forwarded-Proto) say who the client is and which
        # scheme it used; only a proxy the operator names may say so. Trusting them from
        # loopback, uvicorn's default, would let any client behind a proxy that passes them
        # through choose the scheme of public links and the address rate limits count.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies or None,
        # What is in flight when the process is told to stop has this long to end; then it is
        # cut. Live streams end at once, told to come back (see ``STOPPING``).
        "timeout_graceful_shutdown": settings.shutdown_seconds,
    }
