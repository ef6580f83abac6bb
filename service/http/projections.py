"""How far each projection has got, and whether it is healthy."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency

from schemas import ProjectionStatus
from service.http.auth import may
from service.http.docs import CACHE_CONTROL, VARY, documented
from service.http.key_cache import KeyCache
from service.projections.engine import progress, state
from service.projections.newsroom import PREVIEW
from service.store import Pool

_STOPPED = "It stopped before an event it cannot apply; an admin key shows the error."


@get(
    "/v1/projections",
    operation_id="listProjections",
    tags=["operations"],
    **documented(
        200,
        list[ProjectionStatus],
        "projections",
        "Every projection's progress.",
        503,
        headers={"Vary": VARY, "Cache-Control": CACHE_CONTROL},
    ),
)
async def projections(
    request: Request[Any, Any, Any], database: NamedDependency[Pool], keys: NamedDependency[KeyCache]
) -> Response[list[ProjectionStatus]]:
    """Each projection's checkpoint, the log's head, the lag in events and seconds, and its state.

    A failing projection's error, which may quote the data that broke it, is shown to admin keys
    only; anyone else is told that it stopped, and where. The preview's is listed only to keys
    that may preview: its checkpoint can stand at a held event, whose place is not public.
    """
    admin = await may(request, keys, "admin")
    previewer = await may(request, keys, "preview")
    statuses = [
        ProjectionStatus(
            name=checkpoint.name,
            state=state(checkpoint),
            checkpoint=checkpoint.position,
            head=checkpoint.head,
            lag_events=checkpoint.lag_events,
            lag_seconds=round(checkpoint.lag_seconds, 3),
            failing_event=checkpoint.failing_event,
            error=checkpoint.error if admin or checkpoint.error is None else _STOPPED,
        )
        for checkpoint in await progress(database)
        if previewer or checkpoint.name != PREVIEW.name
    ]
    # The body depends on the key sent: a shared cache must keep one copy per Authorization.
    return Response(statuses, headers={"Vary": "Authorization", "Cache-Control": "private, no-cache"})
