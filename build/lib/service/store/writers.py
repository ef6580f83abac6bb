"""Writing while folding: statements handed to a few connections of their own.

A rebuild's fold is Python work and its inserts are PostgreSQL work; handing each statement to
a writer connection and going on folding keeps both busy. The queue is short, so a fold that
outruns the database waits for it instead of piling rows up in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

_Job = tuple[str, Sequence[Any], bool]


class Writers:
    """Runs statements on ``connections``, each committing on its own, in no promised order."""

    def __init__(self, connections: Sequence[asyncpg.Connection]) -> None:
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=len(connections))
        self._failure: Exception | None = None
        self._tasks = [asyncio.create_task(self._work(conn)) for conn in connections]

    async def execute(self, sql: str, *args: Any) -> None:
        await self._put((sql, args, False))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._put((sql, rows, True))

    async def finish(self) -> None:
        """Wait for every statement handed over; raise the first one's error, if any failed."""
        for _ in self._tasks:
            await self._queue.put(None)
        await asyncio.gather(*self._tasks)
        self._raise()

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _put(self, job: _Job) -> None:
        self._raise()
        await self._queue.put(job)

    def _raise(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _work(self, conn: asyncpg.Connection) -> None:
        while (job := await self._queue.get()) is not None:
            if self._failure is not None:
                continue  # keep taking jobs, so that nobody waits on a full queue
            sql, args, many = job
            try:
                if many:
                    await conn.executemany(sql, args)
                else:
                    await conn.execute(sql, *args)
            except Exception as error:  # handed to whoever waits next, with the statement's own error
                self._failure = error


@contextlib.asynccontextmanager
async def writers(database_url: str, count: int, search_path: str) -> AsyncIterator[Writers]:
    """``count`` writer connections that resolve table names through ``search_path``."""
    # Nothing reads these rows before the rebuild's switch-over commits, and a crash means
    # rebuilding again anyway: no statement needs to wait for its commit to reach the disk.
    settings = {"search_path": search_path, "synchronous_commit": "off"}
    connections = [await asyncpg.connect(database_url, server_settings=settings) for _ in range(count)]
    pool = Writers(connections)
    try:
        yield pool
        await pool.finish()
    except BaseException:
        pool.cancel()
        for conn in connections:
            conn.terminate()  # possibly mid-statement: no goodbye
        raise
    for conn in connections:
        await conn.close()
