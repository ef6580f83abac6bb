"""As known at any instant, the indexed versions answer exactly what replaying the log gives.

A generated log (corrections of every kind, confirmations, denials, retractions, merges and merges undone,
and transactions that commit out of order) is read through HTTP at every instant an event was
recorded and one microsecond either side: every filter, both date orders and ranked search,
every page, and every entity's state, each compared with ``tests/replay.py``. A rebuild then
makes the same versions.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest

from schemas import Event, EventCorrected
from service.domain.appending import AppendPlan, decide, needs
from service.projections.newsroom import PROJECTION
from service.projections.rebuild import rebuild
from service.store import events as log
from service.store.newsroom import reads as newsroom
from tests.conftest import Client
from tests.factories import bearer, registered, reported
from tests.replay import Replay, read_log
from tests.tables import snapshot

ORGANIZATIONS = ["alpha", "beta", "gamma", "delta", "epsilon"]
# Searched for, and in no entity's name: see tests/replay.py.
WORDS = ["chip", "cloud", "quantum", "robot"]
DATES = ["2022", "2023-03", "2023-03-14", "2024", "2024-05", "2024-05-06", "2024-05-06T09:30:00Z"]
TIMELINES: list[tuple[str, list[str] | None, dict[str, str]]] = [
    ("/v1/timeline", None, {}),
    ("/v1/timeline", None, {"order": "desc"}),
    ("/v1/timeline", None, {"tags": "ai"}),
    ("/v1/timeline", None, {"types": "fact.reported", "status": "confirmed"}),
    ("/v1/timeline", None, {"status": "denied", "include": "retracted"}),
    ("/v1/timeline", None, {"include": "retracted", "order": "desc"}),
    ("/v1/timeline", None, {"q": "chip"}),
    ("/v1/timeline", None, {"q": "cloud", "order": "relevance"}),
    ("/v1/timeline", None, {"from": "2023-03", "to": "2024-05"}),
    ("/v1/timeline", ["alpha", "delta"], {"entities": "alpha,delta"}),
]


class _Log:
    """Appends through HTTP, or inside a transaction held open on a connection of its own."""

    def __init__(self, client: Client, key: str, rng: random.Random) -> None:
        self.client, self.key, self.rng = client, key, rng
        self.facts: list[str] = []
        self.retracted: set[str] = set()
        self.last = 0
        # Corrections take each kind in turn, so that every kind is in the log whatever the seed.
        self.kinds = itertools.cycle(["correction", "clarification", "update", "amendment"])

    async def post(self, *events: dict[str, Any]) -> list[str]:
        response = await self.client.post(
            "/v1/events/batch", json={"events": list(events)}, headers=bearer(self.key)
        )
        assert response.status_code == 201, response.text
        appended = response.json()["events"]
        self.last = max(self.last, *(event["position"] for event in appended))
        ids = [str(event["id"]) for event in appended]
        self.facts += [
            event_id for event_id, event in zip(ids, events, strict=True) if event["type"] == "fact.reported"
        ]
        return ids

    def fact(self, *slugs: str) -> dict[str, Any]:
        word = self.rng.choice(WORDS)
        headline = f"{word.title()} news number {len(self.facts)}"
        fields: dict[str, Any] = {"tags": self.rng.sample(["ai", "infra", "policy"], self.rng.randint(0, 2))}
        if self.rng.random() < 0.4:
            fields["summary"] = {"en": f"More on the {word}.", "fr": "Plus de détails."}
        return reported(
            *(slugs or self.slugs()), occurred=self.rng.choice(DATES), headline=headline, **fields
        )

    def slugs(self) -> list[str]:
        return self.rng.sample(ORGANIZATIONS, self.rng.randint(1, 2))

    def follow_up(self, target: str | None = None) -> dict[str, Any]:
        target = target or self.rng.choice([fact for fact in self.facts if fact not in self.retracted])
        kind = self.rng.choice(["corrected", "corrected", "confirmed", "denied", "retracted"])
        event: dict[str, Any] = {"type": f"event.{kind}", "event_id": target}
        if kind == "corrected":
            changes = self.rng.choice(
                [
                    {"headline": {"en": f"{self.rng.choice(WORDS).title()} news, corrected"}},
                    {"occurred": self.rng.choice(DATES)},
                    {"entities": [{"slug": slug, "role": "subject"} for slug in self.slugs()]},
                ]
            )
            # Every kind of correction: an amendment changes the fact as silently as the others
            # change it openly, and an update or an amendment may come without a note.
            told = next(self.kinds)
            event |= {"changes": changes, "kind": told}
            if told in ("correction", "clarification") or self.rng.random() < 0.5:
                event["note"] = {"en": "Corrected.", "fr": "Corrigé."}
        elif kind == "retracted":
            self.retracted.add(target)
            event["reason"] = {"en": "Withdrawn."}
        return event


async def _append_in(conn: asyncpg.Connection, events: Sequence[dict[str, Any]]) -> None:
    """Append inside ``conn``'s open transaction, through the same rules as an HTTP append."""
    posted = [msgspec.convert(event, Event) for event in events]
    plan = decide(
        posted, await log.append_state(conn, needs(posted)), [f"[{index}]" for index in range(len(posted))]
    )
    assert isinstance(plan, AppendPlan)
    await log.write_plan(conn, plan, [{}] * len(posted))


async def _out_of_order(
    url: str, appends: _Log, later: list[dict[str, Any]], earlier: list[dict[str, Any]]
) -> None:
    """``later`` comes first in the log but is recorded after ``earlier``, which commits first:
    its transaction takes its id before ``earlier``'s, and appends only after it has committed."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.fetchval("select pg_current_xact_id()")
            await appends.post(*earlier)
            await asyncio.sleep(0.002)
            await _append_in(conn, later)
    finally:
        await conn.close()


async def _generate(url: str, appends: _Log) -> None:
    rng = appends.rng
    await appends.post(*(registered(slug) for slug in ORGANIZATIONS), registered("pat", kind="person"))
    for _ in range(4):
        await appends.post(*(appends.fact() for _ in range(3)))
    for _ in range(8):
        await appends.post(appends.follow_up())
    # Merges, facts naming a merged entity, a chain, and each merge undone in turn.
    await appends.post({"type": "entity.merged", "slug": "alpha", "into": "beta"})
    await appends.post(appends.fact("alpha"), appends.fact("alpha", "gamma"))
    await appends.post({"type": "entity.merged", "slug": "beta", "into": "gamma"})
    await appends.post(appends.fact("beta"), appends.follow_up())
    await appends.post({"type": "entity.unmerged", "slug": "beta", "into": "gamma"})
    await appends.post(
        appends.fact("delta"), {"type": "entity.updated", "slug": "delta", "name": "Delta Labs"}
    )
    await appends.post({"type": "entity.unmerged", "slug": "alpha", "into": "beta"})
    # Out of order: a follow-up recorded after another of the same fact comes first in the log,
    # once onto a fact the later one retracts; and two renames of one entity.
    open_facts = [fact for fact in appends.facts if fact not in appends.retracted]
    first, second = rng.sample(open_facts, 2)
    await _out_of_order(
        url,
        appends,
        [
            appends.follow_up(first),
            appends.fact(),
            {"type": "entity.updated", "slug": "epsilon", "name": "Eps Two"},
        ],
        [
            {"type": "event.confirmed", "event_id": first},
            {"type": "entity.updated", "slug": "epsilon", "name": "Eps One"},
        ],
    )
    retraction = {"type": "event.retracted", "event_id": second, "reason": {"en": "Withdrawn."}}
    correction = {
        "type": "event.corrected",
        "event_id": second,
        "changes": {"occurred": "2022"},
        "note": {"en": "Date."},
    }
    await _out_of_order(url, appends, [retraction], [correction])
    appends.retracted.add(second)
    for _ in range(3):
        await appends.post(appends.fact(), appends.follow_up())


_VERDICTS = {"event.confirmed": "confirmation", "event.denied": "denial", "event.retracted": "retraction"}


async def _pages(client: Client, path: str, params: dict[str, str]) -> list[Any] | None:
    """Every item of every page, in order; None for a 404."""
    found: list[Any] = []
    cursor: str | None = None
    for _ in range(50):
        response = await client.get(
            path, params={**params, "limit": 3, **({"cursor": cursor} if cursor else {})}
        )
        if response.status_code == 404:
            return None
        assert response.status_code == 200, (path, params, response.text)
        page = response.json()
        found += page["items"]
        cursor = page["next"]
        if cursor is None:
            return found
    raise AssertionError(f"{path} {params}: more pages than items")


async def _compare(
    client: Client, conn: asyncpg.Connection, replay: Replay, now: Replay, at: datetime
) -> None:
    instant = {"as_of": at.isoformat()}
    # Pinned: the follow-ups since, each kind told by its kind, amendments only counted.
    pinned = await _pages(client, "/v1/timeline/pinned", instant)
    assert pinned is not None
    told = [
        (
            item["id"],
            [(later["type"], later.get("kind") or _VERDICTS[later["type"]]) for later in item["later"]],
            item["amendments"],
        )
        for item in pinned
    ]
    assert told == replay.pinned(now, at), at
    for path, entities, query in TIMELINES:
        expected = await replay.timeline(conn, entities, **query)
        assert await _pages(client, path, {**instant, **query}) == expected, (at, path, query)
    for slug in [*ORGANIZATIONS, "pat"]:
        found = replay.resolved(slug)
        slugs = None if found is None else [found[0].slug, *found[1]]
        for query in ({}, {"order": "desc", "include": "retracted"}):
            expected_items = None if slugs is None else await replay.timeline(conn, slugs, **query)
            assert (
                await _pages(client, f"/v1/entities/{slug}/timeline", {**instant, **query}) == expected_items
            ), (
                at,
                slug,
                query,
            )
        response = await client.get(f"/v1/entities/{slug}", params=instant)
        state = replay.entity(slug)
        assert response.status_code == (404 if state is None else 200), (at, slug, response.text)
        if state is not None:
            assert response.json() == state, (at, slug)


@pytest.mark.parametrize("few", [newsroom.FEW, (0, 0)], ids=["sorted", "walked"])
async def test_as_known_at_equals_replaying_the_log(
    client: Client, write_key: str, database_url: str, few: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``few``: whether whole timelines take the rows known at each instant by their index and
    sort them (what a log this small always gets), or walk the date order past the rest."""
    monkeypatch.setattr(newsroom, "FEW", few)
    appends = _Log(client, write_key, random.Random(20261201))
    await _generate(database_url, appends)
    caught_up = await client.get("/v1/timeline", params={"min_position": appends.last})
    assert caught_up.status_code == 200, caught_up.text

    events = await read_log(database_url)
    told = {logged.event.kind for logged in events if isinstance(logged.event, EventCorrected)}
    assert told == {"correction", "clarification", "update", "amendment"}, "the log should hold every kind"
    recorded = [event.recorded_at for event in events]
    assert recorded != sorted(recorded), "the log should hold events recorded out of order"
    tick = timedelta(microseconds=1)
    instants = sorted({at + shift for at in recorded for shift in (-tick, timedelta(0), tick)})
    conn = await asyncpg.connect(database_url)
    now = Replay(events, max(recorded))
    pins = [Replay(events, at).pinned(now, at) for at in instants]
    assert any(amended for pin in pins for _, _, amended in pin), "some pinned view should count amendments"
    try:
        for at in instants:
            await _compare(client, conn, Replay(events, at), now, at)
    finally:
        await conn.close()

    live = await snapshot(database_url)
    await rebuild(database_url, PROJECTION)
    rebuilt = await snapshot(database_url)
    for table in (
        "timeline_item_versions",
        "entity_item_versions",
        "entity_state_versions",
        "timeline_items",
    ):
        assert rebuilt[table] == live[table], table
