"""What a run of the projection benchmarks is given: the logs' sizes, the readers, the deadlines.
Read by every module of that run (``bench/projections.py`` and what it calls)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ProjectionSettings:
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
