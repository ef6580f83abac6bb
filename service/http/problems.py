"""Every error leaves as an RFC 9457 problem (application/problem+json), mapped here only."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.types import ExceptionHandlersMap

from schemas import FieldError, Problem
from schemas.common import (
    LANGUAGE_PATTERN,
    ROLE_PATTERN,
    SLUG_PATTERN,
    TAG_PATTERN,
    URL_PATTERN,
    WIKIDATA_PATTERN,
)
from service.domain.errors import Conflict, FieldProblem, NotFound, Rejected

PROBLEM_MEDIA_TYPE = "application/problem+json"
_log = logging.getLogger("dateline.http")

_TITLES = {
    400: "Malformed request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}
# msgspec quotes a pattern with repr() in its messages, hence the repr() keys.
_PATTERN_READINGS = {
    repr(pattern): reading
    for pattern, reading in {
        SLUG_PATTERN: "a slug: lowercase letters and digits, words joined by single hyphens (mai-1)",
        TAG_PATTERN: "a tag: lowercase letters and digits, words joined by - or _",
        ROLE_PATTERN: "a role: lowercase words joined by _ (developer, appointee)",
        LANGUAGE_PATTERN: "a BCP 47 language tag (en, fr, pt-BR)",
        WIKIDATA_PATTERN: "a Wikidata item id (Q2283)",
        URL_PATTERN: "an http or https URL",
    }.items()
}
_AT_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_NAMED_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<field>[^`]+)`$")
_LEADING_FIELD = re.compile(r"^(?P<field>[a-z_]+): (?P<reason>.*)$", re.DOTALL)
_REGEX = re.compile(r"^Expected `str` matching regex (?P<pattern>'.*')$", re.DOTALL)


def problem(
    request: Request[Any, Any, Any],
    status: int,
    kind: str,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response[Problem]:
    body = Problem(
        type=f"urn:dateline:problem:{kind}",
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=request.url.path,
        **extensions,
    )
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def field_error(message: str) -> FieldError:
    """A msgspec validation message as a path and a reason a person can act on."""
    parts = _AT_PATH.match(message)
    assert parts is not None
    reason, path = parts["reason"], parts["path"] or "$"
    if named := _NAMED_FIELD.match(reason):
        path = f"{path}.{named['field']}"
    elif leading := _LEADING_FIELD.match(reason):
        path, reason = f"{path}.{leading['field']}", leading["reason"]
    elif (regex := _REGEX.match(reason)) and regex["pattern"] in _PATTERN_READINGS:
        reason = f"Expected {_PATTERN_READINGS[regex['pattern']]}"
    return FieldError(path=path, reason=reason)


class MalformedBody(Exception):
    """The body is not JSON at all."""


class InvalidBody(Exception):
    """The body is JSON but not a valid request: wrong type, missing field, bad value."""

    def __init__(self, error: msgspec.ValidationError) -> None:
        super().__init__(str(error))
        self.error = field_error(str(error))


def _problems(problems: list[FieldProblem]) -> list[FieldError]:
    return [FieldError(path=item.path, reason=item.reason) for item in problems]


def _invalid_body(request: Request[Any, Any, Any], exc: InvalidBody) -> Response[Problem]:
    return problem(request, 422, "invalid-body", f"{exc.error.path}: {exc.error.reason}", errors=[exc.error])


def _malformed_body(request: Request[Any, Any, Any], exc: MalformedBody) -> Response[Problem]:
    return problem(request, 400, "malformed-json", f"The body is not valid JSON: {exc}")


def _rejected(request: Request[Any, Any, Any], exc: Rejected) -> Response[Problem]:
    return problem(request, 422, "rule-violated", str(exc), errors=_problems(exc.problems))


def _conflict(request: Request[Any, Any, Any], exc: Conflict) -> Response[Problem]:
    return problem(
        request, 409, "conflict", exc.detail, stream=exc.stream, current_version=exc.current_version
    )


def _not_found(request: Request[Any, Any, Any], exc: NotFound) -> Response[Problem]:
    return problem(request, 404, "not-found", exc.detail)


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    """Litestar's own parameter checks (query, path, headers)."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        FieldError(
            path=f"{item.get('source', 'query')}.{item.get('key', '?')}", reason=str(item.get("message"))
        )
        for item in extra
        if isinstance(item, dict)
    ]
    detail = "; ".join(f"{error.path}: {error.reason}" for error in errors) or str(exc.detail)
    return problem(request, 400, "invalid-parameter", detail, errors=errors or None)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", 'Bearer realm="dateline"')
    kind = {401: "unauthenticated", 403: "forbidden", 404: "not-found", 413: "body-too-large"}.get(
        exc.status_code, "http-error"
    )
    return problem(request, exc.status_code, kind, exc.detail, headers=headers)


def _database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    _log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
    return problem(
        request,
        503,
        "database-unavailable",
        "The database did not answer in time; retry shortly.",
        headers={"Retry-After": "2"},
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    _log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, 500, "internal-error", "Something went wrong on our side; it has been logged.")


def exception_handlers() -> ExceptionHandlersMap:
    handlers: dict[type[Exception], Callable[[Request[Any, Any, Any], Any], Response[Problem]]] = {
        InvalidBody: _invalid_body,
        MalformedBody: _malformed_body,
        Rejected: _rejected,
        Conflict: _conflict,
        NotFound: _not_found,
        ValidationException: _validation,
        HTTPException: _http,
        TimeoutError: _database_unavailable,
        OSError: _database_unavailable,
        asyncpg.InterfaceError: _database_unavailable,
        asyncpg.PostgresConnectionError: _database_unavailable,
        asyncpg.CannotConnectNowError: _database_unavailable,
        Exception: _unexpected,
    }
    return handlers  # type: ignore[return-value]
