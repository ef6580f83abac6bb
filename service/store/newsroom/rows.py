"""The newsroom read model's rows: its tables, the shapes of what is written to them and read back
from them, and how the fold's items and profiles become rows.

Three tables hold what readers see now: ``timeline_items`` (one row per fact), ``entity_items``
(which entities each fact involves or ever involved, in timeline order) and ``entity_states``
(one row per entity); each has a twin holding the forms its rows had before (``*_versions``).
Nothing outside ``service.projections.newsroom`` uses this package, and nothing else touches
those tables: the fold writes them through ``writes``, readers query them through ``reads``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal
from uuid import UUID

import msgspec

from schemas import parse_partial_date
from schemas.unchecked import unchecked
from service.domain.entities import Profile, alias_keys, search_key
from service.domain.timeline import Item
from service.domain.versions import Version

# Items are what the projection wrote from events checked on their way in: reading them back
# checks their shape only, with the same types the projection folds (see schemas/unchecked.py),
# since a struct equals only a struct of its own type.
decode_item = msgspec.json.Decoder(unchecked(Item)).decode
decode_items = msgspec.json.Decoder(unchecked(list[Item])).decode
decode_profile = msgspec.json.Decoder(Profile).decode
_encode = msgspec.json.Encoder().encode

NAME = "newsroom"
"""The read model's name, and its checkpoint's."""
PREVIEW_NAME = "newsroom_preview"
"""Its twin's, which folds the held events too (drafts, embargoes) for previews."""
PREVIEW_SCHEMA = "preview"
"""Where the twin's tables are, named as the public ones (migration 0008)."""
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


class ItemRewrite(msgspec.Struct, omit_defaults=True):
    """One form of an item rewritten in place by an erasure (the current row's when
    ``recorded_from`` is None); a field left out keeps its value."""

    event_id: UUID
    recorded_from: datetime | None = None
    item: Item | None = None
    tags: list[str] | None = None
    english: str | None = None
    french: str | None = None
    simple: str | None = None


def rewritten(
    event_id: UUID, recorded_from: datetime | None, item: Item, names: list[str] | None
) -> ItemRewrite:
    """An item's form as an erasure leaves it; ``names`` (its entities') when its search changes."""
    if names is None:
        return ItemRewrite(event_id, recorded_from, item=item)
    english, french, simple = _texts(item, names)
    return ItemRewrite(event_id, recorded_from, item, item.tags, english, french, simple)


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


# Stemming for the languages the newsroom writes in; any other text is indexed word for word.
_STEMMERS = {"en": 0, "fr": 1}


@lru_cache(maxsize=256)
def _stemmer(language: str) -> int:
    """Which of the item's texts (0 English, 1 French, 2 word for word) a language's text joins."""
    return _STEMMERS.get(language.split("-")[0], 2)


def _texts(item: Item, names: list[str]) -> tuple[str, str, str]:
    """The item's words for the English, French and word-for-word indexes, accents removed;
    none for a tombstone."""
    if item.erased is not None:
        return "", "", ""
    texts: tuple[list[str], list[str], list[str]] = ([], [], [*names, *item.tags])
    for by_language in (item.headline, item.summary or {}):
        for language, text in by_language.items():
            texts[_stemmer(language)].append(text)
    english, french, simple = map(search_key, map(" ".join, texts))
    return english, french, simple


Change = Literal["new", "moved", "same"]
"""How an item's involvement rows change: "new" ones are inserted, "moved" ones (a correction
changed its entities or date) are retired and written again, the "same" ones stay."""


_Columns = tuple[UUID, int, datetime, datetime, int, str, str, bool, list[str], str, str, str, Item]


def _columns(item: Item, names: list[str]) -> _Columns:
    """What an item's current row and its versions share, in their columns' order (positional:
    a rebuild makes a million of these)."""
    start, end, precision = parse_partial_date(item.occurred)
    english, french, simple = _texts(item, names)
    retracted = item.retracted is not None
    return (item.id, item.position, start, end, precision, item.type, item.status, retracted, item.tags, english,
            french, simple, item)  # fmt: skip


def add_item(
    rows: Rows, item: Item, names: list[str], involved: Iterable[str], change: Change, version: Version[Item]
) -> None:
    """An item's rows, as they are now: its current ``version``."""
    columns = _columns(item, names)
    start, precision = columns[2], columns[4]
    since = version.recorded_from
    rows.items.append(ItemRow(*columns, item.recorded_at, since, version.made_by))
    if change == "moved":
        rows.moved.append(MovedRow(item.id, start, precision))
    if change == "same":
        rows.touched.append((item.id, since))
    else:
        current = item.slugs
        rows.involvement += [
            InvolvementRow(
                slug, item.id, start, precision, item.position, slug in current, since, item.recorded_at
            )
            for slug in involved
        ]


def _closed(version: Version[Any]) -> datetime:
    """When an earlier version gave way: every version a batch makes, but its current one, has."""
    assert version.recorded_until is not None
    return version.recorded_until


def add_item_versions(rows: Rows, versions: Iterable[tuple[Version[Item], list[str]]]) -> None:
    """Rows for versions of items, each with the names its entities had when it was made."""
    for version, names in versions:
        item = version.state
        columns = _columns(item, names)
        since, until = version.recorded_from, _closed(version)
        rows.item_versions.append(ItemVersionRow(*columns, since, until, version.made_by))
        rows.involvement_versions += [
            InvolvementVersionRow(item.id, slug, since, until, columns[2], columns[4], item.position)
            for slug in dict.fromkeys(ref.slug for ref in item.entities)
        ]


def add_profile(rows: Rows, profile: Profile, position: int, version: Version[Profile]) -> None:
    """An entity's row, as it is now: its current ``version``."""
    rows.profiles.append(profile_row(profile, position, version))


def profile_row(profile: Profile, position: int, version: Version[Profile]) -> ProfileRow:
    return ProfileRow(
        profile.slug,
        profile.kind,
        profile.merged_into,
        alias_keys(profile),
        search_key(profile.name),
        search_key(" ".join([*profile.aliases, *(profile.description or {}).values()])),
        position,
        as_json(profile),
        version.recorded_from,
        version.made_by,
    )


def add_profile_versions(
    rows: Rows, slug: str, versions: Iterable[tuple[Version[Profile], list[str]]]
) -> None:
    """Rows for earlier versions of an entity's profile."""
    rows.profile_versions += [
        ProfileVersionRow(
            slug,
            version.recorded_from,
            _closed(version),
            version.made_by,
            version.state.merged_into,
            version.state,
        )
        for version, _ in versions
    ]
