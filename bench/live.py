"""Live streams: how soon every live stream of one process is told of each append, what a stream
costs in memory, and what fanning changes out costs in CPU.

One service process (one uvicorn worker, its projection in-process, as a small deployment runs
it) serves ``streams`` concurrent ``GET /v1/live`` streams, spread evenly over four timelines
that each show every appended fact (two languages of an entity's, rendered as HTML; the global
one; a tag's), while single facts are appended over HTTP at a paced ``rate`` for ``seconds``.
The streams are opened and read by client processes of their own (``python -m bench.live``,
below), so that reading them takes no time of the server's process (they share the machine's
CPUs with it, and the report says how much they took). A delivery's latency runs
from the moment the appender read the append's 201 to the moment a client read the change off
its socket: both are CLOCK_MONOTONIC, which every process of the machine shares. The aim: every
append reaches every stream, with p99 under 250 ms.

The baselines come from the same run and the same service process: the same paced appends with
no stream open (what appending and projecting cost without any fanning out, in the worker's and
PostgreSQL's CPU), and with one stream (the latency of projection and hub alone, against which
the many streams' latency is a ratio). Memory per stream is the worker's resident set with the
streams open and idle, less its resident set just before they opened, over their number.

Each load is bounded: a count of appends (``rate`` x ``seconds``) and deadlines for opening the
streams, for the appends, and for the last deliveries.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from array import array
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import aiohttp
import msgspec
import psutil

from bench.harness import (
    ROOT,
    Rate,
    caught_up,
    fresh_database,
    paced_appends,
    postgres_cpu_seconds,
    ratio,
    uvicorn_app,
    write_key,
)
from tests.factories import registered, reported

AIM_MS = 250.0
"""p99 from an append's 201 to its arrival on a stream, with every append reaching every stream."""
ENTITY = "acme"
TAG = "ai"
TIMELINES = (
    f"/v1/live?entity={ENTITY}&render=html&lang=en",
    f"/v1/live?entity={ENTITY}&render=html&lang=fr",
    "/v1/live",
    f"/v1/live?tags={TAG}",
)
"""Stream ``i`` follows ``TIMELINES[i % 4]``: four groups of the hub, each shown every fact."""

# What a client looks for in the bytes it reads: a change's fact id, and a reload.
_MARKER = b'"entry":{"id":"'
_ID = 36
_TAIL = len(_MARKER) + _ID
_READY = b"retry:"
_RELOAD = b"event: reload"


@dataclass
class LiveSettings:
    streams: int = 1000
    seconds: float = 30.0
    """The main phase's appending, and the no-stream baseline's."""
    rate: float = 50.0
    """Appends per second, one fact per request."""
    baseline_seconds: float = 10.0
    """The one-stream baseline's appending."""
    client_processes: int = 1
    appenders: int = 4
    """Concurrent appending connections, so that one slow answer does not put the pace off."""
    warm_up_appends: int = 50
    idle_seconds: float = 3.0
    """How long the streams sit open and idle before the worker's memory is read."""
    connect_seconds: float = 120.0
    settle_seconds: float = 30.0
    """How long after the last 201 the clients wait for deliveries still missing."""
    request_seconds: float = 10.0
    results: dict[str, Any] = field(default_factory=dict)


# --- The clients: a process of their own, run as `python -m bench.live`. -----------------------


class _Arrivals:
    """When each fact id reached which stream of this process."""

    def __init__(self) -> None:
        self.times: dict[bytes, array[float]] = {}
        self.streams: dict[bytes, array[int]] = {}
        self.count = 0
        self.expected: int | None = None
        self.enough = asyncio.Event()

    def add(self, fact: bytes, stream: int, when: float) -> None:
        times = self.times.get(fact)
        if times is None:
            times = self.times[fact] = array("d")
            self.streams[fact] = array("l")
        times.append(when)
        self.streams[fact].append(stream)
        self.count += 1
        if self.expected is not None and self.count >= self.expected:
            self.enough.set()

    async def wait(self, expected: int, seconds: float) -> None:
        """Until ``expected`` deliveries have arrived, or ``seconds`` have passed."""
        self.expected = expected
        if self.count >= expected:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.enough.wait(), seconds)


class _Reader(asyncio.Protocol):
    """One stream read as cheaply as it can be: a hand-written GET, then the bytes searched for
    each change's fact id, never parsed as events (the chunked framing is left in: a fact id
    never spans a chunk, since the service writes whole messages; the tail of each read is kept
    for the next, where an id may go on)."""

    def __init__(self, index: int, request: bytes, arrivals: _Arrivals) -> None:
        self.index = index
        self.request = request
        self.arrivals = arrivals
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.head = True
        self.kept = b""
        self.reloaded = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.kept + data if self.kept else data
        if self.head:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.kept = buffer
                return
            if not buffer.startswith(b"HTTP/1.1 200"):
                self._fail(buffer[: buffer.find(b"\r\n")].decode(errors="replace"))
                return
            self.head = False
            buffer = buffer[end + 4 :]
        if not self.ready.done() and _READY in buffer:
            self.ready.set_result(None)
        start = 0
        while (found := buffer.find(_MARKER, start)) >= 0:
            begin = found + len(_MARKER)
            start = begin + _ID
            if start > len(buffer):
                start = found
                break
            self.arrivals.add(buffer[begin:start], self.index, now)
        if _RELOAD in buffer:
            self.reloaded = True
        self.kept = buffer[max(start, len(buffer) - _TAIL) :]

    def _fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before the stream began: {exc}"))


class _Report(msgspec.Struct):
    """What one client process saw: for each fact id, when it arrived and on which stream."""

    opened: int
    refused: list[str]
    reloaded: int
    closed_early: int
    arrivals: dict[str, tuple[list[float], list[int]]]


async def _open(
    host: str, port: int, first: int, count: int, arrivals: _Arrivals, seconds: float
) -> tuple[list[_Reader], list[str]]:
    """Streams ``first`` to ``first + count - 1``, each open once its first frame came; the open
    ones, and why the others failed."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(50)
    opened: list[_Reader] = []
    refused: list[str] = []

    async def one(index: int) -> None:
        path = TIMELINES[index % len(TIMELINES)]
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
        reader = _Reader(index, request, arrivals)
        async with gate:
            try:
                await loop.create_connection(lambda: reader, host, port)
                await reader.ready
            except OSError as error:
                refused.append(str(error))
                if reader.transport is not None:
                    reader.transport.close()
                return
        opened.append(reader)

    try:
        async with asyncio.timeout(seconds):
            await asyncio.gather(*(one(index) for index in range(first, first + count)))
    except TimeoutError:
        refused.append(f"not all streams were open after {seconds:g} s")
    return opened, refused


async def _clients(host: str, port: int, first: int, count: int, seconds: float) -> _Report:
    """Open the streams, say ``ready``; on ``stop N S`` wait (at most S s) for N deliveries, say
    ``arrived``; on ``close`` close them all: what they saw."""
    loop = asyncio.get_running_loop()
    arrivals = _Arrivals()
    readers, refused = await _open(host, port, first, count, arrivals, seconds)
    print(f"ready {len(readers)}", flush=True)
    command = (await loop.run_in_executor(None, sys.stdin.readline)).split()
    if command and command[0] == "stop":
        await arrivals.wait(int(command[1]), float(command[2]))
        print(f"arrived {arrivals.count}", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
    closed_early = sum(reader.closed for reader in readers)
    for reader in readers:
        if reader.transport is not None:
            reader.transport.close()
    return _Report(
        opened=len(readers),
        refused=refused,
        reloaded=sum(reader.reloaded for reader in readers),
        closed_early=closed_early,
        arrivals={
            fact.decode(): (times.tolist(), arrivals.streams[fact].tolist())
            for fact, times in arrivals.times.items()
        },
    )


def _clients_main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.live", description="live streams' clients")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--first", type=int, default=0, help="the first stream's index")
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--connect-seconds", type=float, default=120.0)
    args = parser.parse_args()
    main = _clients(args.host, args.port, args.first, args.streams, args.connect_seconds)
    try:
        import uvloop
    except ImportError:
        report = asyncio.run(main)
    else:
        report = uvloop.run(main)
    args.out.write_bytes(msgspec.json.encode(report))
    print("done", flush=True)


# --- The bench's side: the service, the appender, the phases. -----------------------------------


@dataclass
class _Client:
    process: asyncio.subprocess.Process
    out: Path
    streams: int = 0

    async def line(self, seconds: float) -> list[str]:
        assert self.process.stdout is not None
        text = await asyncio.wait_for(self.process.stdout.readline(), seconds)
        if not text:
            raise RuntimeError("a client process ended early")
        return text.decode().split()

    async def say(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{text}\n".encode())
        await self.process.stdin.drain()


@contextlib.asynccontextmanager
async def _client_processes(
    base: str, streams: int, processes: int, scratch: Path, settings: LiveSettings
) -> AsyncIterator[list[_Client]]:
    """``streams`` open streams, split over ``processes`` client processes."""
    port = int(base.rsplit(":", 1)[1])
    clients: list[_Client] = []
    share, extra = divmod(streams, processes)
    first = 0
    try:
        for number in range(processes):
            count = share + (number < extra)
            out = scratch / f"client-{number}-{time.monotonic_ns()}.json"
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.live",
                *("--port", str(port), "--first", str(first), "--streams", str(count)),
                *("--out", str(out), "--connect-seconds", str(settings.connect_seconds)),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=ROOT,
            )
            clients.append(_Client(process, out))
            first += count
        for client in clients:
            client.streams = int((await client.line(settings.connect_seconds + 30))[1])
        yield clients
    finally:
        for client in clients:
            if client.process.returncode is None:
                client.process.terminate()
                await client.process.wait()


@dataclass
class _Appended:
    facts: list[tuple[str, float]]
    """Each fact's id, and when its 201 was read."""
    latencies: list[float]
    failures: int
    seconds: float


def _bodies(count: int, start: int) -> list[bytes]:
    return [
        msgspec.json.encode(
            reported(
                ENTITY,
                headline=f"Acme ships release {start + n}",
                summary={"en": "The release was announced on the company's blog, with a changelog. " * 2},
                sources=[{"url": f"https://example.com/acme/{start + n}", "publisher": "Example News"}],
                tags=[TAG, "releases"],
            )
            | {
                "headline": {
                    "en": f"Acme ships release {start + n}",
                    "fr": f"Acme publie la version {start + n}",
                }
            }
        )
        for n in range(count)
    ]


async def _append(base: str, key: str, bodies: Sequence[bytes], settings: LiveSettings) -> _Appended:
    """One fact per request, at a steady ``rate``, timed on the clock the clients share."""
    paced = await paced_appends(
        base,
        key,
        bodies,
        rate=settings.rate,
        clients=settings.appenders,
        request_seconds=settings.request_seconds,
        slack_seconds=5,
        clock=time.monotonic,
    )
    facts = [(body["id"], done) for body, done in paced.answered]
    return _Appended(facts, paced.latencies, paced.failures, paced.seconds)


def _worker(base: str) -> psutil.Process:
    """The process serving ``base``: the one of this process's descendants listening on its port
    that has no descendant listening there too (uvicorn with one worker is one process)."""
    port = int(base.rsplit(":", 1)[1])
    listening = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            connections = child.net_connections("tcp")
            if any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN for c in connections):
                listening.append(child)
    pids = {process.pid for process in listening}
    leaves = [p for p in listening if not any(c.pid in pids for c in p.children(recursive=True))]
    if len(leaves) != 1:
        raise RuntimeError(f"expected one worker serving {base}, found {[p.pid for p in leaves]}")
    return leaves[0]


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@dataclass(frozen=True)
class _Usage:
    """CPU seconds spent so far, by who spent them."""

    worker_user: float
    worker_system: float
    postgres: float | None
    clients: float
    bench: float
    """This process: the appender."""
    machine: float
    """Every process of the machine, ours and any other's (steal and waiting for I/O not counted)."""

    def since(self, before: _Usage) -> dict[str, float | None]:
        """The seconds spent since ``before``, by who spent them, and by all others."""
        spent = {
            name: getattr(self, name) - getattr(before, name)
            for name in ("worker_user", "worker_system", "clients", "bench", "machine")
        }
        postgres = (
            None if self.postgres is None or before.postgres is None else self.postgres - before.postgres
        )
        ours = (
            spent["worker_user"]
            + spent["worker_system"]
            + spent["clients"]
            + spent["bench"]
            + (postgres or 0.0)
        )
        return {
            **spent,
            "worker": spent["worker_user"] + spent["worker_system"],
            "postgres": postgres,
            "others": spent["machine"] - ours,
        }


async def _usage(url: str, worker: psutil.Process, clients: Sequence[psutil.Process]) -> _Usage:
    postgres = await postgres_cpu_seconds(url)
    machine = psutil.cpu_times()
    worker_times = worker.cpu_times()
    return _Usage(
        worker_user=worker_times.user,
        worker_system=worker_times.system,
        postgres=postgres,
        clients=sum(_cpu(process) for process in clients),
        bench=_cpu(psutil.Process()),
        machine=machine.user + machine.nice + machine.system + machine.irq + machine.softirq,
    )


@dataclass
class _Phase:
    """One phase: paced appends with ``streams`` streams open."""

    asked: int
    streams: int
    """How many of the ``asked`` streams were open when the appends began."""
    appended: _Appended
    seconds: float
    """From just before the first append until the last delivery (the projection caught up,
    with no stream)."""
    cpu: dict[str, float | None]
    """CPU seconds over ``seconds``, by who spent them (``_Usage.since``)."""
    reports: list[_Report]
    idle_cpu: float
    """The worker's CPU seconds per second with the streams open, before the appends."""
    rss_before: int = 0
    rss_open: int = 0
    rss_after: int = 0


async def _phase(
    url: str,
    base: str,
    key: str,
    worker: psutil.Process,
    streams: int,
    seconds: float,
    scratch: Path,
    settings: LiveSettings,
) -> _Phase:
    """Paced appends for ``seconds`` with ``streams`` streams open (and idle ``idle_seconds``
    first), the worker's, PostgreSQL's and the clients' CPU over it, the worker's memory."""
    count = max(1, round(settings.rate * seconds))
    bodies = _bodies(count, settings.results.setdefault("appended", 0))
    settings.results["appended"] += count
    rss_before = worker.memory_info().rss
    processes = min(settings.client_processes, streams)
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        if streams:
            clients = await stack.enter_async_context(
                _client_processes(base, streams, processes, scratch, settings)
            )
        opened = sum(client.streams for client in clients)
        idle = _cpu(worker), time.monotonic()
        await asyncio.sleep(settings.idle_seconds if streams else 0.5)
        idle_cpu = (_cpu(worker) - idle[0]) / (time.monotonic() - idle[1])
        rss_open = worker.memory_info().rss
        client_processes = [psutil.Process(client.process.pid) for client in clients]
        before = await _usage(url, worker, client_processes)
        begin = time.monotonic()
        appended = await _append(base, key, bodies, settings)
        if clients:
            for client in clients:
                await client.say(f"stop {client.streams * len(appended.facts)} {settings.settle_seconds}")
            for client in clients:
                await client.line(settings.settle_seconds + 30)
        else:
            await caught_up(base, settings.settle_seconds)
        elapsed = time.monotonic() - begin
        cpu = (await _usage(url, worker, client_processes)).since(before)
        rss_after = worker.memory_info().rss
        reports = []
        for client in clients:
            await client.say("close")
            await client.line(60)
            reports.append(msgspec.json.decode(client.out.read_bytes(), type=_Report))
            client.out.unlink()
    phase = _Phase(streams, opened, appended, elapsed, cpu, reports, idle_cpu)
    phase.rss_before, phase.rss_open, phase.rss_after = rss_before, rss_open, rss_after
    return phase


def _deliveries(phase: _Phase) -> dict[str, Any]:
    """Which appends reached which streams, and how long after their 201."""
    arrivals: dict[str, tuple[list[float], list[int]]] = {}
    for report in phase.reports:
        for fact, (times, streams) in report.arrivals.items():
            kept = arrivals.setdefault(fact, ([], []))
            kept[0].extend(times)
            kept[1].extend(streams)
    facts = phase.appended.facts
    latencies: list[float] = []
    by_timeline: list[list[float]] = [[] for _ in TIMELINES]
    per_stream: dict[int, int] = {}
    received = duplicates = before_201 = 0
    for fact, answered in facts:
        times, streams = arrivals.pop(fact, ([], []))
        first: dict[int, float] = {}
        for when, stream in zip(times, streams, strict=True):
            if stream in first:
                duplicates += 1
                continue
            first[stream] = when
        received += len(first)
        for stream, when in first.items():
            per_stream[stream] = per_stream.get(stream, 0) + 1
            before_201 += when < answered
            latency = max(0.0, when - answered)
            latencies.append(latency)
            by_timeline[stream % len(TIMELINES)].append(latency)
    expected = len(facts) * phase.asked
    rate = Rate(len(latencies), phase.seconds, latencies)
    return {
        "streams": phase.streams,
        "appended": len(facts),
        "expected": expected,
        "received": received,
        "complete_streams": sum(count == len(facts) for count in per_stream.values()),
        "duplicates": duplicates,
        "unknown": sum(len(times) for times, _ in arrivals.values()),
        "before_201": before_201,
        "refused": [reason for report in phase.reports for reason in report.refused],
        "reloaded": sum(report.reloaded for report in phase.reports),
        "closed_early": sum(report.closed_early for report in phase.reports),
        "p50_ms": rate.p50_ms,
        "p99_ms": rate.p99_ms,
        "max_ms": max(latencies) * 1000 if latencies else float("nan"),
        "p99_ms_by_timeline": {
            path: Rate(len(found), phase.seconds, found).p99_ms
            for path, found in zip(TIMELINES, by_timeline, strict=True)
            if found
        },
    }


def _summary(phase: _Phase) -> dict[str, Any]:
    appended = phase.appended
    appends = Rate(len(appended.facts), appended.seconds, appended.latencies)
    summary: dict[str, Any] = {
        "streams": phase.streams,
        "appends": len(appended.facts),
        "append_failures": appended.failures,
        "appends_per_second": appends.per_second,
        "append_p50_ms": appends.p50_ms,
        "append_p99_ms": appends.p99_ms,
        "window_seconds": phase.seconds,
        "cpu_seconds": phase.cpu,
        "idle_worker_cpu_per_second": phase.idle_cpu,
        "rss_before_bytes": phase.rss_before,
        "rss_open_bytes": phase.rss_open,
        "rss_after_bytes": phase.rss_after,
    }
    if phase.asked:
        summary["deliveries"] = _deliveries(phase)
    return summary


async def _measure(url: str, base: str, key: str, scratch: Path, settings: LiveSettings) -> dict[str, Any]:
    """Entities registered, every code path warmed, then the three phases, in order: no stream,
    one stream, ``streams`` streams."""
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as http:
        for slug in (ENTITY, "globex", "initech"):
            async with http.post(f"{base}/v1/events", json=registered(slug), headers=headers) as response:
                assert response.status == 201, await response.text()
    await caught_up(base, 60)
    worker = _worker(base)
    warm = replace(settings, idle_seconds=0.5)  # the same results: appends are counted across phases
    await _phase(
        url, base, key, worker, len(TIMELINES), settings.warm_up_appends / settings.rate, scratch, warm
    )
    none = await _phase(url, base, key, worker, 0, settings.seconds, scratch, settings)
    one = await _phase(url, base, key, worker, 1, settings.baseline_seconds, scratch, settings)
    many = await _phase(url, base, key, worker, settings.streams, settings.seconds, scratch, settings)
    return {"worker_pid": worker.pid, "none": _summary(none), "one": _summary(one), "many": _summary(many)}


def run(server_url: str, settings: LiveSettings) -> list[str]:
    """The live-stream measurements against a fresh database on ``server_url``; the report's lines."""
    results = settings.results
    results["settings"] = {
        "streams": settings.streams,
        "seconds": settings.seconds,
        "rate": settings.rate,
        "baseline_seconds": settings.baseline_seconds,
        "client_processes": settings.client_processes,
        "appenders": settings.appenders,
        "timelines": list(TIMELINES),
        "cpus": os.cpu_count(),
    }
    with fresh_database(server_url) as url, tempfile.TemporaryDirectory(prefix="dateline-live-") as scratch:
        key = asyncio.run(write_key(url, "bench-live"))
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DATELINE_LIVE_STREAMS": str(settings.streams + max(100, settings.streams // 10)),
        }
        with uvicorn_app("service.app:create_app", "/readyz", env=env, workers=1, factory=True) as base:
            results.update(asyncio.run(_measure(url, base, key, Path(scratch), settings)))
    return report(results)


def _per_second(summary: dict[str, Any], name: str) -> float:
    value = summary["cpu_seconds"][name]
    return float(value) / summary["window_seconds"] if value is not None else float("nan")


def _cpu_lines(results: dict[str, Any], name: str, label: str) -> list[str]:
    """Who spent how much CPU in each phase, and what the streams added per append and message."""
    none, one, many = results["none"], results["one"], results["many"]
    if none["cpu_seconds"][name] is None or many["cpu_seconds"][name] is None:
        return [f"  {label:22} not measured (not on this machine)"]
    rates = [_per_second(phase, name) for phase in (none, one, many)]
    per_append = [phase["cpu_seconds"][name] / phase["appends"] for phase in (none, one, many)]
    extra = per_append[2] - per_append[0]
    deliveries = many["deliveries"]["received"] / many["appends"] if many["appends"] else 0
    outcome = {
        "per_second": dict(zip(("none", "one", "many"), rates, strict=True)),
        "per_append_us": dict(zip(("none", "one", "many"), (s * 1e6 for s in per_append), strict=True)),
        "fan_out_per_append_us": extra * 1e6,
        "fan_out_per_delivery_us": extra / deliveries * 1e6 if deliveries else float("nan"),
    }
    results.setdefault("cpu", {})[name] = outcome
    return [
        f"  {label:22} {rates[0]:.3f} s/s with no stream, {rates[1]:.3f} with one, {rates[2]:.3f} with "
        f"{many['streams']:,}: {ratio(rates[2], rates[0])} the no-stream baseline",
        f"  {'':22} per append {per_append[0] * 1e6:,.0f} / {per_append[1] * 1e6:,.0f} / "
        f"{per_append[2] * 1e6:,.0f} us: fanning out costs {extra * 1e6:,.0f} us per append, "
        f"{outcome['fan_out_per_delivery_us']:.1f} us per message delivered",
    ]


def report(results: dict[str, Any]) -> list[str]:
    """The report's lines; the aim's outcome is recorded in ``results``."""
    settings, none, one, many = results["settings"], results["none"], results["one"], results["many"]
    got, alone = many["deliveries"], one["deliveries"]
    every = got["received"] == got["expected"] and got["expected"] > 0
    met = every and got["p99_ms"] < AIM_MS
    results["aim"] = {"every_delivery": every, "p99_ms": got["p99_ms"], "aim_p99_ms": AIM_MS, "met": met}
    problems = [
        f"{got[name]:,} {name.replace('_', ' ')}"
        for name in ("duplicates", "unknown", "reloaded", "closed_early")
        if got[name]
    ]
    if got["refused"]:
        problems.append(f"{len(got['refused']):,} refused ({got['refused'][0]})")
    mb = 1024 * 1024
    per_stream_kb = (many["rss_open_bytes"] - many["rss_before_bytes"]) / max(1, many["streams"]) / 1024
    after_kb = (many["rss_after_bytes"] - many["rss_before_bytes"]) / max(1, many["streams"]) / 1024
    results["memory"] = {"per_stream_idle_kb": per_stream_kb, "per_stream_after_load_kb": after_kb}
    lines = [
        f"live streams: {got['streams']:,} of {settings['streams']:,} streams open on one worker process "
        f"({len(settings['timelines'])} timelines), {settings['client_processes']} client process(es); "
        f"{settings['rate']:g} appends/s for {settings['seconds']:g} s",
        f"  {'deliveries':22} {got['received']:,} of {got['expected']:,} "
        f"({got['complete_streams']:,} streams got every append)"
        + (f"; {', '.join(problems)}" if problems else ""),
        f"  {'201 to arrival':22} p50 {got['p50_ms']:7.1f} ms  p99 {got['p99_ms']:7.1f} ms  max {got['max_ms']:7.1f} ms"
        f"   p99 {ratio(got['p99_ms'], alone['p99_ms'])} one stream's",
        f"  {'':22} p99 by timeline: "
        + ", ".join(
            f"{path.removeprefix('/v1/live') or '(all)'} {p99:.1f}"
            for path, p99 in got["p99_ms_by_timeline"].items()
        ),
        f"  aim: every append reaches every stream, p99 under {AIM_MS:.0f} ms: {'met' if met else 'missed'}",
        f"  {'one stream: baseline':22} p50 {alone['p50_ms']:7.1f} ms  p99 {alone['p99_ms']:7.1f} ms  "
        f"max {alone['max_ms']:7.1f} ms  ({alone['received']:,} of {alone['expected']:,} deliveries, "
        f"{settings['baseline_seconds']:g} s)",
        f"  {'appends':22} {many['appends']:,} at {many['appends_per_second']:.1f}/s, p50 {many['append_p50_ms']:.1f} ms "
        f"p99 {many['append_p99_ms']:.1f} ms ({many['append_failures']} failed); with no stream p99 "
        f"{none['append_p99_ms']:.1f} ms: {ratio(many['append_p99_ms'], none['append_p99_ms'])}",
        f"  {'worker memory':22} {many['rss_before_bytes'] / mb:.1f} MB before the streams, "
        f"{many['rss_open_bytes'] / mb:.1f} MB with {many['streams']:,} open and idle: {per_stream_kb:.1f} KB per stream "
        f"({after_kb:.1f} KB after the load)",
    ]
    lines += _cpu_lines(results, "worker", "worker CPU")
    user, system = _per_second(many, "worker_user"), _per_second(many, "worker_system")
    lines.append(
        f"  {'':22} with {many['streams']:,}: {user:.3f} s/s in user space, {system:.3f} in the kernel; "
        f"{many['idle_worker_cpu_per_second']:.3f} s/s with them open before the appends"
    )
    lines += _cpu_lines(results, "postgres", "PostgreSQL CPU")
    lines += [
        f"  {'client CPU':22} {_per_second(many, 'clients'):.3f} s/s over {settings['client_processes']} "
        f"process(es) (one process saturates at 1.000); the appender {_per_second(many, 'bench'):.3f} s/s",
        f"  {'the machine':22} busy {_per_second(none, 'machine'):.2f} / {_per_second(one, 'machine'):.2f} / "
        f"{_per_second(many, 'machine'):.2f} s/s of {settings['cpus']} CPUs (no stream / one / many); "
        f"other processes than these {_per_second(none, 'others'):.2f} / {_per_second(one, 'others'):.2f} / "
        f"{_per_second(many, 'others'):.2f} s/s",
    ]
    return lines


if __name__ == "__main__":
    _clients_main()
