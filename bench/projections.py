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
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import asyncpg
import msgspec
from yarl import URL

from bench import trivial_app
from bench.harness import Rate, fresh_database, measure, postgres_cpu_seconds, ratio, service
from schemas import BatchAppend
from service.appender import Appender
from service.database import create_pool
from service.domain import cursors
from service.projections import PROJECTIONS
from service.projections.engine import logged
from service.projections.rebuild import no_cycle_collection, rebuild
from service.store import events as log
from service.store import keys
from service.store.checkpoints import PROJECTIONS_CHANNEL

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
    request_seconds: float = 10.0
    """A read that takes longer is given up and counted as an error."""
    lag_rate: float = 500.0
    lag_seconds: float = 10.0
    lag_clients: int = 8
    generate_seconds: float = 480.0
    """A deadline for generating one log; a log cut short is reported at its real size."""
    rebuild_seconds: float = 360.0
    """A deadline for the timed rebuild; one cut short is reported with how far it got."""
    log_read_seconds: float = 60.0
    catch_up_seconds: float = 300.0
    analyze: bool = True
    """VACUUM ANALYZE once the projection is built, before reading: steady state, not the minute
    after a bulk load when autovacuum has not yet looked at the fresh tables."""
    results: dict[str, Any] = field(default_factory=dict)


# --- a newsroom's log -------------------------------------------------------------------------

_FIRST = [
    "open",
    "deep",
    "neural",
    "quantum",
    "blue",
    "bright",
    "silicon",
    "vector",
    "tensor",
    "cedar",
    "polar",
    "north",
    "signal",
    "lumen",
    "atlas",
    "nova",
    "granite",
    "harbor",
    "meridian",
    "orbit",
]
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
_TOPICS = [
    "a frontier language model",
    "custom inference chips",
    "a robotics foundation model",
    "an open-weights model",
    "a coding assistant",
    "a sovereign cloud",
    "speech recognition",
    "a search engine",
    "an AI safety institute",
    "a data-centre campus",
    "protein design",
    "autonomous driving software",
]
_TOPICS_FR = [
    "un grand modèle de langage",
    "des puces d'inférence",
    "un modèle pour la robotique",
    "un modèle ouvert",
    "un assistant de programmation",
    "un cloud souverain",
]
_TAGS = [
    "large-models",
    "chips",
    "funding",
    "open-source",
    "regulation",
    "robotics",
    "cloud",
    "safety",
    "acquisitions",
    "partnerships",
    "europe",
    "china",
    "us",
    "research",
    "hiring",
    "data-centres",
    "speech",
    "vision",
    "agents",
    "enterprise",
    "consumer",
    "health",
    "autonomous-driving",
    "energy",
]
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


@dataclass(frozen=True)
class Rebuilt:
    events: int
    seconds: float
    finished: bool
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "seconds": self.seconds,
            "events_per_second": self.per_second,
            "finished": self.finished,
            "cpu_seconds": self.cpu,
        }


async def timed_rebuild(url: str, seconds: float) -> Rebuilt:
    """``rebuild(url, newsroom)``, timed; cut short after ``seconds``, with how far it got, and the
    CPU time this process and the PostgreSQL server spent on it."""
    done = 0

    def progress(applied: int, _total: int) -> None:
        nonlocal done
        done = applied

    begin, python, postgres = time.perf_counter(), time.process_time(), await postgres_cpu_seconds(url)
    try:
        applied = await asyncio.wait_for(rebuild(url, NEWSROOM, progress=progress), seconds)
        finished = True
    except TimeoutError:
        applied, finished = done, False
    server = await postgres_cpu_seconds(url)
    cpu = {"python": time.process_time() - python}
    if server is not None and postgres is not None:
        cpu["postgres"] = server - postgres
    return Rebuilt(applied, time.perf_counter() - begin, finished, cpu)


async def read_log_only(url: str, seconds: float) -> Rebuilt:
    """The rebuild's baseline: the same snapshot reader and decoder over the same log, nothing
    applied (and, as in the rebuild, no cycle collector)."""
    conn = await asyncpg.connect(url)
    begin = time.perf_counter()
    finished = False
    try:
        with no_cycle_collection():
            async with log.LogSnapshot(conn) as snapshot:
                async for rows in snapshot.chunks(5000):
                    for row in rows:
                        logged(row)
                    if time.perf_counter() > begin + seconds:
                        break
                else:
                    finished = True
    finally:
        await conn.close()
    return Rebuilt(snapshot.read, time.perf_counter() - begin, finished)


async def first_page_ms(url: str) -> dict[str, Any]:
    """One page of 2,000 from the log's start, as ``read_log`` reads it: time and plan. On a large
    log a page should walk ``events_in_commit_order`` and stop at the limit; a sort there means
    every page reads the whole rest of the log."""
    query = getattr(log, "_READ_LOG", None)  # private: the bench reads it to explain it, nothing more
    if not isinstance(query, str):
        return {}
    conn = await asyncpg.connect(url)
    try:
        plan = await conn.fetch(f"explain (analyze, format json) {query}", "0", 0, 2000)
    finally:
        await conn.close()
    tree = msgspec.json.decode(plan[0][0])[0]
    nodes, found = [tree["Plan"]], []
    while nodes:
        node = nodes.pop()
        found.append(node["Node Type"])
        nodes.extend(node.get("Plans", []))
    return {"ms": tree["Execution Time"], "sorts": "Sort" in found, "nodes": found}


# The read model, vacuumed and analyzed as autovacuum would do a little later.
READ_MODEL = ("timeline_items", "entity_items", "entity_states", "projection_checkpoints")


async def vacuum(url: str, tables: Sequence[str]) -> None:
    """``tables`` vacuumed and analyzed now, instead of by autovacuum during a measurement."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"vacuum (analyze) {', '.join(tables)}")
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
    errors: dict[str, int]
    urls: int
    """How many distinct URLs the readers drew from."""
    mean_bytes: float
    """The mean size of a measured response's body."""
    first_items: int
    """How many items the first URL's page held: a check that reads return something."""
    runs: tuple[float, ...] = ()
    """Requests per second of each run pooled into this one, when there were several."""

    def summary(self) -> dict[str, Any]:
        return {
            **({"runs_requests_per_second": list(self.runs)} if self.runs else {}),
            "requests_per_second": self.rate.per_second,
            "p50_ms": self.rate.p50_ms,
            "p99_ms": self.rate.p99_ms,
            "requests": len(self.rate.latencies),
            "errors": self.errors,
            "urls": self.urls,
            "mean_body_bytes": self.mean_bytes,
            "first_page_items": self.first_items,
        }


async def read_load(
    urls: Sequence[URL], settings: Settings, seed: int, *, readers: int | None = None, in_order: bool = False
) -> Reads:
    """Concurrent readers (``settings.readers``) GETting a random one of ``urls`` (or each in turn),
    bounded by ``read_max_ops`` and ``read_seconds``, after a short warm-up that opens connections.

    A request that takes longer than ``request_seconds`` is given up and counted as an error, at
    that latency: a slow read path must not hold the run hostage.
    """
    readers = readers or settings.readers
    rng = random.Random(seed)
    errors: Counter[str] = Counter()
    received = [0]
    sent = [0]
    connector = aiohttp.TCPConnector(limit=readers)
    timeout = aiohttp.ClientTimeout(total=settings.request_seconds)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def get(_client: int, _n: int) -> int:
            target = urls[sent[0] % len(urls)] if in_order else urls[rng.randrange(len(urls))]
            sent[0] += 1
            try:
                async with http.get(target) as response:
                    body = await response.read()
            except TimeoutError:
                errors["timeout"] += 1
                return 0
            except aiohttp.ClientError as error:
                errors[type(error).__name__] += 1
                return 0
            if response.status != 200:
                errors[str(response.status)] += 1
                return 0
            received[0] += len(body)
            if not first:
                first.append(len(msgspec.json.decode(body).get("items", [])))
            return 1

        first: list[int] = []
        if not in_order:  # open the connections, and fill the read cache where it can hold every URL
            warm_ups = min(2_000, max(2 * readers, 3 * len(urls)))
            await measure(readers, min(2.0, settings.read_seconds / 2), warm_ups, get)
        errors.clear()
        received[0] = 0
        rate = await measure(readers, settings.read_seconds, settings.read_max_ops, get)
    return Reads(rate, dict(errors), len(urls), received[0] / max(1, rate.events), first[0] if first else 0)


def pooled(runs: Sequence[Reads]) -> Reads:
    """Several runs of the same reads as one: their requests, time and latencies together."""
    rate = Rate(
        sum(run.rate.events for run in runs),
        sum(run.rate.seconds for run in runs),
        [latency for run in runs for latency in run.rate.latencies],
    )
    errors: Counter[str] = Counter()
    for run in runs:
        errors.update(run.errors)
    received = sum(run.mean_bytes * run.rate.events for run in runs)
    return Reads(
        rate,
        dict(errors),
        runs[0].urls,
        received / max(1, rate.events),
        runs[0].first_items,
        tuple(run.rate.per_second for run in runs),
    )


async def idle(url: str, seconds: float) -> None:
    """Wait (bounded) until no query runs in the database: what a given-up request left running
    must not weigh on the next measurement."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + seconds
        while True:
            busy = await conn.fetchval(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and state = 'active' and pid <> pg_backend_pid()"
            )
            if not busy or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def sample_pages(url: str, count: int) -> tuple[list[str], list[tuple[str, str]]]:
    """``next`` values readers paging through timelines could hold, at random places: for the
    global timeline, and (slug, cursor) for entity timelines."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("select setseed(0.5)")
        rows = await conn.fetch(
            "select occurred_start, precision, position from timeline_items where not retracted"
            " order by random() limit $1",
            count,
        )
        pairs = await conn.fetch(
            """
            select e.slug, t.occurred_start, t.precision, t.position
            from entity_items e join timeline_items t on t.event_id = e.event_id
            where e.current and not t.retracted order by random() limit $1
            """,
            count,
        )
    finally:
        await conn.close()
    return (
        [cursors.encode(cursors.TimelineCursor(*row)) for row in rows],
        [(row[0], cursors.encode(cursors.TimelineCursor(row[1], row[2], row[3]))) for row in pairs],
    )


# The service keeps up to 2,048 encoded bodies per process, by URL, until the checkpoint moves:
# a few hundred URLs are served from it once seen, and 20,000 mostly are not.
UNCACHED_URLS = 20_000


def read_scenarios(
    base: str, slugs: Sequence[str], starts: Sequence[str], pages: Sequence[tuple[str, str]]
) -> dict[str, list[URL]]:
    """The same URL again and again, or one of many: the first page of a random entity's timeline
    (the main figure), a random page of one, and a random page of the whole newsroom's."""
    return {
        "entity timeline, random slug": [
            URL(f"{base}/v1/entities/{slug}/timeline?limit=20") for slug in slugs
        ],
        "entity timeline, repeated": [URL(f"{base}/v1/entities/{slugs[len(slugs) // 2]}/timeline?limit=20")],
        "entity timeline, random slug+page": [
            URL(f"{base}/v1/entities/{slug}/timeline").with_query(limit=20, cursor=cursor)
            for slug, cursor in pages
        ],
        "global timeline, repeated": [URL(f"{base}/v1/timeline?limit=20")],
        "global timeline, random page": [
            URL(f"{base}/v1/timeline").with_query(limit=20, cursor=cursor) for cursor in starts
        ],
    }


MAIN_READ = "entity timeline, random slug"
# Five months each, so that no probe is served from the cache.
PROBES = {"early": [f"2012-{month:02d}" for month in range(1, 6)], "recent": [f"2025-{month:02d}" for month in range(1, 6)]}  # fmt: skip


def measure_reads(url: str, base: str, slugs: Sequence[str], settings: Settings) -> dict[str, Reads]:
    """Every read scenario against the running service, one after another, the global timeline
    ``from`` a month one request at a time, and the trivial app before and after them all."""
    with trivial_app.serve() as trivial_base:
        # The floor is measured first and last, and the two pooled: the host is shared and noisy.
        trivial_urls = [URL(f"{trivial_base}{trivial_app.PATH}")]
        trivial = [asyncio.run(read_load(trivial_urls, settings, seed=0))]
        starts, pages = asyncio.run(sample_pages(url, UNCACHED_URLS))
        found: dict[str, Reads] = {}
        for seed, (name, urls) in enumerate(read_scenarios(base, slugs, starts, pages).items(), start=1):
            asyncio.run(idle(url, settings.request_seconds * 4))
            found[name] = asyncio.run(read_load(urls, settings, seed))
        for label, months in PROBES.items():
            asyncio.run(idle(url, settings.request_seconds * 4))
            probes = [URL(f"{base}/v1/timeline").with_query({"limit": 20, "from": month}) for month in months]
            one = replace(settings, read_max_ops=len(probes), read_seconds=settings.request_seconds * 2)
            found[f"global from={label} month, 1 reader"] = asyncio.run(
                read_load(probes, one, seed=0, readers=1, in_order=True)
            )
        trivial.append(asyncio.run(read_load(trivial_urls, settings, seed=0)))
    found["trivial route"] = pooled(trivial)
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


class _Witness:
    """Checkpoints one observer saw, in time order, keys rising: when was ``key`` first covered?"""

    def __init__(self, seen: list[tuple[float, tuple[int, int]]]) -> None:
        self.times = [when for when, _ in seen]
        self.keys = [key for _, key in seen]

    def covered(self, key: tuple[int, int]) -> float | None:
        index = bisect.bisect_left(self.keys, key)
        return self.times[index] if index < len(self.times) else None


async def projection_lag(url: str, base: str, key: str, newsroom: Newsroom, settings: Settings) -> Lag:
    """Single facts over HTTP at a steady ``lag_rate``; for each, the time from its 201 until the
    newsroom's checkpoint is seen to cover it (NOTIFY on ``dateline_projections``, and a poll of
    ``projection_checkpoints`` as a second witness). Coverage is decided afterwards on the log's
    real order, ``(transaction_id, position)``, from the events' own transaction ids."""
    heard: list[tuple[float, int]] = []  # when, position
    polled: list[tuple[float, tuple[int, int]]] = []

    def on_notify(_conn: object, _pid: int, _channel: str, payload: object) -> None:
        name, _, position = str(payload).partition(":")
        if name == NEWSROOM.name:
            heard.append((time.perf_counter(), int(position)))

    listener = await asyncpg.connect(url)
    poller = await asyncpg.connect(url)
    checker = await asyncpg.connect(url)
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
    positions: list[int] = []
    start = time.perf_counter() + 0.1
    deadline = start + settings.lag_seconds * 1.5 + 2
    following = 0
    try:
        try:
            connector = aiohttp.TCPConnector(limit=settings.lag_clients)
            timeout = aiohttp.ClientTimeout(total=settings.request_seconds)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

                async def client() -> None:
                    nonlocal following, failures
                    while following < total:
                        index = following
                        following += 1
                        due = start + index / settings.lag_rate  # on schedule, not after the last answer
                        if due > (now := time.perf_counter()):
                            await asyncio.sleep(due - now)
                        if time.perf_counter() > deadline:
                            return
                        sent = time.perf_counter()
                        try:
                            async with http.post(
                                f"{base}/v1/events", data=bodies[index], headers=headers
                            ) as response:
                                body = await response.read()
                        except (TimeoutError, aiohttp.ClientError):
                            failures += 1
                            continue
                        done = time.perf_counter()
                        if response.status != 201:
                            failures += 1
                            continue
                        answered.append((msgspec.json.decode(body)["position"], done))
                        latencies.append(done - sent)

                await asyncio.gather(*(client() for _ in range(settings.lag_clients)))
            sent_seconds = time.perf_counter() - start
            # Let the projection finish (bounded), then decide coverage on the log's real order.
            positions = sorted(position for position, _ in answered)
            settle = time.perf_counter() + 30
            while positions and time.perf_counter() < settle:
                if await checker.fetchval(
                    """
                    select bool_and((c.transaction_id, c.position) >= (e.transaction_id, e.position))
                    from events e, projection_checkpoints c
                    where e.position = any($1::bigint[]) and c.name = $2
                    """,
                    positions,
                    NEWSROOM.name,
                ):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # the last notifications
        finally:
            polling = False
            await asyncio.wait([poller_task], timeout=5)
            await listener.close()
            await poller.close()
        rows = await checker.fetch(
            "select position, transaction_id::text::bigint from events where position = any($1::bigint[])",
            sorted(set(positions) | {position for _, position in heard}),
        )
        order: dict[int, int] = {row[0]: row[1] for row in rows}
    finally:
        await checker.close()
    notified = _Witness(
        [(when, (order[position], position)) for when, position in heard if position in order]
    )
    watched = _Witness(polled)
    lags: list[float] = []
    uncovered = before_answer = 0
    for position, done in answered:
        point = (order[position], position)
        witnesses = [when for when in (notified.covered(point), watched.covered(point)) if when is not None]
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
                asyncio.run(vacuum(url, READ_MODEL))
            results["reads"][str(small.events)] = _reads_summary(
                measure_reads(url, base, small.slugs, settings)
            )
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
        # The log as a rebuild usually finds it: a million rows appended in a minute leave
        # autovacuum a pass over the whole table, which would otherwise run inside the timing.
        asyncio.run(vacuum(url, ["events"]))
        rebuilt = asyncio.run(timed_rebuild(url, settings.rebuild_seconds))
        results["rebuild"] = rebuilt.summary()
        results["log_read"] = asyncio.run(read_log_only(url, settings.log_read_seconds)).summary()
        results["first_page"] = asyncio.run(first_page_ms(url))
        if not rebuilt.finished:
            results["reads_skipped"] = "the rebuild was cut short: the large log's read model is incomplete"
            return report(results)
        if settings.analyze:
            asyncio.run(vacuum(url, READ_MODEL))
        with service(url) as base:
            asyncio.run(caught_up(base, settings.catch_up_seconds))
            results["reads"][str(large.events)] = _reads_summary(
                measure_reads(url, base, large.slugs, settings)
            )
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
        return f"{name:44} {value:10.0f} {unit:9} {p50_text} {p99_text}  {'  '.join(ratios)}"

    lines = [f"{'measurement':44} {'rate':>10} {'unit':9} {'p50 ms':>8} {'p99 ms':>8}  ratios (same run)"]

    rebuilt, read = results["rebuild"], results["log_read"]
    cut = "" if rebuilt["finished"] else f" (cut short at {rebuilt['seconds']:.0f} s)"
    lines.append(
        row(
            f"rebuild, {rebuilt['events']:,} events",
            rebuilt["events_per_second"],
            "events/s",
            None,
            None,
            f"{ratio(rebuilt['events_per_second'], read['events_per_second'])} of log read only",
            f"{ratio(rebuilt['events_per_second'], REBUILD_AIM)} of aim {REBUILD_AIM:,.0f}/s{cut}",
        )
    )
    if cpu := rebuilt.get("cpu_seconds"):
        spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in cpu.items())
        cores = sum(cpu.values()) / rebuilt["seconds"]
        lines.append(f"  rebuild CPU time: {spent}; {cores:.2f} cores busy on average over {os.cpu_count()}")
    cut = "" if read["finished"] else f" (cut short at {read['seconds']:.0f} s)"
    lines.append(
        row(
            "  log read only: baseline",
            read["events_per_second"],
            "events/s",
            None,
            None,
            f" 1.00x  {read['events']:,} events, the rebuild's snapshot reader + decode, nothing applied{cut}",
        )
    )
    if page := results.get("first_page"):
        lines.append(
            f"  read_log's first page of 2,000: {page['ms']:.1f} ms, plan: {' > '.join(page['nodes'])}"
        )
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
    lines.append("")
    lines.append(
        f"{'timeline reads, limit=20':40} {'events':>9} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}"
        f"  {'vs trivial: req/s':>17} {'p50':>6} {'p99':>6}  notes"
    )
    for size, reads in sorted(results["reads"].items(), key=lambda item: int(item[0])):
        trivial = reads["trivial route"]
        for name, found in reads.items():
            errors = sum(found["errors"].values())
            notes = [
                f"{found['urls']:,} URL{'s' if found['urls'] > 1 else ''}",
                f"{found['mean_body_bytes']:,.0f} B",
            ]
            if name == MAIN_READ:
                notes.insert(0, "main figure")
            if errors:
                notes.append(f"{errors} errors {found['errors']}")
            if runs := found.get("runs_requests_per_second"):
                notes.append("first and last: " + " and ".join(f"{run:.0f}" for run in runs) + " req/s")
            throughput = (
                ""
                if "1 reader" in name
                else ratio(found["requests_per_second"], trivial["requests_per_second"])
            )
            lines.append(
                f"{name:40} {int(size):9,} {found['requests_per_second']:7.0f} {found['p50_ms']:8.2f}"
                f" {found['p99_ms']:8.2f}  {throughput:>17} {ratio(found['p50_ms'], trivial['p50_ms']):>6}"
                f" {ratio(found['p99_ms'], trivial['p99_ms']):>6}  {', '.join(notes)}"
            )
    if skipped := results.get("reads_skipped"):
        lines.append(f"reads of the large log skipped: {skipped}")
    growth = _p99_growth(results["reads"])
    results["p99_growth"] = growth
    if growth:
        sizes = sorted(results["reads"], key=int)
        lines.append(f"p99 at {int(sizes[-1]):,} / p99 at {int(sizes[0]):,} events:")
        lines.extend(f"  {name:42} {value:6.2f}x" for name, value in growth.items())
    generated = results["generated"]
    lines.append(
        f"(preparation: {generated['events']:,} events generated in {generated['seconds']:.0f} s, "
        f"{generated['events_per_second']:,.0f}/s; "
        + ", ".join(f"{kind} {count:,}" for kind, count in sorted(generated["types"].items()))
        + ")"
    )
    return lines
