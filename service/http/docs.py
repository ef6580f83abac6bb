"""How responses are described in the API contract: success examples and problem types."""

from __future__ import annotations

from typing import Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example

from schemas import Problem
from service.http.examples import RESPONSE_EXAMPLES
from service.http.problems import PROBLEM_MEDIA_TYPE

_PROBLEMS = {
    400: "Malformed JSON or an invalid query parameter.",
    401: "No API key, or an unknown or revoked one.",
    403: "The API key lacks the scope this operation needs.",
    404: "No such resource.",
    409: "A version conflict, an entity already registered, or an event id reused for other content.",
    413: "The body is larger than 1 MiB.",
    422: "A field is invalid or breaks a rule; `errors` lists each one with its JSON path.",
    503: "The database is unreachable or not migrated.",
}


def documented(
    status: int, model: Any, example: str, description: str, *problems: int
) -> dict[int, ResponseSpec]:
    """The success response with its example, plus the problems the operation can answer with."""
    responses = {
        status: ResponseSpec(
            data_container=model,
            description=description,
            generate_examples=False,
            examples=[Example(summary=example, value=RESPONSE_EXAMPLES[example])],
        )
    }
    for code in problems:
        responses[code] = ResponseSpec(
            data_container=Problem,
            description=_PROBLEMS[code],
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
    return responses
