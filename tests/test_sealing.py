"""Sealing and opening an event's data, and what a shredded part reads as, without a database."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import msgspec
import pytest
from cryptography.exceptions import InvalidTag

from schemas import Event
from schemas.unchecked import unchecked
from service.demo.examples import EVENTS
from service.domain.appending import stored_data
from service.store.sealing import PARTS, seal, unseal

_decode_unchecked = msgspec.json.Decoder(unchecked(Event)).decode


def _split(sealed: str) -> tuple[str, tuple[bytes | None, bytes | None]]:
    """The clear data and the boxes, as the store's SQL hands them over."""
    data: dict[str, Any] = msgspec.json.decode(sealed)
    boxes = data.pop("sealed", {})
    return msgspec.json.encode(data).decode(), tuple(
        base64.b64decode(boxes[part]) if part in boxes else None for part in PARTS
    )  # type: ignore[return-value]


@pytest.mark.parametrize("tag", sorted(EVENTS))
def test_every_event_type_opens_as_it_was_and_shredded_still_decodes(tag: str) -> None:
    event_id = uuid.uuid4()
    data = stored_data(EVENTS[tag])
    sealed, keys = seal(event_id, data)
    clear, boxes = _split(sealed)
    opened = {key.part: key.key for key in keys}
    assert msgspec.json.decode(unseal(event_id, tag, clear, boxes, (opened.get(0), opened.get(1)))) == (
        msgspec.json.decode(data)
    )
    shredded = unseal(event_id, tag, clear, boxes, (None, None))
    assert type(_decode_unchecked(shredded)).__name__ == type(EVENTS[tag]).__name__
    for text in ("headline", "summary", "name", "note", "reason", "description", "aliases"):
        value = msgspec.json.decode(shredded).get(text)
        assert not value, (text, value)


def test_a_box_opens_only_for_its_own_event_and_part() -> None:
    event_id = uuid.uuid4()
    correction = {
        "type": "event.corrected",
        "event_id": str(uuid.uuid4()),
        "changes": {"headline": {"en": "Acme ships"}},
        "note": {"en": "The headline named the wrong company."},
    }
    sealed, keys = seal(event_id, msgspec.json.encode(correction).decode())
    clear, (texts, note) = _split(sealed)
    by_part = {key.part: key.key for key in keys}
    assert texts is not None
    assert note is not None
    assert msgspec.json.decode(
        unseal(event_id, "event.corrected", clear, (texts, note), (by_part[0], by_part[1]))
    ) == (correction)
    with pytest.raises(InvalidTag):
        unseal(uuid.uuid4(), "event.corrected", clear, (texts, note), (by_part[0], by_part[1]))
    with pytest.raises(InvalidTag):
        unseal(event_id, "event.corrected", clear, (note, texts), (by_part[1], by_part[0]))
