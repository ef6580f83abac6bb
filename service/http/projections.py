"""How far each projection has got, and whether it is healthy."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State

from schemas import ProjectionStatus
from service.http.docs import documented
from service.projections import queries


@get(
    "/v1/projections",
    operation_id="listProjections",
    tags=["operations"],
    responses=documented(200, list[ProjectionStatus], "projections", "Every projection's progress."),
)
async def projections(state: State) -> list[ProjectionStatus]:
    """Each projection's checkpoint, the log's head, the lag in events and seconds, and its state."""
    return [
        ProjectionStatus(
            name=checkpoint.name,
            state="failing"
            if checkpoint.error
            else "rebuilding"
            if checkpoint.rebuilding
            else "running"
            if checkpoint.running
            else "stopped",
            checkpoint=checkpoint.position,
            head=checkpoint.head,
            lag_events=checkpoint.lag_events,
            lag_seconds=round(checkpoint.lag_seconds, 3),
            failing_event=checkpoint.failing_event,  # type: ignore[arg-type]
            error=checkpoint.error,
        )
        for checkpoint in await queries.checkpoints(state.pool)
    ]
