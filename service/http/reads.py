"""What every read of a projection shares: read-your-writes, conditional requests, caching."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import QueryParameter

from schemas.common import LANGUAGE_PATTERN, SLUG_PATTERN
from service.projections import queries
from service.projections.newsroom import NAME as NEWSROOM

READ_YOUR_WRITES_SECONDS = 3.0
# Public reads may sit in a CDN for a few seconds and be served stale while it revalidates.
CACHE_CONTROL = "public, max-age=5, stale-while-revalidate=30"
_SLUG = re.compile(SLUG_PATTERN)

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


async def fresh_checkpoint(pool: asyncpg.Pool, min_position: int | None) -> int:
    """The newsroom's checkpoint, after waiting (bounded) for ``min_position`` if asked."""
    if min_position is not None and not await queries.wait_until_includes(
        pool, NEWSROOM, min_position, READ_YOUR_WRITES_SECONDS
    ):
        raise NotCaughtUp(
            detail=f"The timeline does not include position {min_position} yet; retry shortly.",
            headers={"Retry-After": "1"},
        )
    return await queries.checkpoint_position(pool, NEWSROOM)


def etag(checkpoint: int) -> str:
    # Everything a newsroom read returns is a function of the URL and the checkpoint.
    return f'W/"{NEWSROOM}-{checkpoint}"'


def not_modified(request: Request[Any, Any, Any], checkpoint: int) -> Response[None] | None:
    tag = etag(checkpoint)
    if tag in {part.strip() for part in request.headers.get("if-none-match", "").split(",")}:
        return Response(None, status_code=304, headers={"ETag": tag, "Cache-Control": CACHE_CONTROL})
    return None


def cacheable(body: Any, checkpoint: int) -> Response[Any]:
    return Response(body, headers={"ETag": etag(checkpoint), "Cache-Control": CACHE_CONTROL})
