"""The log and its held events (drafts, embargoes) as one log, for the preview read model.

Held events draw their positions from the log's own sequence and record their transaction's
id as the log does, so the two tables merge into one ``(transaction_id, position)`` order, read
below the same horizon as ``events.read_log`` (see there): nothing can appear behind a cursor
in either. A held event comes at its held place; its publication, the same id appended to the
log later, comes again at its own, flagged (``publishes``) so the fold makes no second item.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from service.domain.cursors import LogCursor
from service.domain.timeline import Hold
from service.store import Database
from service.store.events import KEYED, SEALED, FoldRow, LogSnapshot, keyed, opened, sealed_columns


class MergedRow(FoldRow, frozen=True, array_like=True):
    """An event of the merged log: a held one, or one of the log, which may publish a held one."""

    held: bool = False
    publish_at: datetime | None = None
    publishes: bool = False

    @property
    def hold(self) -> Hold | None:
        return Hold(self.publish_at) if self.held else None


# Each side walks its own (transaction_id, position) index; the union keeps that order with a
# merge, and the casts come last, once the rows are in order.
# Both sides' texts are sealed (``service.store.sealing``): each brings each part's box and key
# (``events.sealed_columns``), opened in ``_row``.
_LOGGED = f"""
select events.id, events.stream, events.position, events.recorded_at, events.transaction_id,
       null::timestamptz as publish_at, false as held,
       exists (select 1 from held_events h where h.id = events.id) as publishes, events.type, {SEALED}
from {KEYED}
where {{where}}
"""  # noqa: S608
_HELD = f"""
select h.id, h.stream, h.position, h.recorded_at, h.transaction_id, h.publish_at, true as held,
       false as publishes, h.type, {sealed_columns("h")}
from {keyed("held_events", "h")} where {{where}}
"""  # noqa: S608
_MERGED = """
select m.id, m.stream, m.position, m.recorded_at, m.transaction_id::text::bigint, m.held,
       m.publish_at, m.publishes, m.type, m.clear, m.texts_box, m.texts_key, m.note_box, m.note_key
from ({logged} union all {held}) m
order by m.transaction_id, m.position
"""


def _merged(where: str, limit: str = "") -> str:
    logged = _LOGGED.format(where=where.format(t="events"))
    held = _HELD.format(where=where.format(t="h"))
    if limit:  # each side needs no more than the limit, and walks its index to it
        logged = f"({logged} order by events.transaction_id, events.position {limit})"
        held = f"({held} order by h.transaction_id, h.position {limit})"
    return _MERGED.format(logged=logged, held=held) + limit


_READ = _merged(
    "({t}.transaction_id, {t}.position) > ($1::text::xid8, $2)"
    " and {t}.transaction_id < pg_snapshot_xmin(pg_current_snapshot())",
    "limit $3",
)
_READ_BELOW = _merged("{t}.transaction_id < $1::text::xid8")
_ABOUT = _merged(
    """({t}.id = any($1::uuid[])
       or ({t}.type like 'event.%' and ({t}.data ->> 'event_id')::uuid = any($1::uuid[]))
       or ({t}.stream = any($2::text[]) and {t}.type like 'entity.%'))
    and ({t}.transaction_id, {t}.position) < ($3::text::xid8, $4)"""
)
# What will change each fact: its follow-ups, held or logged, and its publication.
_REFERENCES = """
select target, count(*) as referrers from (
    select (data ->> 'event_id')::uuid as target from events
    where transaction_id < $1::text::xid8 and type = any($2::text[])
    union all
    select (data ->> 'event_id')::uuid from held_events
    where transaction_id < $1::text::xid8 and type = any($2::text[])
    union all
    select e.id from events e join held_events h on h.id = e.id
    where e.transaction_id < $1::text::xid8 and e.type not like 'event.%' and e.type not like 'entity.%'
) r
group by target
"""


def _row(record: asyncpg.Record) -> MergedRow:
    return MergedRow(
        record[0], record[1], record[2], record[3], opened(record, 9), record[4], record[5], record[6], record[7]
    )  # fmt: skip


def _rows(records: Sequence[asyncpg.Record]) -> list[MergedRow]:
    return [_row(record) for record in records]


async def read_merged(conn: Database, after: LogCursor, limit: int) -> list[MergedRow]:
    """The next events of the merged log after ``after``, up to ``limit``, below the horizon."""
    return _rows(await conn.fetch(_READ, str(after.transaction_id), after.position, limit))


async def events_about(
    db: Database, facts: Sequence[UUID], entities: Sequence[str], before: LogCursor
) -> list[FoldRow]:
    """``events.events_about`` over the merged log."""
    rows = await db.fetch(_ABOUT, list(facts), list(entities), str(before.transaction_id), before.position)
    return list(_rows(rows))


class MergedSnapshot(LogSnapshot):
    """``LogSnapshot`` of the merged log: what a rebuild of the preview read model folds."""

    read_below = _READ_BELOW
    references_statement = _REFERENCES

    def row(self, record: asyncpg.Record) -> FoldRow:
        return _row(record)

    async def about(self, facts: Sequence[UUID], entities: Sequence[str]) -> list[FoldRow]:
        return await events_about(self.conn, facts, entities, LogCursor(int(self.horizon), 0))


__all__ = ["MergedRow", "MergedSnapshot", "events_about", "read_merged"]
