"""Projections: how fast a rebuild folds the log, how far the live projection trails appends, and
how fast timelines read as the log grows.

Everything runs against one PostgreSQL server in one run, each figure next to a baseline from
the same run: the rebuild next to a plain read of the same log (the same reader and decoder,
nothing applied, ``bench/rebuilds.py``), the projection's lag next to the appends' own latency
(``bench/lag.py``), and every timeline read next to a trivial Litestar route served the same way
(``bench/reads.py``, ``bench/trivial_app.py``). The logs are generated (``bench/newsroom_log.py``);
the report's lines are written by ``bench/report.py``.

``reads_only`` runs the timeline reads alone against a database built before, to iterate on the
read path without generating and rebuilding a log each time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from yarl import URL

from bench.harness import READ_MODEL, caught_up, connected, fresh_database, service, vacuum, write_key
from bench.lag import projection_lag
from bench.newsroom_log import KIND, Generated, Newsroom, generate
from bench.reads import Reads, entity_slugs, measure_reads
from bench.rebuilds import first_page_ms, read_log_only, timed_rebuild
from bench.report import reads_report, report


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


def _generate(url: str, total: int, settings: Settings) -> Generated:
    return asyncio.run(
        generate(
            url, total, entities=settings.entities, seed=settings.seed, seconds=settings.generate_seconds
        )
    )


def _reads(url: str, base: str, slugs: list[str], settings: Settings) -> dict[str, dict[str, Any]]:
    """The timeline reads against the service at ``base``, once its projection has caught up (and
    the read model is vacuumed, if asked); their summaries."""
    asyncio.run(caught_up(base, settings.catch_up_seconds))
    if settings.analyze:
        asyncio.run(vacuum(url, READ_MODEL))
    found: dict[str, Reads] = measure_reads(url, base, slugs, settings)
    return {name: reads.summary() for name, reads in found.items()}


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
        small = _generate(url, settings.small_events, settings)
        results["generated_small"] = {"events": small.events, "seconds": small.seconds, "types": small.types}
        key = asyncio.run(write_key(url, "bench-projections"))
        with service(url) as base:
            results["reads"][str(small.events)] = _reads(url, base, small.slugs, settings)
            newsroom = Newsroom(settings.entities, settings.seed + 1)
            lag = asyncio.run(projection_lag(url, base, key, newsroom, settings))
            results["lag"] = lag.summary()
    with fresh_database(server_url) as url:
        large = _generate(url, settings.events, settings)
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
        with service(url) as base:
            results["reads"][str(large.events)] = _reads(url, base, large.slugs, settings)
    return report(results)


def where(database_url: str) -> str:
    """The database's name, host and port, without its credentials: what a report may print."""
    parsed = URL(database_url)
    host = parsed.host or parsed.query.get("host", "localhost")  # or a socket's directory
    return f"{parsed.path.lstrip('/')} on {host}{f':{parsed.port}' if parsed.explicit_port else ''}"


async def _log_size(url: str) -> int:
    async with connected(url) as conn:
        return int(await conn.fetchval("select count(*) from events"))


def reads_only(database_url: str, settings: Settings) -> list[str]:
    """The timeline reads alone (the trivial route before and after them) against an existing,
    built database: the service started on it, its projection caught up, the entities those the
    generator registers; the read table's lines."""
    results = settings.results
    results["settings"] = {
        "database": where(database_url),
        "readers": settings.readers,
        "read_seconds": settings.read_seconds,
        "analyze": settings.analyze,
    }
    with service(database_url) as base:
        asyncio.run(caught_up(base, settings.catch_up_seconds))
        slugs = asyncio.run(entity_slugs(database_url, KIND))
        if not slugs:
            raise SystemExit(f"no entities of kind {KIND!r} in {where(database_url)}: is it a generated log?")
        events = asyncio.run(_log_size(database_url))
        results["log"] = {"events": events, "entities": len(slugs)}
        results["reads"] = {str(events): _reads(database_url, base, slugs, settings)}
    return reads_report(results)
