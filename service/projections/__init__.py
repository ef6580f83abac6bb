"""Read models folded from the log, and the engine that keeps them up to date."""

from service.projections import newsroom

PROJECTIONS = [newsroom.PROJECTION, newsroom.PREVIEW]
