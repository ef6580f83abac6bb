"""The projection engine: rebuilds equal incremental builds, crashes lose nothing, failures stop
and say where."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service.demo.story import demo_id
from service.domain.cursors import START
from service.projections import PROJECTIONS
from service.projections.engine import EventNotApplied, catch_up
from service.projections.rebuild import rebuild
from service.store import events as log
from service.store.events import LogSnapshot
from service.store.newsroom.rows import TABLES
from service.store.writers import writers
from tests.conftest import Client, client_for
from tests.factories import bearer, registered, reported
from tests.tables import snapshot

NEWSROOM = PROJECTIONS[0]
DATELINE = str(Path(sys.executable).parent / "dateline")


async def _build_incrementally(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await catch_up(conn, NEWSROOM, batch=3)  # small batches: many checkpoints on the way
    finally:
        await conn.close()


async def _busy_log(client: Client, key: str, facts: int = 1500) -> None:
    slugs = [f"org-{n}" for n in range(10)]
    await client.post(
        "/v1/events/batch", json={"events": [registered(s) for s in slugs]}, headers=bearer(key)
    )
    for start in range(0, facts, 500):
        events = [
            reported(slugs[n % 10], slugs[(n + 1) % 10], headline=f"Fact {n}")
            for n in range(start, start + 500)
        ]
        response = await client.post("/v1/events/batch", json={"events": events}, headers=bearer(key))
        assert response.status_code == 201


async def test_a_rebuild_equals_the_incremental_build(
    demo_database_url: str, demo_key: str, demo_client: Client
) -> None:
    correction = {
        "type": "event.retracted",
        "event_id": str(demo_id("fact/mai-1-servers")),
        "reason": {"en": "x"},
    }
    assert (
        await demo_client.post("/v1/events", json=correction, headers=bearer(demo_key))
    ).status_code == 201
    await _build_incrementally(demo_database_url)
    incremental = await snapshot(demo_database_url)
    assert len(incremental["timeline_items"]) == 10

    settings = await _table_settings(demo_database_url)

    applied = await rebuild(demo_database_url, NEWSROOM, batch=4)

    assert applied == incremental["checkpoint"][0][1]  # positions start at 1 and this log has no gaps
    assert await snapshot(demo_database_url) == incremental
    assert await _table_settings(demo_database_url) == settings  # autovacuum is back on, for one


async def _table_settings(database_url: str) -> list[tuple[str, list[str] | None]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "select relname, reloptions from pg_class where relnamespace = 'public'::regnamespace order by 1"
        )
    finally:
        await conn.close()
    return [(row["relname"], row["reloptions"]) for row in rows]


async def _rebuild_incrementally(database_url: str, batch: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"truncate {', '.join(TABLES)}")
        await conn.execute("update projection_checkpoints set transaction_id = '0', position = 0")
        await catch_up(conn, NEWSROOM, batch=batch)
    finally:
        await conn.close()


async def _append(client: Client, key: str, event: dict[str, Any]) -> str:
    response = await client.post("/v1/events", json=event, headers=bearer(key))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_the_tables_are_the_same_however_the_log_is_cut_into_batches(
    database_url: str, write_key: str, client: Client
) -> None:
    """Renames, corrections that move a fact between entities and dates, a merge and a retraction,
    each landing in the same batch as what they change or in a later one."""
    for slug in ("alpha", "beta", "gamma", "delta"):
        await _append(client, write_key, registered(slug))
    first = await _append(client, write_key, reported("alpha", "beta", headline="First"))
    second = await _append(client, write_key, reported("beta", "gamma", occurred="2023", headline="Second"))
    renamed = {"type": "entity.updated", "slug": "beta", "name": "Bee Corp", "aliases": ["Bêta"]}
    await _append(client, write_key, renamed)
    moved: dict[str, Any] = {"occurred": "2024-06-02"}
    moved["entities"] = [{"slug": "alpha", "role": "subject"}, {"slug": "gamma", "role": "subject"}]
    note = {"note": {"en": "Not beta after all."}}
    await _append(client, write_key, {"type": "event.corrected", "event_id": first, "changes": moved, **note})
    await _append(client, write_key, {"type": "event.confirmed", "event_id": second})
    third = await _append(client, write_key, reported("delta", headline="Third"))
    back = {"entities": [{"slug": "alpha", "role": "subject"}, {"slug": "beta", "role": "subject"}]}
    await _append(client, write_key, {"type": "event.corrected", "event_id": first, "changes": back, **note})
    await _append(client, write_key, {"type": "event.retracted", "event_id": third, "reason": {"en": "No."}})
    await _append(client, write_key, {"type": "entity.merged", "slug": "delta", "into": "alpha"})
    await _append(client, write_key, reported("alpha", "beta", occurred="2022", headline="Fourth"))

    built = []
    for batch in (1, 2, 3, 1000):
        await _rebuild_incrementally(database_url, batch)
        built.append(await snapshot(database_url))
    await rebuild(database_url, NEWSROOM)
    built.append(await snapshot(database_url))

    assert all(tables == built[0] for tables in built[1:])
    involvement = {(row[0], str(row[1]), row[5]) for row in built[0]["entity_items"]}  # slug, fact, current
    assert {("alpha", first, True), ("beta", first, True), ("gamma", first, False)} <= involvement
    searched = {str(row[0]): row[10] for row in built[0]["timeline_items"]}
    assert "'bee'" in searched[first]  # the names of its entities as of its last change,
    assert "'beta'" in searched[first]  # aliases too, accents taken off


async def test_a_rebuild_snapshot_does_not_hold_live_readers_back(
    database_url: str, write_key: str, client: Client
) -> None:
    before = await _append(client, write_key, registered("acme"))
    reader, follower = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        async with LogSnapshot(reader) as held:
            during = await _append(client, write_key, reported("acme"))
            live = [str(event.id) for event in await log.read_log(follower, START, 100)]
            snapshot = [
                str(event.id) for chunk in [chunk async for chunk in held.chunks(100)] for event in chunk
            ]
    finally:
        await reader.close()
        await follower.close()
    assert live == [before, during]
    assert snapshot == [before]


async def test_readers_keep_reading_through_a_rebuild(demo_database_url: str, demo_client: Client) -> None:
    await _build_incrementally(demo_database_url)
    before = (await demo_client.get("/v1/timeline", params={"limit": 100})).json()
    progress: list[tuple[int, int]] = []
    # In a thread of its own, as it would be in a process of its own: the test client's requests
    # block this event loop while they wait for the switch-over.
    rebuilding = asyncio.create_task(
        asyncio.to_thread(
            asyncio.run, rebuild(demo_database_url, NEWSROOM, batch=2, progress=lambda *p: progress.append(p))
        )
    )
    while not rebuilding.done():
        during = (await demo_client.get("/v1/timeline", params={"limit": 100})).json()
        assert during == before
        await asyncio.sleep(0)
    await rebuilding
    assert (await demo_client.get("/v1/timeline", params={"limit": 100})).json() == before
    assert progress[-1][0] == progress[-1][1]


def _runner(database_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [DATELINE, "projections", "run", "--poll", "0.05"],
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _checkpoint(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("select position from projection_checkpoints where name = 'newsroom'"))
    finally:
        await conn.close()


async def test_a_runner_killed_mid_batch_resumes_to_what_a_rebuild_gives(
    database_url: str, write_key: str, client: Client
) -> None:
    await _busy_log(client, write_key)
    conn = await asyncpg.connect(database_url)
    head = int(await conn.fetchval("select max(position) from events"))
    await conn.close()

    for _ in range(3):  # kill it a few times at whatever point it has reached
        runner = _runner(database_url)
        deadline = time.monotonic() + 30
        start = await _checkpoint(database_url)
        while await _checkpoint(database_url) == start and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    runner = _runner(database_url)
    try:
        deadline = time.monotonic() + 60
        while await _checkpoint(database_url) < head:
            assert time.monotonic() < deadline, "the restarted runner did not catch up"
            await asyncio.sleep(0.05)
    finally:
        runner.terminate()
        try:
            assert runner.wait(timeout=30) in (-signal.SIGTERM, 128 + signal.SIGTERM), "it ignored SIGTERM"
        finally:
            if runner.poll() is None:
                runner.kill()
    resumed = await snapshot(database_url)
    await rebuild(database_url, NEWSROOM)
    assert await snapshot(database_url) == resumed


async def test_an_event_that_cannot_be_applied_stops_the_projection_where_it_is(
    database_url: str, write_key: str, client: Client
) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    good = (await client.post("/v1/events", json=reported("microsoft"), headers=bearer(write_key))).json()
    conn = await asyncpg.connect(database_url)
    try:
        # A fact the projection cannot hold: its occurred was valid when written, then the
        # database was tampered with (as a buggy migration might). The trigger must be lifted.
        await conn.execute("alter table events disable trigger events_are_append_only")
        await conn.execute(
            "update events set data = jsonb_set(data, '{occurred}', '\"someday\"') where id = $1", good["id"]
        )
        await conn.execute("alter table events enable trigger events_are_append_only")
        await _build_incrementally(database_url)
        row = await conn.fetchrow(
            "select position, failing_event, error from projection_checkpoints where name = 'newsroom'"
        )
    finally:
        await conn.close()

    assert row is not None
    assert str(row["failing_event"]) == good["id"]
    assert row["position"] == good["position"] - 1
    assert "someday" in row["error"]
    [status] = (await client.get("/v1/projections")).json()
    assert status["state"] == "failing"
    assert status["failing_event"] == good["id"]
    assert status["lag_events"] >= 1


async def test_a_rebuild_that_meets_an_event_it_cannot_apply_says_which_and_changes_nothing(
    database_url: str, write_key: str, client: Client
) -> None:
    await _append(client, write_key, registered("microsoft"))
    bad = await _append(client, write_key, reported("microsoft"))
    await _build_incrementally(database_url)
    before = await snapshot(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        # As in the test above: a fact made invalid behind the log's back.
        await conn.execute("alter table events disable trigger events_are_append_only")
        await conn.execute(
            "update events set data = jsonb_set(data, '{occurred}', '\"someday\"') where id = $1", bad
        )
        await conn.execute("alter table events enable trigger events_are_append_only")
    finally:
        await conn.close()

    with pytest.raises(EventNotApplied) as failure:
        await rebuild(database_url, NEWSROOM)
    assert str(failure.value.event_id) == bad
    assert "someday" in str(failure.value)
    assert await snapshot(database_url) == before
    conn = await asyncpg.connect(database_url)
    try:
        assert not await conn.fetchval("select count(*) from pg_namespace where nspname like 'rebuild_%'")
    finally:
        await conn.close()
    cli = await asyncio.to_thread(
        subprocess.run,
        [DATELINE, "projections", "rebuild", "newsroom"],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 1
    assert f"stopped at event {bad}" in cli.stderr


async def test_writers_report_a_failed_statement_and_never_leave_the_caller_waiting(
    database_url: str,
) -> None:
    async def fail() -> None:
        async with writers(database_url, 2, "public") as pool:
            await pool.execute("insert into no_such_table values (1)")
            for _ in range(10):  # more than the queue holds: a failed writer still takes them
                await pool.execute("select pg_sleep(0.01)")

    with pytest.raises(asyncpg.UndefinedTableError):
        await asyncio.wait_for(fail(), 30)
    conn = await asyncpg.connect(database_url)
    try:
        async with writers(database_url, 2, "public") as pool:
            await pool.executemany("select $1::int", [(n,) for n in range(5)])
            await pool.execute("create table written_by_writers (n int)")
        assert await conn.fetchval("select count(*) from written_by_writers") == 0
    finally:
        await conn.close()


# These tests drive the engine themselves: the API's own runner would race them.
@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    async with client_for(database_url, projections=False) as test_client:
        yield test_client


@pytest.fixture
async def demo_client(demo_database_url: str) -> AsyncIterator[Client]:
    async with client_for(demo_database_url, projections=False) as test_client:
        yield test_client


async def test_a_log_holding_a_cross_kind_merge_still_folds_and_rebuilds(
    database_url: str, write_key: str, client: Client
) -> None:
    from service.domain.appending import AppendPlan, PlannedEvent, StreamChange
    from service.store.database import create_pool

    await _append(client, write_key, registered("acme"))
    await _append(client, write_key, registered("jane", kind="person"))
    # Written straight through the store, as the rules allowed before merges had to keep a kind.
    merge = PlannedEvent(
        id=None,
        stream="jane",
        type="entity.merged",
        schema_version=1,
        data='{"type":"entity.merged","slug":"jane","into":"acme"}',
        occurred=None,
    )
    pool = await create_pool(database_url, max_size=1)
    try:
        [written] = await log.write_plan(
            pool,
            AppendPlan([merge], [StreamChange("jane", count=1, merges_into="acme")]),
            [{"author": "old"}],
        )
    finally:
        await pool.close()
    await _build_incrementally(database_url)
    folded = await client.get("/v1/entities/jane", params={"min_position": written.position})
    assert folded.status_code == 200
    assert folded.json()["slug"] == "acme"
    assert folded.json()["merged_from"] == ["jane"]

    await asyncio.to_thread(lambda: asyncio.run(rebuild(database_url, NEWSROOM)))
    # Another URL (any position the log holds), so not the answer cached before the rebuild.
    rebuilt = await client.get("/v1/entities/jane", params={"min_position": 1})
    assert rebuilt.json() == folded.json()
