"""Projections: checkpoints, and the newsroom read model (timeline items, entity states).

Revision ID: 0003
Revises: 0002
"""

from service.migrations import execute

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = [
    # A projection's place in the log, committed in the same transaction as its rows.
    """
    create table projection_checkpoints (
        name text primary key,
        transaction_id xid8 not null default '0',
        position bigint not null default 0,
        recorded_at timestamptz,
        updated_at timestamptz not null default now(),
        failing_event uuid,
        error text
    )
    """,
    "insert into projection_checkpoints (name) values ('newsroom')",
    # One row per fact, as readers see it now: corrections applied, retraction marked.
    """
    create table timeline_items (
        event_id uuid primary key,
        position bigint not null,
        occurred_start timestamptz not null,
        occurred_end timestamptz not null,
        precision smallint not null,
        type text not null,
        status text not null,
        retracted boolean not null default false,
        recorded_at timestamptz not null,
        tags text[] not null,
        search tsvector not null,
        -- json, not jsonb: it is only ever handed back whole, so it is kept as written.
        item json not null
    )
    """,
    "create index timeline_items_in_order on timeline_items (occurred_start, precision, position)",
    "create index timeline_items_by_tag on timeline_items using gin (tags)",
    "create index timeline_items_search on timeline_items using gin (search)",
    # Which entities each fact involves, in timeline order, for per-entity timelines. Rows stay
    # when a correction removes an entity (current = false), so "as known at" can find them.
    """
    create table entity_items (
        slug text not null,
        event_id uuid not null,
        occurred_start timestamptz not null,
        precision smallint not null,
        position bigint not null,
        current boolean not null,
        primary key (slug, event_id)
    )
    """,
    """
    create index entity_items_in_order on entity_items (slug, occurred_start, precision, position)
        where current
    """,
    "create index entity_items_by_event on entity_items (event_id)",
    """
    create table entity_states (
        slug text primary key,
        kind text not null,
        merged_into text,
        alias_keys text[] not null,
        search tsvector not null,
        position bigint not null,
        state jsonb not null
    )
    """,
    "create index entity_states_by_alias on entity_states using gin (alias_keys)",
    "create index entity_states_search on entity_states using gin (search)",
    "create index entity_states_by_kind on entity_states (kind, slug)",
]
DOWNGRADE = [
    "drop table entity_states",
    "drop table entity_items",
    "drop table timeline_items",
    "drop table projection_checkpoints",
]


def upgrade() -> None:
    execute(UPGRADE)


def downgrade() -> None:
    execute(DOWNGRADE)
