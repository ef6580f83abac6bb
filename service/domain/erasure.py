"""Erasure: what is left of a fact, a follow-up's note or an entity once its text is erased.

Every form an erased thing took (now and as known at any instant) is rewritten through these
functions, from its structural fields alone (id, type, date, entities, position, status), so
nothing here ever needs the erased text: after the log's texts are shredded, they are gone.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

import msgspec

from service.domain.entities import Profile
from service.domain.timeline import Erased, Item


class Erasures(msgspec.Struct):
    """The erasures a fold knows of: facts, follow-ups whose note is erased, entities."""

    facts: dict[UUID, Erased] = msgspec.field(default_factory=dict)
    notes: dict[UUID, Erased] = msgspec.field(default_factory=dict)
    entities: dict[str, Erased] = msgspec.field(default_factory=dict)


def erased_on(day: date) -> Erased:
    return Erased(on=day)


def erase_item(item: Item, erasures: Erasures) -> Item:
    """``item`` with what ``erasures`` name taken out: a tombstone if the fact is erased, else
    without the erased follow-ups' notes (their effect on status and fields stays)."""
    erased = erasures.facts.get(item.id)
    if erased is not None:
        return Item(
            id=item.id,
            type=item.type,
            stream=item.stream,
            position=item.position,
            recorded_at=item.recorded_at,
            updated_at=item.updated_at,
            occurred=item.occurred,
            headline={},
            entities=item.entities,
            status=item.status,
            erased=erased,
        )
    if not erasures.notes:
        return item
    notes = erasures.notes
    corrections = [
        msgspec.structs.replace(note, note={}) if note.event_id in notes else note
        for note in item.corrections
    ]
    verdicts = [
        msgspec.structs.replace(verdict, note=None, sources=[]) if verdict.event_id in notes else verdict
        for verdict in item.verdicts
    ]
    retracted = item.retracted
    if retracted is not None and retracted.event_id in notes:
        retracted = msgspec.structs.replace(retracted, reason={})
    if (corrections, verdicts, retracted) == (item.corrections, item.verdicts, item.retracted):
        return item
    return msgspec.structs.replace(item, corrections=corrections, verdicts=verdicts, retracted=retracted)


def erase_profile(profile: Profile, erasures: Erasures) -> Profile:
    """``profile`` without its personal fields if the entity is erased. Its Wikidata id goes
    too: it names the person as surely as the name does."""
    erased = erasures.entities.get(profile.slug)
    if erased is None:
        return profile
    return msgspec.structs.replace(
        profile, name="", aliases=[], description=None, wikidata_id=None, erased=erased
    )
