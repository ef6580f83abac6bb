"""Mangled versions of valid requests: whatever arrives, the answer is a problem, never a 500."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import msgspec
import pytest

from service.demo.examples import EVENTS
from tests.conftest import Client
from tests.factories import bearer

_NASTY: list[Any] = [
    None,
    True,
    -1,
    2**64,
    1e308,
    "",
    "x" * 10_000,
    "\u0000",
    "\ud800",
    [],
    {},
    [[[[[]]]]],
    {"a": {"b": {}}},
    "2024-02-30",
    "9999-12-31T23:59:59+14:00",
    "00000000-0000-0000-0000-000000000000",
]


def _mangle(body: dict[str, Any], rng: random.Random) -> Any:
    """Replace, drop or add one field somewhere in the body."""
    mangled = copy.deepcopy(body)
    target: Any = mangled
    while isinstance(target, dict) and target and rng.random() < 0.5:
        key = rng.choice(list(target))
        if isinstance(target[key], dict | list) and target[key]:
            target = target[key] if isinstance(target[key], dict) else rng.choice(target[key])
        else:
            break
    if not isinstance(target, dict) or not target:
        return rng.choice(_NASTY)
    key = rng.choice(list(target))
    action = rng.random()
    if action < 0.6:
        target[key] = rng.choice(_NASTY)
    elif action < 0.8:
        del target[key]
    else:
        target[f"{key}_extra"] = rng.choice(_NASTY)
    return mangled


async def test_mangled_events_never_cause_a_server_error(demo_client: Client, demo_key: str) -> None:
    rng = random.Random(20261128)
    bodies = [msgspec.to_builtins(event) for event in EVENTS.values()]
    statuses = set()
    for _ in range(300):
        body = _mangle(rng.choice(bodies), rng)
        # json.dumps escapes lone surrogates, which a client library would refuse to send
        response = await demo_client.post(
            "/v1/events",
            content=json.dumps(body).encode(),
            headers={**bearer(demo_key), "content-type": "application/json"},
        )
        assert response.status_code < 500, (body, response.text)
        statuses.add(response.status_code)
    assert {422} <= statuses


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe",
        b"{" * 10_000,
        b'{"type": "fact.reported"' + b" " * 1000,
        b"[]",
        b"null",
        b'"just a string"',
    ],
)
async def test_raw_garbage_is_a_client_error(client: Client, write_key: str, raw: bytes) -> None:
    response = await client.post(
        "/v1/events", content=raw, headers={**bearer(write_key), "content-type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text


@pytest.mark.parametrize(
    "url",
    [
        "/v1/events?after=OTk5OTk5OTk5OTk5OTk5OTk5OTkuMQ",  # transaction id past 2**63
        "/v1/events?after=MS45OTk5OTk5OTk5OTk5OTk5OTk5OQ",  # position past 2**63
        "/v1/streams/microsoft?from_version=99999999999",
        "/v1/streams/" + "x" * 5000,
        "/v1/events?limit=-5",
    ],
)
async def test_out_of_range_reads_are_client_errors(client: Client, url: str) -> None:
    response = await client.get(url)
    assert 400 <= response.status_code < 500, response.text
