"""Read models folded from the log, and the engine that keeps them up to date."""

from service.projections import newsroom
from service.projections.engine import Projection

PROJECTIONS = [Projection(newsroom.NAME, newsroom.apply, newsroom.load)]
