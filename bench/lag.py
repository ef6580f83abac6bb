"""Projection lag: how far the live newsroom projection trails single appends over HTTP at a
steady rate, next to the appends' own latency."""

from __future__ import annotations

import asyncio
import bisect
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from bench.harness import NEWSROOM, Rate, paced_appends
from bench.newsroom_log import Newsroom
from bench.projection_settings import ProjectionSettings
from service.store.checkpoints import PROJECTIONS_CHANNEL

LAG_AIM_MS = 250.0  # p99, at a sustained 500 appends per second


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


async def projection_lag(
    url: str, base: str, key: str, newsroom: Newsroom, settings: ProjectionSettings
) -> Lag:
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
    try:
        try:
            paced = await paced_appends(
                base,
                key,
                bodies,
                rate=settings.lag_rate,
                clients=settings.lag_clients,
                request_seconds=settings.request_seconds,
                slack_seconds=2,
            )
            answered += [(body["position"], done) for body, done in paced.answered]
            latencies += paced.latencies
            failures, sent_seconds = paced.failures, paced.seconds
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
