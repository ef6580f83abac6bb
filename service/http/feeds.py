"""Timelines as Atom feeds: the newsroom's tools that already speak feeds subscribe to a timeline
and see each new fact, and each corrected one again, as it happens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from service.domain import cursors
from service.domain.cursors import FeedCursor
from service.http import params
from service.http.docs import documented
from service.http.read_cache import ReadCache
from service.http.services import CACHED
from service.http.timelines import ENTITIES, READING, Reading
from service.presentation import feed
from service.presentation.timelines import entry, title
from service.projections.newsroom.reader import FeedPage

_BEFORE = Annotated[str | None, QueryParameter(description="The feed's `next` link's value: older entries.")]
_ATOM = "application/atom+xml"
# Litestar adds a charset to text/ types only: an Atom feed says its own.
_FEED = f"{_ATOM}; charset=utf-8"


def _documented(*problems: int) -> dict[str, Any]:
    return documented(
        200, str, "feed", "The feed (Atom 1.0).", 400, 401, *problems, 503, conditional=True, media_type=_ATOM
    )


async def _feed(
    request: Request[Any, Any, Any], cache: ReadCache, read: Reading, before: str | None, slug: str | None
) -> Response[Any]:
    after = params.cursor("before", before, FeedCursor)
    base = str(request.base_url).rstrip("/")
    query = params.query_without(request, "before", "min_position")

    def link(path: str, extra: list[tuple[str, str]] | None = None) -> str:
        return base + params.with_query(path, [*query, *(extra or [])])

    def present(found: FeedPage) -> bytes:
        entries = [entry(item, read.lang) for item in found.items]
        following = (
            None if found.next is None else link(request.url.path, [("before", cursors.encode(found.next))])
        )
        return feed.render(
            entries,
            language=read.lang,
            title=title(found.entity, read.lang),
            self_url=str(request.url),
            first_url=link(request.url.path),
            next_url=following,
            page_url=f"{base}/embed/{slug}" if slug is not None else f"{base}/embed",
            updated=max((shown.updated_at for shown in entries), default=datetime.now(UTC)),
        )

    return await cache.answer(
        request,
        lambda newsroom: newsroom.feed(read.query, after),
        present,
        min_position=read.min_position,
        media_type=_FEED,
        preview=read.preview,
    )


class FeedController(Controller):
    tags = ["timelines"]
    dependencies = READING

    @get(
        "/v1/feed.atom",
        operation_id="readTimelineFeed",
        opt=CACHED,
        **_documented(),
    )
    async def timeline_feed(
        self,
        request: Request[Any, Any, Any],
        cache: NamedDependency[ReadCache],
        read: NamedDependency[Reading],
        entities: ENTITIES = None,
        before: _BEFORE = None,
    ) -> Response[Any]:
        """Any timeline as an Atom feed, the latest changed first."""
        return await _feed(request, cache, read.of_entities(entities), before, None)

    @get(
        "/v1/entities/{slug:str}/feed.atom",
        operation_id="readEntityFeed",
        opt=CACHED,
        **_documented(404),
    )
    async def entity_feed(
        self,
        request: Request[Any, Any, Any],
        cache: NamedDependency[ReadCache],
        read: NamedDependency[Reading],
        slug: FromPath[str],
        before: _BEFORE = None,
    ) -> Response[Any]:
        """An entity's timeline as an Atom feed, the latest changed first."""
        return await _feed(request, cache, read.of_entity(slug), before, slug)
