"""Writes need ``Authorization: Bearer <key>`` with the right scope; reads are public."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from service.http.services import services
from service.store import Pool, keys
from service.store.keys import ApiKey

# What each scope may do: an admin key can also write.
_GRANTS = {"write": {"write"}, "admin": {"write", "admin"}}
MAX_KEY_LENGTH = 200


class KeyCache:
    """Recently seen keys, for reads that show more to a key holder: one hash, not one query,
    per request. There a revoked key stops within ``ttl`` seconds; writes never ask the cache.
    """

    def __init__(self, pool: Pool, ttl: float) -> None:
        self.pool = pool
        self.ttl = ttl
        self._seen: dict[str, tuple[float, ApiKey | None]] = {}

    async def find(self, key: str) -> ApiKey | None:
        now = time.monotonic()
        cached = self._seen.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await keys.find(self.pool, key)
        if len(self._seen) > 10_000:  # bounded: random bad keys must not grow memory
            self._seen.clear()
        self._seen[key] = (now + self.ttl, found)
        return found


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    kind, _space, key = header.partition(" ")
    if kind.lower() != "bearer" or not key.strip() or len(key) > MAX_KEY_LENGTH:
        return None
    return key.strip()


async def may(connection: ASGIConnection[Any, Any, Any, Any], scope: str) -> bool:
    """Whether the request carries a live key with ``scope``, for reads that show more to it."""
    key = _bearer(connection)
    found = None if key is None else await services(connection.app.state).keys.find(key)
    return found is not None and scope in _GRANTS.get(found.scope, set())


def requires_scope(
    scope: str,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        key = _bearer(connection)
        if key is None:
            raise NotAuthorizedException("Send an API key as 'Authorization: Bearer <key>'.")
        served = services(connection.app.state)
        # Asked of the database on every write, never of the cache: a key revoked through any
        # process stops the very next write through every one.
        found = await keys.find(served.database, key)
        if found is None:
            raise NotAuthorizedException("This API key is unknown or revoked.")
        if scope not in _GRANTS.get(found.scope, set()):
            raise PermissionDeniedException(
                f"The key '{found.name}' has scope '{found.scope}'; this needs '{scope}'."
            )
        served.writes.hit(found.name)
        connection.state.author = found.name

    return guard
