"""Liveness and readiness, for orchestrators and load balancers."""

from __future__ import annotations

import asyncpg
from litestar import Response, get
from litestar.datastructures import State

from schemas import Health
from service.http.docs import documented
from service.migrations import current_revision, head_revision


@get(
    "/healthz", operation_id="health", tags=["operations"], responses=documented(200, Health, "health", "Up.")
)
async def health() -> Health:
    """The process is up."""
    return Health(status="ok")


@get(
    "/readyz",
    operation_id="readiness",
    tags=["operations"],
    responses=documented(200, Health, "ready", "Ready to serve.", 503),
)
async def readiness(state: State) -> Response[Health]:
    """The database answers and its schema is at the migrations' head."""
    try:
        async with state.pool.acquire(timeout=2) as conn:
            revision = await current_revision(conn)
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return Response(Health(status="database unreachable"), status_code=503)
    if revision != head_revision():
        return Response(Health(status="migrations pending", migration=revision), status_code=503)
    return Response(Health(status="ready", migration=revision))
