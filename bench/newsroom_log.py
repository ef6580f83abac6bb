"""The newsroom's log the projection benchmarks read: generated, not replayed.

About 200 organizations, then facts of several types with partial dates from 2010 to 2025,
tags, summaries in English and sometimes French, and follow-ups (corrections of the date,
confirmations, denials, retractions) of earlier facts. They go through the service's own
``Appender`` in 1,000-event batches, as ``POST /v1/events/batch`` would write them, minus the
HTTP; generating them is preparation, not a result.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec

from schemas import BatchAppend
from service.appender import Appender
from service.store.database import create_pool

BATCH = 1000
KIND = "organization"
"""The kind of every entity the generator registers."""

_decode_batch = msgspec.json.Decoder(BatchAppend).decode

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
                "kind": KIND,
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


async def generate(url: str, total: int, *, entities: int, seed: int, seconds: float) -> Generated:
    """Append a log of ``total`` events (``entities`` registrations included) through the service's
    Appender, deterministically from ``seed``; cut short after ``seconds``, at its real size."""
    newsroom = Newsroom(entities, seed)
    pool = await create_pool(url, max_size=6)
    appended = 0
    begin = time.perf_counter()
    deadline = begin + seconds
    try:
        async with Appender.running(pool) as appender:

            async def append(events: list[dict[str, Any]]) -> None:
                nonlocal appended
                batch = _decode_batch(msgspec.json.encode({"events": events}))
                paths = [f"$.events[{index}]" for index in range(len(batch.events))]
                outcome = await appender.append(batch.events, {"author": "bench"}, paths)
                appended += len(outcome.rows)

            await append(newsroom.registrations())
            remaining = total - entities

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
