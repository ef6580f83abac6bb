"""Database faults, with real processes: an API process killed in the middle of a batch append,
and the database crashing and coming back under load.

Each test runs `dateline run` as a subprocess and talks to it over HTTP on loopback; the
crash test runs PostgreSQL itself as a cluster of its own (``tests/clusters.py``), since
crashing the suite's shared server would break every other test.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from service.store.database import create_database, with_database
from tests.browser import free_port
from tests.clusters import Cluster, cluster
from tests.conftest import PROJECT_ROOT, make_key
from tests.factories import registered, reported

DATELINE = str(Path(os.environ.get("VIRTUAL_ENV", PROJECT_ROOT / ".venv")) / "bin" / "dateline")
BATCH = 1000


@dataclass
class Service:
    """A `dateline run` process (or the supervisor of its workers), on a port of loopback."""

    process: subprocess.Popen[bytes]
    port: int

    def connection(self, timeout: float = 5) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self, method: str, path: str, body: Any = None, key: str | None = None, timeout: float = 5
    ) -> tuple[int, dict[str, str], bytes]:
        connection = self.connection(timeout)
        try:
            return _exchange(connection, method, path, body, key)
        finally:
            connection.close()


def _exchange(
    connection: http.client.HTTPConnection, method: str, path: str, body: Any = None, key: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    connection.request(method, path, None if body is None else json.dumps(body), headers)
    response = connection.getresponse()
    return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()


@contextlib.contextmanager
def serving(database_url: str, *, workers: int = 1, **environment: str) -> Iterator[Service]:
    """``dateline run`` on ``database_url`` until the block ends, once it says it is ready;
    killed at the end if it has not been already."""
    port = free_port()
    process = subprocess.Popen(
        [DATELINE, "run", "--workers", str(workers), "--port", str(port)],
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "DATELINE_WRITE_RATE": "off",
            "DATELINE_READ_RATE": "off",
            **environment,
        },
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its workers are killed with it, as a group
    )
    service = Service(process, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "dateline run ended before it was ready"
            assert time.monotonic() < deadline, "dateline run was not ready within 60 s"
            with contextlib.suppress(OSError):
                if service.request("GET", "/readyz")[0] == 200:
                    break
            time.sleep(0.1)
        yield service
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


async def _fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


def _logged(url: str, ids: list[str]) -> list[asyncpg.Record]:
    """The events of ``ids`` that the log holds, each as often as it holds it, by position."""
    return asyncio.run(
        _fetch(url, "select id, position from events where id = any($1::uuid[]) order by position", ids)
    )


# SIGKILL of an API process in the middle of a batch append


def _batch(slug: str) -> dict[str, Any]:
    return {
        "events": [{**reported(slug, headline=f"Item {n}"), "id": str(uuid.uuid4())} for n in range(BATCH)]
    }


def _ids(batch: dict[str, Any]) -> list[str]:
    return [event["id"] for event in batch["events"]]


def _retried_once(database_url: str, key: str, batch: dict[str, Any], status: int) -> None:
    """A retry of ``batch`` to a fresh process answers ``status``, and the log then holds each of
    its events once, at consecutive positions, in the batch's order."""
    with serving(database_url, DATELINE_PROJECTIONS="off") as fresh:
        answered, _, body = fresh.request("POST", "/v1/events/batch", batch, key, timeout=30)
    assert answered == status, body[:500]
    rows = _logged(database_url, _ids(batch))
    assert [str(row["id"]) for row in rows] == _ids(batch)
    positions = [row["position"] for row in rows]
    assert positions == list(range(positions[0], positions[0] + BATCH))
    assert [event["id"] for event in json.loads(body)["events"]] == [str(row["id"]) for row in rows]


def _posting(service: Service, key: str, batch: dict[str, Any], *, share: float) -> socket.socket:
    """Post ``batch`` on a connection of its own, its headers and ``share`` of its body, and
    read nothing back."""
    body = json.dumps(batch).encode()
    sent = socket.create_connection(("127.0.0.1", service.port), timeout=10)
    head = (
        f"POST /v1/events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sent.sendall(head.encode() + body[: int(len(body) * share)])
    return sent


def _kill(service: Service, sending: socket.socket) -> None:
    """SIGKILL the service's process, with the request ``sending`` still open."""
    os.kill(service.process.pid, signal.SIGKILL)
    service.process.wait(timeout=10)
    sending.close()


def test_a_batch_whose_process_is_killed_while_it_is_sent_is_absent_and_a_retry_appends_it_once(
    database_url: str,
) -> None:
    key = asyncio.run(make_key(database_url))
    batch = _batch("acme")
    with serving(database_url, DATELINE_PROJECTIONS="off") as service:
        assert service.request("POST", "/v1/events", registered("acme"), key)[0] == 201
        sending = _posting(service, key, batch, share=0.5)
        time.sleep(0.2)  # the process holds half a body, and waits for the rest
        _kill(service, sending)
    assert _logged(database_url, _ids(batch)) == []
    _retried_once(database_url, key, batch, 201)


async def _appending_backend(url: str) -> int:
    """The backend of the append that waits on the stream's lock, once it waits."""
    for _ in range(300):
        waiting = await _fetch(
            url,
            "select pid from pg_stat_activity where datname = current_database()"
            " and wait_event_type = 'Lock' and query like '%append_events%'",
        )
        if waiting:
            return int(waiting[0]["pid"])
        await asyncio.sleep(0.05)
    raise AssertionError("the batch's append never waited on the stream's lock")


async def _killed_inside_the_append(
    database_url: str, service: Service, key: str, batch: dict[str, Any]
) -> int:
    """Kill ``service`` while its append of ``batch`` is inside the database, waiting on a lock
    this test holds on the stream's row; then let it go. The pid of the append's backend."""
    holder = await asyncpg.connect(database_url)
    try:
        locked = holder.transaction()
        await locked.start()
        await holder.execute("select 1 from streams where stream = 'acme' for update")
        sending = _posting(service, key, batch, share=1.0)
        backend = await _appending_backend(database_url)
        _kill(service, sending)
        await locked.rollback()
    finally:
        await holder.close()
    return backend


def test_a_batch_whose_process_is_killed_inside_its_append_is_whole_or_absent_and_a_retry_appends_it_once(
    database_url: str,
) -> None:
    key = asyncio.run(make_key(database_url))
    batch = _batch("acme")
    with serving(database_url, DATELINE_PROJECTIONS="off") as service:
        assert service.request("POST", "/v1/events", registered("acme"), key)[0] == 201
        backend = asyncio.run(_killed_inside_the_append(database_url, service, key, batch))
    # The statement goes on without its client once the lock is free: it ends when its backend
    # does, committed or rolled back (PostgreSQL ends a backend that cannot send its client the
    # rows; the 1,000 rows do not fit its buffer, so it finds out before the commit).
    _until(
        lambda: (
            not asyncio.run(_fetch(database_url, "select 1 from pg_stat_activity where pid = $1", backend))
        ),
        10,
    )
    held = _logged(database_url, _ids(batch))
    assert len(held) in (0, BATCH), f"{len(held)} of the batch's {BATCH} events are in the log"
    _retried_once(database_url, key, batch, 200 if held else 201)


# PostgreSQL crashes and restarts under load


@dataclass(frozen=True)
class Answer:
    sent: float
    """When the request was sent (time.monotonic)."""
    seconds: float
    status: int
    """0: no HTTP answer at all (the connection failed or timed out)."""
    headers: dict[str, str]
    body: bytes
    what: str


@dataclass
class Load:
    """Clients appending facts (with ids, so that each can be found) and reading the log."""

    service: Service
    key: str
    answers: list[Answer] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    """The ids of the facts answered 201."""
    stop: threading.Event = field(default_factory=threading.Event)

    def _client(self, what: str) -> None:
        connection = self.service.connection(timeout=5)
        while not self.stop.is_set():
            event_id = str(uuid.uuid4())
            sent = time.monotonic()
            try:
                if what == "append":
                    body = {**reported("acme", headline="Under load"), "id": event_id}
                    status, headers, data = _exchange(connection, "POST", "/v1/events", body, self.key)
                else:
                    status, headers, data = _exchange(connection, "GET", "/v1/events?limit=5")
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = self.service.connection(timeout=5)
                status, headers, data = 0, {}, b""
            self.answers.append(Answer(sent, time.monotonic() - sent, status, headers, data, what))
            if what == "append" and status == 201:
                self.acknowledged.append(event_id)
            time.sleep(0.02)
        connection.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[Load]:
        clients = [
            threading.Thread(target=self._client, args=(what,), daemon=True)
            for what in ("append", "append", "read", "read")
        ]
        for client in clients:
            client.start()
        try:
            yield self
        finally:
            self.stop.set()
            for client in clients:
                client.join(timeout=10)


class Listener:
    """A live stream of the whole timeline, read on a thread of its own."""

    def __init__(self, service: Service) -> None:
        # A process answers 503 until its hub has found its place in the log, just after it starts.
        for _ in range(100):
            self.connection = service.connection(timeout=30)
            self.connection.request("GET", "/v1/live")
            self.response = self.connection.getresponse()
            if self.response.status != 503:
                break
            self.connection.close()
            time.sleep(0.05)
        assert self.response.status == 200
        self.socket = self.connection.sock
        self.heard: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        # Closing the connection under the reader ends its read with whatever error it meets.
        with contextlib.suppress(OSError, ValueError, AttributeError, http.client.HTTPException):
            while line := self.response.readline():
                self.heard.append(line.decode())

    def hears(self, text: str, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if any(text in line for line in self.heard):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        # The reader holds the response's buffer until a read returns: cut the socket under it.
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.connection.close()


def _until(check: Any, within: float) -> float:
    """Seconds until ``check()`` is true, polled every 20 ms; AssertionError past ``within``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within, f"not within {within} s"
        time.sleep(0.02)
    return time.monotonic() - start


def _appends(service: Service, key: str) -> Any:
    def check() -> bool:
        with contextlib.suppress(OSError, http.client.HTTPException):
            body = {**reported("acme", headline="After the crash"), "id": str(uuid.uuid4())}
            return service.request("POST", "/v1/events", body, key, timeout=2)[0] == 201
        return False

    return check


def _ready(service: Service) -> bool:
    with contextlib.suppress(OSError, http.client.HTTPException):
        return service.request("GET", "/readyz", timeout=2)[0] == 200
    return False


@contextlib.contextmanager
def _inside_a_query(
    service: Service, key: str, url: str
) -> Iterator[list[tuple[int, dict[str, str], bytes]]]:
    """An append of stream ``held`` in flight, inside its statement (waiting on the stream's
    lock, which this holds), for as long as the block lasts; its answer once it ends."""
    answered: list[tuple[int, dict[str, str], bytes]] = []
    body = {**reported("held"), "id": str(uuid.uuid4())}
    appending = threading.Thread(
        target=lambda: answered.append(service.request("POST", "/v1/events", body, key)), daemon=True
    )

    # The holder's connection lives on a loop of its own, kept for the block.
    loop = asyncio.new_event_loop()
    holder = loop.run_until_complete(asyncpg.connect(url))
    loop.run_until_complete(holder.execute("begin; select 1 from streams where stream = 'held' for update"))
    appending.start()
    asyncio.run(_appending_backend(url))
    try:
        yield answered
    finally:
        appending.join(timeout=10)
        holder.terminate()
        loop.close()


@contextlib.contextmanager
def _silent(port: int) -> Iterator[None]:
    """Something on the database's port that takes connections and never answers: a server
    frozen (SIGSTOP), or a host that a network fault cut off halfway."""
    with socket.create_server(("127.0.0.1", port), backlog=64):
        yield


def _timed(service: Service, key: str) -> tuple[int, float]:
    """An append's status (0 if no answer came within 5 s), and how long it took."""
    body = {**reported("acme", headline="Nobody answers"), "id": str(uuid.uuid4())}
    sent = time.monotonic()
    try:
        status = service.request("POST", "/v1/events", body, key)[0]
    except (OSError, http.client.HTTPException):
        status = 0
    return status, time.monotonic() - sent


def _setup(server: Cluster) -> str:
    asyncio.run(create_database(server.url(), "dateline"))
    return with_database(server.url(), "dateline")


def test_the_service_answers_503_while_the_database_is_down_and_recovers_by_itself() -> None:
    with cluster(free_port()) as server:
        url = _setup(server)
        with serving(url, workers=2) as service:
            key = asyncio.run(make_key(url))
            for slug in ("acme", "held"):
                assert service.request("POST", "/v1/events", registered(slug), key)[0] == 201
            listener = Listener(service)
            with Load(service, key).running() as load, _inside_a_query(service, key, url) as cut_short:
                time.sleep(1.0)
                crashed = time.monotonic()
                server.crash()
                time.sleep(0.5)
                readiness = service.request("GET", "/readyz")
                time.sleep(1.5)
                back_from = time.monotonic()
                server.start()
                back = time.monotonic()
                recovered = _until(_appends(service, key), within=5)
                ready = _until(lambda: _ready(service), within=5)
                time.sleep(1.0)
            fresh = {**reported("acme", headline="Heard live"), "id": str(uuid.uuid4())}
            status, _, body = service.request("POST", "/v1/events", fresh, key)
            assert status == 201, body
            heard = listener.hears(fresh["id"], within=5)
            folded = service.request("GET", f"/v1/timeline?min_position={json.loads(body)['position']}")
            listener.close()
            # An ordinary restart ends the statements in flight with an error of the server's
            # own (57P01, "terminating connection due to administrator command").
            with _inside_a_query(service, key, url) as stopped_short:
                server.stop("fast")
            with _silent(server.port):
                unanswered = [_timed(service, key) for _ in range(3)]
            server.start()
            _until(_appends(service, key), within=5)

        answers = load.answers
        down = [
            answer
            for answer in answers
            if crashed + 0.2 < answer.sent and answer.sent + answer.seconds < back_from
        ]
        assert all(answer.status in (200, 201, 503) for answer in answers), {a.status for a in answers}
        assert down, "no request was made while the database was down"
        assert all(answer.status == 503 for answer in down)
        for answer in (answer for answer in answers if answer.status == 503):
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["retry-after"].isdigit()
            assert json.loads(answer.body)["type"] == "urn:dateline:problem:database-unavailable"
        refused = [answer for answer in answers if answer.status == 503]
        seconds = sorted(answer.seconds for answer in refused)
        assert max(seconds) < 1.0, seconds[-5:]
        refused_in_flight = cut_short
        [(status, _, body)] = stopped_short
        if status == 201:
            # A fast stop ends every backend at once: the lock's holder may go first, and the
            # append commit before it is told to end. Acknowledged, so it is in the log.
            written = json.loads(body)["id"]
            assert [str(row["id"]) for row in _logged(url, [written])] == [written]
        else:
            refused_in_flight = cut_short + stopped_short
        for status, headers, body in refused_in_flight:
            assert status == 503, body
            assert headers["retry-after"].isdigit()
            assert json.loads(body)["type"] == "urn:dateline:problem:database-unavailable"
        assert [status for status, _ in unanswered] == [503] * 3
        assert max(seconds for _, seconds in unanswered) < 1.0, unanswered
        assert readiness[0] == 503
        assert "retry-after" in readiness[1]
        assert json.loads(readiness[2])["type"] == "urn:dateline:problem:not-ready"
        assert heard, "the live stream opened before the crash hears nothing after it"
        assert folded[0] == 200, folded[2]
        held = [str(row["id"]) for row in _logged(url, load.acknowledged)]
        assert sorted(held) == sorted(load.acknowledged), "an acknowledged append is missing or doubled"
        print(
            f"\n503s while down: {len(refused)}, p50 {statistics.median(seconds) * 1000:.0f} ms,"
            f" max {max(seconds) * 1000:.0f} ms; database back after {back - back_from:.2f} s of start;"
            f" appends 201 again {recovered:.2f} s and /readyz 200 {recovered + ready:.2f} s after it"
            f" accepted connections; {len(load.acknowledged)} appends acknowledged; a server that"
            f" never answers: {', '.join(f'{status} in {seconds * 1000:.0f} ms' for status, seconds in unanswered)}"
        )
