"""The event log: streams, events and API keys.

Revision ID: 0001
Revises:
"""

from service.migrations import execute

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# One statement per string: the asyncpg driver prepares each one, and a prepared statement
# holds a single command.
UPGRADE = [
    # Every stream is an entity's: the row is created by entity.registered, and its version is
    # the stream's optimistic-concurrency counter. Updating it takes the row lock that
    # serialises appends to one stream while leaving other streams free.
    """
    create table streams (
        stream text primary key,
        version integer not null check (version >= 0),
        kind text not null,
        merged_into text references streams (stream)
    )
    """,
    # Readers follow the log in (transaction_id, position) order and only below the oldest
    # transaction still running: see service/store/events.py.
    # `stream` has no foreign key to streams: the only writer, append_events (0002), moves the
    # stream's row in the same transaction as it inserts, so the row exists by construction, and
    # a per-row foreign-key check cost a sixth of a 1,000-event batch's write time.
    """
    create table events (
        position bigint generated always as identity primary key,
        id uuid not null unique,
        stream text not null,
        version integer not null check (version >= 1),
        type text not null,
        schema_version smallint not null,
        data jsonb not null,
        metadata jsonb not null,
        occurred text,
        recorded_at timestamptz not null default statement_timestamp(),
        transaction_id xid8 not null default pg_current_xact_id(),
        unique (stream, version)
    )
    """,
    "create index events_in_commit_order on events (transaction_id, position)",
    """
    create index events_by_subject on events (((data ->> 'event_id')::uuid))
        where type like 'event.%'
    """,
    """
    create function refuse_event_rewrite() returns trigger language plpgsql as $$
    begin
        raise exception 'the event log is append-only: % is not allowed', tg_op
            using errcode = 'restrict_violation';
    end
    $$
    """,
    """
    create trigger events_are_append_only before update or delete on events
        for each row execute function refuse_event_rewrite()
    """,
    """
    create trigger events_are_never_truncated before truncate on events
        for each statement execute function refuse_event_rewrite()
    """,
    """
    create table api_keys (
        id bigint generated always as identity primary key,
        name text not null,
        key_hash bytea not null unique,
        scope text not null check (scope in ('write', 'admin')),
        created_at timestamptz not null default now(),
        revoked_at timestamptz
    )
    """,
    "create unique index api_keys_live_name on api_keys (name) where revoked_at is null",
]
DOWNGRADE = [
    "drop table api_keys",
    "drop table events",
    "drop function refuse_event_rewrite()",
    "drop table streams",
]


def upgrade() -> None:
    execute(UPGRADE)


def downgrade() -> None:
    execute(DOWNGRADE)
