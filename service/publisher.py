"""Publication of held events: by an editor (``publish``), or at ``publish_at`` by itself (``run``).

Publishing appends the held event to the log through the ordinary ``Appender``, with its own id,
so the log's rules decide it as they decide any append, and ids make it idempotent: when two
processes publish the same event at once, one appends it and the other's append is a retry
that replays. Every API process runs a publisher: it sleeps until the next ``publish_at`` to
come, and looks again whenever a held event is appended anywhere (``held.CHANNEL``), or after
``poll_seconds`` in case a notice was lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from schemas import Event
from service.appender import Appender, AppendOutcome
from service.domain.errors import Conflict, Rejected
from service.store import REFUSED, UNREACHABLE, checkpoints, held
from service.store import events as log
from service.store.held import HeldRow

_log = logging.getLogger("dateline.publisher")
_decode = msgspec.json.Decoder(Event).decode
SERVICE = "publisher"
"""Who published an event that its ``publish_at`` published."""


class Withdrawn(Exception):
    """A held event that was withdrawn, or a withdrawal: neither is ever published."""


def published(row: HeldRow, by: str) -> tuple[Event, dict[str, Any]]:
    """The event a held row becomes in the log, and its metadata: its author's, and how it was
    held and by whom it was published."""
    event = msgspec.structs.replace(_decode(row.data), id=row.id, stream=row.stream)
    metadata = msgspec.json.decode(row.metadata)
    how = {"recorded_at": row.recorded_at.isoformat(), **msgspec.to_builtins(row.held)}
    return event, {**metadata, "held": how, log.PUBLISHED_BY: by}


class Publisher:
    """Publishes this process's share of the held events, and knows the next ``publish_at``."""

    def __init__(
        self,
        appender: Appender,
        database_url: str,
        poll_seconds: float = 1.0,
        on_outcome: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.appender = appender
        self.database_url = database_url
        self.poll_seconds = poll_seconds
        self.on_outcome = on_outcome
        """Told of each due event's outcome: "published" or "refused"."""
        self.next_at: datetime | None = None
        """The next ``publish_at`` to come of a pending held event, as last read."""
        self._wake = asyncio.Event()
        # Refused publications are tried again only once something was appended since.
        self._refused: set[UUID] = set()
        appender.on_held = self.wake

    def wake(self) -> None:
        self._refused.clear()
        self._wake.set()

    async def publish(self, row: HeldRow, by: str, key: bytes | None = None) -> AppendOutcome:
        """Publish ``row`` now: ``Withdrawn`` if it never may be, or what the log's rules say."""
        if row.withdrawn or row.withdraws:
            raise Withdrawn
        event, metadata = published(row, by)
        return await self.appender.append([event], metadata, ["$"], key)

    async def publish_due(self) -> None:
        """Publish every held event whose ``publish_at`` has come, in held order; one that the
        rules refuse stays held, and the others go on."""
        for row in await held.due(self.appender.pool):
            if row.id in self._refused:
                continue
            try:
                outcome = await self.publish(row, SERVICE)
            except (Rejected, Conflict) as refusal:
                self._refused.add(row.id)
                self.on_outcome("refused")
                _log.warning(
                    "a held event could not be published: it stays held",
                    extra={"event_id": str(row.id), "type": row.type, "problem": str(refusal)},
                )
                continue
            if not outcome.replayed:
                self.on_outcome("published")
                _log.info("published a held event", extra={"event_id": str(row.id), "type": row.type})

    async def run(self) -> None:
        """Publish what is due, for as long as the process serves."""
        while True:
            try:
                async with checkpoints.listening(
                    self.database_url, held.CHANNEL, lambda _: self.wake()
                ) as heard:
                    while not heard.is_closed():
                        self._wake.clear()
                        await self.publish_due()
                        coming = await held.next_due(self.appender.pool)
                        self.next_at = None if coming is None else coming[0]
                        wait = self.poll_seconds if coming is None else min(coming[1], self.poll_seconds)
                        await checkpoints.woken(self._wake, wait)
            except (*UNREACHABLE, *REFUSED) as error:
                _log.warning("the publisher lost the database (%s); reconnecting", error)
            except Exception:  # whatever fails, held events wait for the next try
                _log.exception("the publisher failed; trying again")
            await asyncio.sleep(self.poll_seconds)
