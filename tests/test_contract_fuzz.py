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
import http.client
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.browser import serving
from tests.conftest import PROJECT_ROOT, make_key
from tests.factories import bearer

_CALLERS = ("anonymous", "write", "admin")
_EXAMPLES = 12
"""Generated requests per operation and caller, on top of the contract's own examples: the file
runs in about a minute on two cores."""


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
        _wait_for_the_demo(base)
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
schema = schemathesis.openapi.from_path(PROJECT_ROOT / "openapi.yaml").exclude(operation_id="followTimeline")


@schema.parametrize()
@settings(
    max_examples=_EXAMPLES,
    deadline=None,
    derandomize=True,
    # The service is one process on a shared machine: slow answers are not what is under test.
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_one_the_contract_documents(
    case: Case[Any], base_url: str, caller: dict[str, str]
) -> None:
    case.call_and_validate(base_url=base_url, headers=caller, checks=_CHECKS, timeout=10)


def _wait_for_the_demo(base: str) -> None:
    """Until the projection has folded the demo's log: its entities are there."""
    for _ in range(200):
        if _get(base, "/v1/entities/mai-1")[0] == 200:
            return
        time.sleep(0.05)
    raise AssertionError("the demo was not folded within 10 s")


def _get(base: str, path: str) -> tuple[int, str]:
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()
