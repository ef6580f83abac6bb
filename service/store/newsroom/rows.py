"""The newsroom read model's rows: its tables, and the shapes of what is written to them and read
back from them.

Three tables hold what readers see now: ``timeline_items`` (one row per fact), ``entity_items``
(which entities each fact involves or ever involved, in timeline order) and ``entity_states``
(one row per entity); each has a twin holding the forms its rows had before (``*_versions``).
Nothing outside ``service.projections.newsroom`` uses this package, and nothing else touches
those tables: the fold writes them through ``writes``, readers query them through ``reads``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from schemas.unchecked import unchecked
from service.domain.entities import Profile
from service.domain.timeline import Item

# Items are what the projection wrote from events checked on their way in: reading them back
# checks their shape only, with the same types the projection folds (see schemas/unchecked.py),
# since a struct equals only a struct of its own type.
decode_item = msgspec.json.Decoder(unchecked(Item)).decode
decode_items = msgspec.json.Decoder(unchecked(list[Item])).decode
decode_profile = msgspec.json.Decoder(Profile).decode
_encode = msgspec.json.Encoder().encode

NAME = "newsroom"
"""The read model's name, and its checkpoint's."""
TABLES = (
    "timeline_items",
    "entity_items",
    "entity_states",
    "timeline_item_versions",
    "entity_item_versions",
    "entity_state_versions",
)
"""The tables this read model owns, and a rebuild makes afresh."""


class _ItemColumns(msgspec.Struct):
    """What an item's row holds, current or a version of it."""

    event_id: UUID
    position: int
    occurred_start: datetime
    occurred_end: datetime
    precision: int
    type: str
    status: str
    retracted: bool
    tags: list[str]
    english: str
    french: str
    simple: str
    item: Item


class ItemRow(_ItemColumns):
    recorded_at: datetime
    current_since: datetime
    made_by: UUID


class ItemVersionRow(_ItemColumns):
    recorded_from: datetime
    recorded_until: datetime
    made_by: UUID


class InvolvementRow(msgspec.Struct):
    slug: str
    event_id: UUID
    occurred_start: datetime
    precision: int
    position: int
    current: bool
    current_since: datetime
    recorded_at: datetime


class InvolvementVersionRow(msgspec.Struct):
    event_id: UUID
    slug: str
    recorded_from: datetime
    recorded_until: datetime
    occurred_start: datetime
    precision: int
    position: int


class MovedRow(msgspec.Struct):
    event_id: UUID
    occurred_start: datetime
    precision: int


class ProfileRow(msgspec.Struct, array_like=True):
    slug: str
    kind: str
    merged_into: str | None
    alias_keys: list[str]
    name: str
    """The words of its name, weighted first in search."""
    other_names: str
    position: int
    state: str
    """The profile as JSON."""
    current_since: datetime
    made_by: UUID


class ProfileVersionRow(msgspec.Struct):
    slug: str
    recorded_from: datetime
    recorded_until: datetime
    made_by: UUID
    merged_into: str | None
    state: Profile


class Retired(msgspec.Struct):
    """A current row whose form gives way, at ``until``, to a later one."""

    until: datetime
    event_id: UUID | None = None
    slug: str | None = None


class Rows(msgspec.Struct):
    """Rows for the newsroom's tables, as ``writes``' statements take them."""

    items: list[ItemRow] = msgspec.field(default_factory=list)
    involvement: list[InvolvementRow] = msgspec.field(default_factory=list)
    moved: list[MovedRow] = msgspec.field(default_factory=list)
    """Items whose involvement rows are retired before they are written again."""
    touched: list[tuple[UUID, datetime]] = msgspec.field(default_factory=list)
    """Items that changed without moving, and since when they are so."""
    item_versions: list[ItemVersionRow] = msgspec.field(default_factory=list)
    involvement_versions: list[InvolvementVersionRow] = msgspec.field(default_factory=list)
    retired: list[Retired] = msgspec.field(default_factory=list)
    forgotten: list[UUID] = msgspec.field(default_factory=list)
    profiles: list[ProfileRow] = msgspec.field(default_factory=list)
    profile_versions: list[ProfileVersionRow] = msgspec.field(default_factory=list)
    retired_profiles: list[Retired] = msgspec.field(default_factory=list)
    forgotten_profiles: list[str] = msgspec.field(default_factory=list)


def as_json(value: Any) -> str:
    """Rows (or a profile) as the JSON text the statements take."""
    return _encode(value).decode()


def encode_profile(profile: Profile) -> str:
    return as_json(profile)
