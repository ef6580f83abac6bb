"""Liveness and readiness, for orchestrators and load balancers."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency

from schemas import Health
from service.http.docs import documented
from service.http.problems import problem
from service.migrations import head_revision
from service.store import REFUSED, UNREACHABLE, Pool
from service.store.schema import current_revision


@get("/healthz", operation_id="health", tags=["operations"], **documented(200, Health, "health", "Up."))
async def health() -> Health:
    """The process is up."""
    return Health(status="ok")


@get(
    "/readyz",
    operation_id="readiness",
    tags=["operations"],
    **documented(200, Health, "ready", "Ready to serve.", 503),
)
async def readiness(request: Request[Any, Any, Any], database: NamedDependency[Pool]) -> Response[Any]:
    """The database answers and its schema is at the migrations' head."""
    try:
        revision = await current_revision(database, seconds=2)
    except (*UNREACHABLE, *REFUSED):
        return problem(
            request, 503, "not-ready", "The database is unreachable.", headers={"Retry-After": "5"}
        )
    if revision != head_revision():
        return problem(
            request,
            503,
            "not-ready",
            f"The database schema is at revision {revision}, not {head_revision()}: run `dateline db upgrade`.",
            headers={"Retry-After": "5"},
            migration=revision,
        )
    return Response(Health(status="ready", migration=revision))
