"""Reading back checked data without the checks: same types for the folds, same encoding."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from schemas import Event, Fact
from schemas.unchecked import unchecked
from service.demo.story import DEMO_EVENTS
from service.domain.timeline import Item, RecordedEvent, fold
from tests.factories import reported

_checked = msgspec.json.Decoder(Event)
_unchecked = msgspec.json.Decoder(unchecked(Event))


@pytest.mark.parametrize("index", range(len(DEMO_EVENTS)))
def test_an_event_reads_back_as_its_own_type_and_encodes_the_same(index: int) -> None:
    stored = msgspec.json.encode(DEMO_EVENTS[index])
    checked, read_back = _checked.decode(stored), _unchecked.decode(stored)
    assert isinstance(read_back, type(checked))
    assert msgspec.json.encode(read_back) == msgspec.json.encode(checked)


def test_reading_back_skips_the_checks_and_nothing_else() -> None:
    stored = msgspec.json.encode(reported("Not-A-Slug", occurred="2024-13"))
    with pytest.raises(msgspec.ValidationError):
        _checked.decode(stored)
    event = _unchecked.decode(stored)
    assert isinstance(event, Fact)
    assert (event.entities[0].slug, event.occurred) == ("Not-A-Slug", "2024-13")
    with pytest.raises(msgspec.ValidationError, match="Expected `str`"):
        _unchecked.decode(msgspec.json.encode({**reported("a"), "occurred": 2024}))


def test_items_folded_from_read_back_events_encode_like_the_checked_ones() -> None:
    def logged(decoder: msgspec.json.Decoder[Event]) -> list[RecordedEvent]:
        at = datetime(2024, 5, 6, tzinfo=UTC)
        return [
            RecordedEvent(uuid.UUID(int=n), "demo", n, at, decoder.decode(msgspec.json.encode(event)), 1)
            for n, event in enumerate(DEMO_EVENTS)
        ]

    checked, read_back = fold(logged(_checked)), fold(logged(_unchecked))
    assert checked, "the demo has facts"
    assert msgspec.json.encode(read_back) == msgspec.json.encode(checked)
    # A stored item read back by a live batch is compared with what a correction says.
    decoder = msgspec.json.Decoder(list[unchecked(Item)])  # type: ignore[misc]
    stored = decoder.decode(msgspec.json.encode(list(checked.values())))
    assert [item.entities for item in stored] == [item.entities for item in read_back.values()]
