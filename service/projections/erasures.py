"""The cleanup after an erasure: what still held the erased text on disk, rewritten without it.

An erasure deletes keys in its own transaction (``shred``), so from its commit on the text can
no longer be read from the log. Bytes may still sit on disk, though: the deleted keys in their
partition's file, and the text itself in the read model's tables, indexes and versions (derived
from the log before the erasure), in pages a plain ``VACUUM`` would mark free without
overwriting. The cleanup, in the background or from ``dateline erasures cleanup``:

1. rewrites each key partition that lost a key (``VACUUM FULL`` of a thirty-second of the keys:
   a lock of milliseconds on that partition, none on the log);
2. rebuilds every registered projection beside its live tables and switches over (readers keep
   the old tables until the switch; the old files are unlinked when they are dropped);
3. forces a checkpoint, so that every rewritten page is on disk and nothing of the old ones is
   needed for recovery.

What still holds the text after that (the WAL until it is recycled, backups, replicas) is in
docs/operations.md.
"""

from __future__ import annotations

import time
from uuid import UUID

import msgspec

from schemas.erasures import LedgerEntry
from service.projections import PROJECTIONS
from service.projections.rebuild import rebuild
from service.store import Database, erasures
from service.store import events as log
from service.store.database import connect


class Cleanup(msgspec.Struct, frozen=True):
    """What a cleanup did, and how long each step took."""

    partitions: list[str]
    """The key partitions rewritten."""
    rebuilt: dict[str, int]
    """Each projection rebuilt, with the events it applied."""
    compact_seconds: float
    rebuild_seconds: float
    checkpoint_seconds: float
    statistics: bool = True
    """Whether the planner's statistics were rewritten too (it needs a superuser)."""


async def clean_up(database_url: str) -> Cleanup:
    """Compact the shredded keys' partitions, rebuild every projection, then checkpoint."""
    conn = await connect(database_url)
    try:
        started = time.monotonic()
        partitions = await erasures.partitions_to_compact(conn)
        for partition in partitions:
            await erasures.compact(conn, partition)
        compacted = time.monotonic()
        rebuilt = {projection.name: await rebuild(database_url, projection) for projection in PROJECTIONS}
        built = time.monotonic()
        statistics = await erasures.compact_statistics(conn)
        await erasures.checkpoint(conn)
        return Cleanup(
            partitions,
            rebuilt,
            compact_seconds=compacted - started,
            rebuild_seconds=built - compacted,
            checkpoint_seconds=time.monotonic() - built,
            statistics=statistics,
        )
    finally:
        await conn.close()


class _Erased(msgspec.Struct):
    basis: str
    reference: str
    event_id: UUID | None = None
    slug: str | None = None


class _Author(msgspec.Struct):
    author: str | None = None


async def erasure_ledger(db: Database) -> list[LedgerEntry]:
    """Every erasure in the log, in log order."""
    entries = []
    for row in await log.whole_ledger(db):
        erased = msgspec.json.decode(row.data, type=_Erased)
        author = msgspec.json.decode(row.metadata, type=_Author).author
        entries.append(
            LedgerEntry(
                id=row.id,
                position=row.position,
                recorded_at=row.recorded_at,
                author=author,
                event_id=erased.event_id,
                slug=erased.slug,
                basis=erased.basis,
                reference=erased.reference,
            )
        )
    return entries
