"""Drafts and embargoes through HTTP: held events change nothing public until they are published,
then appear by themselves, once, at their own place in the log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Client
from tests.factories import bearer, registered, reported


def _soon(seconds: float = 1.5) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def _log(client: Client, **params: Any) -> list[dict[str, Any]]:
    page = await client.get("/v1/events", params={"limit": 1000, **params})
    assert page.status_code == 200, page.text
    events: list[dict[str, Any]] = page.json()["events"]
    return events


async def _until_published(client: Client, event_id: str, within: float = 3.0) -> float:
    """Seconds until the log holds ``event_id``."""
    started = asyncio.get_running_loop().time()
    while (await client.get(f"/v1/events/{event_id}")).status_code != 200:
        assert asyncio.get_running_loop().time() - started < within, f"{event_id} was not published"
        await asyncio.sleep(0.05)
    return asyncio.get_running_loop().time() - started


async def test_a_held_append_says_it_is_held_and_stays_out_of_the_log(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    before = await _log(client)

    draft = await client.post(
        "/v1/events", json={**reported("microsoft"), "draft": True}, headers=bearer(write_key)
    )
    embargoed = await client.post(
        "/v1/events", json={**reported("microsoft"), "publish_at": _soon(60)}, headers=bearer(write_key)
    )

    assert draft.status_code == 201, draft.text
    assert draft.json()["held"] == {"draft": True}
    assert draft.json()["version"] is None
    assert embargoed.json()["held"]["publish_at"].endswith("Z")
    assert await _log(client) == before
    assert (await client.get(draft.headers["location"])).status_code == 404
    previewed = await client.get(
        draft.headers["location"], params={"preview": "true"}, headers=bearer(write_key)
    )
    assert previewed.status_code == 200, previewed.text
    assert previewed.json()["held"] == {"draft": True}
    assert previewed.headers["cache-control"] == "private, no-store"
    merged = (await client.get("/v1/events", params={"preview": "true"}, headers=bearer(write_key))).json()
    assert [event["id"] for event in merged["events"]] == [
        *(event["id"] for event in before),
        draft.json()["id"],
        embargoed.json()["id"],
    ]
    assert [event.get("held") for event in merged["events"]][-2:] == [
        {"draft": True},
        {"publish_at": embargoed.json()["held"]["publish_at"]},
    ]
