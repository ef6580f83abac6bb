"""Legal erasure over HTTP, for admins: erase a fact, a follow-up's note or an entity's personal
fields, and read the ledger of erasures."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, QueryParameter

from schemas import Appended, EventErased, Tombstone, TombstonePage
from service.appender import Appender, tombstone
from service.demo import examples
from service.domain import cursors
from service.http import params
from service.http.auth import needs
from service.http.body import StrictBody
from service.http.docs import documented, shown
from service.logs import REQUEST_ID
from service.store import Pool
from service.store import events as log

_ERASURE_EXAMPLES = [shown(examples.ERASURE, "Erase a fact on a court order")]
_decode_erasure = msgspec.json.Decoder(EventErased).decode
_decode_metadata = msgspec.json.Decoder(dict[str, Any]).decode


def _ledger(stored: log.EventRow) -> Tombstone:
    row = Appended(
        id=stored.id,
        stream=stored.stream,
        version=stored.version,
        position=stored.position,
        recorded_at=stored.recorded_at,
    )
    return tombstone(
        _decode_erasure(stored.data), row, str(_decode_metadata(stored.metadata).get("author", ""))
    )


class ErasuresController(Controller):
    path = "/v1/erasures"
    tags = ["erasures"]
    security = [{"apiKey": []}]

    @post(
        operation_id="erase",
        dto=StrictBody.of(EventErased),
        return_dto=None,
        opt=needs("admin", rechecked=True),
        status_code=201,
        **documented(
            201,
            Tombstone,
            "tombstone",
            "Erased: the tombstone the log keeps.",
            400,
            401,
            403,
            409,
            413,
            422,
            503,
            repeated="Already erased by this very request (a retry with the same id): nothing appended.",
        ),
    )
    async def erase(
        self,
        request: Request[Any, Any, Any],
        appender: NamedDependency[Appender],
        data: Annotated[EventErased, Body(examples=_ERASURE_EXAMPLES)],
    ) -> Response[Tombstone]:
        """Erase a fact (``event_id`` of a fact, with its follow-ups' texts), a follow-up's note
        (``event_id`` of a follow-up) or an entity's personal fields (``slug``), on a legal
        ``basis`` with its ``reference``. Every read stops showing the text once the read model
        has applied it (``min_position`` with the answer's ``position``)."""
        metadata = {"author": request.state.author, "request_id": REQUEST_ID.get()}
        made, replayed = await appender.erase(data, metadata, request.state.key)
        return Response(made, status_code=200 if replayed else 201)

    @get(
        operation_id="listErasures",
        opt=needs("admin"),
        **documented(200, TombstonePage, "erasures", "A page of the ledger.", 400, 401, 403, 503),
    )
    async def list_erasures(
        self,
        database: NamedDependency[Pool],
        after: Annotated[
            str | None,
            QueryParameter(
                description="The `next` cursor of the previous page; the first erasure when absent."
            ),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000, description="How many erasures at most.")] = 100,
    ) -> TombstonePage:
        """Every erasure, in log order: what, when, by which key, on which basis."""
        cursor = params.cursor("after", after, cursors.LogCursor) or cursors.START
        stored = await log.read_erasures(database, cursor, limit)
        following = stored[-1].cursor if stored else cursor
        return TombstonePage(erasures=[_ledger(row) for row in stored], next=cursors.encode(following))
