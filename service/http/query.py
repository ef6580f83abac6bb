"""The query a route takes, and only that: a name no handler declares is refused by name, before
anything reads it, so that no parameter can make the service hold, cache or repeat what it does
not use.

A route's names are what Litestar itself parses for it: its handler's and its dependencies'
query parameters (the timeline filters ``Provide(filters)`` takes included). Two kinds of extras
are tolerated, because embed and feed URLs are pasted into CMSs and newsletters that add them on
their own: campaign tags (``utm_*``), jQuery's cache-buster (``_``) and Pym.js's frame
parameters (``initialWidth``, ``childId``, ``parentTitle``, ``parentUrl``). They are dropped from the
request before it is routed on, so they reach no cache key, no page and no link.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from litestar.exceptions import ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

MAX_VALUE_CHARS = 4096
"""The longest value a parameter may have: room for 50 slugs of 80 characters (``entities``) or
an embed page's URL (``url``), and a cap on what one request can make a cached page repeat."""
MAX_PARAMETERS = 64
"""The most parameters a query may name, tolerated extras included: the timeline's routes take
about 16, and CMSs add a handful of campaign tags; parsing stops at the 65th."""
REFUSED = "refused"
"""A handler's ``opt`` key: names it declares in order to refuse them, each with its reason."""
_TOLERATED_PREFIX = "utm_"
_TOLERATED = frozenset({"_", "initialWidth", "childId", "parentTitle", "parentUrl"})
"""jQuery's cache-buster, and what Pym.js adds to the frame's URL it embeds."""


def _tolerated(name: str) -> bool:
    return name in _TOLERATED or name.startswith(_TOLERATED_PREFIX)


def _refusal(name: str, reason: str, source: str = "query") -> ValidationException:
    return ValidationException(extra=[{"key": name, "source": source, "message": reason}])


# PostgreSQL stores no NUL in text, and XML (the feeds) holds no other C0 control character: a
# request carrying one is refused before anything looks it up.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _Declared:
    """Each handler's query names, worked out from its signature once, when first asked."""

    def __init__(self) -> None:
        self._names: dict[int, frozenset[str]] = {}

    def of(self, handler: BaseRouteHandler, path_params: dict[str, Any]) -> frozenset[str]:
        names = self._names.get(id(handler))
        if names is None:
            model = handler.create_kwargs_model(path_parameters=dict.fromkeys(path_params))  # type: ignore[arg-type]
            names = frozenset(parameter.field_alias for parameter in model.expected_query_params)
            self._names[id(handler)] = names
        return names


class KnownParameters(ASGIMiddleware):
    """Refuses a query naming more than ``MAX_PARAMETERS``, naming what the route does not take,
    naming a parameter twice, or with a value longer than ``MAX_VALUE_CHARS`` or holding a
    control character (a path parameter too); drops the tolerated extras."""

    def __init__(self) -> None:
        self._declared = _Declared()

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if _CONTROL.search(scope["path"]):
            raise _refusal("path", "holds a control character", "path")
        raw = scope.get("query_string", b"")
        if raw:
            handler: BaseRouteHandler = scope["route_handler"]
            refused: dict[str, str] = handler.opt.get(REFUSED, {})
            declared = self._declared.of(handler, scope["path_params"])
            try:
                pairs = parse_qsl(
                    raw.decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_PARAMETERS
                )
            except ValueError:
                raise _refusal("query", f"names more than {MAX_PARAMETERS} parameters") from None
            kept = [(name, value) for name, value in pairs if not _tolerated(name)]
            seen: set[str] = set()
            for name, value in kept:
                if name in refused:
                    raise _refusal(name, refused[name])
                if name not in declared:
                    raise _refusal(name, "is not a parameter of this route")
                if name in seen:
                    raise _refusal(name, "is given more than once: give it once")
                if len(value) > MAX_VALUE_CHARS:
                    raise _refusal(name, f"is longer than {MAX_VALUE_CHARS} characters")
                if _CONTROL.search(value):
                    raise _refusal(name, "holds a control character")
                seen.add(name)
            if len(kept) != len(pairs):
                scope["query_string"] = urlencode(kept).encode()
        await next_app(scope, receive, send)
