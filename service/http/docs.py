"""How the API contract describes each operation: examples, problems, headers, and event types.

``documented(...)`` gives a route handler its responses (the success with its example, each
problem it can answer with, a 304 where reads are conditional) and the headers that come with
them. ``CONTRACT`` is the OpenAPI configuration; the document it builds tells event types apart
by their ``type`` (an OpenAPI discriminator), which Litestar does not derive from a tagged union.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import msgspec
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import YamlRenderPlugin
from litestar.openapi.spec import (
    Components,
    Discriminator,
    Example,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
    SecurityScheme,
    Server,
)

from schemas import Problem
from service.demo.examples import RESPONSES
from service.http.problems import PROBLEM_MEDIA_TYPE


def shown(value: object, summary: str, description: str | None = None) -> Example:
    """An example as the contract shows it: a typed value in its wire form."""
    return Example(summary=summary, description=description, value=msgspec.to_builtins(value))


def header(description: str, kind: OpenAPIType = OpenAPIType.STRING) -> OpenAPIHeader:
    return OpenAPIHeader(schema=Schema(type=kind), description=description)


ETAG = header(
    "A validator of this very body: send it back as If-None-Match to be answered 304 while the "
    "body stays the same, whatever else is appended to the log."
)
CACHE_CONTROL = header("How long shared caches may keep the answer.")
CACHE_STATUS = header("RFC 9211: whether this process answered from its own cache (`hit`) or built the body.")
IMMUTABLE = header("Events never change: `public, max-age=31536000, immutable`.")
LOCATION = header("Where the appended event can be read.")
RETRY_AFTER = header("Seconds to wait before retrying.", OpenAPIType.INTEGER)
VARY = header("The request headers the body depends on.")
REQUEST_ID = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.STRING, pattern="^[\\x21-\\x7e]{1,100}$"),
    description="The request's id: the `X-Request-Id` it was sent with, if one of at most 100 "
    "printable ASCII characters without spaces, else a fresh one. Every log line written while "
    "serving it carries it, and an append records it in its events' metadata (`request_id`).",
    required=True,
)
_REQUEST_ID_REFERENCE = Reference(ref="#/components/headers/X-Request-Id")
CONDITIONAL = {"ETag": ETAG, "Cache-Control": CACHE_CONTROL, "Cache-Status": CACHE_STATUS}

_PROBLEMS = {
    400: "Malformed JSON, or an invalid query parameter named as it was written: one the operation does not take, one given twice, or a value over 4,096 characters.",
    401: "No API key, or an unknown or revoked one.",
    403: "The API key lacks the scope this operation needs.",
    404: "No such resource.",
    409: "A version conflict, an entity already registered, or an event id reused for other content.",
    413: "The body is larger than 1 MiB.",
    414: "The path and query are longer than 16 KiB together, as sent (a parameter of 4,096 characters, each written in several percent-encoded bytes, can be): answered before any route, and the connection closed.",
    422: "A field is invalid or breaks a rule; `errors` lists each one with its JSON path.",
    429: "A rate limit is reached (per API process): this API key's writes, this client address's reads that the cache does not answer, or its live streams; retry after `Retry-After` seconds.",
    501: "A format this endpoint does not produce: oEmbed answers only JSON.",
    503: "The database is unreachable or not migrated, or the read model has not yet applied `min_position`: retry after `Retry-After` seconds.",
}


def documented(
    status: int,
    model: Any,
    example: str | tuple[str, ...],
    description: str,
    *problems: int,
    headers: Mapping[str, OpenAPIHeader] | None = None,
    conditional: bool = False,
    media_type: str = "application/json",
    repeated: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for a route decorator: its responses, and the headers they carry.

    ``conditional`` reads answer If-None-Match with a 304 and carry ETag and caching headers.
    A ``media_type`` other than JSON is what the success is sent as, ``model`` what it carries;
    a success that takes several shapes (a union) has an ``example`` of each. A write that may
    be ``repeated`` (a retry of one already made) answers it with a 200 of the same body and
    headers, which that string describes.
    """
    success = dict(headers or {}) | (CONDITIONAL if conditional else {})

    def succeeded(meaning: str) -> ResponseSpec:
        return ResponseSpec(
            data_container=model,
            description=meaning,
            media_type=media_type,
            generate_examples=False,
            examples=[
                shown(RESPONSES[name], name) for name in ((example,) if isinstance(example, str) else example)
            ],
        )

    responses = {status: succeeded(description)}
    if repeated is not None:
        responses[200] = succeeded(repeated)
    if conditional:
        responses[304] = ResponseSpec(
            None, description="Not modified: the ETag sent in If-None-Match is still this body's."
        )
    # What needs a key is counted per key; a read that may be built anew, per client.
    limited = 401 in problems or conditional
    # Any request's target may be too long, whatever the route (``service.server``).
    for code in sorted({*problems, 414, *([429] if limited else [])}):
        responses[code] = ResponseSpec(
            data_container=Problem,
            description=_PROBLEMS[code],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
    by_status = {
        str(status): success,
        **({"200": success} if repeated is not None else {}),
        "304": CONDITIONAL if conditional else {},
        "429": {"Retry-After": RETRY_AFTER},
        "503": {"Retry-After": RETRY_AFTER},
    }

    # Litestar documents headers only through the operation itself: this one adds them to each
    # response once the responses are made, and takes its summary from the docstring's first
    # paragraph (Litestar's own is the handler's name, title-cased).
    @dataclass
    class DocumentedOperation(Operation):
        def __post_init__(self) -> None:
            if self.description:
                self.summary = " ".join(self.description.split("\n\n")[0].split())
            for code, response in (self.responses or {}).items():
                if not isinstance(response, Reference):
                    # A 414 is answered before the app sees the request: it has no id.
                    identified = {} if code == "414" else {"X-Request-Id": _REQUEST_ID_REFERENCE}
                    response.headers = {**(response.headers or {}), **by_status.get(code, {}), **identified}

    return {"responses": responses, "operation_class": DocumentedOperation}


def _schemas(node: Any) -> Iterator[Schema]:
    """Every schema in a part of the OpenAPI document, nested ones included."""
    if isinstance(node, Schema):
        yield node
    if is_dataclass(node) and not isinstance(node, type):
        for field in fields(node):
            yield from _schemas(getattr(node, field.name))
    elif isinstance(node, dict):
        for value in node.values():
            yield from _schemas(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _schemas(value)


def add_discriminators(openapi: OpenAPI, field: str = "type") -> None:
    """A ``oneOf`` of structs that each fix ``field`` to their own tag gets a discriminator, so
    that generated clients tell event types apart by ``type``."""
    components = (openapi.components.schemas if openapi.components else None) or {}

    def tag(member: Any) -> str | None:
        if not isinstance(member, Reference):
            return None
        target = components.get(member.ref.rsplit("/", 1)[-1])
        value = (target.properties or {}).get(field) if isinstance(target, Schema) else None
        return value.const if isinstance(value, Schema) and isinstance(value.const, str) else None

    for schema in list(_schemas(openapi)):
        if schema.one_of and schema.discriminator is None:
            tags = [tag(member) for member in schema.one_of]
            if all(tags):
                schema.discriminator = Discriminator(
                    property_name=field,
                    mapping={
                        str(name): member.ref
                        for name, member in zip(tags, schema.one_of, strict=True)
                        if isinstance(member, Reference)
                    },
                )


@dataclass
class _Contract(OpenAPI):
    """The document, finished once just before it is first rendered: references are only
    filled in once every component is named, and a discriminator maps to them."""

    def to_schema(self) -> dict[str, Any]:
        add_discriminators(self)
        return super().to_schema()


class ContractConfig(OpenAPIConfig):
    def to_openapi_schema(self) -> OpenAPI:
        document = super().to_openapi_schema()
        return _Contract(**{field.name: getattr(document, field.name) for field in fields(document)})


def contract_config(**overrides: Any) -> ContractConfig:
    return ContractConfig(
        title="Dateline",
        version="1.0.0",
        description=(
            "An event-sourced timeline API for tech-industry news. Editors append facts to an "
            "append-only log; readers follow the log, streams, entity states and timelines. "
            "Every error is an RFC 9457 problem (`application/problem+json`); the problem types are "
            "listed in docs/problems.md."
        ),
        # Relative: a client reading the contract from a service (/docs's "Try it out" among
        # them) sends its requests to that same service, at whatever host and port it answers.
        servers=[Server(url="/", description="The service this contract was read from")],
        components=Components(
            # Every response carries it: described once.
            headers={"X-Request-Id": REQUEST_ID},
            security_schemes={
                "apiKey": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API key from `dateline keys create`, sent as `Authorization: Bearer <key>`.",
                )
            },
        ),
        path="/schema",
        render_plugins=[YamlRenderPlugin()],
        create_examples=False,
        use_handler_docstrings=True,
        **overrides,
    )
