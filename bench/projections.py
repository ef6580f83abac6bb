"""Projections: how fast a rebuild folds the log, how far the live projection trails appends, and
how fast timelines read as the log grows.

Everything runs against one PostgreSQL server in one run, each figure next to a baseline from
the same run: the rebuild next to a plain read of the same log (the same reader and decoder,
nothing applied, ``bench/rebuilds.py``), the projection's lag next to the appends' own latency
(``bench/lag.py``), and every timeline read next to a trivial Litestar route served the same way
(``bench/timeline_reads.py``, ``bench/trivial_app.py``). The logs are generated (``bench/newsroom_log.py``);
the report's lines are written by ``bench/report.py``.

``reads_only`` runs the timeline reads alone against a database built before, to iterate on the
read path without generating and rebuilding a log each time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from yarl import URL

from bench.as_of import measure_as_of
from bench.harness import READ_MODEL, caught_up, connected, fresh_database, service, vacuum, write_key
from bench.lag import projection_lag
from bench.newsroom_log import KIND, Generated, Newsroom, generate
from bench.projection_settings import ProjectionSettings
from bench.rebuilds import first_page_ms, read_log_only, timed_rebuild
from bench.report import reads_report, report
from bench.timeline_reads import Reads, entity_slugs, measure_reads


def _generate(url: str, total: int, settings: ProjectionSettings) -> Generated:
    return asyncio.run(
        generate(
            url, total, entities=settings.entities, seed=settings.seed, seconds=settings.generate_seconds
        )
    )


def _reads(url: str, base: str, slugs: list[str], settings: ProjectionSettings) -> dict[str, dict[str, Any]]:
    """The timeline reads against the service at ``base``, once its projection has caught up (and
    the read model is vacuumed, if asked); their summaries."""
    asyncio.run(caught_up(base, settings.catch_up_seconds))
    if settings.analyze:
        asyncio.run(vacuum(url, READ_MODEL))
    # The same random pages as known at an instant, and pinned to one, among them.
    found: dict[str, Reads] = measure_reads(url, base, slugs, settings, also=measure_as_of)
    return {name: reads.summary() for name, reads in found.items()}


def run(server_url: str, settings: ProjectionSettings) -> list[str]:
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


async def log_size(url: str) -> int:
    async with connected(url) as conn:
        return int(await conn.fetchval("select count(*) from events"))


def reads_only(database_url: str, settings: ProjectionSettings) -> list[str]:
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
        events = asyncio.run(log_size(database_url))
        results["log"] = {"events": events, "entities": len(slugs)}
        results["reads"] = {str(events): _reads(database_url, base, slugs, settings)}
    return reads_report(results)
