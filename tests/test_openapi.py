"""The checked-in contract is what the app serves, and its examples are accepted as they stand."""

from __future__ import annotations

import pytest
import yaml

from schemas import EVENT_TYPES
from service.app import create_app
from service.cli import contract_yaml
from service.http.examples import BATCH_EXAMPLES, EVENT_BODIES
from tests.conftest import PROJECT_ROOT, Client
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


def test_every_event_type_has_an_example() -> None:
    assert set(EVENT_BODIES) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(EVENT_BODIES))
async def test_each_event_example_is_accepted_on_the_demo_data(
    demo_client: Client, demo_key: str, event_type: str
) -> None:
    response = await demo_client.post("/v1/events", json=EVENT_BODIES[event_type], headers=bearer(demo_key))
    assert response.status_code == 201, response.text


async def test_the_batch_example_is_accepted_on_the_demo_data(demo_client: Client, demo_key: str) -> None:
    for example in BATCH_EXAMPLES:
        response = await demo_client.post("/v1/events/batch", json=example.value, headers=bearer(demo_key))
        assert response.status_code == 201, response.text
