"""No request parameter makes a read scan the log: on a log of 100,000 events, every read route,
each time with a parameter no one asked for before, reads a small part of what the database
holds, as PostgreSQL's own counters of rows read (``pg_stat_user_tables``) tell."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest

from bench.newsroom_log import generate
from service.projections import PROJECTIONS
from service.projections.rebuild import rebuild
from tests.conftest import client_for

EVENTS = 100_000
ENTITIES = 200
ROWS_PER_READ = EVENTS // 10
"""What one read may make the database read, in rows of all tables together: a tenth of the log.
The heaviest honest reads (an entity's timeline as known at an instant, with its versions) read
under 10,000."""

pytestmark = pytest.mark.slow


async def _rows_read(database_url: str) -> dict[str, int]:
    """Rows each table has given out (sequential and index reads), once every other session on
    the database has ended: a session sends its counts when it ends, if not before."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + 30
        while await conn.fetchval(
            "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
        ):
            assert time.monotonic() < deadline, "sessions on the database did not end"
            await asyncio.sleep(0.05)
        await conn.execute("select pg_stat_clear_snapshot()")
        rows = await conn.fetch(
            "select relname, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) as read from pg_stat_user_tables"
        )
        return {row["relname"]: row["read"] for row in rows}
    finally:
        await conn.close()


_ROUTES = [
    "/v1/timeline?q=reported+working+{i}&order=relevance&limit=100&lang=fr",
    "/v1/timeline?q=w{i}x&tags=t{i}&from=0001-01-01&to=9999-12-31T23:59:59.999999Z",
    "/v1/timeline?entities={slug}&as_of=20{y}-0{m}-01T00:00:0{d}Z&order=desc",
    "/v1/timeline?types=funding.raised&status=denied&include=retracted&limit=100&from=20{y}",
    "/v1/timeline?cursor={nonce}&limit={i}",
    "/v1/timeline/pinned?as_of=2020-01-01T00:00:0{d}Z&q=reported",
    "/v1/timeline?format=timelinejs&tags=chips,cloud&to=20{y}",
    "/v1/entities/{slug}/timeline?limit=100&order=desc&lang=en&from=20{y}",
    "/v1/entities/{slug}/timeline/pinned?as_of=9999-12-31T23:59:59.99999{d}Z",
    "/v1/entities/{slug}?as_of=2015-0{m}-01T00:00:00Z",
    "/v1/entities/{slug}/history",
    "/v1/entities?q={letter}&kind=organization",
    "/v1/streams/{slug}?from_version={i}",
    "/v1/events?limit=1000&after={nonce}",
    "/v1/events/{event}/history?lang=fr",
    "/v1/feed.atom?tags=t{i}&q=raises",
    "/v1/entities/{slug}/feed.atom?lang=fr",
    "/embed/{slug}?lang=fr&theme=dark&as_of=2024-0{m}-01T00:00:00Z",
    "/embed?q=acquire&from=20{y}",
    "/oembed?url=http://testserver.local/embed/{slug}%3Flang%3Dfr%26n%3D{i}",
]
"""Every read route, each time with a parameter of its own: words common and rare, tags, dates
at the calendar's edges, instants, cursors made up, the largest pages."""
ASKED = 5
"""How many times each route is asked, each time differently."""


async def test_no_read_scans_a_log_of_100000_events(database_url: str) -> None:
    began = time.monotonic()
    generated = await generate(database_url, EVENTS, entities=ENTITIES, seed=17, seconds=120)
    assert generated.events == EVENTS
    for projection in PROJECTIONS:
        await rebuild(database_url, projection)
    built = time.monotonic() - began
    async with client_for(database_url, projections=False) as client:
        logged = (await client.get("/v1/events", params={"limit": 1000})).json()["events"]
    events = [event["id"] for event in logged if event["type"] != "entity.registered"]
    per_read: dict[str, float] = {}
    for route in _ROUTES:
        before = await _rows_read(database_url)
        # A client of its own per route: its sessions end with it, and send their counts.
        async with client_for(database_url, projections=False) as client:
            for i in range(1, ASKED + 1):
                path = route.format(
                    i=i, y=10 + i, m=i, d=i, slug=generated.slugs[i], event=events[i],
                    nonce=uuid.uuid4().hex, letter="abcdefghij"[i],
                )  # fmt: skip
                response = await client.get(path)
                assert response.status_code < 500, (path, response.text)
        after = await _rows_read(database_url)
        per_read[route] = sum(after[table] - before.get(table, 0) for table in after) / ASKED
    print(f"log built in {built:.1f} s; rows read per read, by route: {per_read}")
    scans = {route: rows for route, rows in per_read.items() if rows >= ROWS_PER_READ}
    assert scans == {}
