"""As known at, and the pinned view: the uncached random pages again, each at an instant of the
log's record, next to the same current read of the same run.

``as_of`` reads run the current queries over the version tables, and a pinned view adds the
follow-ups recorded since and a bounded count of what changed: both should cost about what the
current page costs. Each URL of a pool carries its own instant, drawn uniformly over the whole
record (the first event's ``recorded_at`` to the last's), so that neither the read cache nor one
warm corner of the versions answers for the rest, and early instants (few facts known) weigh as
much as late ones.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from bench.harness import connected, vacuum
from bench.projection_settings import ProjectionSettings
from bench.timeline_reads import (
    CACHED_BODIES,
    UNCACHED_MINIMUM,
    UNCACHED_READS,
    WORKERS,
    Reads,
    idle,
    read_load,
)

ENTITY_AS_OF = "entity timeline as of, random page"
GLOBAL_AS_OF = "global timeline as of, random page"
ENTITY_PINNED = "entity timeline pinned, random page"
GLOBAL_PINNED = "global timeline pinned, random page"
CURRENT: dict[str, str] = {
    ENTITY_AS_OF: UNCACHED_READS[0],
    GLOBAL_AS_OF: UNCACHED_READS[1],
    ENTITY_PINNED: UNCACHED_READS[0],
    GLOBAL_PINNED: UNCACHED_READS[1],
}
"""Each scenario, and the current read of the same run it is held to."""
AS_OF_P99_AIM = 2.0  # at most this multiple of the same current read's p99
# The bench's vacuum before reading (harness.READ_MODEL) covers the current tables only; the
# versions were just written by the same fold, and reading them before autovacuum has would
# measure the bulk load, not the steady state.
VERSIONS = ("timeline_item_versions", "entity_item_versions", "entity_state_versions")
CHECKED = 8
"""URLs of each scenario fetched before measuring, from its earliest instant to its latest."""


async def recorded_span(url: str) -> tuple[datetime, datetime]:
    """The first and last instants the log's events were recorded at."""
    async with connected(url) as conn:
        row = await conn.fetchrow("select min(recorded_at), max(recorded_at) from events")
    assert row is not None  # an aggregate always gives a row
    if row[0] is None:
        raise RuntimeError("an empty log has no instants to read it at")
    return row[0], row[1]


def rfc3339(instant: datetime) -> str:
    """An instant as ``as_of`` takes it: UTC, to the microsecond, with a Z."""
    return instant.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def instants(first: datetime, last: datetime, count: int, seed: int) -> list[str]:
    """Up to ``count`` distinct instants drawn uniformly over ``first`` to ``last`` (both
    included), to the microsecond, in random order; a span of fewer microseconds gives fewer."""
    microseconds = (last - first) // timedelta(microseconds=1)
    drawn = random.Random(seed).sample(range(microseconds + 1), min(count, microseconds + 1))
    return [rfc3339(first + timedelta(microseconds=offset)) for offset in drawn]


def as_of_scenarios(
    base: str, starts: Sequence[str], pages: Sequence[tuple[str, str]], moments: Sequence[str]
) -> dict[str, list[URL]]:
    """The random pages of the entity and global timelines (the current reads' own cursors), as
    known at an instant and pinned to one: every URL of every pool with an instant of its own
    (``moments`` is cut into one slice per scenario; too few give smaller pools)."""
    routes = {
        ENTITY_AS_OF: ("/timeline", pages),
        GLOBAL_AS_OF: ("", starts),
        ENTITY_PINNED: ("/timeline/pinned", pages),
        GLOBAL_PINNED: ("/pinned", starts),
    }
    found: dict[str, list[URL]] = {}
    taken = 0
    for name, (suffix, pool) in routes.items():
        mine = moments[taken : taken + len(pool)]
        taken += len(mine)
        if name in (ENTITY_AS_OF, ENTITY_PINNED):
            found[name] = [
                URL(f"{base}/v1/entities/{slug}{suffix}").with_query(limit=20, cursor=cursor, as_of=at)
                for (slug, cursor), at in zip(pages, mine, strict=False)
            ]
        else:
            found[name] = [
                URL(f"{base}/v1/timeline{suffix}").with_query(limit=20, cursor=cursor, as_of=at)
                for cursor, at in zip(starts, mine, strict=False)
            ]
    return found


def _spread(urls: Sequence[URL], count: int) -> list[URL]:
    """``count`` of ``urls`` from the earliest instant to the latest (the instants sort as text)."""
    ordered = sorted(urls, key=lambda target: target.query["as_of"])
    if len(ordered) <= count:
        return ordered
    return [ordered[round(index * (len(ordered) - 1) / (count - 1))] for index in range(count)]


def _current(target: URL) -> URL:
    """The current read a scenario's URL is held to: the same page, as known now."""
    query = {key: value for key, value in target.query.items() if key != "as_of"}
    return target.with_path(target.path.removesuffix("/pinned")).with_query(query)


async def check(scenarios: dict[str, list[URL]], last: str, seconds: float) -> dict[str, dict[str, Any]]:
    """A few URLs of each scenario fetched one at a time before measuring, early, middle and late
    in the record, each also as known at the record's ``last`` instant and as known now: every
    answer must be 200 (an early instant may hold few items, or none: a small log is one or two
    batches, recorded at one or two instants), and the page at the last instant must hold the
    current page's items, in its order, and some of them items. A read that fails here would
    otherwise be measured as fast errors, or as fast empty pages; it fails the run instead,
    with what the service said."""
    found: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    timeout = aiohttp.ClientTimeout(total=seconds)
    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def ids(target: URL) -> list[str] | None:
            async with http.get(target) as response:
                body = await response.read()
            if response.status != 200:
                failures.append(f"{response.status} for {target}: {body[:300]!r}")
                return None
            return [item["id"] for item in msgspec.json.decode(body)["items"]]

        for name, urls in scenarios.items():
            items: list[int] = []
            latest: list[int] = []
            for target in _spread(urls, CHECKED):
                page, at_last, now = [
                    await ids(each) for each in (target, target.update_query(as_of=last), _current(target))
                ]
                if page is not None:
                    items.append(len(page))
                if at_last is not None:
                    latest.append(len(at_last))
                if at_last is not None and now is not None and at_last != now:
                    failures.append(
                        f"{name}: as known at the last instant, {len(at_last)} items, not the current"
                        f" {len(now)} (or not in the same order), for {target}"
                    )
            if not any(latest):
                failures.append(f"{name}: none of the {len(latest)} pages at the last instant held an item")
            found[name] = {"urls": len(items), "items": items, "items_at_last": latest}
    if failures:
        raise RuntimeError("as-of reads failed their check:\n  " + "\n  ".join(failures))
    return found


def measure_as_of(
    url: str,
    base: str,
    starts: Sequence[str],
    pages: Sequence[tuple[str, str]],
    settings: ProjectionSettings,
    seed: int,
) -> dict[str, Reads]:
    """The four scenarios against the running service, after their check, one after another as
    the current reads are; each Reads carries its check's outcome."""
    first, last = asyncio.run(recorded_span(url))
    moments = instants(first, last, 2 * len(pages) + 2 * len(starts), seed)
    scenarios = as_of_scenarios(base, starts, pages, moments)
    if settings.analyze:
        asyncio.run(vacuum(url, VERSIONS))
    checked = asyncio.run(check(scenarios, rfc3339(last), settings.request_seconds))
    found: dict[str, Reads] = {}
    for offset, (name, urls) in enumerate(scenarios.items()):
        asyncio.run(idle(url, settings.request_seconds * 4))
        reads = asyncio.run(read_load(urls, settings, seed + offset))
        reads.checked = checked[name]
        found[name] = reads
    return found


def as_of_aims(results: dict[str, Any]) -> list[str]:
    """The as-of and pinned pages at the largest log, each against its current read of the same
    run: p99 at most ``AS_OF_P99_AIM`` times its p99 (req/s ratios beside it, with no aim). A
    scenario with HTTP errors fails whatever its ratios. Records the outcome in ``results``."""
    size = max(results["reads"], key=int)
    reads = results["reads"][size]
    present = [name for name in CURRENT if name in reads and CURRENT[name] in reads]
    if not present:
        return []
    lines = [
        f"as known at and pinned, at {int(size):,} events, against the same current read in this run"
        f" (aim: p99 at most {AS_OF_P99_AIM:.2f}x):"
    ]
    outcome: dict[str, Any] = {"events": int(size)}
    for name in present:
        found, current = reads[name], reads[CURRENT[name]]
        throughput = (
            found["requests_per_second"] / current["requests_per_second"]
            if current["requests_per_second"]
            else float("nan")
        )
        p99 = found["p99_ms"] / current["p99_ms"] if current["p99_ms"] else float("nan")
        http_errors = sum(count for error, count in found["errors"].items() if error.isdigit())
        met = p99 <= AS_OF_P99_AIM and not http_errors
        outcome[name] = {
            "against": CURRENT[name],
            "throughput_ratio": throughput,
            "p99_ratio": p99,
            "p99_met": met,
            "http_errors": http_errors,
            "hit_rate": found.get("hit_rate"),
            "urls": found["urls"],
        }
        notes = [f"vs {CURRENT[name]}", f"{found['urls']:,} URLs"]
        if (hits := found.get("hit_rate")) is not None:
            notes.insert(0, f"hit rate {hits:.1%}")
        if checked := found.get("checked"):
            pages = checked["items"]
            notes.append(f"checked {len(pages)} x 200, {min(pages)}-{max(pages)} items")
        if http_errors:
            notes.append(f"FAILED: {http_errors} HTTP errors {found['errors']}")
        elif given_up := sum(found["errors"].values()):
            notes.append(f"{given_up} requests given up {found['errors']}")
        if found["urls"] < UNCACHED_MINIMUM:
            notes.append(
                f"fewer than the {UNCACHED_MINIMUM:,} (10 x {WORKERS} workers x {CACHED_BODIES:,} cached bodies)"
                " that make them uncached"
            )
        lines.append(
            f"  {name:42} req/s {throughput:5.2f}x  p99 {p99:5.2f}x: {'met   ' if met else 'missed'}"
            f"  {', '.join(notes)}"
        )
    results["as_of_aims"] = outcome
    return lines
