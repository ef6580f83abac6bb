"""The services requests are served with, made once per app and handed out by type.

The app's lifespan opens them (``create_app``). Handlers name the one they need as a typed
parameter (``cache: NamedDependency[ReadCache]``) and Litestar's dependency injection provides
it. Guards and ``before_request`` hooks have no injection in Litestar: the app's one guard and
one hook are made with the same ``current`` the providers read, and each route says in its ``opt``
what it asks of them (the scope it needs, ``service.http.auth``; whether the read cache may
answer it before its parameters are parsed, ``CACHED``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.di import Provide

from service.appender import Appender
from service.http import params
from service.http.key_cache import KeyCache
from service.http.metrics import Meter
from service.http.rates import RateLimit
from service.http.read_cache import ReadCache
from service.live import Hub
from service.projections.newsroom import NewsroomReader
from service.publisher import Publisher
from service.settings import Settings
from service.store import Pool


@dataclass(frozen=True, slots=True)
class Services:
    database: Pool
    appender: Appender
    newsroom: NewsroomReader
    reads: ReadCache
    keys: KeyCache
    writes: RateLimit
    """Counts each API key's writes."""
    settings: Settings
    live: Hub
    meter: Meter
    publisher: Publisher


def dependencies(current: Callable[[], Services]) -> dict[str, Provide]:
    """Providers of each service by name, for the app whose services ``current`` returns.

    They take no arguments: Litestar then has nothing to validate per call, which keeps them
    off the cost of a read served at thousands a second.
    """
    providers: dict[str, Callable[[], Any]] = {
        "services": current,
        "database": lambda: current().database,
        "appender": lambda: current().appender,
        "newsroom": lambda: current().newsroom,
        "cache": lambda: current().reads,
        "keys": lambda: current().keys,
        "settings": lambda: current().settings,
        "hub": lambda: current().live,
        "meter": lambda: current().meter,
        "publisher": lambda: current().publisher,
    }
    return {name: Provide(provider, sync_to_thread=False) for name, provider in providers.items()}


CACHED = {"cached": "url"}
"""A route's ``opt``: a repeated read is answered before its parameters are parsed."""
CACHED_PAGE = {"cached": "page"}
"""``CACHED`` for pages whose language the browser may choose: cached per language."""


def answer_cached(current: Callable[[], Services]) -> Callable[[Request[Any, Any, Any]], Any]:
    """The app's ``before_request`` hook: the read cache's answer to a route that is ``CACHED``."""

    async def hook(request: Request[Any, Any, Any]) -> Any:
        cached = request.route_handler.opt.get("cached")
        if cached is None:
            return None
        variant = (params.reader_language(request) or "") if cached == "page" else ""
        return await current().reads.hit(request, variant)

    return hook
