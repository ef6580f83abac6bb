"""Timelines over HTTP: every fact about a set of entities, tags, types or words, in the order it
happened, shown in the reader's language with its corrections."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter

from schemas import FactHistory, PinnedTimelinePage, TimelineJS, TimelinePage, parse_partial_date
from service.domain.cursors import RankCursor, TimelineCursor
from service.domain.queries import TimelineQuery
from service.http import params
from service.http.docs import documented
from service.http.read_cache import ReadCache
from service.http.services import CACHED
from service.presentation import timelinejs
from service.presentation.timelines import entry, fact_history, pinned_page, timeline_page, title

_TYPES = Annotated[
    str | None, QueryParameter(description="Comma-separated event types, e.g. model.reported,model.released.")
]
_STATUSES = Annotated[str | None, QueryParameter(description="Comma-separated: reported, confirmed, denied.")]
_TAGS = Annotated[str | None, QueryParameter(description="Comma-separated tags; items with any of them.")]
_TEXT = Annotated[
    str | None,
    QueryParameter(
        max_length=200, description="Words to search for, in English or French; accents do not matter."
    ),
]
_FROM = Annotated[
    str | None,
    QueryParameter(name="from", description="A partial date; items whose date overlaps it or comes later."),
]
_TO = Annotated[
    str | None,
    QueryParameter(name="to", description="A partial date; items whose date overlaps it or comes earlier."),
]
_LIMIT = Annotated[int, QueryParameter(ge=1, le=100, description="How many items at most.")]
_CURSOR = Annotated[str | None, QueryParameter(description="The `next` value of the previous page.")]
_ORDER = Annotated[
    Literal["asc", "desc", "relevance"],
    QueryParameter(
        description="Oldest first (asc), newest first (desc), or the best matches of `q` first (relevance)."
    ),
]
_INCLUDE = Annotated[
    Literal["retracted"] | None,
    QueryParameter(description="`retracted` to show retracted items too, marked as such."),
]
ENTITIES = Annotated[
    str | None, QueryParameter(description="Comma-separated entity slugs; items involving any.")
]
_FORMAT = Annotated[
    Literal["json", "timelinejs"],
    QueryParameter(
        description=f"`timelinejs`: the timeline as Knight Lab's TimelineJS loads it, at most {timelinejs.CAP} events."
    ),
]
_TIMELINE = TimelinePage | TimelineJS
"""What a timeline answers: a page (``format=json``), or the TimelineJS document."""
_STATUS_VALUES = {"reported", "confirmed", "denied"}


def _words(name: str, value: str | None, allowed: set[str] | None = None) -> tuple[str, ...]:
    found = tuple(part.strip() for part in (value or "").split(",") if part.strip())
    for word in found:
        if (allowed is not None and word not in allowed) or len(word) > 60:
            raise params.bad_parameter(name, f"'{word}' is not one of {', '.join(sorted(allowed or []))}")
    return found


def _date(name: str, value: str | None, end: bool) -> Any:
    if value is None:
        return None
    try:
        span = parse_partial_date(value)
    except ValueError as reason:
        raise params.bad_parameter(name, str(reason)) from None
    return span.end if end else span.start


@dataclass(frozen=True)
class Reading:
    """What a timeline read asks for, its parameters checked; the entities come from the route."""

    query: TimelineQuery
    lang: str
    min_position: int | None
    as_of: datetime | None
    preview: bool = False
    """Read from the preview read model (held events too), for a key that may."""

    def of_entities(self, entities: str | None) -> Reading:
        """The read narrowed to the ``entities`` parameter's slugs."""
        slugs = tuple(params.slugs("entities", entities))
        return replace(self, query=replace(self.query, entities=slugs))

    def of_entity(self, slug: str) -> Reading:
        return replace(self, query=replace(self.query, entity=slug))


async def filters(
    cache: NamedDependency[ReadCache],
    tags: _TAGS = None,
    types: _TYPES = None,
    status: _STATUSES = None,
    q: _TEXT = None,
    from_: _FROM = None,
    to: _TO = None,
    lang: params.Language = "en",
    preview: params.Preview = False,
) -> Reading:
    """The filters every timeline takes, each checked, and its language: all a live timeline
    takes (``GET /v1/live``), and what ``reading`` adds a place and an instant to.

    ``cache`` is named only to put it first in line: the handlers that take a reading take the
    cache too, and Litestar resolves dependencies of one level together in a task group (0.05
    to 0.1 ms of an uncached page), a chain of them one after the other.
    """
    query = TimelineQuery(
        tags=_words("tags", tags),
        types=_words("types", types),
        statuses=_words("status", status, _STATUS_VALUES),
        text=q or None,
        start=_date("from", from_, end=False),
        end=_date("to", to, end=True),
    )
    return Reading(query, lang, None, None, preview)


async def reading(
    timeline: NamedDependency[Reading],
    limit: _LIMIT = 20,
    cursor: _CURSOR = None,
    order: _ORDER = "asc",
    include: _INCLUDE = None,
    min_position: params.MinPosition = None,
    as_of: params.AsOf = None,
) -> Reading:
    """The query parameters of a timeline read: its filters (``timeline``), then its place,
    order and instant (a Litestar dependency of every timeline, page and feed)."""
    instant = params.instant(as_of)
    relevance = order == "relevance"
    if relevance and not timeline.query.text:
        raise params.bad_parameter("order", "relevance ranks the matches of q: add q")
    after = (
        params.cursor("cursor", cursor, RankCursor)
        if relevance
        else params.cursor("cursor", cursor, TimelineCursor)
    )
    query = replace(
        timeline.query,
        include_retracted=include == "retracted",
        descending=order == "desc",
        relevance=relevance,
        after=after,
        limit=limit,
    )
    return replace(timeline, query=query, min_position=min_position, as_of=instant)


READING = {"read": Provide(reading), "timeline": Provide(filters)}
"""The dependencies of a timeline read."""


async def _page(
    request: Request[Any, Any, Any], cache: ReadCache, read: Reading, form: str = "json"
) -> Response[Any]:
    if form == "timelinejs":
        return await _export(request, cache, read)
    return await cache.answer(
        request,
        lambda newsroom: newsroom.timeline(read.query, read.as_of),
        lambda page: timeline_page(page, read.lang),
        min_position=read.min_position,
        settles_at=read.as_of,
        preview=read.preview,
    )


async def _export(request: Request[Any, Any, Any], cache: ReadCache, read: Reading) -> Response[Any]:
    """The timeline for TimelineJS, which cannot page: its first pages, up to the cap."""
    kept = params.query_without(request, *_NOT_NOW, "format")
    whole = str(request.base_url).rstrip("/") + params.with_query(
        request.url.path, [*kept, ("format", "json")]
    )
    return await cache.answer(
        request,
        lambda newsroom: newsroom.whole(replace(read.query, limit=100), timelinejs.CAP, read.as_of),
        lambda page: timelinejs.document(
            [entry(item, read.lang) for item in page.items],
            language=read.lang,
            title=title(page.entity, read.lang),
            capped=page.next is not None,
            whole=whole,
        ),
        min_position=read.min_position,
        preview=read.preview,
    )


_NOT_NOW = ("as_of", "cursor", "min_position")


def live_query(request: Request[Any, Any, Any], path: str) -> str:
    """``path`` with the request's query as known now, from its first page."""
    return params.with_query(path, params.query_without(request, *_NOT_NOW))


def pinned_at(read: Reading) -> datetime:
    """The instant a pinned view is pinned to, which it cannot do without."""
    if read.as_of is None:
        raise params.bad_parameter("as_of", "a pinned view needs the instant it is pinned to")
    return read.as_of


async def _pinned(request: Request[Any, Any, Any], cache: ReadCache, read: Reading) -> Response[Any]:
    at = pinned_at(read)
    live = live_query(request, request.url.path.removesuffix("/pinned"))
    # What happened since keeps changing: a pinned view is never final.
    return await cache.answer(
        request,
        lambda newsroom: newsroom.pinned(read.query, at),
        lambda pinned: pinned_page(pinned, read.lang, live),
        min_position=read.min_position,
        preview=read.preview,
    )


class TimelineController(Controller):
    tags = ["timelines"]
    dependencies = READING

    @get(
        "/v1/timeline",
        operation_id="readTimeline",
        opt=CACHED,
        **documented(
            200,
            _TIMELINE,
            ("timeline", "timelinejs"),
            "A page of the timeline.",
            400,
            401,
            503,
            conditional=True,
        ),
    )
    async def timeline(
        self,
        request: Request[Any, Any, Any],
        cache: NamedDependency[ReadCache],
        read: NamedDependency[Reading],
        entities: ENTITIES = None,
        format: _FORMAT = "json",
    ) -> Response[Any]:
        """Facts in the order they happened, filtered by entities, tags, types, status, words and dates."""
        return await _page(request, cache, read.of_entities(entities), format)

    @get(
        "/v1/entities/{slug:str}/timeline",
        operation_id="readEntityTimeline",
        opt=CACHED,
        **documented(
            200,
            _TIMELINE,
            ("timeline", "timelinejs"),
            "A page of the entity's timeline.",
            400,
            401,
            404,
            503,
            conditional=True,
        ),
    )
    async def entity_timeline(
        self,
        request: Request[Any, Any, Any],
        cache: NamedDependency[ReadCache],
        read: NamedDependency[Reading],
        slug: FromPath[str],
        format: _FORMAT = "json",
    ) -> Response[Any]:
        """One entity's timeline, including the history of entities merged into it; aliases work too."""
        return await _page(request, cache, read.of_entity(slug), format)

    @get(
        "/v1/timeline/pinned",
        operation_id="readPinnedTimeline",
        opt=CACHED,
        **documented(
            200,
            PinnedTimelinePage,
            "pinned",
            "The timeline pinned to as_of.",
            400,
            401,
            503,
            conditional=True,
        ),
    )
    async def pinned_timeline(
        self,
        request: Request[Any, Any, Any],
        cache: NamedDependency[ReadCache],
        read: NamedDependency[Reading],
        entities: ENTITIES = None,
    ) -> Response[Any]:
        """The timeline as known at `as_of` (required), each item with the follow-ups recorded since, and how many facts were added and changed since."""
        return await _pinned(request, cache, read.of_entities(entities))

    @get(
        "/v1/entities/{slug:str}/timeline/pinned",
        operation_id="readPinnedEntityTimeline",
        opt=CACHED,
        **documented(
            200,
            PinnedTimelinePage,
            "pinned",
            "The entity's timeline pinned to as_of.",
            400,
            401,
            404,
            503,
            conditional=True,
        ),
    )
    async def pinned_entity_timeline(
        self,
        request: Request[Any, Any, Any],
        cache: NamedDependency[ReadCache],
        read: NamedDependency[Reading],
        slug: FromPath[str],
    ) -> Response[Any]:
        """One entity's timeline as known at `as_of` (required), merges as they stood then, with the follow-ups recorded since."""
        return await _pinned(request, cache, read.of_entity(slug))

    @get(
        "/v1/events/{event_id:uuid}/history",
        operation_id="readFactHistory",
        opt=CACHED,
        **documented(
            200, FactHistory, "history", "Every version of the fact.", 400, 401, 404, 503, conditional=True
        ),
    )
    async def fact_history(
        self,
        request: Request[Any, Any, Any],
        cache: NamedDependency[ReadCache],
        event_id: FromPath[UUID],
        lang: params.Language = "en",
        min_position: params.MinPosition = None,
        preview: params.Preview = False,
    ) -> Response[Any]:
        """Every version of a fact: when it was recorded, which follow-up changed it, and that follow-up's public note."""
        return await cache.answer(
            request,
            lambda newsroom: newsroom.history(event_id),
            lambda versions: fact_history(event_id, versions, lang),
            min_position=min_position,
            preview=preview,
        )
