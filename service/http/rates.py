"""Rate limits: writes per API key, and reads that miss the read cache per client address.

A cached read costs a dictionary lookup and is never counted; what a limit guards is the work
that reaches PostgreSQL. Counts live in this process's memory (the ``limits`` library's moving
window, its entries expiring with their window), so with ``--workers N`` a client may do up to
N times a limit in all: each process protects its own share of the database's connections.
The client address is the peer's, or what a trusted proxy forwards (``DATELINE_TRUSTED_PROXIES``).
"""

from __future__ import annotations

import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from litestar.connection import ASGIConnection


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The address a client's share is counted by: uvicorn's, which is X-Forwarded-For's only
    when a trusted proxy sent it."""
    return connection.client.host if connection.client else ""


class TooMany(Exception):
    """A limit is reached: ``retry_after`` seconds until the next request fits in it again."""

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(what)
        self.retry_after = retry_after


class RateLimit:
    """One limit, ``rate`` such as ``"60/minute"``, or none at all when ``rate`` is ``"off"``."""

    def __init__(self, rate: str, what: str) -> None:
        self._item: RateLimitItem | None = None if rate == "off" else parse(rate)
        self._what = what
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, who: str) -> None:
        """Count one request of ``who``'s; ``TooMany`` if it is one too many."""
        if self._item is None or self._limiter.hit(self._item, who):
            return
        reset = self._limiter.get_window_stats(self._item, who).reset_time
        raise TooMany(f"{self._what} ({self._item})", max(1, math.ceil(reset - time.time())))
