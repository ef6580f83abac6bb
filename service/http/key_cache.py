"""Who a key is, remembered for a few seconds: one hash, not one query, per request."""

from __future__ import annotations

import time

from service.store import Pool, keys
from service.store.keys import ApiKey


class KeyCache:
    """Recently seen keys: one hash, not one query, per request. What it remembers is who a key
    is (name, scope) for ``ttl`` seconds, never whether a write goes in: an append refuses a
    revoked key itself, whatever this says.
    """

    def __init__(self, pool: Pool, ttl: float) -> None:
        self.pool = pool
        self.ttl = ttl
        self._seen: dict[str, tuple[float, ApiKey | None]] = {}

    async def find(self, key: str) -> ApiKey | None:
        now = time.monotonic()
        cached = self._seen.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await keys.find(self.pool, key)
        if len(self._seen) > 10_000:  # bounded: random bad keys must not grow memory
            self._seen.clear()
        self._seen[key] = (now + self.ttl, found)
        return found
