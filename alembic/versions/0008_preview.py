"""The preview read model: the newsroom's tables again, in a schema of their own, folded from
the log and its held events (drafts and embargoes) together.

Public reads fold only the log and so need no filter for what is held; previews (a key's
``preview=true``) read these twins, which show held events where they were recorded, marked.
The tables are made ``LIKE`` the public ones, indexes and all, and the projection
``newsroom_preview`` keeps its checkpoint in ``public.projection_checkpoints`` beside the
newsroom's, starting at the log's beginning: the runner folds the whole log into them when the
service starts (``dateline projections rebuild newsroom_preview`` does it in bulk).

A later migration that changes a newsroom table changes both schemas, ``public`` and
``preview``, the same way.

Revision ID: 0008
Revises: 0007
"""

from service.migrations import execute

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The newsroom's tables as they stand at this revision (not read from the code: a migration
# says what it did then, whatever the code says later).
_TABLES = (
    "timeline_items",
    "entity_items",
    "entity_states",
    "timeline_item_versions",
    "entity_item_versions",
    "entity_state_versions",
)
UPGRADE = [
    "create schema preview",
    *(f"create table preview.{table} (like public.{table} including all)" for table in _TABLES),
    "insert into projection_checkpoints (name) values ('newsroom_preview')",
]
DOWNGRADE = [
    "delete from projection_checkpoints where name = 'newsroom_preview'",
    "drop schema preview cascade",
]


def upgrade() -> None:
    execute(UPGRADE)


def downgrade() -> None:
    execute(DOWNGRADE)
