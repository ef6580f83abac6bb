"""What an erasure leaves to clean up: the key partitions to compact, and the server's checkpoint.

``shred()`` (migration 0009) deletes an erasure's keys and notes their partitions in
``event_keys_to_compact``. A plain ``VACUUM`` would mark the deleted keys' space free without
overwriting it; ``VACUUM FULL`` of a partition writes its live keys into a new file and unlinks
the old one, holding that partition's lock (a thirty-second of the keys: milliseconds) and no
other. ``CHECKPOINT`` then writes every page the cleanup changed, so that nothing of them waits
in shared buffers alone.
"""

from __future__ import annotations

import re

import asyncpg

from service.store import Connection, Database

_PARTITION = re.compile(r"^event_keys_\d{2}$")
"""What a partition's name looks like; a name from the table is checked before it is spliced."""
_NOTE = "insert into event_keys_to_compact (partition) values ($1) on conflict do nothing"


async def partitions_to_compact(db: Database) -> list[str]:
    rows = await db.fetch("select partition from event_keys_to_compact order by partition")
    return [row["partition"] for row in rows]


async def compact(conn: Connection, partition: str) -> None:
    """Rewrite one key partition without its deleted keys, then forget it was to be compacted.

    Not in a transaction (VACUUM cannot be): a partition that lost a key meanwhile is noted
    again by its ``shred``, after this one began, and compacted by the next cleanup."""
    if not _PARTITION.match(partition):
        raise ValueError(f"{partition!r} is not a partition of event_keys")
    await conn.execute("delete from event_keys_to_compact where partition = $1", partition)
    try:
        await conn.execute(f"vacuum full {partition}")
    except BaseException:
        await conn.execute(_NOTE, partition)
        raise


async def compact_statistics(conn: Connection) -> bool:
    """Rewrite the planner's statistics without the rows a rebuild left dead: ``ANALYZE`` keeps
    sample values of the read model's columns there, erased words among them. Only a superuser
    may; whether it was done."""
    try:
        await conn.execute("vacuum full pg_catalog.pg_statistic")
    except asyncpg.InsufficientPrivilegeError:
        return False
    return True


async def checkpoint(conn: Connection) -> None:
    await conn.execute("checkpoint")
