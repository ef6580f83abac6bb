"""What a reader asks of the newsroom: a timeline's filters and place, an entity listing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from service.domain.cursors import RankCursor, SlugCursor, TimelineCursor


@dataclass(frozen=True)
class TimelineQuery:
    """The filters of a timeline read; each one narrows, none is required."""

    entity: str | None = None
    """A slug or alias: that entity's timeline, with the history of the entities merged into it."""
    entities: tuple[str, ...] = ()
    """Items involving any of these slugs, as they are (no alias, no merge followed)."""
    tags: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    text: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    include_retracted: bool = False
    descending: bool = False
    relevance: bool = False
    """Best matches of ``text`` first, paged by count, instead of the order things happened."""
    after: TimelineCursor | RankCursor | None = None
    limit: int = 20

    def __post_init__(self) -> None:
        if self.relevance and not self.text:
            raise ValueError("a ranked timeline needs words to rank by")
        if isinstance(self.after, RankCursor) != self.relevance and self.after is not None:
            raise ValueError("a cursor of a ranked search pages ranked searches only")

    @property
    def skip(self) -> int:
        """How many ranked matches earlier pages showed."""
        return self.after.offset if isinstance(self.after, RankCursor) else 0

    def of(self, slugs: list[str]) -> TimelineQuery:
        """The same query over exactly these slugs."""
        return replace(self, entity=None, entities=tuple(slugs))


@dataclass(frozen=True)
class EntityQuery:
    """Entities by slug, or the best matches for ``text`` first."""

    kind: str | None = None
    text: str | None = None
    after: SlugCursor | RankCursor | None = field(default=None)
    limit: int = 20

    @property
    def skip(self) -> int:
        return self.after.offset if isinstance(self.after, RankCursor) else 0

    @property
    def after_slug(self) -> str | None:
        return self.after.slug if isinstance(self.after, SlugCursor) else None
