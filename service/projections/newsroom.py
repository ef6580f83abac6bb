"""The newsroom projection: timeline items, which entities each involves, and entity profiles.

It applies a batch of events in the caller's transaction. Items and profiles the batch touches
are read once, folded in memory with the pure rules of ``service.domain``, and written once.
A rebuild folds the whole log the same way (``load``), writing each item once, when no later
event in the log changes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal
from uuid import UUID

import asyncpg
import msgspec

from schemas import (
    EVENT_TYPES,
    EntityMerged,
    EntityRef,
    EntityRegistered,
    EntityUpdated,
    EventCorrected,
    Fact,
    FollowUp,
    NewEvent,
    parse_partial_date,
)
from schemas.unchecked import unchecked
from service.domain.entities import Profile, alias_keys, evolve_profile, search_key
from service.domain.timeline import Item, LoggedFact, evolve, start
from service.projections.engine import EventNotApplied, logged
from service.projections.writers import Writers
from service.store import Connection
from service.store.events import LogSnapshot

NAME = "newsroom"
# Stored items decode into the same unchecked types as the events that change them (see
# ``logged``): a struct equals only a struct of its own type.
_item_decoder = msgspec.json.Decoder(unchecked(Item))
_profile_decoder = msgspec.json.Decoder(Profile)
_encode = msgspec.json.Encoder().encode
# Stemming for the languages the newsroom writes in; any other text is indexed word for word.
_STEMMERS = {"en": 0, "fr": 1}
_FOLLOW_UPS = sorted(tag for tag, cls in EVENT_TYPES.items() if issubclass(cls, FollowUp))
_LOAD_CHUNK = 5000

_LOAD_ITEMS = "select event_id, item::text from timeline_items where event_id = any($1::uuid[])"
_LOAD_PROFILES = "select slug, state::text from entity_states where slug = any($1::text[])"
# Rows are written a batch at a time, as one JSON array of rows: one statement instead of one
# per row, and one document that msgspec writes and PostgreSQL parses faster than separate
# array parameters. A rebuild fills empty tables with the plain inserts; live batches add the
# ``on conflict`` clauses.
_INSERT_ITEMS = """
insert into timeline_items
    (event_id, position, occurred_start, occurred_end, precision, type, status, retracted, recorded_at, tags,
     search, item)
select n.event_id, n.position, n.occurred_start, n.occurred_end, n.precision, n.type, n.status, n.retracted,
       n.recorded_at, n.tags,
       to_tsvector('english', n.english) || to_tsvector('french', n.french) || to_tsvector('simple', n.simple),
       n.item
from json_to_recordset($1::json)
     as n (event_id uuid, position bigint, occurred_start timestamptz, occurred_end timestamptz,
           precision smallint, type text, status text, retracted boolean, recorded_at timestamptz,
           tags text[], english text, french text, simple text, item json)
"""
_UPSERT_ITEMS = f"""{_INSERT_ITEMS}
on conflict (event_id) do update set
    occurred_start = excluded.occurred_start, occurred_end = excluded.occurred_end,
    precision = excluded.precision, status = excluded.status,
    retracted = excluded.retracted, tags = excluded.tags, search = excluded.search, item = excluded.item
"""
# Every entity an item ever involved keeps a row (as-known-at reads look for them); only those it
# involves now are current. All of an item's rows carry its current date, so that the rows come
# out the same however the log was cut into batches.
_RETIRE_INVOLVEMENT = """
update entity_items e set current = false, occurred_start = n.occurred_start, precision = n.precision
from json_to_recordset($1::json) as n (event_id uuid, occurred_start timestamptz, precision smallint)
where e.event_id = n.event_id
"""
_INSERT_INVOLVEMENT = """
insert into entity_items (slug, event_id, occurred_start, precision, position, current)
select * from json_to_recordset($1::json)
     as n (slug text, event_id uuid, occurred_start timestamptz, precision smallint, position bigint,
           current boolean)
"""
_UPSERT_INVOLVEMENT = f"""{_INSERT_INVOLVEMENT}
on conflict (slug, event_id) do update set
    occurred_start = excluded.occurred_start, precision = excluded.precision, current = excluded.current
"""
_INSERT_PROFILE = """
insert into entity_states (slug, kind, merged_into, alias_keys, search, position, state)
values ($1, $2, $3, $4, setweight(to_tsvector('simple', $5), 'A') || to_tsvector('simple', $6), $7, $8::jsonb)
"""
_UPSERT_PROFILE = f"""{_INSERT_PROFILE}
on conflict (slug) do update set
    merged_into = excluded.merged_into, alias_keys = excluded.alias_keys, search = excluded.search,
    position = excluded.position, state = excluded.state
"""


@lru_cache(maxsize=256)
def _stemmer(language: str) -> int:
    """Which of the item's texts (0 English, 1 French, 2 word for word) a language's text joins."""
    return _STEMMERS.get(language.split("-")[0], 2)


def _texts(item: Item, names: list[str]) -> tuple[str, str, str]:
    """The item's words for the English, French and word-for-word indexes, accents removed."""
    texts: tuple[list[str], list[str], list[str]] = ([], [], [*names, *item.tags])
    for by_language in (item.headline, item.summary or {}):
        for language, text in by_language.items():
            texts[_stemmer(language)].append(text)
    english, french, simple = map(search_key, map(" ".join, texts))
    return english, french, simple


class _ItemRow(msgspec.Struct):
    event_id: UUID
    position: int
    occurred_start: datetime
    occurred_end: datetime
    precision: int
    type: str
    status: str
    retracted: bool
    recorded_at: datetime
    tags: list[str]
    english: str
    french: str
    simple: str
    item: Item


class _InvolvementRow(msgspec.Struct):
    slug: str
    event_id: UUID
    occurred_start: datetime
    precision: int
    position: int
    current: bool


class _MovedRow(msgspec.Struct):
    event_id: UUID
    occurred_start: datetime
    precision: int


Change = Literal["new", "moved", "same"]
"""How an item's involvement rows change: "new" ones are inserted, "moved" ones (a correction
changed its entities or date) are retired and written again, the "same" ones stay."""


class Rows:
    """Rows for the newsroom's tables, as the statements above take them."""

    def __init__(self) -> None:
        self.items: list[_ItemRow] = []
        self.involvement: list[_InvolvementRow] = []
        self.moved: list[_MovedRow] = []

    def add(self, item: Item, names: list[str], involved: Iterable[str], change: Change) -> None:
        start, end, precision = parse_partial_date(item.occurred)
        english, french, simple = _texts(item, names)
        self.items.append(
            _ItemRow(
                item.id,
                item.position,
                start,
                end,
                precision,
                item.type,
                item.status,
                item.retracted is not None,
                item.recorded_at,
                item.tags,
                english,
                french,
                simple,
                item,
            )
        )
        if change == "moved":
            self.moved.append(_MovedRow(item.id, start, precision))
        if change != "same":
            current = item.slugs
            self.involvement += [
                _InvolvementRow(slug, item.id, start, precision, item.position, slug in current)
                for slug in involved
            ]


def as_json(rows: list[Any]) -> str:
    return _encode(rows).decode()


def _profile_row(profile: Profile, position: int) -> tuple[Any, ...]:
    return (
        profile.slug,
        profile.kind,
        profile.merged_into,
        alias_keys(profile),
        search_key(profile.name),
        search_key(" ".join([*profile.aliases, *(profile.description or {}).values()])),
        position,
        _encode(profile).decode(),
    )


def _entities_named(event: NewEvent) -> list[EntityRef]:
    """The entities an event brings into an item: a fact's, or those a correction moves it to."""
    if isinstance(event, Fact):
        return event.entities
    if isinstance(event, EventCorrected):
        return event.changes.entities or []
    return []


class Batch:
    """What a run of events changes, folded in memory before it is written."""

    def __init__(self) -> None:
        self.items: dict[UUID, Item] = {}
        self.profiles: dict[str, Profile] = {}
        self.changed_items: dict[UUID, Change] = {}
        self.changed_profiles: dict[str, int] = {}
        # Per changed item: the names of its entities when it last changed (the words its search
        # finds), and every entity it involved in this run, in order.
        self.names: dict[UUID, list[str]] = {}
        self.involved: dict[UUID, dict[str, None]] = {}

    async def load(self, conn: Connection, events: Sequence[LoggedFact]) -> None:
        """Read what ``events`` change from the tables."""
        targets = [e.event.event_id for e in events if isinstance(e.event, FollowUp)]
        if targets:
            for event_id, text in await conn.fetch(_LOAD_ITEMS, targets):
                self.items[event_id] = _item_decoder.decode(text)
        slugs = {getattr(e.event, "slug", None) for e in events} | {
            ref.slug for e in events for ref in _entities_named(e.event)
        }
        slugs.discard(None)
        for item in self.items.values():
            slugs |= item.slugs
        for slug, text in await conn.fetch(_LOAD_PROFILES, sorted(slugs)):  # type: ignore[type-var]
            self.profiles[slug] = _profile_decoder.decode(text)

    def apply(self, logged: LoggedFact) -> UUID | None:
        """Fold one event in; the item it changed, if any."""
        event = logged.event
        match event:
            case Fact():
                item = self.items[logged.id] = start(logged)
                self.changed_items[logged.id] = "new"
                self.involved[logged.id] = {}
                self._changed(item)
                return logged.id
            case FollowUp():
                before = self.items.get(event.event_id)
                if before is None:
                    raise LookupError(f"{event.event_id} is not a fact this projection holds")
                after = self.items[event.event_id] = evolve(before, logged)
                moved = after.entities != before.entities or after.occurred != before.occurred
                earlier = self.changed_items.get(event.event_id, "same")
                self.changed_items[event.event_id] = "moved" if moved and earlier != "new" else earlier
                if event.event_id not in self.involved:
                    self.involved[event.event_id] = dict.fromkeys(ref.slug for ref in before.entities)
                self._changed(after)
                return event.event_id
            case EntityRegistered() | EntityUpdated() | EntityMerged():
                self.profiles[event.slug] = evolve_profile(self.profiles.get(event.slug), event)
                self.changed_profiles[event.slug] = logged.position
        return None

    def _changed(self, item: Item) -> None:
        # Events are read back unchecked (see ``logged``); a date that does not parse must stop
        # the fold here, at the event that brought it, not later when the rows are made.
        parse_partial_date(item.occurred)
        # In the item's own order: a set's order changes from process to process, and the
        # search index must come out the same however (and however often) it is built.
        slugs = dict.fromkeys([ref.slug for ref in item.entities])
        self.involved[item.id].update(slugs)
        self.names[item.id] = [
            name
            for slug in slugs
            if (profile := self.profiles.get(slug))
            for name in (profile.name, *profile.aliases)
        ]

    def take(self, ids: Iterable[UUID]) -> Rows:
        """The rows of the items ``ids``, which this batch then forgets."""
        rows = Rows()
        for event_id in ids:
            change = self.changed_items.pop(event_id)
            rows.add(self.items.pop(event_id), self.names.pop(event_id), self.involved.pop(event_id), change)
        return rows

    def take_profiles(self) -> list[tuple[Any, ...]]:
        rows = [
            _profile_row(self.profiles[slug], position) for slug, position in self.changed_profiles.items()
        ]
        self.changed_profiles.clear()
        return rows

    async def save(self, conn: Connection) -> None:
        """Write every change, over what the tables hold."""
        if profiles := self.take_profiles():
            await conn.executemany(_UPSERT_PROFILE, profiles)
        rows = self.take(list(self.changed_items))
        if rows.items:
            await conn.execute(_UPSERT_ITEMS, as_json(rows.items))
        if rows.moved:
            await conn.execute(_RETIRE_INVOLVEMENT, as_json(rows.moved))
        if rows.involvement:
            await conn.execute(_UPSERT_INVOLVEMENT, as_json(rows.involvement))


async def apply(conn: asyncpg.Connection, events: Sequence[LoggedFact]) -> None:
    """Fold ``events`` into the newsroom tables, inside the caller's transaction."""
    batch = Batch()
    await batch.load(conn, events)
    for event in events:
        batch.apply(event)
    await batch.save(conn)


async def load(snapshot: LogSnapshot, writers: Writers) -> None:
    """Fold a whole snapshot of the log into empty tables.

    The snapshot says up front how many follow-ups each fact will get, so an item is written as
    soon as its last one is folded in: memory holds only the items still waiting for theirs.
    """
    awaiting = await snapshot.references(_FOLLOW_UPS)
    batch = Batch()
    async for rows in snapshot.chunks(_LOAD_CHUNK):
        finished = []
        for row in rows:
            try:
                event = logged(row)
                changed = batch.apply(event)
            except Exception as error:  # whatever the event does, the rebuild says which one it was
                raise EventNotApplied(row["id"], error) from error
            if changed is None:
                continue
            if isinstance(event.event, FollowUp):
                awaiting[changed] -= 1
            if not awaiting.get(changed):
                finished.append(changed)
        await _insert(writers, batch.take(finished))
    await _insert(writers, batch.take(list(batch.changed_items)))
    await writers.executemany(_INSERT_PROFILE, batch.take_profiles())


async def _insert(writers: Writers, rows: Rows) -> None:
    if rows.items:
        await writers.execute(_INSERT_ITEMS, as_json(rows.items))
        await writers.execute(_INSERT_INVOLVEMENT, as_json(rows.involvement))
