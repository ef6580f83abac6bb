"""``GET /metrics``: the service's figures for Prometheus, for an admin key by default.

Metrics say how much is appended and read, by whom (routes, keys' activity), and how far the
projections are behind: not for the public internet. ``DATELINE_METRICS=admin`` (the default)
asks for an admin key as a bearer token, which Prometheus sends as any scrape's
``authorization``; ``public`` is for a port that only the scraper reaches; ``off`` measures
nothing and has no route. The route is left out of the API contract: it is for operators, and
docs/operations.md describes it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from prometheus_client import CONTENT_TYPE_LATEST

from service.http.auth import requires_scope
from service.http.metrics import exposition
from service.http.services import Services, services
from service.projections.engine import progress

SAMPLE_SECONDS = 1.0
"""How often a process writes down its state for whichever process is scraped."""
_ADMIN = requires_scope("admin")


async def _may_scrape(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    if services(connection.app.state).settings.metrics == "admin":
        await _ADMIN(connection, handler)


def _sample_now(served: Services) -> None:
    served.meter.sample(served.database, served.live.streams, served.reads.held)


async def sample(served: Services) -> None:
    """Keep this process's state written down, for as long as it serves."""
    while True:
        _sample_now(served)
        await asyncio.sleep(SAMPLE_SECONDS)


@get("/metrics", include_in_schema=False, guards=[_may_scrape], cache_control=None)
async def scrape(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Every API process's figures, and the projections' lag, in Prometheus's text format."""
    served = services(request.app.state)
    _sample_now(served)
    states = await progress(served.database)
    return Response(exposition(states), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
