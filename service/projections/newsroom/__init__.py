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
from service.store.newsroom.rows import NAME, TABLES

PROJECTION = Projection(NAME, fold.apply, TABLES, fold.load)

__all__ = [
    "NAME",
    "PROJECTION",
    "EntityListing",
    "EntityState",
    "EntityVersions",
    "ItemPage",
    "NewsroomReader",
    "PinnedPage",
]
