"""Faults of the projection runners, with real processes and signals: a leader killed or frozen
is replaced by a standby in another process, the frozen one writes nothing once it wakes, an
event a projection cannot apply stops it there until it is fixed, and a stop ends at a batch
boundary. Each ends with tables equal to a clean rebuild."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from service.projections import PROJECTIONS
from service.projections.engine import STOP_SECONDS
from service.projections.rebuild import rebuild
from service.store.checkpoints import LEASE_SECONDS, STATEMENT_SECONDS
from service.store.newsroom.rows import TABLES
from tests.browser import free_port
from tests.conftest import PROJECT_ROOT, Client, client_for, make_key
from tests.factories import bearer, registered, reported
from tests.tables import snapshot

NEWSROOM = PROJECTIONS[0]
DATELINE = str(Path(sys.executable).parent / "dateline")
TAKEOVER_SECONDS = 10.0
"""What the service promises: a standby leads within this of the leader's death or freeze."""
_LEADER = """
select a.application_name, a.pid, a.backend_xid is not null as writing
from pg_locks l join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'advisory' and l.granted and l.objsubid = 1
  and l.database = (select oid from pg_database where datname = current_database())
  and l.classid = ((hashtext('dateline.projection.newsroom')::bigint >> 32) & 4294967295)::oid
  and l.objid = (hashtext('dateline.projection.newsroom')::bigint & 4294967295)::oid
"""
# An operator's audit, not the service's: which session committed a write to a projection's
# tables or its checkpoint. Statement triggers fire even for a statement that changed no row.
_AUDIT = """
create table public.runner_writes (writer text not null, relation text not null);
create function public.note_runner_write() returns trigger language plpgsql as $$
begin
    insert into public.runner_writes values (current_setting('application_name'), tg_table_name);
    return null;
end $$;
"""
_AUDITED = (*TABLES, "projection_checkpoints")
_BACKLOG = 1500
"""Facts a runner finds waiting when it starts: several batches of work."""
_BATCH = 500
"""How many events a runner applies in one step (``catch_up``'s batch)."""
_SLOW_INSERTS = """
create function public.slowly() returns trigger language plpgsql as $$
begin
    perform pg_sleep(0.5);
    return null;
end $$;
create trigger slowly after insert on timeline_items for each statement execute function public.slowly();
"""
_ITEM_AUDIT = """
create table public.item_writes (position bigint not null);
create function public.note_item_write() returns trigger language plpgsql as $$
begin
    insert into public.item_writes values (new.position);
    return null;
end $$;
create trigger audited after insert or update on timeline_items
    for each row execute function public.note_item_write();
"""


def _named(database_url: str, name: str) -> str:
    """The URL, for a process whose sessions show as ``name`` in ``pg_stat_activity``."""
    parts = urlsplit(database_url)
    query = urlencode([*parse_qsl(parts.query), ("application_name", name)])
    return urlunsplit(parts._replace(query=query))


@contextlib.contextmanager
def _started(logs: Path, name: str, *args: str, database_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """``dateline ARGS`` in a process of its own, its output in ``logs/name``; killed at the end
    if it still runs (woken first, should a test have left it frozen)."""
    with (logs / name).open("wb") as output:
        process = subprocess.Popen(
            [DATELINE, *args],
            env={**os.environ, "DATABASE_URL": database_url, "DATELINE_PROJECTION_POLL_SECONDS": "0.05"},
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait(timeout=30)


def _runner(
    logs: Path, name: str, database_url: str
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return _started(logs, name, "projections", "run", database_url=_named(database_url, name))


def _printed(logs: Path, name: str) -> str:
    return (logs / name).read_text(errors="replace")


def _stopped(process: subprocess.Popen[bytes], seconds: float = 30) -> int:
    """SIGTERM, and the exit status once it has stopped."""
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=seconds)


class Database:
    """The test's own session on the database, to watch what the processes do."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def leader(self) -> asyncpg.Record | None:
        """The session holding the newsroom's leader lock: its name, pid and whether it is mid-write."""
        return await self.conn.fetchrow(_LEADER)

    async def checkpoint(self) -> int:
        return int(
            await self.conn.fetchval("select position from projection_checkpoints where name = 'newsroom'")
        )

    async def checkpoint_at_least(self, position: int) -> bool:
        return await self.checkpoint() >= position

    async def head(self) -> int:
        return int(await self.conn.fetchval("select coalesce(max(position), 0) from events"))

    async def writes(self, writer: str) -> int:
        return int(await self.conn.fetchval("select count(*) from runner_writes where writer = $1", writer))

    async def connected(self, name: str) -> bool:
        return bool(
            await self.conn.fetchval(
                "select count(*) from pg_stat_activity where application_name = $1", name
            )
        )

    async def audit(self) -> None:
        await self.conn.execute(_AUDIT)
        for table in _AUDITED:
            await self.conn.execute(
                f"create trigger audited after insert or update or delete on {table}"
                " for each statement execute function public.note_runner_write()"
            )


@contextlib.asynccontextmanager
async def _watching(database_url: str) -> AsyncIterator[Database]:
    conn = await asyncpg.connect(database_url)
    try:
        yield Database(conn)
    finally:
        await conn.close()


async def _until(what: Callable[[], Awaitable[Any]], seconds: float, failure: str) -> float:
    """Wait until ``what()`` is true; how long that took."""
    started = time.monotonic()
    while not await what():
        assert time.monotonic() - started < seconds, failure
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def _append(client: Client, key: str, events: list[dict[str, Any]]) -> int:
    """Append a batch; the last event's position."""
    response = await client.post("/v1/events/batch", json={"events": events}, headers=bearer(key))
    assert response.status_code == 201, response.text
    return int(response.json()["events"][-1]["position"])


async def _equal_to_a_rebuild(database_url: str) -> None:
    built = await snapshot(database_url)
    await rebuild(database_url, NEWSROOM)
    assert await snapshot(database_url) == built


async def test_a_standby_takes_over_a_killed_or_frozen_leader_and_the_woken_one_writes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    key = await make_key(database_url)
    slugs = [f"org-{n}" for n in range(10)]
    facts = iter(range(10**6))

    def news(count: int) -> list[dict[str, Any]]:
        return [reported(slugs[n % 10], headline=f"Fact {n}") for n in (next(facts) for _ in range(count))]

    async with client_for(database_url, projections=False) as client, _watching(database_url) as db:
        await db.audit()
        await _append(client, key, [registered(slug) for slug in slugs])
        await _append(client, key, news(300))

        async def appending() -> None:  # a newsroom at work all along: the leader has work to drop
            for _ in range(300):
                await _append(client, key, news(5))
                await asyncio.sleep(0.05)

        async def takeover(fault: signal.Signals, process: subprocess.Popen[bytes], by: str) -> float:
            """Send ``fault``; how long until an event appended just after it is applied, by ``by``."""
            process.send_signal(fault)
            signalled = time.monotonic()
            appended = await _append(client, key, news(1))
            await _until(
                lambda: db.checkpoint_at_least(appended), TAKEOVER_SECONDS, f"no takeover after {fault.name}"
            )
            took = time.monotonic() - signalled
            leader = await db.leader()
            assert leader is not None
            assert leader["application_name"] == by
            return took

        with contextlib.ExitStack() as processes:
            a = processes.enter_context(_runner(tmp_path, "A", database_url))
            await _until(lambda: _leads(db, "A"), 30, "the first runner did not lead")
            b = processes.enter_context(_runner(tmp_path, "B", database_url))
            await _until(lambda: db.connected("B"), 30, "the standby did not start")
            load = asyncio.create_task(appending())
            try:
                await asyncio.sleep(0.5)
                frozen = await takeover(signal.SIGSTOP, a, by="B")
                print(f"\ntakeover after SIGSTOP of the leader: {frozen:.2f} s (lease {LEASE_SECONDS:g} s)")
                assert frozen > LEASE_SECONDS / 2  # it was the lease that ended, nothing quicker

                written_by_a, written_by_b = await db.writes("A"), await db.writes("B")
                a.send_signal(signal.SIGCONT)
                await _until(
                    lambda: _said(tmp_path, "A", "lost the lead"), 10, "the woken runner did not say so"
                )
                await _until(lambda: db.connected("A"), 10, "the woken runner is not back on standby")
                await asyncio.sleep(1)
                assert a.poll() is None, _printed(tmp_path, "A")
                assert await db.writes("A") == written_by_a  # nothing committed by the woken runner
                assert await db.writes("B") > written_by_b  # while the leader went on

                killed = await takeover(signal.SIGKILL, b, by="A")
                print(f"takeover after SIGKILL of the leader: {killed:.2f} s")
                assert await db.writes("A") > written_by_a
            finally:
                load.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await load
            head = await db.head()
            await _until(lambda: db.checkpoint_at_least(head), 30, "the last leader did not catch up")
            assert _stopped(a) == 128 + signal.SIGTERM
    assert "Traceback" not in _printed(tmp_path, "A")
    await _equal_to_a_rebuild(database_url)


async def _leads(db: Database, name: str) -> bool:
    leader = await db.leader()
    return leader is not None and leader["application_name"] == name


async def _said(logs: Path, name: str, words: str) -> bool:
    return words in _printed(logs, name)


@contextlib.asynccontextmanager
async def _serving(logs: Path, name: str, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """``dateline run`` (projections in the process), and a client of it; SIGTERM at the end."""
    port = free_port()
    with _started(logs, name, "run", "--no-demo", "--port", str(port), database_url=database_url) as process:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

            async def ready() -> bool:
                assert process.poll() is None, _printed(logs, name)
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get("/readyz")).status_code == 200
                return False

            await _until(ready, 60, "the service did not become ready")
            yield client
        assert _stopped(process) == 128 + signal.SIGTERM


async def _status(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    status, preview = (await client.get("/v1/projections", headers=bearer(key))).json()
    assert preview["name"] == "newsroom_preview"
    return dict(status)


async def test_an_event_that_cannot_be_applied_stops_the_projection_until_fixed_then_it_resumes_there(
    database_url: str, tmp_path: Path
) -> None:
    """The fault is an operator's: a CHECK constraint on a projection table that refuses one
    event's row. The fix is to drop it, and restart."""
    writer, admin = await make_key(database_url), await make_key(database_url, "ops", "admin")
    async with _watching(database_url) as db:
        await db.conn.execute(
            "alter table timeline_items add constraint no_embargoed_news check (not 'embargoed' = any (tags))"
        )
        # Which items the restarted process writes: from the refused event on, and none before.
        await db.conn.execute(_ITEM_AUDIT)
        async with _serving(tmp_path, "first", database_url) as service:

            async def append(event: dict[str, Any]) -> dict[str, Any]:
                response = await service.post("/v1/events", json=event, headers=bearer(writer))
                assert response.status_code == 201, response.text
                return dict(response.json())

            await append(registered("acme"))
            await append(reported("acme", headline="Before"))
            refused = await append(reported("acme", headline="Embargoed", tags=["embargoed"]))
            after = await append(reported("acme", headline="After"))

            async def failing() -> bool:
                return bool((await _status(service, admin))["state"] == "failing")

            await _until(failing, 10, "the projection did not stop at the event it cannot apply")
            status = await _status(service, admin)
            assert status["failing_event"] == refused["id"]
            assert "no_embargoed_news" in status["error"]
            assert status["checkpoint"] == refused["position"] - 1  # it stopped right before it,
            assert status["lag_events"] == 2  # and did not skip it for the event after
            assert (await _status(service, writer))["failing_event"] == refused["id"]
        assert f"stopped before event {refused['id']}" in _printed(tmp_path, "first")
        assert await db.checkpoint() == refused["position"] - 1

        await db.conn.execute("alter table timeline_items drop constraint no_embargoed_news")
        await db.conn.execute("truncate item_writes")
        async with _serving(tmp_path, "second", database_url) as service:

            async def resumed() -> bool:
                status = await _status(service, admin)
                return bool(status["state"] == "running" and status["lag_events"] == 0)

            await _until(resumed, 10, "the projection did not resume")
            status = await _status(service, admin)
            assert (status["failing_event"], status["error"], status["checkpoint"]) == (
                None,
                None,
                after["position"],
            )
            page = (await service.get("/v1/timeline", params={"limit": 10})).json()
            assert [item["headline"] for item in page["items"]] == ["Before", "Embargoed", "After"]
        written = await db.conn.fetch("select distinct position from item_writes order by 1")
        assert [row["position"] for row in written] == [refused["position"], after["position"]]
    await _equal_to_a_rebuild(database_url)


@pytest.mark.parametrize(
    "command", [("projections", "run"), ("run", "--no-demo", "--port", "0")], ids=["projections-run", "run"]
)
async def test_a_stopped_runner_finishes_the_batch_it_is_applying_and_ends_there(
    database_url: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    key = await make_key(database_url)
    async with client_for(database_url, projections=False) as client:
        await _append(client, key, [registered(f"org-{n}") for n in range(10)])
        for start in range(0, _BACKLOG, 500):
            await _append(
                client,
                key,
                [reported(f"org-{n % 10}", headline=f"Fact {n}") for n in range(start, start + 500)],
            )
    async with _watching(database_url) as db:
        head = await db.head()
        # A slow disk, as it were: each batch's insert of items takes half a second, so that the
        # stop comes while a statement runs, and long before the backlog is done.
        await db.conn.execute(_SLOW_INSERTS)
        with _started(tmp_path, "runner", *command, database_url=database_url) as process:

            async def writing() -> bool:
                leader = await db.leader()
                return leader is not None and leader["writing"]

            await _until(writing, 30, "the runner never started a batch")
            committed = await db.checkpoint()  # the batch being applied starts here
            signalled = time.monotonic()
            status = _stopped(process, seconds=STOP_SECONDS + 5)
            took = time.monotonic() - signalled
        stopped_at = await db.checkpoint()
        items = await db.conn.fetchval("select count(*) from timeline_items")
        await db.conn.execute("drop trigger slowly on timeline_items")
        printed = _printed(tmp_path, "runner")
        assert status == 128 + signal.SIGTERM, printed
        assert took < STOP_SECONDS, printed
        assert "cancelled" not in printed
        # The batch it was applying was committed (it was not cancelled mid-way), and it stopped
        # at a batch's end, not at the log's: every batch of this log is 500 events long.
        assert committed + _BATCH <= stopped_at < head, printed
        assert stopped_at % _BATCH == 0
        assert items == stopped_at - 10  # the facts up to its checkpoint (after 10 registrations)

        with _started(tmp_path, "again", "projections", "run", database_url=database_url) as process:
            await _until(lambda: db.checkpoint_at_least(head), 30, "the next runner did not catch up")
            assert _stopped(process) == 128 + signal.SIGTERM
    await _equal_to_a_rebuild(database_url)


async def test_a_statement_that_hangs_gives_up_the_lead_and_is_no_fault_of_the_event(
    database_url: str, tmp_path: Path
) -> None:
    key = await make_key(database_url)
    async with client_for(database_url, projections=False) as client, _watching(database_url) as db:
        await _append(client, key, [registered("acme")])
        with _runner(tmp_path, "A", database_url) as runner:
            await _until(lambda: _leads(db, "A"), 30, "the runner did not lead")
            hung = await db.leader()
            assert hung is not None
            # An operator's long lock on a projection table: the leader's next write waits on it.
            async with _watching(database_url) as operator, operator.conn.transaction():
                await operator.conn.execute("lock table timeline_items in share mode")
                appended = await _append(client, key, [reported("acme")])

                async def replaced() -> bool:
                    leader = await db.leader()
                    return leader is not None and leader["pid"] != hung["pid"]

                took = await _until(replaced, STATEMENT_SECONDS + 5, "the hung session kept the lead")
            assert took > STATEMENT_SECONDS / 2
            await _until(lambda: db.checkpoint_at_least(appended), 10, "the projection did not go on")
            assert (
                await db.conn.fetchval(
                    "select failing_event from projection_checkpoints where name = 'newsroom'"
                )
                is None
            )
            assert _stopped(runner) == 128 + signal.SIGTERM
    printed = _printed(tmp_path, "A")
    assert "lost the lead" in printed
    assert "statement timeout" in printed
    await _equal_to_a_rebuild(database_url)
