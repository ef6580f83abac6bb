"""The newsroom projection: timeline items, which entities each involves, and entity profiles.

It applies a batch of events in the caller's transaction. Items and profiles the batch touches
are read once, folded in memory with the pure rules of ``service.domain``, and written once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal
from uuid import UUID

import asyncpg
import msgspec

from schemas import EntityMerged, EntityRegistered, EntityUpdated, Fact, FollowUp, parse_partial_date
from service.domain.entities import Profile, alias_keys, evolve_profile, search_key
from service.domain.timeline import Item, LoggedFact, evolve, start
from service.store import Connection

NAME = "newsroom"
_item_decoder = msgspec.json.Decoder(Item)
_profile_decoder = msgspec.json.Decoder(Profile)
_encode = msgspec.json.Encoder().encode
# Stemming for the languages the newsroom writes in; any other text is indexed word for word.
_STEMMERS = {"en": "english", "fr": "french"}

_LOAD_ITEMS = "select event_id, item::text from timeline_items where event_id = any($1::uuid[])"
_LOAD_PROFILES = "select slug, state::text from entity_states where slug = any($1::text[])"
# Rows are written a batch at a time, as arrays: one statement instead of one per row. Tags
# travel joined by the unit separator (U+001F), which the tag pattern never lets in.
_SAVE_ITEMS = """
insert into timeline_items
    (event_id, position, occurred_start, occurred_end, precision, type, status, retracted, recorded_at, tags,
     search, item)
select n.event_id, n.position, n.occurred_start, n.occurred_end, n.precision, n.type, n.status, n.retracted,
       n.recorded_at, string_to_array(n.tags, E'\\x1f'),
       setweight(to_tsvector('english', n.english), 'A') || setweight(to_tsvector('french', n.french), 'A')
           || to_tsvector('simple', n.simple),
       n.item::json
from unnest($1::uuid[], $2::bigint[], $3::timestamptz[], $4::timestamptz[], $5::smallint[], $6::text[],
            $7::text[], $8::bool[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[],
            $14::text[])
     as n (event_id, position, occurred_start, occurred_end, precision, type, status, retracted, recorded_at,
           tags, english, french, simple, item)
on conflict (event_id) do update set
    occurred_start = excluded.occurred_start, occurred_end = excluded.occurred_end,
    precision = excluded.precision, status = excluded.status,
    retracted = excluded.retracted, tags = excluded.tags, search = excluded.search, item = excluded.item
"""
_RETIRE_INVOLVEMENT = "update entity_items set current = false where event_id = any($1::uuid[])"
_SAVE_INVOLVEMENT = """
insert into entity_items (slug, event_id, occurred_start, precision, position, current)
select n.slug, n.event_id, n.occurred_start, n.precision, n.position, true
from unnest($1::text[], $2::uuid[], $3::timestamptz[], $4::smallint[], $5::bigint[])
     as n (slug, event_id, occurred_start, precision, position)
on conflict (slug, event_id) do update set
    occurred_start = excluded.occurred_start, precision = excluded.precision, current = true
"""
_SAVE_PROFILE = """
insert into entity_states (slug, kind, merged_into, alias_keys, search, position, state)
values ($1, $2, $3, $4, setweight(to_tsvector('simple', $5), 'A') || to_tsvector('simple', $6), $7, $8::jsonb)
on conflict (slug) do update set
    merged_into = excluded.merged_into, alias_keys = excluded.alias_keys, search = excluded.search,
    position = excluded.position, state = excluded.state
"""


def _texts(item: Item, names: Iterable[str]) -> tuple[str, str, str]:
    """The item's words for the English, French and word-for-word indexes, accents removed."""
    by_stemmer: dict[str, list[str]] = {"english": [], "french": [], "simple": list(names)}
    for texts in (item.headline, item.summary or {}):
        for language, text in texts.items():
            by_stemmer[_STEMMERS.get(language.split("-")[0], "simple")].append(text)
    by_stemmer["simple"].extend(item.tags)
    return tuple(search_key(" ".join(by_stemmer[key])) for key in ("english", "french", "simple"))  # type: ignore[return-value]


class Batch:
    """What one batch of events changes, folded in memory before it is written."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.items: dict[UUID, Item] = {}
        self.profiles: dict[str, Profile] = {}
        # item id -> how its involvement rows change: "new" ones are inserted, "moved" ones (a
        # correction changed its entities or date) are retired and written again.
        self.changed_items: dict[UUID, Literal["new", "moved", "same"]] = {}
        self.changed_profiles: dict[str, int] = {}

    async def load(self, events: Sequence[LoggedFact]) -> None:
        targets = [e.event.event_id for e in events if isinstance(e.event, FollowUp)]
        if targets:
            for event_id, text in await self.conn.fetch(_LOAD_ITEMS, targets):
                self.items[event_id] = _item_decoder.decode(text)
        slugs = {getattr(e.event, "slug", None) for e in events} | {
            ref.slug for e in events if isinstance(e.event, Fact) for ref in e.event.entities
        }
        slugs.discard(None)
        for item in self.items.values():
            slugs |= item.slugs
        for slug, text in await self.conn.fetch(_LOAD_PROFILES, sorted(slugs)):  # type: ignore[type-var]
            self.profiles[slug] = _profile_decoder.decode(text)

    def apply(self, logged: LoggedFact) -> None:
        event = logged.event
        match event:
            case Fact():
                self.items[logged.id] = start(logged)
                self.changed_items[logged.id] = "new"
            case FollowUp():
                before = self.items.get(event.event_id)
                if before is None:
                    raise LookupError(f"{event.event_id} is not a fact this projection holds")
                after = evolve(before, logged)
                self.items[event.event_id] = after
                moved = after.entities != before.entities or after.occurred != before.occurred
                earlier = self.changed_items.get(event.event_id, "same")
                self.changed_items[event.event_id] = "moved" if moved and earlier != "new" else earlier
            case EntityRegistered() | EntityUpdated() | EntityMerged():
                self.profiles[event.slug] = evolve_profile(self.profiles.get(event.slug), event)
                self.changed_profiles[event.slug] = logged.position

    async def save(self) -> None:
        items: list[list[Any]] = [[] for _ in range(14)]
        involvement: list[list[Any]] = [[] for _ in range(5)]
        retired: list[UUID] = []
        for event_id, change in self.changed_items.items():
            item = self.items[event_id]
            span = parse_partial_date(item.occurred)
            # In the item's own order: a set's order changes from process to process, and the
            # index must come out the same however (and however often) it is built.
            slugs = dict.fromkeys(ref.slug for ref in item.entities)
            names = [
                name for slug in slugs if (p := self.profiles.get(slug)) for name in (p.name, *p.aliases)
            ]
            english, french, simple = _texts(item, names)
            row = (
                item.id,
                item.position,
                span.start,
                span.end,
                int(span.precision),
                item.type,
                item.status,
                item.retracted is not None,
                item.recorded_at,
                "\x1f".join(item.tags),
                english,
                french,
                simple,
                _encode(item).decode(),
            )
            for column, value in zip(items, row, strict=True):
                column.append(value)
            if change == "moved":
                retired.append(item.id)
            if change != "same":
                for slug in slugs:
                    values = (slug, item.id, span.start, int(span.precision), item.position)
                    for column, value in zip(involvement, values, strict=True):
                        column.append(value)
        profile_rows = [
            (
                slug,
                profile.kind,
                profile.merged_into,
                alias_keys(profile),
                search_key(profile.name),
                search_key(" ".join([*profile.aliases, *(profile.description or {}).values()])),
                self.changed_profiles[slug],
                _encode(profile).decode(),
            )
            for slug, profile in self.profiles.items()
            if slug in self.changed_profiles
        ]
        if profile_rows:
            await self.conn.executemany(_SAVE_PROFILE, profile_rows)
        if items[0]:
            await self.conn.execute(_SAVE_ITEMS, *items)
        if retired:
            await self.conn.execute(_RETIRE_INVOLVEMENT, retired)
        if involvement[0]:
            await self.conn.execute(_SAVE_INVOLVEMENT, *involvement)


async def apply(conn: asyncpg.Connection, events: Sequence[LoggedFact]) -> None:
    """Fold ``events`` into the newsroom tables, inside the caller's transaction."""
    batch = Batch(conn)
    await batch.load(events)
    for logged in events:
        batch.apply(logged)
    await batch.save()
