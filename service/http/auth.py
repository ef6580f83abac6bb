"""Writes need ``Authorization: Bearer <key>`` with the right scope; reads are public."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from service.store import keys
from service.store.keys import ApiKey

# What each scope may do: an admin key can also write.
_GRANTS = {"write": {"write"}, "admin": {"write", "admin"}}
MAX_KEY_LENGTH = 200


class KeyCache:
    """Recently seen keys, so a busy writer costs one hash, not one query, per request.

    A revoked key stops working within ``ttl`` seconds.
    """

    def __init__(self, pool: asyncpg.Pool, ttl: float) -> None:
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


def requires_scope(
    scope: str,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        header = connection.headers.get("authorization", "")
        kind, _space, key = header.partition(" ")
        if kind.lower() != "bearer" or not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise NotAuthorizedException("Send an API key as 'Authorization: Bearer <key>'.")
        cache: KeyCache = connection.app.state.api_keys
        found = await cache.find(key.strip())
        if found is None:
            raise NotAuthorizedException("This API key is unknown or revoked.")
        if scope not in _GRANTS.get(found.scope, set()):
            raise PermissionDeniedException(
                f"The key '{found.name}' has scope '{found.scope}'; this needs '{scope}'."
            )
        connection.state.author = found.name

    return guard
