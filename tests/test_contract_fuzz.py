"""The contract, fuzzed against the service it describes: Schemathesis makes requests from
openapi.yaml, valid and not, and sends them to a real uvicorn on loopback over the demo's data,
as a reader with no key, an editor's write key and an admin key. Every answer must be one the
contract documents (status, content type, headers, body), and none a server error but oEmbed's
501 for a format it does not produce (the oEmbed spec's answer).

Live streams never end: they are left out of the generic run and read here, a bounded number of
bytes within a bounded time, by ``test_a_live_stream_starts_as_documented``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.browser import demo_folded, serving
from tests.conftest import PROJECT_ROOT, make_key
from tests.factories import bearer

_CALLERS = ("anonymous", "write", "admin")
_EXAMPLES = 40
"""Generated requests per operation and caller, valid and not, after the contract's examples:
the file runs in about a minute on two cores."""
_STREAM_SECONDS = 0.5
"""How long a live stream is read: its first frames, then it is closed."""

pytestmark = pytest.mark.slow


def only_documented_server_errors(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    """No 5xx, but a 501 where the operation documents one (oEmbed's unsupported format).

    The contract also documents 503 everywhere, for a database that is down or a read model that
    is behind: neither holds in this run, so a 503 here is a fault like any other.
    """
    status = response.status_code
    documented = case.operation.definition.raw.get("responses", {})
    assert status < 500 or (status == 501 and "501" in documented), (
        f"{case.method} {case.formatted_path} answered {status}: {response.text[:500]}"
    )


_CHECKS = [
    only_documented_server_errors,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def base_url(module_demo_database_url: str) -> Iterator[str]:
    with serving(module_demo_database_url) as base:
        demo_folded(base)
        yield base


@pytest.fixture(scope="module", params=_CALLERS)
def caller(request: pytest.FixtureRequest, module_demo_database_url: str) -> dict[str, str]:
    """The headers a caller sends: none, or its key."""
    scope = request.param
    if scope == "anonymous":
        return {}
    return bearer(asyncio.run(make_key(module_demo_database_url, f"fuzzing-{scope}", scope)))


# The checked-in contract, which tests/test_openapi.py holds equal to the one the service serves:
# read at import, since Schemathesis makes one test per operation as pytest collects them.
contract = schemathesis.openapi.from_path(
    PROJECT_ROOT / "openapi.yaml",
    # The coverage phase sends every boundary and negative case it derives from the contract,
    # as many as 4,000 for the event union alone, which no count bounds: the contract's own
    # examples and a bounded number of generated requests (valid and not) per operation run.
    config=schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}}),
)
schema = contract.exclude(operation_id="followTimeline")
live = contract.include(operation_id="followTimeline")
_FUZZING = settings(
    max_examples=_EXAMPLES,
    deadline=None,
    derandomize=True,
    # The service is one process on a shared machine: slow answers are not what is under test.
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@_FUZZING
def test_every_answer_is_one_the_contract_documents(
    case: Case[Any], base_url: str, caller: dict[str, str]
) -> None:
    case.call_and_validate(base_url=base_url, headers=caller, checks=_CHECKS, timeout=10)


@live.parametrize()
# A stream costs its whole read: fewer of them, and none of the contract-derived (explicit) cases.
@settings(_FUZZING, max_examples=4, phases=[Phase.generate])
def test_a_live_stream_starts_as_documented(case: Case[Any], base_url: str, caller: dict[str, str]) -> None:
    # Schemathesis reads an event stream until the request's timeout has passed in all, then
    # closes it: what it checks of a stream is its start.
    started = time.monotonic()
    response = case.call(base_url=base_url, headers=caller, timeout=_STREAM_SECONDS)
    assert time.monotonic() - started < _STREAM_SECONDS + 2
    case.validate_response(response, checks=_CHECKS)
    if response.status_code == 200:
        assert response.headers.get("cache-control") == ["no-store"], response.headers
        # The first frame says where the stream starts and how soon to come back.
        assert re.match(r"id: [\w-]+\r\nretry: 1000\r\n\r\n", response.text), response.text[:200]
