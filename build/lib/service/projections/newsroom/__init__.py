"""The newsroom read model: timeline items, which entities each involves, and entity profiles.

It owns its tables end to end: the fold that writes them (``fold``), the reads of them and the
choice between them and the log (``reads``), the replays "as known at" an instant
(``history``), and, through ``service.store.newsroom``, every statement that touches them.
"""

from service.projections.engine import Projection
from service.projections.newsroom import fold
from service.projections.newsroom.reads import EntityListing, EntityState, NewsroomReader, TimelinePage
from service.store.newsroom import NAME, TABLES

PROJECTION = Projection(NAME, fold.apply, TABLES, fold.load)

__all__ = ["NAME", "PROJECTION", "EntityListing", "EntityState", "NewsroomReader", "TimelinePage"]
