"""Held events: drafts and embargoed events, kept out of the public log until published.

A held event is recorded here, not in ``events``: the log stays the public record, gapless in
every stream's versions, and nothing that reads it (followers, projections, exports) can show
a held event early. Publishing one appends it to the log with its own id, at its own place and
version there, so a follower of the log meets it exactly once, when the public does.

``publish_at`` is the embargo's end; a draft has none and waits for an editor. Held rows draw
their positions from the log's own sequence, so the log and its held events merge into one
order (what previews fold). Like the log, this table is append-only: a draft is withdrawn by a
held retraction, never by deleting its row.

A key's new ``preview`` scope reads held events; write and admin keys may too.

Revision ID: 0007
Revises: 0006
"""

from service.migrations import execute

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    create table held_events (
        position bigint primary key default nextval(pg_get_serial_sequence('events', 'position')),
        id uuid not null unique,
        stream text not null,
        type text not null,
        schema_version smallint not null,
        data jsonb not null,
        metadata jsonb not null,
        occurred text,
        publish_at timestamptz,
        recorded_at timestamptz not null default statement_timestamp(),
        transaction_id xid8 not null default pg_current_xact_id()
    )
    """,
    "create index held_events_in_commit_order on held_events (transaction_id, position)",
    "create index held_events_by_publish_at on held_events (publish_at) where publish_at is not null",
    """
    create trigger held_events_are_append_only before update or delete on held_events
        for each row execute function refuse_event_rewrite()
    """,
    """
    create trigger held_events_are_never_truncated before truncate on held_events
        for each statement execute function refuse_event_rewrite()
    """,
    "alter table api_keys drop constraint api_keys_scope_check",
    "alter table api_keys add constraint api_keys_scope_check check (scope in ('write', 'admin', 'preview'))",
]
DOWNGRADE = [
    "alter table api_keys drop constraint api_keys_scope_check",
    "delete from api_keys where scope = 'preview'",
    "alter table api_keys add constraint api_keys_scope_check check (scope in ('write', 'admin'))",
    "drop table held_events",
]


def upgrade() -> None:
    execute(UPGRADE)


def downgrade() -> None:
    execute(DOWNGRADE)
