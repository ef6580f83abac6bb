"""Entity states: what we know about an entity now, from its own events and the facts about it.

Two pure pieces. ``evolve_profile`` folds an entity's own events (registered, updated, merged)
into its profile. ``facts_about`` reads the current timeline items an entity plays a part in
and says what they establish: a model's developer and size, a person's roles, an
organization's people, models and partners, each with the status of the fact behind it.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, Literal, assert_never
from uuid import UUID

import msgspec

from schemas import EntityMerged, EntityRegistered, EntityUnmerged, EntityUpdated
from service.domain.timeline import Erased, Hold, Item, RecordedEvent, sort_key
from service.domain.versions import Version


class Profile(msgspec.Struct, frozen=True, omit_defaults=True):
    slug: str
    kind: str
    name: str
    aliases: list[str] = []
    description: dict[str, str] | None = None
    wikidata_id: str | None = None
    merged_into: str | None = None
    hold: Hold | None = None
    """Registered by a held event not yet published: only the preview read model has these."""
    erased: Erased | None = None
    """Set once its personal fields are erased: it is then shown under a neutral name."""


def evolve_logged(profile: Profile | None, logged: RecordedEvent) -> Profile:
    """``evolve_profile`` for an entity's event as the log holds it: a held registration marks
    the profile, and its publication (the profile made already, at its held place) unmarks it."""
    event = logged.event
    assert isinstance(event, EntityRegistered | EntityUpdated | EntityMerged | EntityUnmerged)
    if isinstance(event, EntityRegistered):
        if logged.publishes and profile is not None:
            return msgspec.structs.replace(profile, hold=None)
        if logged.hold is not None:
            return msgspec.structs.replace(evolve_profile(profile, event), hold=logged.hold)
    return evolve_profile(profile, event)


def evolve_profile(
    profile: Profile | None, event: EntityRegistered | EntityUpdated | EntityMerged | EntityUnmerged
) -> Profile:
    match event:
        case EntityRegistered():
            return Profile(
                slug=event.slug,
                kind=event.kind,
                name=event.name,
                aliases=event.aliases,
                description=event.description,
                wikidata_id=event.wikidata_id,
            )
        case EntityUpdated():
            assert profile is not None
            changes = {
                name: value
                for name in ("name", "aliases", "description", "wikidata_id")
                if (value := getattr(event, name)) is not None
            }
            return msgspec.structs.replace(profile, **changes)
        case EntityMerged():
            assert profile is not None
            return msgspec.structs.replace(profile, merged_into=event.into)
        case EntityUnmerged():
            assert profile is not None
            return msgspec.structs.replace(profile, merged_into=None)
        case _:
            assert_never(event)


class MergeSpan(msgspec.Struct, frozen=True, omit_defaults=True):
    """A while over which ``slug`` was merged into ``into``: from the merge to its undoing."""

    slug: str
    into: str
    merged_at: datetime
    merged_by: UUID
    undone_at: datetime | None = None
    undone_by: UUID | None = None


def merge_spans(versions: Sequence[Version[Profile]]) -> list[MergeSpan]:
    """The spans over which an entity (its versions, oldest first) was merged into another."""
    spans: list[MergeSpan] = []
    for index, version in enumerate(versions):
        into = version.state.merged_into
        if into is None or (index and versions[index - 1].state.merged_into == into):
            continue
        end = index
        while end + 1 < len(versions) and versions[end + 1].state.merged_into == into:
            end += 1
        after = versions[end + 1] if end + 1 < len(versions) else None
        spans.append(
            MergeSpan(
                version.state.slug,
                into,
                version.recorded_from,
                version.made_by,
                None if after is None else after.recorded_from,
                None if after is None else after.made_by,
            )
        )
    return spans


ProfileChange = Literal["entity.registered", "entity.updated", "entity.merged", "entity.unmerged"]


def profile_change(before: Profile | None, after: Profile) -> ProfileChange:
    """Which kind of entity event turned ``before`` into ``after``."""
    if before is None:
        return "entity.registered"
    if after.merged_into != before.merged_into:
        return "entity.merged" if after.merged_into is not None else "entity.unmerged"
    return "entity.updated"


@cache
def _combining_marks() -> dict[int, None]:
    """Accents, once a text is decomposed (NFKD), are combining marks of their own."""
    return dict.fromkeys(code for code in range(sys.maxunicode + 1) if unicodedata.combining(chr(code)))


def search_key(text: str) -> str:
    """Lowercase, accents removed: how names, aliases and queries are compared."""
    if text.isascii():  # most text: nothing to take apart
        return text.lower()
    return unicodedata.normalize("NFKD", text.casefold()).translate(_combining_marks())


def alias_keys(profile: Profile) -> list[str]:
    return sorted({search_key(name) for name in (profile.slug, profile.name, *profile.aliases) if name})


class FactRef(msgspec.Struct, frozen=True, omit_defaults=True):
    """A value and the fact it comes from."""

    value: Any
    status: str
    occurred: str
    event: UUID
    """The fact it comes from."""


class RoleHeld(msgspec.Struct, frozen=True, omit_defaults=True):
    """A position someone holds or held: person and organization seen from either side."""

    title: str | None
    person: str
    organization: str
    since: str
    status: str
    event: UUID
    until: str | None = None
    ended_by: UUID | None = None


def _ref(item: Item, value: Any) -> FactRef:
    return FactRef(value=value, status=item.status, occurred=item.occurred, event=item.id)


def _with_role(item: Item, role: str) -> list[str]:
    return [ref.slug for ref in item.entities if ref.role == role]


def _roles(items: list[Item]) -> list[RoleHeld]:
    """Appointments, each closed by the first later departure from the same organization."""
    roles: list[RoleHeld] = []
    for item in items:
        if item.type == "person.appointed":
            for person in _with_role(item, "appointee"):
                for organization in _with_role(item, "employer"):
                    roles.append(
                        RoleHeld(
                            title=item.details.get("title"),
                            person=person,
                            organization=organization,
                            since=item.occurred,
                            status=item.status,
                            event=item.id,
                        )
                    )
        elif item.type == "person.departed":
            for person in _with_role(item, "person"):
                for organization in _with_role(item, "employer"):
                    for index, held in enumerate(roles):
                        same_title = item.details.get("title") in (None, held.title)
                        if (held.person, held.organization, held.until) == (
                            person,
                            organization,
                            None,
                        ) and same_title:
                            roles[index] = msgspec.structs.replace(
                                held, until=item.occurred, ended_by=item.id
                            )
                            break
    return roles


def facts_about(slugs: set[str], kind: str, items: list[Item]) -> dict[str, Any]:
    """What the current, unretracted items establish about an entity (``slugs``: its own and
    those merged into it)."""

    def plays(item: Item, role: str) -> bool:
        return not slugs.isdisjoint(_with_role(item, role))

    ordered = sorted((item for item in items if item.retracted is None), key=sort_key)
    facts: dict[str, Any] = {}
    if kind == "model":
        about = [item for item in ordered if plays(item, "model")]
        for item in about:
            if item.type.startswith("model."):
                facts["stage"] = _ref(item, item.type.removeprefix("model."))
            if developers := _with_role(item, "developer"):
                facts["developer"] = _ref(item, developers[0] if len(developers) == 1 else developers)
            if (parameters := item.details.get("parameters")) is not None:
                facts["parameters"] = _ref(
                    item,
                    {"count": parameters, "qualifier": item.details.get("parameters_qualifier", "exact")},
                )
            if overseers := _with_role(item, "overseer"):
                facts["overseen_by"] = _ref(item, overseers)
    roles = _roles(ordered)
    if kind == "person":
        facts["roles"] = [role for role in roles if role.person in slugs]
        founded = [item for item in ordered if item.type == "organization.founded" and plays(item, "founder")]
        facts["founded"] = [_ref(item, _with_role(item, "organization")) for item in founded]
    if kind == "organization":
        facts["people"] = [role for role in roles if role.organization in slugs]
        facts["models"] = [
            _ref(item, _with_role(item, "model"))
            for item in ordered
            if item.type.startswith("model.") and plays(item, "developer")
        ]
        partners: dict[str, FactRef] = {}
        for item in ordered:
            if item.type.startswith("partnership.") and plays(item, "partner"):
                for partner in _with_role(item, "partner"):
                    if partner not in slugs:
                        state = "formed" if item.type == "partnership.formed" else "ended"
                        partners[partner] = _ref(item, {"partner": partner, "state": state})
        facts["partners"] = list(partners.values())
        founding = [
            item for item in ordered if item.type == "organization.founded" and plays(item, "organization")
        ]
        if founding:
            facts["founded"] = _ref(founding[0], {"founders": _with_role(founding[0], "founder")})
    return facts
