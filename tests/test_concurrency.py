"""Concurrent writers and readers: one winner per expected version, and a log readers can
follow without ever skipping or repeating an event."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import asyncpg
import pytest

from schemas import EntityRef, FactReported
from service.domain.appending import AppendPlan, decide, needs
from service.store import events as log
from tests.conftest import Client, client_for
from tests.factories import bearer, registered, reported


async def test_twenty_appends_with_the_same_expected_version_one_wins(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))

    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/events", json=reported("microsoft", expected_version=1), headers=bearer(write_key)
            )
            for _ in range(20)
        )
    )

    assert sorted(Counter(response.status_code for response in responses).items()) == [(201, 1), (409, 19)]
    assert all(r.json()["current_version"] == 2 for r in responses if r.status_code == 409)
    assert (await client.get("/v1/streams/microsoft")).json()["version"] == 2


async def test_identical_retries_at_once_append_once_and_all_get_its_row(
    client: Client, write_key: str
) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    event = reported("microsoft", id=str(uuid.uuid4()))

    responses = await asyncio.gather(
        *(client.post("/v1/events", json=event, headers=bearer(write_key)) for _ in range(10))
    )

    assert sorted(Counter(response.status_code for response in responses).items()) == [(200, 9), (201, 1)]
    assert all(response.json() == responses[0].json() for response in responses)
    assert (await client.get("/v1/streams/microsoft")).json()["version"] == 2


async def _follow(client: Client, stop: asyncio.Event) -> list[str]:
    """Read the log page by page until told to stop and nothing new comes."""
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 250, **({"after": cursor} if cursor else {})}
        page = (await client.get("/v1/events", params=params)).json()
        seen.extend(event["id"] for event in page["events"])
        cursor = page["next"]
        if not page["events"]:
            if stop.is_set():
                return seen
            await asyncio.sleep(0.005)


async def test_a_reader_following_eight_writers_sees_every_event_once(
    database_url: str, write_key: str
) -> None:
    async with client_for(database_url, projections=False) as client:  # the log alone is under test
        await _eight_writers(client, write_key)


async def _eight_writers(client: Client, write_key: str) -> None:
    writers = [f"writer-{n}" for n in range(8)]
    registrations = await client.post(
        "/v1/events/batch", json={"events": [registered(w) for w in writers]}, headers=bearer(write_key)
    )
    stop = asyncio.Event()
    reader = asyncio.create_task(_follow(client, stop))

    async def write(slug: str) -> list[str]:
        ids = []
        for _ in range(500):
            response = await client.post("/v1/events", json=reported(slug), headers=bearer(write_key))
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        return ids

    written = await asyncio.gather(*(write(slug) for slug in writers))
    stop.set()
    seen = await reader

    appended = {event_id for ids in written for event_id in ids}
    appended |= {event["id"] for event in registrations.json()["events"]}
    assert len(appended) == 4008
    assert len(seen) == len(set(seen)), "an event was served twice"
    assert set(seen) == appended, f"{len(appended - set(seen))} events were skipped"
    again = await _follow(client, stop)
    assert again == seen, "the order changed between two reads of the log"


async def test_a_reader_never_skips_an_event_that_commits_late(
    client: Client, write_key: str, database_url: str
) -> None:
    """Force the classic gap: a lower position commits after a higher one is already visible."""
    await client.post(
        "/v1/events/batch",
        json={"events": [registered("slow"), registered("fast")]},
        headers=bearer(write_key),
    )
    start = (await client.get("/v1/events")).json()["next"]
    slow_id = uuid.uuid4()
    slow_event = FactReported(
        id=slow_id,
        occurred="2024",
        headline={"en": "slow"},
        entities=[EntityRef(slug="slow", role="subject")],
    )

    conn = await asyncpg.connect(database_url)
    try:
        transaction = conn.transaction()
        await transaction.start()
        plan = decide([slow_event], await log.append_state(conn, needs([slow_event])), ["$"])
        assert isinstance(plan, AppendPlan)
        [slow_row] = await log.write_plan(conn, plan, [{"author": "test"}])

        fast = await client.post("/v1/events", json=reported("fast"), headers=bearer(write_key))
        assert fast.status_code == 201
        assert fast.json()["position"] > slow_row.position

        # The later position has committed, the earlier one has not: the reader must wait.
        waiting = (await client.get("/v1/events", params={"after": start})).json()
        assert waiting["events"] == []
        assert waiting["next"] == start

        await transaction.commit()
    finally:
        await conn.close()

    page = (await client.get("/v1/events", params={"after": start})).json()
    assert [event["id"] for event in page["events"]] == [str(slow_id), fast.json()["id"]]


async def test_a_rolled_back_append_leaves_no_trace(
    client: Client, write_key: str, database_url: str
) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    conn = await asyncpg.connect(database_url)
    try:
        transaction = conn.transaction()
        await transaction.start()
        event = FactReported(
            occurred="2024", headline={"en": "x"}, entities=[EntityRef(slug="microsoft", role="subject")]
        )
        plan = decide([event], await log.append_state(conn, needs([event])), ["$"])
        assert isinstance(plan, AppendPlan)
        await log.write_plan(conn, plan, [{}])
        await transaction.rollback()
    finally:
        await conn.close()

    after = await client.post("/v1/events", json=reported("microsoft"), headers=bearer(write_key))
    assert after.json()["version"] == 2
    assert len((await client.get("/v1/events")).json()["events"]) == 2


async def test_the_log_refuses_updates_and_deletes(client: Client, write_key: str, database_url: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    conn = await asyncpg.connect(database_url)
    try:
        for statement in ("update events set type = 'x'", "delete from events", "truncate events cascade"):
            with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
                await conn.execute(statement)
    finally:
        await conn.close()


async def test_following_the_log_walks_its_index_instead_of_sorting(database_url: str) -> None:
    """At a million events a sort of the whole log per page took a second: it must not come back."""
    conn = await asyncpg.connect(database_url)
    try:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            await conn.execute(f"set {setting} = off")
        plan = "\n".join(row[0] for row in await conn.fetch("explain " + log._READ_LOG, "0", 0, 100))
    finally:
        await conn.close()
    assert "events_in_commit_order" in plan
    assert "Sort" not in plan
