"""Writes need ``Authorization: Bearer <key>`` with the right scope; reads are public.

A route says the scope it needs in its ``opt`` (``needs("write")``), and the app's one guard
(``guard``), on the routes that may need a key, checks it. A revoked key is refused by every API process from the moment its
revocation commits. Appends check their key themselves, in the statement that writes them
(``service/store/events.py``), so their guard may take a key's name and scope from the
short-lived cache; every other write (key management) looks its key up afresh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from service.http.key_cache import KeyCache
from service.http.services import Services
from service.store import keys

# What each scope may do: an admin key can also write, and both may preview held events.
_GRANTS = {"preview": {"preview"}, "write": {"write", "preview"}, "admin": {"write", "admin", "preview"}}
MAX_KEY_LENGTH = 200
_NEEDS = "needs"


@dataclass(frozen=True, slots=True)
class _Needs:
    scope: str
    rechecked: bool


def needs(scope: str, *, rechecked: bool = False) -> dict[str, Any]:
    """A route's ``opt``: a live key with ``scope``. ``rechecked`` operations check the key
    again as they write (``state.key``, its hash, is for that), so the guard may trust the key
    cache."""
    return {_NEEDS: _Needs(scope, rechecked)}


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    kind, _space, key = header.partition(" ")
    if kind.lower() != "bearer" or not key.strip() or len(key) > MAX_KEY_LENGTH:
        return None
    return key.strip()


async def may(connection: ASGIConnection[Any, Any, Any, Any], known: KeyCache, scope: str) -> bool:
    """Whether the request carries a live key with ``scope``, for reads that show more to it."""
    key = _bearer(connection)
    found = None if key is None else await known.find(key)
    return found is not None and scope in _GRANTS.get(found.scope, set())


async def may_preview(connection: ASGIConnection[Any, Any, Any, Any], known: KeyCache) -> bool:
    """Whether the request carries a live key that may read held events (drafts, embargoes)."""
    return await may(connection, known, "preview")


def guard(
    current: Callable[[], Services],
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    """The app's guard, over the services ``current`` returns: a route that ``needs`` a scope
    is served only to a live key with it."""

    async def check(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        needed: _Needs | None = handler.opt.get(_NEEDS)
        if needed is None:
            return
        key = _bearer(connection)
        if key is None:
            raise NotAuthorizedException("Send an API key as 'Authorization: Bearer <key>'.")
        served = current()
        found = await (served.keys.find(key) if needed.rechecked else keys.find(served.database, key))
        if found is None:
            raise NotAuthorizedException("This API key is unknown or revoked.")
        if needed.scope not in _GRANTS.get(found.scope, set()):
            raise PermissionDeniedException(
                f"The key '{found.name}' has scope '{found.scope}'; this needs '{needed.scope}'."
            )
        served.writes.hit(found.name)
        connection.state.author = found.name
        connection.state.key = keys.hash_key(key)
        connection.state.admin = "admin" in _GRANTS.get(found.scope, set())

    return check
