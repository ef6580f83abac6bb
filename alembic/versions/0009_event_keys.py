"""Event keys: every event's texts sealed under keys of their own, so that an erasure deletes keys
and never rewrites the log.

``event_keys`` holds one random AES-GCM key per event and sealed part (``service/store/
sealing.py`` says what is sealed and how). It is partitioned by hash of the event id into 32
small tables, so the cleanup after an erasure rewrites (``VACUUM FULL``) only the partitions
that lost a key, each a thirty-second of the keys, locked for milliseconds, instead of the log.

The narrow path: keys leave only through ``shred(event_id, slug)``, which finds what an
erasure names (a fact with its follow-ups; one follow-up's note; an entity's registration and
updates), deletes their keys and notes the partitions to compact. A trigger refuses every
other UPDATE and DELETE of ``event_keys``, and TRUNCATE always, unless the transaction-local
setting ``dateline.shredding`` is on, which only ``shred`` sets and clears. A setting, not a
``SECURITY DEFINER`` function and revoked privileges: the service runs as one role that owns
its tables (the embedded server's superuser, or a deployment's owner), and privileges cannot
bind an owner; the trigger guards against the same mistakes as the log's own (any statement
but the one path), and like it is no wall against someone who may drop triggers.

Existing logs: this migration seals every row of ``events`` and ``held_events`` once, the one
place their rows are rewritten; a held event and its publication share their keys. It disables their append-only triggers for that UPDATE only,
inside this migration's transaction, and enables them again before it commits. The rewritten
rows' old versions, in plaintext, stay in the tables' dead space until ``VACUUM FULL events``
(and ``held_events``) in a maintenance window: see docs/operations.md. The downgrade opens
every row again and drops the keys.

Revision ID: 0009
Revises: 0008
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from service.migrations import execute
from service.store.sealing import PARTS, seal, unseal

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PARTITIONS = 32
_BATCH = 2000
_TABLES = {"events": "events_are_append_only", "held_events": "held_events_are_append_only"}

UPGRADE = [
    """
    create table event_keys (
        event uuid not null,
        part smallint not null check (part in (0, 1)),
        key bytea not null,
        primary key (event, part)
    ) partition by hash (event)
    """,
    *(
        f"create table event_keys_{n:02d} partition of event_keys for values with (modulus {PARTITIONS}, remainder {n})"
        for n in range(PARTITIONS)
    ),
    # The partitions that lost keys since the last cleanup; names only, nothing of a text.
    "create table event_keys_to_compact (partition text primary key)",
    """
    create function refuse_key_change() returns trigger language plpgsql as $$
    begin
        if tg_op = 'DELETE' and current_setting('dateline.shredding', true) = 'on' then
            return old;
        end if;
        raise exception 'event keys leave only through shred(): % is not allowed', tg_op
            using errcode = 'restrict_violation';
    end
    $$
    """,
    # Row triggers on the parent are cloned onto every partition; TRUNCATE triggers are not.
    """
    create trigger event_keys_shred_only before update or delete on event_keys
        for each row execute function refuse_key_change()
    """,
    """
    create trigger event_keys_are_never_truncated before truncate on event_keys
        for each statement execute function refuse_key_change()
    """,
    *(
        f"""
        create trigger event_keys_{n:02d}_are_never_truncated before truncate on event_keys_{n:02d}
            for each statement execute function refuse_key_change()
        """
        for n in range(PARTITIONS)
    ),
    # What an erasure names, found through the log's own indexes (by id, by subject, by stream):
    # a fact, its keys and every follow-up's but erasures'; a follow-up, its note's key; an
    # entity, its registration's and updates' keys. Held events are looked in as well.
    """
    create function shred(erased_event uuid, erased_slug text) returns bigint
    language plpgsql as $$
    declare
        shredded bigint;
    begin
        perform set_config('dateline.shredding', 'on', true);
        -- Not materialized: each use below is planned on its own, through the tables' indexes,
        -- instead of the whole log and held events copied once.
        with logged as not materialized (
            select id, type, stream, data from events
            union all
            select id, type, stream, data from held_events
        ),
        target as (
            select id, type like 'event.%' as follow_up from logged where id = erased_event
        ),
        doomed as (
            select id as event, case when follow_up then 1 end as part from target
            union all
            select l.id, null from logged l, target t
            where not t.follow_up and l.type like 'event.%' and l.type <> 'event.erased'
              and (l.data ->> 'event_id')::uuid = t.id
            union all
            select l.id, null from logged l
            where l.stream = erased_slug and l.type in ('entity.registered', 'entity.updated')
        ),
        gone as (
            delete from event_keys k using doomed d
            where k.event = d.event and (d.part is null or k.part = d.part)
            returning k.tableoid
        ),
        noted as (
            insert into event_keys_to_compact (partition)
            select distinct tableoid::regclass::text from gone
            on conflict do nothing
        )
        select count(*) into shredded from gone;
        perform set_config('dateline.shredding', '', true);
        return shredded;
    end
    $$
    """,
]
DOWNGRADE = [
    "drop function shred(uuid, text)",
    "drop table event_keys_to_compact",
    "drop table event_keys",
    "drop function refuse_key_change()",
]


def _rewrite(table: str, rewrite: Any) -> None:
    """Every row of ``table`` rewritten by ``rewrite(rows)``, its append-only trigger off meanwhile."""
    bind = op.get_bind()
    bind.execute(sa.text(f"alter table {table} disable trigger {_TABLES[table]}"))
    after = 0
    while True:
        rows = rewrite(after)
        if not rows:
            break
        after = rows[-1]
    bind.execute(sa.text(f"alter table {table} enable trigger {_TABLES[table]}"))


def _seal(table: str) -> None:
    bind = op.get_bind()

    def batch(after: int) -> list[int]:
        rows = bind.execute(
            sa.text(
                f"select position, id, data::text from {table}"  # noqa: S608 (constant names)
                " where position > :after and data -> 'sealed' is null order by position limit :limit"
            ),
            {"after": after, "limit": _BATCH},
        ).all()
        if not rows:
            return []
        # A held event published before is sealed under its log copy's keys, as publication does.
        kept: dict[Any, dict[int, bytes]] = {}
        for event, part, key in bind.execute(
            sa.text("select event, part, key from event_keys where event = any(cast(:ids as uuid[]))"),
            {"ids": [row[1] for row in rows]},
        ):
            kept.setdefault(event, {})[part] = key
        sealed = [seal(row[1], row[2], kept.get(row[1])) for row in rows]
        keys = [key for _, row_keys in sealed for key in row_keys]
        bind.execute(
            sa.text(
                f"update {table} e set data = v.data::jsonb"  # noqa: S608
                " from unnest(cast(:positions as bigint[]), cast(:data as text[])) as v (position, data)"
                " where e.position = v.position"
            ),
            {"positions": [row[0] for row in rows], "data": [data for data, _ in sealed]},
        )
        bind.execute(
            sa.text(
                "insert into event_keys (event, part, key)"
                " select * from unnest(cast(:events as uuid[]), cast(:parts as smallint[]), cast(:keys as bytea[]))"
            ),
            {
                "events": [key.event for key in keys],
                "parts": [key.part for key in keys],
                "keys": [key.key for key in keys],
            },
        )
        return [row[0] for row in rows]

    _rewrite(table, batch)


def _unseal(table: str) -> None:
    bind = op.get_bind()

    def batch(after: int) -> list[int]:
        rows = bind.execute(
            sa.text(
                f"select e.position, e.id, e.type, (e.data - 'sealed')::text,"  # noqa: S608
                f" decode(e.data -> 'sealed' ->> '{PARTS[0]}', 'base64'), t.key,"
                f" decode(e.data -> 'sealed' ->> '{PARTS[1]}', 'base64'), n.key"
                f" from {table} e"
                " left join event_keys t on t.event = e.id and t.part = 0"
                " left join event_keys n on n.event = e.id and n.part = 1"
                " where e.position > :after and e.data -> 'sealed' is not null order by e.position limit :limit"
            ),
            {"after": after, "limit": _BATCH},
        ).all()
        if not rows:
            return []
        bind.execute(
            sa.text(
                f"update {table} e set data = v.data::jsonb"  # noqa: S608
                " from unnest(cast(:positions as bigint[]), cast(:data as text[])) as v (position, data)"
                " where e.position = v.position"
            ),
            {
                "positions": [row[0] for row in rows],
                "data": [unseal(row[1], row[2], row[3], (row[4], row[6]), (row[5], row[7])) for row in rows],
            },
        )
        return [row[0] for row in rows]

    _rewrite(table, batch)


def upgrade() -> None:
    execute(UPGRADE)
    for table in _TABLES:
        _seal(table)


def downgrade() -> None:
    for table in _TABLES:
        _unseal(table)
    execute(DOWNGRADE)
