"""Timeline items in order within each type and each status.

A timeline filtered by a type or a status walked the whole date order when the log held few
facts of it, or none (a third of a second at a million facts for a type never appended): the
planner now walks that type's or status's own slice, in the same order, and stops at the page.

Revision ID: 0005
Revises: 0004
"""

from service.migrations import execute

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = [
    "create index timeline_items_by_type on timeline_items (type, occurred_start, precision, position)",
    "create index timeline_items_by_status on timeline_items (status, occurred_start, precision, position)",
]
DOWNGRADE = [
    "drop index timeline_items_by_status",
    "drop index timeline_items_by_type",
]


def upgrade() -> None:
    execute(UPGRADE)


def downgrade() -> None:
    execute(DOWNGRADE)
