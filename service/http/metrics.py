"""What the service counts, and the Prometheus text ``GET /metrics`` answers with.

Counters and histograms are prometheus-client's, kept by every API process. Under ``dateline
run --workers N`` each process writes them to files of its own in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus-client's multiprocess mode, chosen when it is imported), and whichever process a
scrape reaches reads them all: the figures are the service's, not one worker's. What a process
holds at a moment (live streams, connections, cached bytes) it writes there every second and
before a scrape; a gauge of a process that has died is dropped, a counter of one kept. What the
database knows (projection lag) is read once per scrape, by the process scraped.

Requests are labelled by route template (``/v1/entities/{slug}``), method and status class,
never by the path as sent: a client cannot make the series grow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from service.appender import AppendOutcome
from service.store import Pool, checkpoints

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""Where the processes of one service keep their figures, when it runs several."""
UNMATCHED = "unmatched"
"""The route of a request no route answers: one label for any path."""
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# From a cached read (about a millisecond) to a slow append or a page built on a busy database.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")

_REQUESTS = Histogram(
    "dateline_http_request_duration_seconds",
    "Requests by route template, method and status class, and how long each took to answer "
    "(a live stream: how long it stayed open).",
    ["route", "method", "status"],
    buckets=_BUCKETS,
)
_APPENDS = Counter(
    "dateline_appends",
    "Append requests (one event or a batch) by outcome: appended, replayed (a retry that "
    "appended nothing) or conflict (409).",
    ["outcome"],
)
_APPENDED = Counter("dateline_appended_events", "Events appended to the log (retries not counted).")
_PUBLICATIONS = Counter(
    "dateline_publications",
    "Held events that came due at their publish_at, by outcome: published, or refused by the "
    "log's rules (it stays held and is logged).",
    ["outcome"],
)
_CACHE = Counter(
    "dateline_read_cache_answers",
    "Reads the read cache answered (hit) and reads whose body was built (miss).",
    ["result"],
)
_CACHE_BYTES = Counter(
    "dateline_read_cache_body_bytes", "Bytes of the bodies of those reads, hits and misses.", ["result"]
)
_HELD = Gauge(
    "dateline_read_cache_held_bytes",
    "What the bodies the read caches keep weigh.",
    multiprocess_mode="livesum",
)
_STREAMS = Gauge("dateline_live_streams", "Live streams open.", multiprocess_mode="livesum")
_POOL = Gauge(
    "dateline_database_connections",
    "Connections the API processes' pools hold, by state (idle, busy), and at most (max).",
    ["state"],
    multiprocess_mode="livesum",
)


class Meter:
    """What one app counts as it serves. A meter that is not ``on`` (``DATELINE_METRICS=off``)
    counts nothing, and costs a test of a flag."""

    def __init__(self, on: bool) -> None:
        self.on = on
        # Each request's series found once: prometheus-client checks and hashes labels anew
        # at every ``labels()``, a cost the cheapest reads would notice.
        self._series: dict[tuple[str, str, int], Histogram] = {}
        self._cache = {
            hit: (_CACHE.labels(result), _CACHE_BYTES.labels(result))
            for hit, result in ((True, "hit"), (False, "miss"))
        }

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        if not self.on:
            return
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            kind = _STATUS_CLASSES[min(max(status // 100, 1), 5) - 1]
            series = _REQUESTS.labels(route, method if method in _METHODS else "other", kind)
            self._series[key] = series
        series.observe(seconds)

    def appended(self, outcome: AppendOutcome) -> None:
        if not self.on:
            return
        if outcome.replayed:
            _APPENDS.labels("replayed").inc()
        elif outcome.rows and outcome.rows[0].held is not None:
            _APPENDS.labels("held").inc()
        else:
            _APPENDS.labels("appended").inc()
            _APPENDED.inc(len(outcome.rows))

    def publication(self, outcome: str) -> None:
        if self.on:
            _PUBLICATIONS.labels(outcome).inc()

    def conflict(self) -> None:
        if self.on:
            _APPENDS.labels("conflict").inc()

    def cache(self, hit: bool, size: int) -> None:
        if not self.on:
            return
        answers, size_of = self._cache[hit]
        answers.inc()
        size_of.inc(size)

    def sample(self, pool: Pool, streams: int, held_bytes: int) -> None:
        """This process's state now, for the next scrape of any process."""
        if not self.on:
            return
        idle = pool.get_idle_size()
        _POOL.labels("idle").set(idle)
        _POOL.labels("busy").set(pool.get_size() - idle)
        _POOL.labels("max").set(pool.get_max_size())
        _STREAMS.set(streams)
        _HELD.set(held_bytes)

    def stopped(self) -> None:
        """This process serves no more: its gauges leave the sums (its counters stay)."""
        if self.on and (directory := os.environ.get(MULTIPROCESS_DIR)):
            mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


class _Projections(Collector):
    """Each projection's place behind the log, as the database said it at this scrape."""

    def __init__(self, states: Sequence[checkpoints.CheckpointState]) -> None:
        self.states = states

    def collect(self) -> Iterator[Metric]:
        events = GaugeMetricFamily(
            "dateline_projection_lag_events",
            "Events in the log a projection has not applied.",
            labels=["projection"],
        )
        seconds = GaugeMetricFamily(
            "dateline_projection_lag_seconds",
            "How long the oldest event a projection has not applied has been in the log.",
            labels=["projection"],
        )
        running = GaugeMetricFamily(
            "dateline_projection_running", "1 while some runner keeps the projection.", labels=["projection"]
        )
        failing = GaugeMetricFamily(
            "dateline_projection_failing",
            "1 while the projection is stopped before an event it cannot apply.",
            labels=["projection"],
        )
        for state in self.states:
            events.add_metric([state.name], state.lag_events)
            seconds.add_metric([state.name], state.lag_seconds)
            running.add_metric([state.name], int(state.running))
            failing.add_metric([state.name], int(state.error is not None))
        yield from (events, seconds, running, failing)


def _bury_the_dead(directory: str) -> None:
    """Drop the gauges of processes that died without saying so (a worker killed and replaced)."""
    for file in Path(directory).glob("gauge_live*_*.db"):
        pid = int(file.stem.rpartition("_")[2])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, another user's
            pass


def exposition(states: Sequence[checkpoints.CheckpointState]) -> bytes:
    """Every figure, in Prometheus's text format: every process's, and the projections'."""
    registry = REGISTRY
    if directory := os.environ.get(MULTIPROCESS_DIR):
        _bury_the_dead(directory)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
    projections = CollectorRegistry()
    projections.register(_Projections(states))
    return generate_latest(registry) + generate_latest(projections)
