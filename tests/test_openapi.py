"""The checked-in contract is what the app serves, and its examples are accepted as they stand."""

from __future__ import annotations

import inspect
from types import UnionType
from typing import Any, get_args

import msgspec
import pytest
import yaml
from litestar.openapi.datastructures import ResponseSpec

from schemas import EVENT_TYPES, EventPage, TimelinePage
from service.app import create_app
from service.cli import contract_yaml
from service.demo.examples import BATCH, EVENTS, RESPONSES
from service.http.problems import PROBLEM_TYPES
from tests.conftest import PROJECT_ROOT, Client, make_key
from tests.factories import bearer


def test_checked_in_contract_equals_the_served_one() -> None:
    served = contract_yaml(create_app().openapi_schema.to_schema())
    checked_in = (PROJECT_ROOT / "openapi.yaml").read_text()
    assert served == checked_in, (
        "openapi.yaml is stale: run `.venv/bin/dateline openapi --output openapi.yaml`"
    )


async def test_the_contract_is_served_over_http(client: Client) -> None:
    response = await client.get("/schema/openapi.yaml")
    assert response.status_code == 200
    assert yaml.safe_load(response.text)["info"]["title"] == "Dateline"


def test_every_operation_has_examples_a_summary_and_problem_errors() -> None:
    schema = create_app().openapi_schema.to_schema()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary"), f"{method} {path} has no summary"
            assert operation.get("operationId"), f"{method} {path} has no operationId"
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in response["content"], f"{method} {path} {status}"
                elif "content" in response:
                    assert next(iter(response["content"].values())).get("examples"), (
                        f"{method} {path} {status}"
                    )
            body = operation.get("requestBody")
            if body:
                examples = body["content"]["application/json"]["schema"].get("examples")
                assert examples, f"{method} {path} has no request example"


EVENT_BODIES = {kind: msgspec.to_builtins(event) for kind, event in EVENTS.items()}


def test_every_event_type_has_an_example() -> None:
    assert set(EVENT_BODIES) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(EVENT_BODIES))
async def test_each_event_example_is_accepted_on_the_demo_data(
    demo_client: Client, demo_database_url: str, demo_key: str, event_type: str
) -> None:
    # A merge is undone only once it has been made.
    for needed in [_UNDOES[event_type]] if event_type in _UNDOES else []:
        made = await demo_client.post("/v1/events", json=EVENT_BODIES[needed], headers=bearer(demo_key))
        assert made.status_code == 201, made.text
    # Only an admin key may erase.
    key = await make_key(demo_database_url, "legal", "admin") if event_type == "event.erased" else demo_key
    response = await demo_client.post("/v1/events", json=EVENT_BODIES[event_type], headers=bearer(key))
    assert response.status_code == 201, response.text


_UNDOES = {"entity.unmerged": "entity.merged"}


async def test_the_batch_example_is_accepted_on_the_demo_data(demo_client: Client, demo_key: str) -> None:
    response = await demo_client.post(
        "/v1/events/batch", json=msgspec.to_builtins(BATCH), headers=bearer(demo_key)
    )
    assert response.status_code == 201, response.text


def test_every_answer_example_in_the_contract_decodes_as_its_documented_model() -> None:
    # As a client would read it: every field's type and every constraint (patterns, lengths,
    # ranges) checked, from the example's wire form the contract shows.
    checked = 0
    for route in create_app().routes:
        for handler in getattr(route, "route_handlers", []):
            for status, spec in (handler.responses or {}).items():
                assert isinstance(spec, ResponseSpec)
                if spec.data_container is None:
                    assert not spec.examples or all(e.value is None for e in spec.examples), status
                    continue
                for example in spec.examples or []:
                    assert _decodes(example.value, spec.data_container), (
                        handler.operation_id,
                        example.summary,
                    )
                    checked += 1
    assert checked >= len(RESPONSES) - 2


def _decodes(value: Any, model: Any) -> bool:
    """Whether the value is one of the model, or of one of its shapes (an untagged union: the
    timeline's page or its TimelineJS document)."""
    for shape in get_args(model) if isinstance(model, UnionType) else (model,):
        try:
            msgspec.convert(value, shape)
        except msgspec.ValidationError:
            continue
        return True
    return False


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = create_app().openapi_schema.to_schema()
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def test_operation_descriptions_are_the_handlers_docstrings() -> None:
    app = create_app()
    documented = {operation["operationId"]: operation for _, _, operation in _operations()}
    handlers = [
        handler
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if handler.include_in_schema
    ]
    assert handlers
    for handler in handlers:
        operation_id = handler.operation_id
        if not isinstance(operation_id, str):
            continue
        docstring = inspect.cleandoc(handler.fn.__doc__ or "")
        assert docstring, operation_id
        assert documented[operation_id]["description"] == docstring
        assert documented[operation_id]["summary"] == " ".join(docstring.split("\n\n")[0].split())


def test_the_event_union_has_a_discriminator_on_type() -> None:
    schema = create_app().openapi_schema.to_schema()
    body = schema["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    discriminator = body["discriminator"]
    assert discriminator["propertyName"] == "type"
    assert set(discriminator["mapping"]) == set(EVENT_TYPES)
    for tag, reference in discriminator["mapping"].items():
        component = schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]
        assert component["properties"]["type"]["const"] == tag
    batch = schema["components"]["schemas"]["BatchAppend"]["properties"]["events"]["items"]
    assert batch["discriminator"]["propertyName"] == "type"


def test_response_headers_and_304_are_documented() -> None:
    operations = {operation["operationId"]: operation for _, _, operation in _operations()}
    for conditional in ("readTimeline", "readEntityTimeline", "readEntity", "listEntities"):
        responses = operations[conditional]["responses"]
        assert {"ETag", "Cache-Control"} <= set(responses["200"]["headers"]), conditional
        assert "ETag" in responses["304"]["headers"], conditional
    assert "Location" in operations["appendEvent"]["responses"]["201"]["headers"]
    assert "Cache-Control" in operations["readEvent"]["responses"]["200"]["headers"]
    assert "Vary" in operations["listProjections"]["responses"]["200"]["headers"]
    # All but liveness and the host pages' scripts can meet an unreachable database.
    without_database = {"health", "hostScript", "widgetScript"}
    with_503 = [operation for operation in operations.values() if "503" in operation["responses"]]
    assert {operation["operationId"] for operation in with_503} == set(operations) - without_database
    for operation in with_503:
        assert "Retry-After" in operation["responses"]["503"]["headers"], operation["operationId"]


def test_every_problem_type_is_listed_in_the_docs_with_its_meaning() -> None:
    listed = (PROJECT_ROOT / "docs" / "problems.md").read_text()
    for kind, meaning in PROBLEM_TYPES.items():
        assert f"| `urn:dateline:problem:{kind}` |" in listed, kind
        assert meaning in listed, kind


def test_the_cursors_in_the_examples_are_ones_the_api_takes() -> None:
    from service.domain import cursors

    page, timeline = RESPONSES["page"], RESPONSES["timeline"]
    assert isinstance(page, EventPage)
    assert isinstance(timeline, TimelinePage)
    assert timeline.next
    assert cursors.decode(page.next, cursors.LogCursor)
    assert cursors.decode(timeline.next, cursors.TimelineCursor)
