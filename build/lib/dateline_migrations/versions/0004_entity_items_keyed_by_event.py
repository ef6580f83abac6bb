"""Entity rows keyed by event first: two indexes on the largest table instead of three.

The key (event_id, slug) serves what the separate index on event_id did (retiring a corrected
fact's rows), and the timeline-order index now covers rows that are no longer current too, so
"as known at" reads find every fact that ever involved an entity through it.

Revision ID: 0004
Revises: 0003
"""

from service.migrations import execute

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = [
    "alter table entity_items drop constraint entity_items_pkey",
    "alter table entity_items add constraint entity_items_pkey primary key (event_id, slug)",
    "drop index entity_items_by_event",
    "drop index entity_items_in_order",
    "create index entity_items_in_order on entity_items (slug, occurred_start, precision, position)",
]
DOWNGRADE = [
    "drop index entity_items_in_order",
    """
    create index entity_items_in_order on entity_items (slug, occurred_start, precision, position)
        where current
    """,
    "create index entity_items_by_event on entity_items (event_id)",
    "alter table entity_items drop constraint entity_items_pkey",
    "alter table entity_items add constraint entity_items_pkey primary key (slug, event_id)",
]


def upgrade() -> None:
    execute(UPGRADE)


def downgrade() -> None:
    execute(DOWNGRADE)
