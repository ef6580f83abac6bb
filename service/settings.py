"""Settings: one typed object, decoded from the environment once, when the app or a command starts.

Each field is read from the variable ``ENVIRONMENT`` names; a value that does not decode stops
the start with the variable's name and what it accepts, instead of passing silently.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

_RATE = r"^(off|[1-9][0-9]{0,8}/(second|minute|hour))(?!\n)$"
LogLevel = Literal["debug", "info", "warning", "error"]


class SettingsError(Exception):
    """A variable of the environment holds a value Dateline cannot use."""

    def __init__(self, variable: str, value: str, reason: str) -> None:
        super().__init__(f"{variable}={value!r} is not a valid setting: {reason}")
        self.variable = variable


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    """The PostgreSQL to use; unset: the embedded server (needs `dateline[embedded]`)."""
    pool_size: Annotated[int, Meta(ge=1, le=500)] = 10
    """Connections each API process keeps to the database."""
    key_cache_seconds: Annotated[float, Meta(ge=0, le=3600)] = 10.0
    """How long a process trusts an API key it has checked: a revoked key stops within this."""
    projections: Literal["in-process", "off"] = "in-process"
    """`off` when `dateline projections run` keeps them up to date beside the API processes."""
    projection_poll_seconds: Annotated[float, Meta(gt=0, le=60)] = 1.0
    """How often a projection looks at the log when no append has woken it."""
    var_dir: str | None = None
    """Where the embedded server keeps its data; `var/` in the working directory when unset."""
    log_level: LogLevel = "warning"
    access_log: bool = False
    """Log every request: one JSON line each, with its request id, route, status and duration."""
    metrics: Literal["admin", "public", "off"] = "admin"
    """`GET /metrics` (Prometheus): for an admin key, for anyone, or not measured at all."""
    embed_ancestors: Annotated[
        str, Meta(pattern=r"^(\*|'none'|[a-z]+://[^\s;,]+( [a-z]+://[^\s;,]+)*)(?!\n)$")
    ] = "*"
    """Which sites may frame embed pages: `*` (any), `'none'`, or origins separated by spaces."""
    request_timeout_seconds: Annotated[float, Meta(gt=0, le=3600)] = 15.0
    """How long a client has to send a whole request (headers and body) before its connection is
    closed."""
    write_rate: Annotated[str, Meta(pattern=_RATE)] = "100/second"
    """Writes each API key may make, per process: `N/second`, `N/minute`, `N/hour`, or `off`."""
    read_rate: Annotated[str, Meta(pattern=_RATE)] = "50/second"
    """Reads the read cache does not answer that each client address may make, per process."""
    trusted_proxies: Annotated[str, Meta(pattern=r"^(\*|[0-9A-Fa-f.:/]+(,[0-9A-Fa-f.:/]+)*)?(?!\n)$")] = ""
    """The proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: addresses or
    networks separated by commas, or `*`; none by default."""
    live_streams: Annotated[int, Meta(ge=0, le=100_000)] = 2000
    """Live streams (`GET /v1/live`) each API process serves at once; past it, 503."""
    live_streams_per_client: Annotated[int, Meta(ge=1, le=100_000)] = 200
    """Live streams one client address holds at once in each process; past it, 429. A newsroom's
    office behind one NAT address opens one per embed on every open page."""
    live_timelines: Annotated[int, Meta(ge=1, le=100_000)] = 500
    """Distinct live timelines (filters, language, rendering) each process follows; past it, 503
    for a stream of a timeline not yet followed. Each costs a query on every append."""
    live_heartbeat_seconds: Annotated[float, Meta(gt=0, le=300)] = 15.0
    """How often a quiet live stream says it is still there, so that proxies keep it open."""
    live_window: Annotated[int, Meta(ge=1, le=100_000)] = 5000
    """How many events a resumed live stream catches up on at most; past it, it is told to reload."""
    read_cache_mb: Annotated[int, Meta(ge=1, le=65_536)] = 64
    """What the encoded reads each API process keeps may weigh together, in MiB."""
    shutdown_seconds: Annotated[float, Meta(ge=0, le=3600)] = 10.0
    """How long a stopping API process gives the requests in flight to end before it cuts them."""

    ENVIRONMENT: ClassVar[Mapping[str, str]] = {
        "database_url": "DATABASE_URL",
        "pool_size": "DATELINE_POOL_SIZE",
        "key_cache_seconds": "DATELINE_KEY_CACHE_SECONDS",
        "projections": "DATELINE_PROJECTIONS",
        "projection_poll_seconds": "DATELINE_PROJECTION_POLL_SECONDS",
        "var_dir": "DATELINE_VAR_DIR",
        "log_level": "DATELINE_LOG_LEVEL",
        "access_log": "DATELINE_ACCESS_LOG",
        "metrics": "DATELINE_METRICS",
        "embed_ancestors": "DATELINE_EMBED_ANCESTORS",
        "request_timeout_seconds": "DATELINE_REQUEST_TIMEOUT_SECONDS",
        "write_rate": "DATELINE_WRITE_RATE",
        "read_rate": "DATELINE_READ_RATE",
        "trusted_proxies": "DATELINE_TRUSTED_PROXIES",
        "live_streams": "DATELINE_LIVE_STREAMS",
        "live_streams_per_client": "DATELINE_LIVE_STREAMS_PER_CLIENT",
        "live_timelines": "DATELINE_LIVE_TIMELINES",
        "live_heartbeat_seconds": "DATELINE_LIVE_HEARTBEAT_SECONDS",
        "live_window": "DATELINE_LIVE_WINDOW",
        "read_cache_mb": "DATELINE_READ_CACHE_MB",
        "shutdown_seconds": "DATELINE_SHUTDOWN_SECONDS",
    }
    """Each setting's environment variable."""

    @property
    def run_projections(self) -> bool:
        return self.projections == "in-process"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings ``environ`` (the process's environment by default) asks for."""
        environ = os.environ if environ is None else environ
        given = {
            name: environ[variable] for name, variable in cls.ENVIRONMENT.items() if environ.get(variable)
        }
        try:
            return msgspec.convert(given, cls, strict=False)
        except msgspec.ValidationError as error:
            name = str(error).rpartition("$.")[2].rstrip("`")
            variable = cls.ENVIRONMENT.get(name, name)
            reason = str(error).partition(" - at ")[0]
            raise SettingsError(variable, given.get(name, ""), f"{reason}{_accepted(name)}") from None


def _accepted(name: str) -> str:
    accepted = {
        "projections": "in-process or off",
        "log_level": "debug, info, warning or error",
        "access_log": "true or false (1 or 0)",
        "metrics": "admin, public or off",
    }.get(name)
    return f"; it accepts {accepted}" if accepted else ""
