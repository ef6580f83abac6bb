"""Every request seen from outside: its id, its line in the access log, its figures.

The id is the client's ``X-Request-Id`` when it is a sensible one (printable ASCII, no space,
at most 100 characters), else a fresh one; every response carries it back, problems, 304s,
HEADs and live streams alike, every log line written while serving it carries it
(``service.logs.REQUEST_ID``), and an append records it in its events' metadata.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from litestar.types import HTTPScope, Message, Receive, Send

from service.http.metrics import UNMATCHED, Meter
from service.logs import ACCESS, REQUEST_ID

_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,100}")
_HEADER = b"x-request-id"
_access = logging.getLogger(ACCESS)

Serve = Callable[[HTTPScope, Receive, Send], Awaitable[HTTPScope]]
"""The app proper: it answers a request, and gives back the scope it routed (which carries the
route's template)."""


def _request_id(scope: HTTPScope) -> str:
    for name, value in scope["headers"]:
        if name == _HEADER:
            return value.decode("ascii") if _REQUEST_ID.fullmatch(value) else secrets.token_hex(16)
    return secrets.token_hex(16)


class Observed:
    """Serves each request with its id, then counts it (``meter``) and, if ``access_log``,
    logs it: method, route template, path and query as sent, status, duration, client."""

    def __init__(self, meter: Meter, access_log: bool) -> None:
        self.meter = meter
        self.access_log = access_log

    async def __call__(self, scope: HTTPScope, receive: Receive, send: Send, serve: Serve) -> None:
        request_id = _request_id(scope)
        header = (_HEADER, request_id.encode("ascii"))
        token = REQUEST_ID.set(request_id)
        begun = time.perf_counter()
        status = 500  # what a client meets if the app fails before it answers
        routed = scope
        query = scope["query_string"]  # as sent: the app drops the parameters it tolerates

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            routed = await serve(scope, receive, answer)
        finally:
            seconds = time.perf_counter() - begun
            route = routed.get("path_template") or UNMATCHED
            self.meter.request(route, scope["method"], status, seconds)
            if self.access_log:
                self._log(scope, query, route, status, seconds)
            REQUEST_ID.reset(token)

    @staticmethod
    def _log(scope: HTTPScope, query: bytes, route: str, status: int, seconds: float) -> None:
        # As sent: the bytes of the target, undecoded (the JSON log escapes what needs it).
        client = scope.get("client")
        _access.info(
            "request",
            extra={
                "method": scope["method"],
                "route": route,
                "path": scope.get("raw_path", scope["path"].encode()).decode("utf-8", "backslashreplace"),
                "query": query.decode("utf-8", "backslashreplace"),
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "client": client[0] if client else None,
            },
        )
