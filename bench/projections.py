"""Projections: how fast a rebuild folds the log, how far the live projection trails appends, and
how fast timelines read as the log grows.

Everything runs against one PostgreSQL server in one run, each figure next to a baseline from
the same run: the rebuild next to a plain read of the same log (the same reader and decoder,
nothing applied), the projection's lag next to the appends' own latency, and every timeline read
next to a trivial Litestar route served the same way (``bench/trivial_app.py``).

The logs are generated, not replayed: ~200 organizations, then facts of several types with
partial dates from 2010 to 2025, tags, summaries in English and sometimes French, and follow-ups
(corrections of the date, confirmations, denials, retractions) of earlier facts. They go through
the service's own ``Appender`` in 1,000-event batches, as ``POST /v1/events/batch`` would write
them, minus the HTTP; generating them is preparation, not a result.
"""

from __future__ import annotations

import asyncio
import bisect
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import msgspec
from yarl import URL

from bench import trivial_app
from bench.harness import Rate, fresh_database, free_port, measure, ratio, service
from schemas import BatchAppend
from service.appender import Appender
from service.database import create_pool
from service.projections import PROJECTIONS
from service.projections.engine import PROJECTIONS_CHANNEL, logged
from service.projections.rebuild import rebuild
from service.store import events as log
from service.store import keys

BATCH = 1000
NEWSROOM = PROJECTIONS[0]
REBUILD_AIM = 20_000.0  # events per second
LAG_AIM_MS = 250.0  # p99, at a sustained 500 appends per second

_decode_batch = msgspec.json.Decoder(BatchAppend).decode


@dataclass
class Settings:
    events: int = 1_000_000
    """The large log: generated once, rebuilt, then read."""
    small_events: int = 10_000
    """The small log: read, then appended to at a steady rate for the lag measurement."""
    entities: int = 200
    seed: int = 2024
    read_seconds: float = 5.0
    read_max_ops: int = 200_000
    readers: int = 64
    lag_rate: float = 500.0
    lag_seconds: float = 10.0
    lag_clients: int = 8
    generate_seconds: float = 480.0
    """A deadline for generating one log; a log cut short is reported at its real size."""
    rebuild_seconds: float = 600.0
    catch_up_seconds: float = 300.0
    analyze: bool = True
    """VACUUM ANALYZE once the projection is built, before reading: steady state, not the minute
    after a bulk load when autovacuum has not yet looked at the fresh tables."""
    results: dict[str, Any] = field(default_factory=dict)


# --- a newsroom's log -------------------------------------------------------------------------

_FIRST = ["open", "deep", "neural", "quantum", "blue", "bright", "silicon", "vector", "tensor", "cedar",
          "polar", "north", "signal", "lumen", "atlas", "nova", "granite", "harbor", "meridian", "orbit"]  # fmt: skip
_SECOND = [
    "labs",
    "ai",
    "systems",
    "robotics",
    "dynamics",
    "compute",
    "networks",
    "analytics",
    "mind",
    "works",
]
_TOPICS = ["a frontier language model", "custom inference chips", "a robotics foundation model",
           "an open-weights model", "a coding assistant", "a sovereign cloud", "speech recognition",
           "a search engine", "an AI safety institute", "a data-centre campus", "protein design",
           "autonomous driving software"]  # fmt: skip
_TOPICS_FR = ["un grand modèle de langage", "des puces d'inférence", "un modèle pour la robotique",
              "un modèle ouvert", "un assistant de programmation", "un cloud souverain"]  # fmt: skip
_TAGS = ["large-models", "chips", "funding", "open-source", "regulation", "robotics", "cloud", "safety",
         "acquisitions", "partnerships", "europe", "china", "us", "research", "hiring", "data-centres",
         "speech", "vision", "agents", "enterprise", "consumer", "health", "autonomous-driving", "energy"]  # fmt: skip
_PUBLISHERS = ["Example News", "The Daily Byte", "Le Quotidien Tech", "Wire Report", "Silicon Ledger"]
_ROUNDS = ["Seed", "Series A", "Series B", "Series C", "Series D"]


def entity_slugs(count: int) -> list[str]:
    return [f"{_FIRST[n % len(_FIRST)]}-{_SECOND[n // len(_FIRST) % len(_SECOND)]}-{n}" for n in range(count)]


def _name(slug: str) -> str:
    return " ".join(part.title() for part in slug.split("-")[:-1]) + f" {slug.rsplit('-', 1)[1]}"


class Newsroom:
    """Generates a realistic log, deterministically from a seed."""

    def __init__(self, entities: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.slugs = entity_slugs(entities)
        self.committed: list[uuid.UUID] = []
        """Facts in the log that nothing has retracted: what follow-ups may refer to."""
        self.types: Counter[str] = Counter()

    def registrations(self) -> list[dict[str, Any]]:
        events = []
        for slug in self.slugs:
            event: dict[str, Any] = {
                "type": "entity.registered",
                "slug": slug,
                "kind": "organization",
                "name": _name(slug),
            }
            if self.rng.random() < 0.3:
                event["aliases"] = [slug.split("-")[0].title() + " " + slug.rsplit("-", 1)[1]]
            if self.rng.random() < 0.5:
                event["description"] = {"en": f"{_name(slug)} works on {self.rng.choice(_TOPICS)}."}
            events.append(event)
        self.types["entity.registered"] += len(events)
        return events

    def date(self) -> str:
        rng = self.rng
        year, month, day = rng.randint(2010, 2025), rng.randint(1, 12), rng.randint(1, 28)
        shape = rng.random()
        if shape < 0.1:
            return str(year)
        if shape < 0.5:
            return f"{year}-{month:02d}"
        if shape < 0.98:
            return f"{year}-{month:02d}-{day:02d}"
        return f"{year}-{month:02d}-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"

    def fact(self, with_id: bool = True) -> dict[str, Any]:
        rng = self.rng
        picked = rng.sample(self.slugs, 3)
        a, b, c = (_name(slug) for slug in picked)
        topic = rng.choice(_TOPICS)
        shape = rng.random()
        extra: dict[str, Any] = {}
        if shape < 0.6:
            kind = "fact.reported"
            headline = f"{a} reported to be working on {topic}"
            entities = [{"slug": slug, "role": "subject"} for slug in picked[: rng.choice((1, 1, 2, 3))]]
        elif shape < 0.75:
            kind = "funding.raised"
            headline = f"{a} raises money for {topic}, led by {b}"
            entities = [{"slug": picked[0], "role": "recipient"}, {"slug": picked[1], "role": "investor"}]
            extra = {"amount": {"amount": rng.randint(1, 500) * 1_000_000, "currency": "USD"}, "round": rng.choice(_ROUNDS)}  # fmt: skip
        elif shape < 0.87:
            kind = "partnership.formed"
            headline = f"{a} and {b} partner on {topic}"
            entities = [{"slug": slug, "role": "partner"} for slug in picked[:2]]
        elif shape < 0.97:
            kind = "acquisition.announced"
            headline = f"{a} to acquire {b}"
            entities = [{"slug": picked[0], "role": "acquirer"}, {"slug": picked[1], "role": "target"}]
            if rng.random() < 0.5:
                extra = {"price": {"amount": rng.randint(10, 5000) * 1_000_000, "currency": "EUR"}}
        else:
            kind = "organization.founded"
            headline = f"{c} is founded to work on {topic}"
            entities = [{"slug": picked[2], "role": "organization"}]
        event: dict[str, Any] = {
            "type": kind,
            "occurred": self.date(),
            "headline": {"en": headline},
            "entities": entities,
            "tags": rng.sample(_TAGS, rng.choice((0, 1, 1, 2, 3))),
            "sources": [
                {
                    "url": f"https://example.com/{rng.getrandbits(40):x}",
                    "publisher": rng.choice(_PUBLISHERS),
                    "language": "en",
                }
            ],
            **extra,
        }
        if rng.random() < 0.2:
            event["headline"]["fr"] = f"{a} travaillerait sur {rng.choice(_TOPICS_FR)}"
        if rng.random() < 0.5:
            event["summary"] = {
                "en": f"According to people familiar with the matter, {headline.lower()}. " * 2
            }
        if with_id:
            event["id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.types[kind] += 1
        return event

    def follow_up(self) -> dict[str, Any] | None:
        """A follow-up of a fact already in the log, or None when there is none yet."""
        if not self.committed:
            return None
        rng = self.rng
        index = rng.randrange(len(self.committed))
        target = str(self.committed[index])
        shape = rng.random()
        if shape < 0.4:
            event: dict[str, Any] = {
                "type": "event.corrected",
                "event_id": target,
                "changes": {"occurred": self.date()},
                "note": {"en": "An earlier version of this item gave the wrong date."},
            }
        elif shape < 0.75:
            event = {
                "type": "event.confirmed",
                "event_id": target,
                "note": {"en": "Confirmed by the company."},
            }
        elif shape < 0.85:
            event = {"type": "event.denied", "event_id": target, "note": {"en": "The company denies it."}}
        else:
            event = {
                "type": "event.retracted",
                "event_id": target,
                "reason": {"en": "The source withdrew it."},
            }
            # Nothing may follow a retracted fact up: it leaves the pool at once.
            self.committed[index] = self.committed[-1]
            self.committed.pop()
        self.types[event["type"]] += 1
        return event

    def batch(self, size: int) -> tuple[list[dict[str, Any]], list[uuid.UUID]]:
        """``size`` events, about 8% of them follow-ups; and the ids of the facts among them."""
        events: list[dict[str, Any]] = []
        facts: list[uuid.UUID] = []
        while len(events) < size:
            event = self.follow_up() if self.rng.random() < 0.08 else None
            if event is None:
                event = self.fact()
                facts.append(uuid.UUID(event["id"]))
            events.append(event)
        return events, facts


@dataclass(frozen=True)
class Generated:
    events: int
    seconds: float
    types: dict[str, int]
    slugs: list[str]

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def generate(url: str, total: int, settings: Settings) -> Generated:
    """Append a log of ``total`` events (registrations included) through the service's Appender."""
    newsroom = Newsroom(settings.entities, settings.seed)
    pool = await create_pool(url, max_size=6)
    appended = 0
    begin = time.perf_counter()
    deadline = begin + settings.generate_seconds
    try:
        async with Appender.running(pool) as appender:

            async def append(events: list[dict[str, Any]]) -> None:
                nonlocal appended
                batch = _decode_batch(msgspec.json.encode({"events": events}))
                paths = [f"$.events[{index}]" for index in range(len(batch.events))]
                outcome = await appender.append(batch.events, {"author": "bench"}, paths)
                appended += len(outcome.rows)

            await append(newsroom.registrations())
            remaining = total - settings.entities

            async def producer() -> None:
                nonlocal remaining
                while remaining > 0 and time.perf_counter() < deadline:
                    size = min(BATCH, remaining)
                    remaining -= size
                    events, facts = newsroom.batch(size)
                    await append(events)
                    newsroom.committed.extend(facts)

            # Two in flight: one batch is validated and planned while the other is written.
            await asyncio.gather(producer(), producer())
    finally:
        await pool.close()
    return Generated(appended, time.perf_counter() - begin, dict(newsroom.types), newsroom.slugs)


# --- rebuild ----------------------------------------------------------------------------------


async def timed_rebuild(url: str, settings: Settings) -> Rate:
    begin = time.perf_counter()
    applied = await asyncio.wait_for(rebuild(url, NEWSROOM, batch=2000), settings.rebuild_seconds)
    return Rate(applied, time.perf_counter() - begin, [])


async def read_log_only(url: str, settings: Settings, batch: int = 2000) -> Rate:
    """The rebuild's baseline: the same reader and decoder over the same log, nothing applied."""
    conn = await asyncpg.connect(url)
    read = 0
    begin = time.perf_counter()
    deadline = begin + settings.rebuild_seconds
    try:
        cursor = log.START
        while time.perf_counter() < deadline:
            rows = await log.read_log(conn, cursor, batch)
            if not rows:
                break
            decoded = [logged(row) for row in rows]
            read += len(decoded)
            cursor = log.LogCursor(rows[-1]["transaction_id"], rows[-1]["position"])
    finally:
        await conn.close()
    return Rate(read, time.perf_counter() - begin, [])


async def analyze(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("vacuum (analyze)")
    finally:
        await conn.close()


# --- the running service ----------------------------------------------------------------------


async def write_key(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return await keys.create(conn, "bench-projections", "write")
    finally:
        await conn.close()


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


@dataclass
class Reads:
    rate: Rate
    errors: dict[int, int]
    bytes: int
    items: int

    def summary(self) -> dict[str, Any]:
        return {
            "requests_per_second": self.rate.per_second,
            "p50_ms": self.rate.p50_ms,
            "p99_ms": self.rate.p99_ms,
            "requests": len(self.rate.latencies),
            "errors": {str(status): count for status, count in self.errors.items()},
            "body_bytes": self.bytes,
            "items": self.items,
        }


async def read_load(urls: Sequence[URL], settings: Settings, seed: int) -> Reads:
    """``settings.readers`` concurrent readers GETting a random one of ``urls``, bounded twice."""
    rng = random.Random(seed)
    errors: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(limit=settings.readers)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.get(urls[0]) as first:
            sample = await first.read()
            if first.status != 200:
                raise RuntimeError(f"GET {urls[0]} answered {first.status}: {sample[:500]!r}")
        items = len(msgspec.json.decode(sample).get("items", []))

        async def get(_client: int, _n: int) -> int:
            async with http.get(urls[rng.randrange(len(urls))]) as response:
                await response.read()
            if response.status != 200:
                errors[response.status] += 1
                return 0
            return 1

        # Warm up: open every connection and touch every URL once, then measure afresh.
        await measure(
            settings.readers, min(1.0, settings.read_seconds / 4), max(len(urls), 2 * settings.readers), get
        )
        errors.clear()
        rate = await measure(settings.readers, settings.read_seconds, settings.read_max_ops, get)
    return Reads(rate, dict(errors), len(sample), items)


def read_scenarios(base: str, slugs: Sequence[str]) -> dict[str, list[URL]]:
    months = [f"{year}-{month:02d}" for year in range(2010, 2026) for month in range(1, 13)]
    return {
        "entity timeline, varied": [URL(f"{base}/v1/entities/{slug}/timeline?limit=20") for slug in slugs],
        "entity timeline, repeated": [URL(f"{base}/v1/entities/{slugs[len(slugs) // 2]}/timeline?limit=20")],
        "global timeline, varied": [URL(f"{base}/v1/timeline?limit=20&from={month}") for month in months],
        "global timeline, repeated": [URL(f"{base}/v1/timeline?limit=20")],
    }


async def trivial_reads(base: str, settings: Settings) -> Reads:
    return await read_load([URL(f"{base}{trivial_app.PATH}")], settings, seed=0)


def measure_reads(base: str, slugs: Sequence[str], settings: Settings) -> dict[str, Reads]:
    """Every read scenario against the running service, then the trivial app, one after another."""
    found: dict[str, Reads] = {}
    for seed, (name, urls) in enumerate(read_scenarios(base, slugs).items()):
        found[name] = asyncio.run(read_load(urls, settings, seed))
    with trivial_app.serve(free_port()) as trivial:
        found["trivial route"] = asyncio.run(trivial_reads(trivial, settings))
    return found


# --- projection lag ---------------------------------------------------------------------------


@dataclass
class Lag:
    lags: list[float]
    appends: Rate
    failures: int
    uncovered: int
    before_answer: int
    seconds: float

    def summary(self) -> dict[str, Any]:
        lag = Rate(len(self.lags), self.seconds, self.lags)
        return {
            "appends": len(self.appends.latencies),
            "appends_per_second": self.appends.per_second,
            "append_p50_ms": self.appends.p50_ms,
            "append_p99_ms": self.appends.p99_ms,
            "lag_p50_ms": lag.p50_ms,
            "lag_p99_ms": lag.p99_ms,
            "lag_max_ms": max(self.lags) * 1000 if self.lags else float("nan"),
            "failures": self.failures,
            "uncovered": self.uncovered,
            "covered_before_201": self.before_answer,
        }


def _first_covering(seen: list[tuple[float, tuple[int, int]]], key: tuple[int, int]) -> float | None:
    """When a checkpoint at or past ``key`` was first seen; ``seen`` is in time order, keys rising."""
    index = bisect.bisect_left([point for _, point in seen], key)
    return seen[index][0] if index < len(seen) else None


async def projection_lag(url: str, base: str, key: str, newsroom: Newsroom, settings: Settings) -> Lag:
    """Single facts over HTTP at a steady ``lag_rate``; for each, the time from its 201 until the
    newsroom's checkpoint is seen to cover it (NOTIFY on ``dateline_projections``, and a poll of
    ``projection_checkpoints`` as a second witness). Coverage is decided afterwards on the log's
    real order, ``(transaction_id, position)``, from the events' own transaction ids."""
    heard: list[tuple[float, int]] = []  # when, position
    polled: list[tuple[float, tuple[int, int]]] = []

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        name, _, position = payload.partition(":")
        if name == NEWSROOM.name:
            heard.append((time.perf_counter(), int(position)))

    listener = await asyncpg.connect(url)
    poller = await asyncpg.connect(url)
    await listener.add_listener(PROJECTIONS_CHANNEL, on_notify)
    total = int(settings.lag_rate * settings.lag_seconds)
    bodies = [msgspec.json.encode(newsroom.fact(with_id=False)) for _ in range(total)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    answered: list[tuple[int, float]] = []  # position, when the 201 arrived
    latencies: list[float] = []
    failures = 0
    polling = True

    async def poll() -> None:
        while polling:
            row = await poller.fetchrow(
                "select transaction_id::text::bigint, position from projection_checkpoints where name = $1",
                NEWSROOM.name,
            )
            assert row is not None
            point = (row[0], row[1])
            if not polled or point > polled[-1][1]:
                polled.append((time.perf_counter(), point))
            await asyncio.sleep(0.02)

    poller_task = asyncio.create_task(poll())
    start = time.perf_counter() + 0.1
    deadline = start + settings.lag_seconds * 1.5 + 2
    following = 0
    try:
        connector = aiohttp.TCPConnector(limit=settings.lag_clients)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        ) as http:

            async def client() -> None:
                nonlocal following, failures
                while following < total:
                    index = following
                    following += 1
                    due = start + index / settings.lag_rate  # on schedule, not after the previous answer
                    if due > (now := time.perf_counter()):
                        await asyncio.sleep(due - now)
                    if time.perf_counter() > deadline:
                        return
                    sent = time.perf_counter()
                    async with http.post(
                        f"{base}/v1/events", data=bodies[index], headers=headers
                    ) as response:
                        body = await response.read()
                    done = time.perf_counter()
                    if response.status != 201:
                        failures += 1
                        continue
                    answered.append((msgspec.json.decode(body)["position"], done))
                    latencies.append(done - sent)

            await asyncio.gather(*(client() for _ in range(settings.lag_clients)))
        sent_seconds = time.perf_counter() - start
        # Let the projection finish (bounded), then decide coverage on the log's real order.
        last = max((position for position, _ in answered), default=0)
        settle = time.perf_counter() + 30
        while answered and time.perf_counter() < settle:
            if await poller.fetchval(
                """
                select (c.transaction_id, c.position) >= (e.transaction_id, e.position)
                from events e, projection_checkpoints c where e.position = $1 and c.name = $2
                """,
                last,
                NEWSROOM.name,
            ):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # the last notifications
    finally:
        polling = False
        await asyncio.wait([poller_task], timeout=5)
        await listener.close()
    try:
        positions = sorted({position for position, _ in answered} | {position for _, position in heard})
        order = dict(
            await poller.fetch(
                "select position, transaction_id::text::bigint from events where position = any($1::bigint[])",
                positions,
            )
        )
    finally:
        await poller.close()
    notified = [(when, (order[position], position)) for when, position in heard if position in order]
    lags: list[float] = []
    uncovered = before_answer = 0
    for position, done in answered:
        point = (order[position], position)
        witnesses = [
            w for w in (_first_covering(notified, point), _first_covering(polled, point)) if w is not None
        ]
        if not witnesses:
            uncovered += 1
            continue
        lag = min(witnesses) - done
        before_answer += lag <= 0
        lags.append(max(0.0, lag))
    return Lag(
        lags, Rate(len(answered), sent_seconds, latencies), failures, uncovered, before_answer, sent_seconds
    )


# --- the run ----------------------------------------------------------------------------------


def _reads_summary(reads: dict[str, Reads]) -> dict[str, dict[str, Any]]:
    return {name: found.summary() for name, found in reads.items()}


def run(server_url: str, settings: Settings) -> list[str]:
    """Every projection measurement, in one run against one server; the report's lines."""
    results = settings.results
    results["settings"] = {
        "events": settings.events,
        "small_events": settings.small_events,
        "entities": settings.entities,
        "readers": settings.readers,
        "read_seconds": settings.read_seconds,
        "lag_rate": settings.lag_rate,
        "lag_seconds": settings.lag_seconds,
        "analyze": settings.analyze,
    }
    results["reads"] = {}
    with fresh_database(server_url) as url:
        small = asyncio.run(generate(url, settings.small_events, settings))
        results["generated_small"] = {"events": small.events, "seconds": small.seconds, "types": small.types}
        key = asyncio.run(write_key(url))
        with service(url) as base:
            asyncio.run(caught_up(base, settings.catch_up_seconds))
            if settings.analyze:
                asyncio.run(analyze(url))
            results["reads"][str(small.events)] = _reads_summary(measure_reads(base, small.slugs, settings))
            newsroom = Newsroom(settings.entities, settings.seed + 1)
            lag = asyncio.run(projection_lag(url, base, key, newsroom, settings))
            results["lag"] = lag.summary()
    with fresh_database(server_url) as url:
        large = asyncio.run(generate(url, settings.events, settings))
        results["generated"] = {
            "events": large.events,
            "seconds": large.seconds,
            "events_per_second": large.per_second,
            "types": large.types,
        }
        rebuilt = asyncio.run(timed_rebuild(url, settings))
        results["rebuild"] = {
            "events": rebuilt.events,
            "seconds": rebuilt.seconds,
            "events_per_second": rebuilt.per_second,
        }
        read = asyncio.run(read_log_only(url, settings))
        results["log_read"] = {
            "events": read.events,
            "seconds": read.seconds,
            "events_per_second": read.per_second,
        }
        if settings.analyze:
            asyncio.run(analyze(url))
        with service(url) as base:
            asyncio.run(caught_up(base, settings.catch_up_seconds))
            results["reads"][str(large.events)] = _reads_summary(measure_reads(base, large.slugs, settings))
    return report(results)


def _p99_growth(reads: dict[str, dict[str, dict[str, Any]]]) -> dict[str, float]:
    sizes = sorted(reads, key=int)
    if len(sizes) < 2:
        return {}
    small, large = reads[sizes[0]], reads[sizes[-1]]
    return {name: large[name]["p99_ms"] / small[name]["p99_ms"] for name in small if name in large}


def report(results: dict[str, Any]) -> list[str]:
    def row(name: str, value: float, unit: str, p50: float | None, p99: float | None, *ratios: str) -> str:
        p50_text = f"{p50:8.2f}" if p50 is not None else " " * 8
        p99_text = f"{p99:8.2f}" if p99 is not None else " " * 8
        return f"{name:40} {value:10.0f} {unit:9} {p50_text} {p99_text}  {'  '.join(ratios)}"

    lines = [f"{'measurement':40} {'rate':>10} {'unit':9} {'p50 ms':>8} {'p99 ms':>8}  ratios (same run)"]
    rebuild_rate = results["rebuild"]["events_per_second"]
    read_rate = results["log_read"]["events_per_second"]
    lines.append(
        row(
            f"rebuild, {results['rebuild']['events']:,} events",
            rebuild_rate,
            "events/s",
            None,
            None,
            f"{ratio(rebuild_rate, read_rate)} of log read only",
            f"{ratio(rebuild_rate, REBUILD_AIM)} of aim {REBUILD_AIM:,.0f}/s",
        )
    )
    lines.append(row("log read only (no apply): baseline", read_rate, "events/s", None, None, " 1.00x"))
    lag = results["lag"]
    lines.append(
        row(
            f"projection lag at {results['settings']['lag_rate']:.0f} appends/s",
            lag["appends_per_second"],
            "appends/s",
            lag["lag_p50_ms"],
            lag["lag_p99_ms"],
            f"p99 {ratio(lag['lag_p99_ms'], lag['append_p99_ms'])} of append p99",
            f"p99 {ratio(lag['lag_p99_ms'], LAG_AIM_MS)} of aim {LAG_AIM_MS:.0f} ms",
        )
    )
    lines.append(
        row(
            "  append over HTTP (201): baseline",
            lag["appends_per_second"],
            "appends/s",
            lag["append_p50_ms"],
            lag["append_p99_ms"],
            f"max lag {lag['lag_max_ms']:.1f} ms, {lag['uncovered']} never covered, {lag['failures']} failed",
        )
    )
    for size, reads in sorted(results["reads"].items(), key=lambda item: int(item[0])):
        trivial = reads["trivial route"]
        for name, found in reads.items():
            errors = sum(found["errors"].values())
            lines.append(
                row(
                    f"{name} @ {int(size):,}",
                    found["requests_per_second"],
                    "req/s",
                    found["p50_ms"],
                    found["p99_ms"],
                    f"{ratio(found['requests_per_second'], trivial['requests_per_second'])} req/s",
                    f"{ratio(found['p99_ms'], trivial['p99_ms'])} p99 of trivial",
                    f"{found['body_bytes']:,} B" + (f", {errors} errors {found['errors']}" if errors else ""),
                )
            )
    growth = _p99_growth(results["reads"])
    results["p99_growth"] = growth
    if growth:
        sizes = sorted(results["reads"], key=int)
        lines.append(f"p99 at {int(sizes[-1]):,} / p99 at {int(sizes[0]):,} events:")
        lines.extend(f"  {name:38} {value:6.2f}x" for name, value in growth.items())
    generated = results["generated"]
    lines.append(
        f"(preparation: {generated['events']:,} events generated in {generated['seconds']:.0f} s, "
        f"{generated['events_per_second']:,.0f}/s; "
        + ", ".join(f"{kind} {count:,}" for kind, count in sorted(generated["types"].items()))
        + ")"
    )
    return lines
