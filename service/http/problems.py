"""Every error leaves as an RFC 9457 problem (application/problem+json), mapped here only."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, ValidationException
from litestar.params import ParameterKwarg
from litestar.types import ExceptionHandlersMap

from schemas import FieldError, Problem
from schemas.common import (
    LANGUAGE_PATTERN,
    ROLE_PATTERN,
    SLUG_PATTERN,
    TAG_PATTERN,
    TEXT_PATTERN,
    URL_PATTERN,
    WIKIDATA_PATTERN,
)
from service.domain.errors import (
    BeyondTheLog,
    Conflict,
    FieldProblem,
    Forbidden,
    NotCaughtUp,
    NotFound,
    Rejected,
)
from service.http.rates import TooMany
from service.http.read_cache import PreviewRefused
from service.live import Busy, ReaderBusy
from service.store import UNREACHABLE
from service.store.keys import NameTaken, Revoked

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPES = {
    "malformed-json": "The body is not JSON at all.",
    "invalid-body": "The body is JSON but not a valid request: `errors` gives each bad field's JSON path and why.",
    "invalid-parameter": "A query or path parameter is invalid: `errors` names each one as it was written, and why.",
    "rule-violated": "The request is well-formed but breaks a rule of the log (an unknown entity, a missing role, a retracted fact): `errors` says where. Held events too: a `publish_at` that is not in the future (`$.publish_at`), an event both a draft and embargoed, a batch whose events are not all held alike (each that differs), and a public event naming a held entity or following up a held event (`is held (a draft or embargoed): publish it first, or hold this too`).",
    "conflict": "Someone else changed the stream first (`stream`, `current_version`), the entity is already registered (held until published included), an event id is reused for other content, a key name is taken, or `POST /v1/events/{id}/publish` names a held event that was withdrawn (or a withdrawal), which is never published.",
    "position-beyond-log": "`min_position` names a position the log has not reached; `head` is its last position. Pass the position an append answered with.",
    "not-caught-up": "The read model has not yet applied the position `min_position` asks for; retry after `Retry-After` seconds.",
    "not-found": "No such resource (entity, event, stream, key or route).",
    "unauthenticated": "No API key, or an unknown or revoked one; send `Authorization: Bearer <key>`. Also `preview=true` on the log's reads without a live key that may preview (scope `preview`, `write` or `admin`): the detail names `preview=true`; on the read model's reads, `errors` names `preview`.",
    "forbidden": "The API key lacks the scope this operation needs.",
    "body-too-large": "The body is larger than 1 MiB.",
    "uri-too-long": "The request's path and query are longer than 16 KiB (16,384 bytes) together, as sent; the server answers it as soon as the target grows past it, before any route, and closes the connection.",
    "method-not-allowed": "The route does not answer this HTTP method.",
    "http-error": "Any other HTTP-level refusal; `status` says which.",
    "not-ready": "The database is unreachable, or its schema is not at the migrations' head (`migration` says where it is).",
    "database-unavailable": "The database cannot be reached, refused the connection, is starting up, or dropped it mid-request (a crash, a restart); retry after `Retry-After` seconds. A write answered so may or may not be in the log: retry it with the same event ids.",
    "internal-error": "A fault on the service's side; it has been logged.",
    "stopping": "This API process was stopping and its deadline (`DATELINE_SHUTDOWN_SECONDS`) passed before the request's answer: an append may or may not have been written; retry it, with the same event ids, after `Retry-After` seconds (another process answers), and it is appended once.",
    "format-not-supported": "The oEmbed endpoint answers only `format=json`.",
    "too-many-streams": "This process already streams to as many live readers, or follows as many distinct live timelines, as it may; retry after `Retry-After` seconds.",
    "rate-limited": "This API key's writes, or this client address's reads that the cache does not answer, reached their rate limit in this API process (`DATELINE_WRITE_RATE`, `DATELINE_READ_RATE`); retry after `Retry-After` seconds. Cached reads are never counted.",
    "too-many-client-streams": "This client address already holds as many live streams as one may; retry after `Retry-After` seconds, or close one.",
}
"""Every problem type the API answers with (``urn:dateline:problem:<kind>``), and what it means."""
_log = logging.getLogger("dateline.http")
_BEARER_CHALLENGE = 'Bearer realm="dateline"'

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
    501: "Not implemented",
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
        TEXT_PATTERN: "text with no control character but tab and line breaks, and no noncharacter",
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
    assert kind in PROBLEM_TYPES, kind
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


def _forbidden(request: Request[Any, Any, Any], exc: Forbidden) -> Response[Problem]:
    return problem(request, 403, "forbidden", exc.detail)


def _not_found(request: Request[Any, Any, Any], exc: NotFound) -> Response[Problem]:
    return problem(request, 404, "not-found", exc.detail)


def _name_taken(request: Request[Any, Any, Any], exc: NameTaken) -> Response[Problem]:
    return problem(request, 409, "conflict", str(exc))


def _revoked(request: Request[Any, Any, Any], exc: Revoked) -> Response[Problem]:
    detail = "This API key is unknown or revoked."
    return problem(request, 401, "unauthenticated", detail, headers={"WWW-Authenticate": _BEARER_CHALLENGE})


def _preview_refused(request: Request[Any, Any, Any], exc: PreviewRefused) -> Response[Problem]:
    reason = "needs a live API key that may preview (scope preview, write or admin)"
    detail = "preview=true needs 'Authorization: Bearer <key>' with a live key that may preview."
    headers = {"WWW-Authenticate": _BEARER_CHALLENGE}
    errors = [FieldError(path="preview", reason=reason)]
    return problem(request, 401, "unauthenticated", detail, headers=headers, errors=errors)


def _not_caught_up(request: Request[Any, Any, Any], exc: NotCaughtUp) -> Response[Problem]:
    return problem(request, 503, "not-caught-up", exc.detail, headers={"Retry-After": "1"})


def _sentence(clause: str) -> str:
    return clause[:1].upper() + clause[1:]


def _busy(request: Request[Any, Any, Any], exc: Busy) -> Response[Problem]:
    detail = f"{_sentence(exc.detail)}; retry shortly."
    return problem(request, 503, "too-many-streams", detail, headers={"Retry-After": "5"})


def _too_many(request: Request[Any, Any, Any], exc: TooMany) -> Response[Problem]:
    detail = f"Too many {exc}: retry in {exc.retry_after} s."
    return problem(request, 429, "rate-limited", detail, headers={"Retry-After": str(exc.retry_after)})


def _reader_busy(request: Request[Any, Any, Any], exc: ReaderBusy) -> Response[Problem]:
    # Longer than a full process's wait: this client's own streams must end first.
    detail = f"{_sentence(exc.detail)}; close one, or retry later."
    return problem(request, 429, "too-many-client-streams", detail, headers={"Retry-After": "30"})


def _beyond_the_log(request: Request[Any, Any, Any], exc: BeyondTheLog) -> Response[Problem]:
    errors = [FieldError(path="min_position", reason=f"the log ends at position {exc.head}")]
    return problem(request, 400, "position-beyond-log", exc.detail, errors=errors, head=exc.head)


def _as_written(request: Request[Any, Any, Any], key: str) -> str:
    """A parameter's name as the client wrote it: Litestar reports the Python name (``from_``),
    which the handler or one of its dependencies may declare under another (``from``)."""
    handler = request.route_handler
    signatures = [handler.parsed_fn_signature]
    signatures += [provider.parsed_fn_signature for provider in handler.resolve_dependencies().values()]
    for signature in signatures:
        field = signature.parameters.get(key)
        if (
            field is not None
            and isinstance(field.kwarg_definition, ParameterKwarg)
            and field.kwarg_definition.name
        ):
            return field.kwarg_definition.name
    return key


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    """Litestar's own parameter checks (query, path, headers)."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        FieldError(path=_as_written(request, str(item.get("key", "?"))), reason=str(item.get("message")))
        for item in extra
        if isinstance(item, dict)
    ]
    detail = "; ".join(f"{error.path}: {error.reason}" for error in errors) or str(exc.detail)
    return problem(request, 400, "invalid-parameter", detail, errors=errors or None)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", _BEARER_CHALLENGE)
    kind = {
        401: "unauthenticated",
        403: "forbidden",
        404: "not-found",
        405: "method-not-allowed",
        413: "body-too-large",
        501: "format-not-supported",
    }.get(exc.status_code, "http-error")
    return problem(request, exc.status_code, kind, exc.detail, headers=headers)


def _database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    _log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
    return problem(
        request,
        503,
        "database-unavailable",
        "The database is unavailable; retry shortly.",
        headers={"Retry-After": "2"},
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    _log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, 500, "internal-error", "Something went wrong on our side; it has been logged.")


def schema_not_found(response: Response[Any]) -> Response[Any]:
    """Under /schema only Litestar's own not-found page answers 404, in HTML: say it as a problem."""
    if response.status_code == 404:
        raise NotFoundException("No such document: the API contract is at /schema/openapi.yaml.")
    return response


def exception_handlers() -> ExceptionHandlersMap:
    handlers: dict[type[Exception], Callable[[Request[Any, Any, Any], Any], Response[Problem]]] = {
        InvalidBody: _invalid_body,
        MalformedBody: _malformed_body,
        Rejected: _rejected,
        Conflict: _conflict,
        NotFound: _not_found,
        Forbidden: _forbidden,
        NameTaken: _name_taken,
        Revoked: _revoked,
        PreviewRefused: _preview_refused,
        NotCaughtUp: _not_caught_up,
        BeyondTheLog: _beyond_the_log,
        Busy: _busy,
        ReaderBusy: _reader_busy,
        TooMany: _too_many,
        ValidationException: _validation,
        HTTPException: _http,
        **dict.fromkeys(UNREACHABLE, _database_unavailable),
        Exception: _unexpected,
    }
    return handlers  # type: ignore[return-value]
