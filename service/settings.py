"""Settings, read from the environment when the app is built, never at import."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    pool_size: int = 10
    key_cache_seconds: float = 10.0
    run_projections: bool = True
    """Run the projections inside the API process; off when `dateline projections run` does."""
    projection_poll_seconds: float = 1.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            pool_size=int(os.environ.get("DATELINE_POOL_SIZE", "10")),
            run_projections=os.environ.get("DATELINE_PROJECTIONS", "in-process") == "in-process",
        )
