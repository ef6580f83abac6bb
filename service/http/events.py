"""The event log over HTTP: append one or many events, follow the log, read a stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, cast
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.params import Body, FromPath, QueryParameter

from schemas import Appended, BatchAppend, BatchAppended, Event, EventPage, LoggedEvent, StreamPage
from service.appender import Appender, AppendOutcome
from service.demo import examples
from service.domain import cursors
from service.domain.errors import Conflict, NotFound
from service.http import params
from service.http.auth import may_preview, needs
from service.http.body import StrictBody
from service.http.docs import IMMUTABLE, LOCATION, documented, shown
from service.http.key_cache import KeyCache
from service.http.metrics import Meter
from service.logs import REQUEST_ID
from service.publisher import Publisher, Withdrawn
from service.store import Pool, held
from service.store import events as log

_IMMUTABLE = "public, max-age=31536000, immutable"
# A preview shows what the public may not see yet: no cache but the reader's keeps it.
_PRIVATE = {"Cache-Control": "private, no-store"}
_WRITE_PROBLEMS = (400, 401, 403, 409, 413, 422, 503)
_EVENT_EXAMPLES = [
    *(shown(event, kind, f"A {kind} event") for kind, event in examples.EVENTS.items()),
    *(
        shown(event, f"event.corrected ({kind})", f"An `event.corrected` of kind `{kind}`")
        for kind, event in examples.KINDS.items()
    ),
    shown(examples.EMBARGOED, "embargoed", "A fact held back until its embargo ends (publish_at)"),
]
_BATCH_EXAMPLES = [shown(examples.BATCH, "Register an entity and report a fact about it")]


async def _append(
    request: Request[Any, Any, Any],
    appender: Appender,
    meter: Meter,
    posted: Sequence[Event],
    paths: Sequence[str],
) -> AppendOutcome:
    """Append what the request posted, with its author and request id, and count the outcome."""
    metadata = {"author": request.state.author, "request_id": REQUEST_ID.get()}
    try:
        outcome = await appender.append(posted, metadata, paths, request.state.key, admin=request.state.admin)
    except Conflict:
        meter.conflict()
        raise
    meter.appended(outcome)
    return outcome


def _logged(stored: log.EventRow) -> LoggedEvent:
    # data and metadata leave as PostgreSQL wrote them: msgspec.Raw skips a decode and re-encode.
    return LoggedEvent(
        position=stored.position,
        id=stored.id,
        stream=stored.stream,
        version=stored.version,
        type=stored.type,
        schema_version=stored.schema_version,
        occurred=stored.occurred,
        recorded_at=stored.recorded_at,
        data=cast(dict[str, Any], stored.data),
        metadata=cast(dict[str, Any], stored.metadata),
        held=stored.held,
    )


Preview = Annotated[
    bool,
    QueryParameter(
        description="Include held events (drafts and embargoed events), each marked `held`: "
        "needs a key with the `preview` scope (write and admin keys have it)."
    ),
]


async def _previewing(request: Request[Any, Any, Any], keys: KeyCache, preview: bool) -> bool:
    """Whether to show held events: asked for, and the key may; refused if asked for and not."""
    if preview and not await may_preview(request, keys):
        raise NotAuthorizedException(
            "preview=true shows held events: send an API key with the 'preview' scope "
            "as 'Authorization: Bearer <key>', or leave preview out."
        )
    return preview


Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="How many events at most.")]


class EventsController(Controller):
    path = "/v1"
    tags = ["events"]

    @post(
        "/events",
        operation_id="appendEvent",
        dto=StrictBody.of(Event),
        return_dto=None,
        opt=needs("write", rechecked=True),
        status_code=201,
        security=[{"apiKey": []}],
        **documented(
            201,
            Appended,
            ("appended", "held"),
            "Appended (or held back, when it is a draft or embargoed: see `held`).",
            *_WRITE_PROBLEMS,
            headers={"Location": LOCATION},
            repeated="Already appended: a retry of an earlier append, which appends nothing.",
        ),
    )
    async def append_event(
        self,
        request: Request[Any, Any, Any],
        appender: NamedDependency[Appender],
        meter: NamedDependency[Meter],
        data: Annotated[Event, Body(examples=_EVENT_EXAMPLES)],
    ) -> Response[Appended]:
        """Append one event; 200 instead of 201 when it repeats an event already appended."""
        outcome = await _append(request, appender, meter, [data], ["$"])
        row = outcome.rows[0]
        return Response(
            row,
            status_code=200 if outcome.replayed else 201,
            headers={"Location": f"/v1/events/{row.id}"},
        )

    @post(
        "/events/batch",
        operation_id="appendEvents",
        dto=StrictBody.of(BatchAppend),
        return_dto=None,
        opt=needs("write", rechecked=True),
        status_code=201,
        security=[{"apiKey": []}],
        **documented(
            201,
            BatchAppended,
            "batch",
            "All appended.",
            *_WRITE_PROBLEMS,
            repeated="Already appended: a retry of an earlier batch, which appends nothing.",
        ),
    )
    async def append_batch(
        self,
        request: Request[Any, Any, Any],
        appender: NamedDependency[Appender],
        meter: NamedDependency[Meter],
        data: Annotated[BatchAppend, Body(examples=_BATCH_EXAMPLES)],
    ) -> Response[BatchAppended]:
        """Append up to 1,000 events atomically: all of them or none."""
        paths = [f"$.events[{index}]" for index in range(len(data.events))]
        outcome = await _append(request, appender, meter, data.events, paths)
        return Response(
            BatchAppended(events=outcome.rows),
            status_code=200 if outcome.replayed else 201,
        )

    @post(
        "/events/{event_id:uuid}/publish",
        operation_id="publishEvent",
        return_dto=None,
        opt=needs("write", rechecked=True),
        status_code=201,
        security=[{"apiKey": []}],
        **documented(
            201,
            Appended,
            "published",
            "Published: appended to the log.",
            400, 401, 403, 404, 409, 422, 503,
            headers={"Location": LOCATION},
            repeated="Already published: the event as the log holds it.",
        ),
    )  # fmt: skip
    async def publish_event(
        self,
        request: Request[Any, Any, Any],
        database: NamedDependency[Pool],
        publisher: NamedDependency[Publisher],
        meter: NamedDependency[Meter],
        event_id: FromPath[UUID],
    ) -> Response[Appended]:
        """Publish a held event now (a draft, or an embargoed event early), by the log's rules."""
        row = await held.read_held(database, event_id)
        if row is None:
            raise NotFound(f"No held event {event_id}.")
        try:
            outcome = await publisher.publish(row, request.state.author, request.state.key)
        except Withdrawn:
            raise Conflict(
                f"held event {event_id} was withdrawn (or is a withdrawal): it is never published"
            ) from None
        except Conflict:
            meter.conflict()
            raise
        meter.appended(outcome)
        return Response(
            outcome.rows[0],
            status_code=200 if outcome.replayed else 201,
            headers={"Location": f"/v1/events/{event_id}"},
        )

    @get(
        "/events",
        operation_id="readLog",
        **documented(200, EventPage, "page", "A page of the log.", 400, 401, 503),
    )
    async def read_log(
        self,
        request: Request[Any, Any, Any],
        database: NamedDependency[Pool],
        keys: NamedDependency[KeyCache],
        after: Annotated[
            str | None,
            QueryParameter(
                description="The `next` cursor of the previous page; the log's start when absent."
            ),
        ] = None,
        limit: Limit = 100,
        preview: Preview = False,
    ) -> Response[EventPage]:
        """Follow the global log in order; every event appears exactly once across pages.

        With ``preview=true``, the pending held events too, in the one order of the log and
        the held events (a held event that is published meets its reader again, in the log).
        """
        cursor = params.cursor("after", after, cursors.LogCursor) or cursors.START
        if await _previewing(request, keys, preview):
            stored = await held.read_log_with_held(database, cursor, limit)
        else:
            stored = await log.read_log(database, cursor, limit)
        following = stored[-1].cursor if stored else cursor
        page = EventPage(events=[_logged(event) for event in stored], next=cursors.encode(following))
        return Response(page, headers=_PRIVATE if preview else {})

    @get(
        "/events/{event_id:uuid}",
        operation_id="readEvent",
        **documented(
            200, LoggedEvent, "logged", "The event.", 400, 401, 404, 503, headers={"Cache-Control": IMMUTABLE}
        ),
    )
    async def read_event(
        self,
        request: Request[Any, Any, Any],
        database: NamedDependency[Pool],
        keys: NamedDependency[KeyCache],
        event_id: FromPath[UUID],
        preview: Preview = False,
    ) -> Response[LoggedEvent]:
        """One event as the log holds it; events never change, so it may be cached for good.

        With ``preview=true``, a pending held event too (never cached but by its reader)."""
        stored = await log.read_event(database, event_id)
        if await _previewing(request, keys, preview):
            pending = None if stored is not None else await held.read_held(database, event_id)
            if pending is not None and not pending.published and not pending.withdrawn:
                return Response(_logged(pending.as_logged()), headers=_PRIVATE)
        if stored is None:
            raise NotFound(f"No event {event_id} is in the log.")
        return Response(_logged(stored), headers=_PRIVATE if preview else {"Cache-Control": _IMMUTABLE})

    @get(
        "/streams/{stream:str}",
        operation_id="readStream",
        **documented(200, StreamPage, "stream", "A page of the stream.", 400, 401, 404, 503),
    )
    async def read_stream(
        self,
        request: Request[Any, Any, Any],
        database: NamedDependency[Pool],
        keys: NamedDependency[KeyCache],
        stream: FromPath[str],
        from_version: Annotated[
            int, QueryParameter(ge=1, le=2**31 - 1, description="The first version to return.")
        ] = 1,
        limit: Limit = 100,
        preview: Preview = False,
    ) -> Response[StreamPage]:
        """One entity's stream of events, in version order.

        With ``preview=true``, its pending held events follow its last page, without versions."""
        previewing = await _previewing(request, keys, preview)
        version = await log.stream_version(database, stream)
        pending = await held.read_held_stream(database, stream) if previewing else []
        if version is None and not pending:
            raise NotFound(f"No stream '{stream}': no entity with that slug is registered.")
        stored = await log.read_stream(database, stream, from_version, limit) if version is not None else []
        last = stored[-1].version if stored else None
        more = last is not None and version is not None and last < version
        page = StreamPage(
            stream=stream,
            version=version or 0,
            events=[_logged(event) for event in [*stored, *([] if more else pending)]],
            next_from_version=last + 1 if more and last is not None else None,
        )
        return Response(page, headers=_PRIVATE if preview else {})
