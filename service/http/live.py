"""Live timelines over HTTP: ``GET /v1/live`` streams, as Server-Sent Events, each change to the
facts a timeline shows, as soon as the projection has applied it (see ``service.live``).

It takes the timeline's filters and language; what makes no sense live (an instant, a page's
cursor, an order, a page's length) is refused with a 400. A client comes back with the
``Last-Event-ID`` its EventSource keeps (or ``last_event_id``, which a page hands its script)
and misses nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any, Literal

from litestar import Request, get
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter
from litestar.response import Stream

from schemas import LiveChange
from service import live
from service.domain import cursors
from service.domain.cursors import LogCursor
from service.http import params, query
from service.http.docs import documented
from service.http.rates import client_address
from service.http.read_cache import ReadCache, private_headers
from service.http.timelines import Reading, filters
from service.projections.newsroom import NewsroomReader

_NOT_LIVE = {
    "as_of": "a live timeline is the one known now: read /v1/timeline/pinned for an instant",
    "cursor": "a live timeline has no pages: it tells what changes from now on",
    "order": "a live timeline tells changes as they happen, in no other order",
    "limit": "a live timeline tells every change",
    "min_position": "a live timeline starts from what the read model holds: pass last_event_id",
    "format": "a live timeline is a stream of Server-Sent Events",
}
_RETRY_MS = 1000
"""How soon a dropped EventSource comes back."""
_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _after(request: Request[Any, Any, Any], given: str | None) -> LogCursor | None:
    """Where a resumed stream goes on from: the Last-Event-ID header, else the parameter."""
    header = request.headers.get("last-event-id")
    text, source = (header, "header") if header else (given, "query")
    try:
        return cursors.decode(text, LogCursor) if text else None
    except ValueError as reason:
        name = "Last-Event-ID" if source == "header" else "last_event_id"
        raise ValidationException(
            extra=[{"key": name, "source": source, "message": f"not an event id of this stream: {reason}"}]
        ) from None


@get(
    "/v1/live",
    operation_id="followTimeline",
    tags=["timelines"],
    dependencies={"read": Provide(filters)},
    opt={query.REFUSED: _NOT_LIVE},
    **documented(
        200,
        LiveChange,
        "live",
        "Server-Sent Events: `change` (a LiveChange, as here), `removed` (a LiveRemoved) and"
        " `reload` (a LiveReload), each with an `id` to resume after; a heartbeat comment, with"
        " the stream's place as its id, when the timeline is quiet. A process that stops ends its"
        " streams with a comment, their place as `id` and a `retry` of 1 to 3 seconds, after which"
        " an EventSource comes back by itself (to another process) and misses nothing."
        " A process streaming to as many"
        " readers, or following as many distinct timelines (filters, language, rendering), as it"
        " may answers 503 (`too-many-streams`); a client address holding as many streams as one"
        " may, 429 (`too-many-client-streams`); both with `Retry-After`.",
        400,
        404,
        429,
        503,
        media_type="text/event-stream",
    ),
)
async def follow(
    request: Request[Any, Any, Any],
    hub: NamedDependency[live.Hub],
    newsroom: NamedDependency[NewsroomReader],
    cache: NamedDependency[ReadCache],
    read: NamedDependency[Reading],
    entity: Annotated[
        str | None,
        QueryParameter(
            description="A slug or alias: the entity's timeline, with the entities merged into it."
        ),
    ] = None,
    entities: Annotated[
        str | None, QueryParameter(description="Comma-separated entity slugs; facts involving any.")
    ] = None,
    render: Annotated[
        Literal["html"] | None,
        QueryParameter(description="`html`: each change also carries the fact as the embed page shows it."),
    ] = None,
    last_event_id: Annotated[
        str | None,
        QueryParameter(
            max_length=200, description="The id of the last event seen, as `Last-Event-ID` carries it."
        ),
    ] = None,
) -> Stream:
    """The timeline's changes as they happen, as Server-Sent Events that resume without loss."""
    headers = _HEADERS
    if read.preview:  # the preview's own hub, which follows the log with its held events
        previews = await cache.previewing(request)
        hub, newsroom, headers = previews.live, previews.newsroom, {**_HEADERS, **private_headers()}
    after = _after(request, last_event_id)
    query = read.of_entities(entities).query
    if entity is not None:
        named = params.slugs("entity", entity)
        if len(named) != 1:
            raise params.bad_parameter("entity", "one slug or alias: several go in `entities`")
        await newsroom.named(named[0])  # 404 for a name no entity has
        query = replace(query, entity=named[0])
    timeline = live.Timeline(query, read.lang, render == "html")
    stream = hub.join(timeline, after, client_address(request))
    return Stream(
        _frames(hub, stream),
        media_type="text/event-stream",
        headers=headers,
        background=BackgroundTask(hub.leave, stream),
    )


async def _frames(hub: live.Hub, stream: live.Stream) -> AsyncIterator[bytes]:
    try:
        yield live.first(_RETRY_MS, stream)
        caught = await hub.catch_up(stream)
        if caught is not None and (frames := stream.frames(caught)):
            yield b"".join(frames)
        while (chunk := await stream.next()) is not None:
            yield chunk
        yield live.reload(stream.reload) if stream.reload is not None else live.parting(stream, _RETRY_MS)
    finally:
        hub.leave(stream)
