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

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from prometheus_client import CONTENT_TYPE_LATEST

from service.http.auth import needs
from service.http.metrics import exposition
from service.http.services import Services
from service.projections.engine import progress
from service.settings import Settings

SAMPLE_SECONDS = 1.0
"""How often a process writes down its state for whichever process is scraped."""


def _sample_now(served: Services) -> None:
    served.meter.sample(served.database, served.live.streams, served.reads.held)


async def sample(served: Services) -> None:
    """Keep this process's state written down, for as long as it serves."""
    while True:
        _sample_now(served)
        await asyncio.sleep(SAMPLE_SECONDS)


async def _scrape(services: NamedDependency[Services]) -> Response[bytes]:
    """Every API process's figures, and the projections' lag, in Prometheus's text format."""
    _sample_now(services)
    states = await progress(services.database)
    return Response(exposition(states), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def scrape(settings: Settings) -> HTTPRouteHandler:
    """The route, as ``settings.metrics`` asks: for an admin key, or for whoever reaches it."""
    return get(
        "/metrics",
        include_in_schema=False,
        opt=needs("admin") if settings.metrics == "admin" else {},
        cache_control=None,
    )(_scrape)
