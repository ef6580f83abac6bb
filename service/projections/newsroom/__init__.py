"""The newsroom read model: timeline items, which entities each involves, and entity profiles.

It owns its tables end to end: the fold that writes them, current rows and every version of
each (``fold``), the reads of them, now or as known at an instant (``reader``), and, through
``service.store.newsroom``, every statement that touches them.
"""

from service.projections.engine import Projection
from service.projections.newsroom import fold
from service.projections.newsroom.reader import (
    EntityListing,
    EntityState,
    EntityVersions,
    ItemPage,
    NewsroomReader,
    PinnedPage,
)
from service.store import merged
from service.store.newsroom.rows import NAME, PREVIEW_NAME, PREVIEW_SCHEMA, TABLES

PROJECTION = Projection(NAME, fold.apply, TABLES, fold.load)
PREVIEW = Projection(
    PREVIEW_NAME,
    fold.apply_merged,
    TABLES,
    fold.load,
    schema=PREVIEW_SCHEMA,
    read=merged.read_merged,
    snapshot=merged.MergedSnapshot,
)
"""The preview read model: the same fold and tables over the log and its held events, in a
schema of its own, which only previews read (``preview=true`` with a key that may)."""

__all__ = [
    "NAME",
    "PREVIEW",
    "PROJECTION",
    "EntityListing",
    "EntityState",
    "EntityVersions",
    "ItemPage",
    "NewsroomReader",
    "PinnedPage",
]
