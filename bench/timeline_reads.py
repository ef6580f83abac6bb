"""Timeline reads: 64 concurrent readers against the running service, scenario by scenario, each
next to a trivial Litestar route served the same way (``bench/trivial_app.py``), measured before
and after them all and pooled.

Every read answer says, in its ``Cache-Status`` header (RFC 9211), whether the process served it
from its read cache (``dateline; hit``) or built the body (``dateline; fwd=miss``); each scenario
counts its hits, so a figure that is really the cache's says so.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from bench import trivial_app
from bench.embed import embed_scenarios
from bench.harness import Rate, connected, measure
from bench.projection_settings import ProjectionSettings
from service.domain import cursors

# The service keeps up to 2,048 encoded bodies per process, by URL, until the checkpoint moves
# (``ReadCache(size=2048)`` in service/http/read_cache.py), and the bench serves it with 2 workers:
# a few hundred URLs are served from the caches once seen. A pool of distinct URLs ten times the
# caches' whole capacity is one a random reader mostly finds uncached.
CACHED_BODIES = 2_048
WORKERS = 2
UNCACHED_MINIMUM = 10 * WORKERS * CACHED_BODIES
UNCACHED_URLS = 50_000
CACHE_STATUS_NAME = "dateline"

MAIN_READ = "entity timeline, random slug"
UNCACHED_READS = ("entity timeline, random slug+page", "global timeline, random page")
TRIVIAL = "trivial route"
# For the uncached pages, at the large log, against the trivial route in the same run.
UNCACHED_THROUGHPUT_AIM = 0.3  # at least this fraction of the trivial route's requests per second
UNCACHED_P99_AIM = 3.0  # at most this multiple of the trivial route's p99
# Reads one at a time whose cost must not grow with the log, five URLs each so that none is
# served from the cache: `from` a month, a type the generated log never holds, a word no fact has.
_ABSENT_TYPES = ["model.released", "model.announced", "model.reported", "person.appointed", "person.departed"]
PROBES: dict[str, list[dict[str, str]]] = {
    "from=early month": [{"from": f"2012-{month:02d}"} for month in range(1, 6)],
    "from=recent month": [{"from": f"2025-{month:02d}"} for month in range(1, 6)],
    "types=an absent type": [{"types": kind} for kind in _ABSENT_TYPES],
    "q=an absent word": [{"q": f"zzqx{n}"} for n in range(5)],
    # Instants at which few rows are known: before any was recorded, and long after the last.
    "as_of=before the log": [{"as_of": f"{2000 + n}-01-01T00:00:00Z"} for n in range(5)],
    "as_of=after the log": [{"as_of": f"{2100 + n}-01-01T00:00:00Z"} for n in range(5)],
}


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
    hits: int
    """Measured answers the service's read cache gave (``Cache-Status: dateline; hit``)."""
    cache_statuses: int
    """Measured answers that said either way; none for a route without a read cache."""
    runs: tuple[float, ...] = ()
    """Requests per second of each run pooled into this one, when there were several."""
    checked: dict[str, Any] | None = None
    """What fetching a few of the URLs before measuring found (``bench/as_of.py``), if it was done."""

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.cache_statuses if self.cache_statuses else None

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
            "cache_hits": self.hits,
            "hit_rate": self.hit_rate,
            **({"checked": self.checked} if self.checked is not None else {}),
        }


def items_in(body: bytes, content_type: str) -> int:
    """How many timeline items a page holds: a JSON page's ``items``, an embed page's events."""
    if content_type == "text/html":
        return body.count(b'<li id="event-')
    items: list[Any] = msgspec.json.decode(body).get("items", [])
    return len(items)


def cache_hit(header: str | None) -> bool | None:
    """What the service's own member of a ``Cache-Status`` header says: a hit or not; None when
    it has none."""
    for member in (header or "").split(","):
        name, *parameters = (part.strip() for part in member.split(";"))
        if name == CACHE_STATUS_NAME:
            return "hit" in parameters
    return None


async def read_load(
    urls: Sequence[URL],
    settings: ProjectionSettings,
    seed: int,
    *,
    readers: int | None = None,
    in_order: bool = False,
) -> Reads:
    """Concurrent readers (``settings.readers``) GETting a random one of ``urls`` (or each in turn),
    bounded by ``read_max_ops`` and ``read_seconds``, after a short warm-up that opens connections.

    A request that takes longer than ``request_seconds`` is given up and counted as an error, at
    that latency: a slow read path must not hold the run hostage.
    """
    readers = readers or settings.readers
    rng = random.Random(seed)
    errors: Counter[str] = Counter()
    tally: Counter[str] = Counter()  # bytes received, cache hits, answers with a cache status
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
            tally["bytes"] += len(body)
            if (hit := cache_hit(response.headers.get("Cache-Status"))) is not None:
                tally["statuses"] += 1
                tally["hits"] += hit
            if not first:
                first.append(items_in(body, response.content_type))
            return 1

        first: list[int] = []
        if not in_order:  # open the connections, and fill the read cache where it can hold every URL
            warm_ups = min(2_000, max(2 * readers, 3 * len(urls)))
            await measure(readers, min(2.0, settings.read_seconds / 2), warm_ups, get)
        errors.clear()
        tally.clear()
        rate = await measure(readers, settings.read_seconds, settings.read_max_ops, get)
    return Reads(
        rate,
        dict(errors),
        len(urls),
        tally["bytes"] / max(1, rate.events),
        first[0] if first else 0,
        tally["hits"],
        tally["statuses"],
    )


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
        sum(run.hits for run in runs),
        sum(run.cache_statuses for run in runs),
        tuple(run.rate.per_second for run in runs),
    )


async def idle(url: str, seconds: float) -> None:
    """Wait (bounded) until no query runs in the database: what a given-up request left running
    must not weigh on the next measurement."""
    async with connected(url) as conn:
        deadline = time.monotonic() + seconds
        while True:
            busy = await conn.fetchval(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and state = 'active' and pid <> pg_backend_pid()"
            )
            if not busy or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.2)


async def sample_pages(url: str, count: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Up to ``count`` ``next`` values readers paging through timelines could hold, at random
    places, each a different URL: for the global timeline, one per item, and (slug, cursor) for
    entity timelines, one per (entity, item). A log with fewer items gives fewer."""
    async with connected(url) as conn:
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
    return (
        [cursors.encode(cursors.TimelineCursor(*row)) for row in rows],
        [(row[0], cursors.encode(cursors.TimelineCursor(row[1], row[2], row[3]))) for row in pairs],
    )


async def entity_slugs(url: str, kind: str) -> list[str]:
    """The slugs of a built database's entities of ``kind`` that have not been merged away, in the
    order they were registered."""
    async with connected(url) as conn:
        rows = await conn.fetch(
            "select slug from entity_states where kind = $1 and merged_into is null order by position, slug",
            kind,
        )
    return [row[0] for row in rows]


def read_scenarios(
    base: str, slugs: Sequence[str], starts: Sequence[str], pages: Sequence[tuple[str, str]]
) -> dict[str, list[URL]]:
    """The same URL again and again, or one of many: the first page of a random entity's timeline
    (the main figure), a random page of one, and a random page of the whole newsroom's; and the
    embed page of one entity, repeated, and of a random page of a random one."""
    uncached = uncached_scenarios(base, starts, pages)
    return {
        MAIN_READ: [URL(f"{base}/v1/entities/{slug}/timeline?limit=20") for slug in slugs],
        "entity timeline, repeated": [URL(f"{base}/v1/entities/{slugs[len(slugs) // 2]}/timeline?limit=20")],
        UNCACHED_READS[0]: uncached[UNCACHED_READS[0]],
        "global timeline, repeated": [URL(f"{base}/v1/timeline?limit=20")],
        UNCACHED_READS[1]: uncached[UNCACHED_READS[1]],
        **embed_scenarios(base, slugs, pages),
    }


def uncached_scenarios(
    base: str, starts: Sequence[str], pages: Sequence[tuple[str, str]]
) -> dict[str, list[URL]]:
    """The pages no cache holds: a random entity's timeline at a random cursor (``pages``), and
    the whole newsroom's at one (``starts``), as ``sample_pages`` draws them."""
    return {
        UNCACHED_READS[0]: [
            URL(f"{base}/v1/entities/{slug}/timeline").with_query(limit=20, cursor=cursor)
            for slug, cursor in pages
        ],
        UNCACHED_READS[1]: [
            URL(f"{base}/v1/timeline").with_query(limit=20, cursor=cursor) for cursor in starts
        ],
    }


AlsoMeasured = Callable[
    [str, str, Sequence[str], Sequence[tuple[str, str]], ProjectionSettings, int], dict[str, Reads]
]
"""More scenarios over the same random pages, measured among these (``bench/as_of.py``'s): given
the database and service URLs, the pages' starts and cursors, the settings and a first seed."""


def measure_reads(
    url: str, base: str, slugs: Sequence[str], settings: ProjectionSettings, also: AlsoMeasured
) -> dict[str, Reads]:
    """Every read scenario against the running service, one after another (``also``'s among
    them), the global timeline ``from`` a month one request at a time, and the trivial app before
    and after them all."""
    with trivial_app.serve() as trivial_base:
        # The floor is measured first and last, and the two pooled: the host is shared and noisy.
        trivial_urls = [URL(f"{trivial_base}{trivial_app.PATH}")]
        trivial = [asyncio.run(read_load(trivial_urls, settings, seed=0))]
        starts, pages = asyncio.run(sample_pages(url, UNCACHED_URLS))
        found: dict[str, Reads] = {}
        for seed, (name, urls) in enumerate(read_scenarios(base, slugs, starts, pages).items(), start=1):
            asyncio.run(idle(url, settings.request_seconds * 4))
            found[name] = asyncio.run(read_load(urls, settings, seed))
        found.update(also(url, base, starts, pages, settings, len(found) + 1))
        for label, queries in PROBES.items():
            asyncio.run(idle(url, settings.request_seconds * 4))
            probes = [URL(f"{base}/v1/timeline").with_query({"limit": 20, **query}) for query in queries]
            one = replace(settings, read_max_ops=len(probes), read_seconds=settings.request_seconds * 2)
            found[f"global {label}, 1 reader"] = asyncio.run(
                read_load(probes, one, seed=0, readers=1, in_order=True)
            )
        trivial.append(asyncio.run(read_load(trivial_urls, settings, seed=0)))
    found[TRIVIAL] = pooled(trivial)
    return found
