"""The services a request handler may be given, made once per app and handed out by type.

The app's lifespan opens them (``create_app``); handlers name the one they need as a typed
parameter (``cache: NamedDependency[ReadCache]``) and Litestar's dependency injection provides it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from service.appender import Appender
from service.http import params
from service.http.key_cache import KeyCache
from service.http.metrics import Meter
from service.http.rates import RateLimit
from service.http.read_cache import ReadCache
from service.live import Hub
from service.settings import Settings
from service.store import Pool


@dataclass(frozen=True, slots=True)
class Services:
    database: Pool
    appender: Appender
    reads: ReadCache
    keys: KeyCache
    writes: RateLimit
    """Counts each API key's writes."""
    settings: Settings
    live: Hub
    meter: Meter


def services(state: State) -> Services:
    """The app's services; only this function knows where the app keeps them."""
    return cast(Services, state.services)


def dependencies(current: Callable[[], Services]) -> dict[str, Provide]:
    """Providers of each service by name, for the app whose services ``current`` returns.

    They take no arguments: Litestar then has nothing to validate per call, which keeps them
    off the cost of a read served at thousands a second.
    """

    def database() -> Pool:
        return current().database

    def appender() -> Appender:
        return current().appender

    def cache() -> ReadCache:
        return current().reads

    return {
        name: Provide(provider, sync_to_thread=False)
        for name, provider in {
            "database": database,
            "appender": appender,
            "cache": cache,
        }.items()
    }


async def cached(request: Request[Any, Any, Any]) -> Any:
    """A ``before_request`` hook: a repeated read is answered before its parameters are parsed."""
    return await services(request.app.state).reads.hit(request)


async def cached_page(request: Request[Any, Any, Any]) -> Any:
    """``cached`` for pages whose language the browser may choose: cached per language."""
    return await services(request.app.state).reads.hit(request, params.reader_language(request) or "")
