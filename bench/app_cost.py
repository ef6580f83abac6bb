"""What the app itself spends on one cached read: no network, no server, no client.

``python -m bench.app_cost [path]`` (or ``python <this file>`` from another checkout, whose
``service`` is then the one measured) runs the ASGI app in this process against ``DATABASE_URL``,
or the embedded server with the demo story (``dateline run --demo`` once first), and times
5,000 answers to ``path`` (default ``/v1/entities/microsoft/timeline``) from the read cache.
Its figure is for comparing two commits on one machine, run one after the other and
alternating: it leaves out the uvicorn and the client that the other benches include.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from service.app import create_app
from service.cli import database_url, settings

REQUESTS = 5_000
WARM_UP = 300


def _scope(path: str, query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


Answer = Callable[[str, bytes], Awaitable[dict[str, Any]]]
"""A GET of a path and query string through the app; the start of its response."""


@contextlib.asynccontextmanager
async def in_process() -> AsyncIterator[Answer]:
    """The ASGI app, its lifespan started, in this process (against ``DATABASE_URL``)."""
    app = create_app(settings())
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan_scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan = asyncio.create_task(app(lifespan_scope, inbox.get, outbox.put))  # type: ignore[arg-type]
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {started}")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def answer(path: str, query: bytes = b"") -> dict[str, Any]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(_scope(path, query), receive, send)  # type: ignore[arg-type]
        return sent[0]

    try:
        yield answer
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan


async def _measure(path: str) -> float:
    """Microseconds per cached answer to ``path``."""
    async with in_process() as answer:
        for _ in range(WARM_UP):
            start = await answer(path, b"")
        headers = dict(start["headers"])
        if start["status"] != 200 or headers.get(b"cache-status") != b"dateline; hit":
            raise RuntimeError(f"{path} is not answered from the read cache: {start['status']} {headers}")
        begin = time.perf_counter()
        for _ in range(REQUESTS):
            await answer(path, b"")
        elapsed = time.perf_counter() - begin
    return elapsed / REQUESTS * 1e6


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "/v1/entities/microsoft/timeline"
    # Rate limits on, above any rate reached here, as in the other benches.
    os.environ.setdefault("DATELINE_READ_RATE", "1000000/second")
    os.environ.setdefault("DATELINE_WRITE_RATE", "1000000/second")
    os.environ["DATABASE_URL"] = database_url()
    print(f"{path}: {asyncio.run(_measure(path)):.1f} µs per cached answer, in the app alone")


if __name__ == "__main__":
    main()
