"""What every read of a projection shares: read-your-writes, conditional requests, caching."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import QueryParameter

from schemas.common import LANGUAGE_PATTERN, SLUG_PATTERN
from service.domain.entities import Profile
from service.domain.errors import NotFound
from service.projections import queries
from service.projections.newsroom import NAME as NEWSROOM

READ_YOUR_WRITES_SECONDS = 3.0
# Public reads may sit in a CDN for a few seconds and be served stale while it revalidates.
CACHE_CONTROL = "public, max-age=5, stale-while-revalidate=30"
_SLUG = re.compile(SLUG_PATTERN)
_encode = msgspec.json.Encoder().encode

Language = Annotated[
    str,
    QueryParameter(
        pattern=LANGUAGE_PATTERN, description="The language to show texts and dates in; falls back per item."
    ),
]
MinPosition = Annotated[
    int | None,
    QueryParameter(
        ge=1,
        le=2**63 - 1,
        description="Answer only once the projection includes the event at this position (read your writes).",
    ),
]


AsOf = Annotated[
    datetime | None,
    QueryParameter(
        description="An RFC 3339 instant: answer from only what had been recorded by then (corrections too)."
    ),
]


def instant(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise bad_parameter("as_of", "needs a time zone: add Z or an offset such as +02:00")
    return value


def bad_parameter(name: str, reason: str) -> ValidationException:
    return ValidationException(extra=[{"key": name, "source": "query", "message": reason}])


def slugs(name: str, value: str | None) -> list[str]:
    """A comma-separated list of slugs, each checked."""
    if not value:
        return []
    found = [part.strip() for part in value.split(",") if part.strip()]
    for slug in found:
        if not _SLUG.match(slug) or len(slug) > 80:
            raise bad_parameter(name, f"'{slug}' is not a slug")
    if len(found) > 50:
        raise bad_parameter(name, "at most 50 values")
    return found


class NotCaughtUp(HTTPException):
    status_code = 503


class ReadCache:
    """Per process: the newsroom's checkpoint, re-read at most every ``ttl`` seconds, and encoded
    responses by URL and checkpoint.

    A read's answer is a function of its URL and the projection's checkpoint, so a repeated read
    costs one dictionary lookup until the projection moves. The checkpoint itself may be up to
    ``ttl`` old, which public reads can afford (a CDN holds them for seconds); a read that needs
    its own write says so with ``min_position`` and gets a fresh one.
    """

    def __init__(self, pool: asyncpg.Pool, ttl: float = 0.1, size: int = 2048) -> None:
        self.pool = pool
        self.ttl = ttl
        self.size = size
        self._checkpoint = (-1.0, 0)
        self._bodies: OrderedDict[str, tuple[int, bytes]] = OrderedDict()

    async def checkpoint(self, min_position: int | None) -> int:
        """The newsroom's checkpoint, after waiting (bounded) for ``min_position`` if asked."""
        if min_position is not None:
            if not await queries.wait_until_includes(
                self.pool, NEWSROOM, min_position, READ_YOUR_WRITES_SECONDS
            ):
                raise NotCaughtUp(
                    detail=f"The timeline does not include position {min_position} yet; retry shortly.",
                    headers={"Retry-After": "1"},
                )
        elif time.monotonic() - self._checkpoint[0] < self.ttl:
            return self._checkpoint[1]
        position = await queries.checkpoint_position(self.pool, NEWSROOM)
        self._checkpoint = (time.monotonic(), position)
        return position

    async def respond(
        self,
        request: Request[Any, Any, Any],
        checkpoint: int,
        build: Callable[[], Awaitable[Any]],
    ) -> Response[Any]:
        """304 if the client has it; else the body, built once per URL and checkpoint."""
        if _unchanged(request, checkpoint):
            return _answer(None, checkpoint)
        key = str(request.url)
        cached = self._bodies.get(key)
        if cached is not None and cached[0] == checkpoint:
            self._bodies.move_to_end(key)
            return _answer(cached[1], checkpoint)
        body = _encode(await build())
        self._bodies[key] = (checkpoint, body)
        if len(self._bodies) > self.size:
            self._bodies.popitem(last=False)
        return _answer(body, checkpoint)

    async def hit(self, request: Request[Any, Any, Any]) -> Response[Any] | None:
        """The answer to a read made before, if the projection has not moved since; else None.

        An answer is only ever stored for a URL whose parameters were valid and whose
        ``min_position`` the checkpoint it was built at included, so it can be served without
        looking at the parameters again.
        """
        cached = self._bodies.get(str(request.url))
        if cached is None or cached[0] != await self.checkpoint(None):
            return None
        return _answer(None if _unchanged(request, cached[0]) else cached[1], cached[0])


async def cached(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """A ``before_request`` hook: a repeated read is answered before its parameters are parsed."""
    return await cache(request.app.state).hit(request)


def _unchanged(request: Request[Any, Any, Any], checkpoint: int) -> bool:
    """Whether the client already holds the answer at ``checkpoint`` (If-None-Match)."""
    sent = request.headers.get("if-none-match")
    return sent is not None and etag(checkpoint) in {part.strip() for part in sent.split(",")}


def _answer(body: bytes | None, checkpoint: int) -> Response[Any]:
    headers = {"ETag": etag(checkpoint), "Cache-Control": CACHE_CONTROL}
    if body is None:
        return Response(None, status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


async def entity(state: State, name: str) -> tuple[Profile, list[str]]:
    """The entity a slug or alias names, through merges, and the slugs merged into it; else 404."""
    resolved = await queries.resolve_entity(state.pool, name)
    if resolved is None:
        raise NotFound(f"No entity '{name}'.")
    return resolved


def cache(state: State) -> ReadCache:
    found: ReadCache = state.reads
    return found


def etag(checkpoint: int) -> str:
    # Everything a newsroom read returns is a function of the URL and the checkpoint.
    return f'W/"{NEWSROOM}-{checkpoint}"'
