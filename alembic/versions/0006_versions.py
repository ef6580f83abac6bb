"""Versions: every form each timeline item and each entity took, with the span of the log's record
over which it was the current one, so that "as known at" reads are indexed queries.

The current rows say since when they have been so (``current_since``) and which event made them
(``made_by``); each form they had before is kept in a ``*_versions`` table, current from
``recorded_from`` until ``recorded_until``. Each instant of the record is in the span of
exactly one form of an item, so the page "as known at" an instant is the current page's query
over the current rows known by then and the versions whose span holds it. Most facts are never
followed up: the versions hold only what changed, and a rebuild writes little more than before.

The fold writes versions from the log, so existing tables cannot be converted in SQL: the
upgrade empties the newsroom's tables and moves its checkpoint back to the log's start, and the
projection folds the whole log again when the service starts (``dateline projections rebuild
newsroom`` does it faster, in bulk).

Revision ID: 0006
Revises: 0005
"""

from service.migrations import execute

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = [
    "truncate timeline_items, entity_items, entity_states",
    """
    update projection_checkpoints
    set transaction_id = '0', position = 0, recorded_at = null, failing_event = null, error = null,
        updated_at = now()
    where name = 'newsroom'
    """,
    "alter table timeline_items add column current_since timestamptz not null, add column made_by uuid not null",
    # A pinned view counts what changed after its instant, over the whole timeline or one entity's.
    "create index timeline_items_by_change on timeline_items (current_since) include (recorded_at)",
    # The fact's recorded_at beside it: an entity's pinned view counts from this index alone.
    "alter table entity_items add column current_since timestamptz not null, add column recorded_at timestamptz not null",
    "create index entity_items_by_change on entity_items (slug, current_since) include (recorded_at) where current",
    "alter table entity_states add column current_since timestamptz not null, add column made_by uuid not null",
    """
    create table timeline_item_versions (
        event_id uuid not null,
        recorded_from timestamptz not null,
        recorded_until timestamptz not null,
        made_by uuid not null,
        position bigint not null,
        occurred_start timestamptz not null,
        occurred_end timestamptz not null,
        precision smallint not null,
        type text not null,
        status text not null,
        retracted boolean not null,
        tags text[] not null,
        search tsvector not null,
        item json not null,
        primary key (event_id, recorded_from)
    )
    """,
    """
    create index timeline_item_versions_in_order
        on timeline_item_versions (occurred_start, precision, position)
    """,
    "create index timeline_item_versions_search on timeline_item_versions using gin (search)",
    # Either end of a span, for the instants few versions hold: before most were recorded, or
    # after most had given way (see service/store/newsroom/reads.py, FEW).
    "create index timeline_item_versions_from on timeline_item_versions (recorded_from)",
    "create index timeline_item_versions_until on timeline_item_versions (recorded_until)",
    # Which entities each earlier form involved, in timeline order; the spans are in the index,
    # so an entity's walk skips forms of other instants without reading their rows.
    """
    create table entity_item_versions (
        event_id uuid not null,
        recorded_from timestamptz not null,
        slug text not null,
        recorded_until timestamptz not null,
        occurred_start timestamptz not null,
        precision smallint not null,
        position bigint not null,
        primary key (event_id, recorded_from, slug)
    )
    """,
    """
    create index entity_item_versions_in_order
        on entity_item_versions (slug, occurred_start, precision, position) include (recorded_from, recorded_until)
    """,
    """
    create table entity_state_versions (
        slug text not null,
        recorded_from timestamptz not null,
        recorded_until timestamptz not null,
        made_by uuid not null,
        merged_into text,
        state jsonb not null,
        primary key (slug, recorded_from)
    )
    """,
    "create index entity_state_versions_merged on entity_state_versions (merged_into) where merged_into is not null",
]
DOWNGRADE = [
    "drop table entity_state_versions",
    "drop table entity_item_versions",
    "drop table timeline_item_versions",
    "alter table entity_states drop column current_since, drop column made_by",
    "drop index entity_items_by_change",
    "alter table entity_items drop column current_since, drop column recorded_at",
    "drop index timeline_items_by_change",
    "alter table timeline_items drop column current_since, drop column made_by",
]


def upgrade() -> None:
    execute(UPGRADE)


def downgrade() -> None:
    execute(DOWNGRADE)
