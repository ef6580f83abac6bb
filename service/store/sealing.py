"""Every event's texts sealed under keys of their own, so that erasing them is deleting the keys.

An event's ``data`` keeps in clear only what SQL and the append rules read: ``CLEAR`` (its type,
the fact a follow-up is about, an entity event's slugs and kind, a fact's entities, date and
status), and of a correction's changes those that move the fact (``CLEAR_CHANGES``). Everything
else is sealed with AES-GCM in up to two parts, each under a random key of its own kept in
``event_keys`` (migration 0009), one row per event and part:

- ``texts`` (part 0): headline, summary, sources, tags, title, money, an entity's name, aliases,
  description and Wikidata id, a correction's other changes, an erasure's basis and reference;
- ``note`` (part 1): a follow-up's public note or retraction reason, apart, so that erasing one
  follow-up's note leaves what the follow-up does.

The sealed parts travel inside ``data`` as ``"sealed": {"texts": <base64>, "note": <base64>}``
(nonce then ciphertext; the event's id and the part are the associated data, so a box moved to
another event or part does not open). A held event is sealed as it is held (``held_events``),
and its publication into the log is sealed again under the same keys, found by its id: one
erasure shreds both copies.

The placeholder contract, for every reader above the store
---------------------------------------------------------
The store unseals on the way out: folds, ``/v1/events``, streams, rebuilds and exports get the
event's JSON as it was posted (fields in jsonb's order). A part whose key was shredded comes
back as its **placeholder**: the part's fields that its event type requires (and a note part's
note, required or not, since the part exists only when a note was given), each empty of its
kind (a language map ``{}``, a text ``""``, a list ``[]``, a correction's changes ``{}`` on top of
the changes kept in clear), and nothing of its optional fields. So an erased fact reads
``{"type": ..., "occurred": ..., "entities": [...], "status": ..., "headline": {}}``, an erased
correction's note ``"note": {}``, an erased entity ``{"type": "entity.registered", "slug": ...,
"kind": ..., "name": ""}``. Placeholders decode with the folds' unchecked types
(``schemas/unchecked.py``), not with the checked ones (a headline needs a language): what was
erased, and why, is told by the ``event.erased`` event that comes later in the log, which is
what a fold goes by; it never needs the text.
"""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import Mapping
from typing import Any, get_args, get_origin, get_type_hints
from uuid import UUID

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from schemas.events import EVENT_TYPES

CLEAR = frozenset({"type", "event_id", "slug", "into", "kind", "entities", "occurred", "status"})
"""What stays readable in ``events.data``: what the log's SQL and the append rules look at."""
CLEAR_CHANGES = frozenset({"occurred", "entities"})
"""A correction's changes that stay readable: where the fact stands, which an erasure keeps."""
NOTES = frozenset({"note", "reason"})
"""A follow-up's own words, sealed apart from the rest of it."""
TEXTS, NOTE = 0, 1
PARTS = ("texts", "note")
"""Each part's name in ``data``'s ``sealed`` object; its number is its row's ``part``."""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode
_NONCE = 12


class SealedKey(msgspec.Struct, frozen=True, array_like=True):
    """A key as ``event_keys`` keeps it."""

    event: UUID
    part: int
    key: bytes


def _associated(event: UUID, part: int) -> bytes:
    return event.bytes + bytes([part])


def seal(event: UUID, data: str, kept: Mapping[int, bytes] | None = None) -> tuple[str, list[SealedKey]]:
    """``data`` (an event's JSON) with its texts sealed, and the new keys that open them. A part
    whose key is in ``kept`` (by part) is sealed under it instead of a new one."""
    fields = _decode(data)
    follow_up = str(fields.get("type", "")).startswith("event.")
    clear: dict[str, Any] = {}
    parts: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for name, value in fields.items():
        if name in CLEAR:
            clear[name] = value
        elif name in NOTES and follow_up:
            parts[NOTE][name] = value
        elif name == "changes":
            kept = {field: change for field, change in value.items() if field in CLEAR_CHANGES}
            rest = {field: change for field, change in value.items() if field not in CLEAR_CHANGES}
            if kept:
                clear[name] = kept
            if rest:
                parts[TEXTS][name] = rest
        else:
            parts[TEXTS][name] = value
    boxes: dict[str, str] = {}
    keys: list[SealedKey] = []
    for part, plain in enumerate(parts):
        if plain:
            key = (kept or {}).get(part)
            if key is None:
                key = AESGCM.generate_key(bit_length=128)
                keys.append(SealedKey(event, part, key))
            # A fresh nonce for every box, so a key sealing twice (a publication) is still safe.
            nonce = os.urandom(_NONCE)
            box = nonce + AESGCM(key).encrypt(nonce, _encode(plain), _associated(event, part))
            boxes[PARTS[part]] = base64.b64encode(box).decode()
    if boxes:
        clear["sealed"] = boxes
    return _encode(clear).decode(), keys


def unseal(
    event: UUID,
    type_: str,
    clear: str,
    boxes: tuple[bytes | None, bytes | None],
    keys: tuple[bytes | None, bytes | None],
) -> str:
    """The event's JSON whole again: ``clear`` (its data without ``sealed``) with each part's
    box opened by its key, or the part's placeholder when its key is gone."""
    opened = [
        _open(event, part, box, key) if key is not None else placeholder(type_, part)
        for part, (box, key) in enumerate(zip(boxes, keys, strict=True))
        if box is not None
    ]
    if not opened:
        return clear
    if '"changes"' in clear or any(b'"changes"' in plain for plain in opened):
        return _merged(clear, opened)
    # Both sides are JSON objects with no field in common: joined as text, never parsed.
    inner = [plain[1:-1].decode() for plain in opened if plain != b"{}"]
    return clear[:-1] + "".join(f",{fields}" for fields in inner) + "}"


def _open(event: UUID, part: int, box: bytes, key: bytes) -> bytes:
    return AESGCM(key).decrypt(box[:_NONCE], box[_NONCE:], _associated(event, part))


def _merged(clear: str, opened: list[bytes]) -> str:
    """A correction's changes are split between the clear data and a sealed part."""
    whole = _decode(clear)
    for plain in opened:
        for name, value in _decode(plain).items():
            whole[name] = {**whole[name], **value} if name == "changes" and name in whole else value
    return _encode(whole).decode()


@functools.cache
def placeholder(type_: str, part: int) -> bytes:
    """What a shredded part of a ``type_`` event reads as: its required fields, empty; a note
    part (there only when a note was given) keeps its note, empty, required or not."""
    cls = EVENT_TYPES.get(type_)
    if cls is None:
        return b"{}"
    hints = get_type_hints(cls, include_extras=True)
    empty: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        required = field.default is msgspec.NODEFAULT and field.default_factory is msgspec.NODEFAULT
        in_note = field.name in NOTES and type_.startswith("event.")
        if not (required or (part == NOTE and in_note)) or field.name in CLEAR or field.name == "type":
            continue
        if (part == NOTE) == in_note:
            empty[field.name] = _empty(hints[field.name])
    return _encode(empty)


def _empty(hint: Any) -> Any:
    while get_origin(hint) is not None and get_origin(hint) not in (list, dict):
        hint = get_args(hint)[0]  # Annotated
    origin = get_origin(hint)
    if origin is list:
        return []
    if origin is dict or (isinstance(hint, type) and issubclass(hint, msgspec.Struct)):
        return {}
    return ""
