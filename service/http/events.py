"""The event log over HTTP: append one or many events, follow the log, read a stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, cast
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, QueryParameter

from schemas import Appended, BatchAppend, BatchAppended, Event, EventPage, LoggedEvent, StreamPage
from service.appender import Appender, AppendOutcome
from service.demo import examples
from service.domain import cursors
from service.domain.errors import Conflict, NotFound
from service.http import params
from service.http.auth import needs
from service.http.body import StrictBody
from service.http.docs import IMMUTABLE, LOCATION, documented, shown
from service.http.metrics import Meter
from service.logs import REQUEST_ID
from service.store import Pool
from service.store import events as log

_IMMUTABLE = "public, max-age=31536000, immutable"
_WRITE_PROBLEMS = (400, 401, 403, 409, 413, 422, 503)
_EVENT_EXAMPLES = [shown(event, kind, f"A {kind} event") for kind, event in examples.EVENTS.items()]
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
    )


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
            "appended",
            "Appended.",
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

    @get(
        "/events",
        operation_id="readLog",
        **documented(200, EventPage, "page", "A page of the log.", 400, 503),
    )
    async def read_log(
        self,
        database: NamedDependency[Pool],
        after: Annotated[
            str | None,
            QueryParameter(
                description="The `next` cursor of the previous page; the log's start when absent."
            ),
        ] = None,
        limit: Limit = 100,
    ) -> EventPage:
        """Follow the global log in order; every event appears exactly once across pages."""
        cursor = params.cursor("after", after, cursors.LogCursor) or cursors.START
        stored = await log.read_log(database, cursor, limit)
        following = stored[-1].cursor if stored else cursor
        return EventPage(events=[_logged(event) for event in stored], next=cursors.encode(following))

    @get(
        "/events/{event_id:uuid}",
        operation_id="readEvent",
        **documented(
            200, LoggedEvent, "logged", "The event.", 400, 404, 503, headers={"Cache-Control": IMMUTABLE}
        ),
    )
    async def read_event(
        self, database: NamedDependency[Pool], event_id: FromPath[UUID]
    ) -> Response[LoggedEvent]:
        """One event as the log holds it; events never change, so it may be cached for good."""
        stored = await log.read_event(database, event_id)
        if stored is None:
            raise NotFound(f"No event {event_id} is in the log.")
        return Response(_logged(stored), headers={"Cache-Control": _IMMUTABLE})

    @get(
        "/streams/{stream:str}",
        operation_id="readStream",
        **documented(200, StreamPage, "stream", "A page of the stream.", 400, 404, 503),
    )
    async def read_stream(
        self,
        database: NamedDependency[Pool],
        stream: FromPath[str],
        from_version: Annotated[
            int, QueryParameter(ge=1, le=2**31 - 1, description="The first version to return.")
        ] = 1,
        limit: Limit = 100,
    ) -> StreamPage:
        """One entity's stream of events, in version order."""
        version = await log.stream_version(database, stream)
        if version is None:
            raise NotFound(f"No stream '{stream}': no entity with that slug is registered.")
        stored = await log.read_stream(database, stream, from_version, limit)
        last = stored[-1].version if stored else None
        return StreamPage(
            stream=stream,
            version=version,
            events=[_logged(event) for event in stored],
            next_from_version=last + 1 if last is not None and last < version else None,
        )
