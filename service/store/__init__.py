"""SQL, one module per concern; each function runs on a connection or pool the caller holds.

This package is the only one that speaks to the driver (``database`` makes the pool and the
embedded server): the rest of the service sees typed records and the store's own errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

# asyncpg's classes are generic only in its type stubs. Handlers name ``Pool`` in their
# signatures, which Litestar evaluates at run time, so it must be a real class there.
if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:
    Pool = asyncpg.Pool
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
Database: TypeAlias = "Connection | Pool"
"""Anything a single statement can run on."""


@asynccontextmanager
async def connection(db: Database) -> AsyncIterator[Connection]:
    """One connection for several statements that belong together (a transaction, a setting):
    ``db`` itself if it is one, else one taken from the pool for the block."""
    if not isinstance(db, asyncpg.Pool):
        yield db
        return
    async with db.acquire() as conn:
        yield conn


UNREACHABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    # The server is up but takes no more connections (max_connections, a role's or a
    # database's limit): a moment's wait, as for one that is starting up.
    asyncpg.TooManyConnectionsError,
)
"""What a call into the store raises when the database cannot be reached or did not answer in
time: callers retry later, or say so, and never treat it as a refusal."""

REFUSED: tuple[type[Exception], ...] = (asyncpg.PostgresError,)
"""What a statement the database refused raises (a broken rule, a lost race), the store's own
translations aside."""
