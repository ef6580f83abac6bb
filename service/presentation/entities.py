"""Entities as a reader sees them: what their facts establish, each with its fact's link; pages
of them; and their revisions and merges."""

from __future__ import annotations

from typing import Any

from schemas import (
    EntityHistory,
    EntityPage,
    EntityRevisionShown,
    EntitySummary,
    EntityView,
    ErasedShown,
    FactShown,
    MergeShown,
    RoleShown,
)
from service.domain import cursors
from service.domain.entities import FactRef, Profile, RoleHeld, profile_change
from service.presentation.links import event_link, timeline_link
from service.presentation.timelines import erased_shown, held
from service.presentation.words import words
from service.projections.newsroom import EntityListing, EntityState, EntityVersions


def _shown(value: Any) -> Any:
    """What an entity's facts establish, each with its fact's link."""
    if isinstance(value, FactRef):
        return FactShown(
            value=value.value, status=value.status, occurred=value.occurred, event=event_link(value.event)
        )
    if isinstance(value, RoleHeld):
        return RoleShown(
            title=value.title,
            person=value.person,
            organization=value.organization,
            since=value.since,
            status=value.status,
            event=event_link(value.event),
            until=value.until,
            ended_by=None if value.ended_by is None else event_link(value.ended_by),
        )
    if isinstance(value, list):
        return [_shown(part) for part in value]
    return value


def entity_view(state: EntityState) -> EntityView:
    profile = state.profile
    return EntityView(
        slug=profile.slug,
        kind=profile.kind,
        name=shown_name(profile),
        aliases=profile.aliases,
        description=profile.description,
        wikidata_id=profile.wikidata_id,
        merged_from=state.merged_from,
        facts={name: _shown(value) for name, value in state.facts.items()},
        timeline=timeline_link(profile.slug),
        held=held(profile.hold),
        erased=_erased(profile),
    )


def _erased(profile: Profile) -> ErasedShown | None:
    return None if profile.erased is None else erased_shown(profile.erased, "en")


def shown_name(profile: Profile) -> str:
    """An entity's name, or the neutral one once its personal fields are erased (entity reads
    take no language: they are in English)."""
    return profile.name or words("en")["erased_entity"]


def _summary(profile: Profile) -> EntitySummary:
    return EntitySummary(
        slug=profile.slug,
        kind=profile.kind,
        name=shown_name(profile),
        aliases=profile.aliases,
        merged_into=profile.merged_into,
        held=held(profile.hold),
        erased=_erased(profile),
    )


def entity_page(listing: EntityListing) -> EntityPage:
    return EntityPage(
        entities=[_summary(profile) for profile in listing.entities],
        next=None if listing.next is None else cursors.encode(listing.next),
    )


def entity_history(history: EntityVersions) -> EntityHistory:
    versions = history.versions
    return EntityHistory(
        slug=history.slug,
        versions=[
            EntityRevisionShown(
                version=number,
                recorded_at=version.recorded_from,
                event_id=version.made_by,
                type=profile_change(versions[number - 2].state if number > 1 else None, version.state),
                name=shown_name(version.state),
                aliases=version.state.aliases,
                merged_into=version.state.merged_into,
            )
            for number, version in enumerate(versions, 1)
        ],
        merges=[
            MergeShown(
                slug=span.slug,
                into=span.into,
                merged_at=span.merged_at,
                merged_by=event_link(span.merged_by),
                undone_at=span.undone_at,
                undone_by=None if span.undone_by is None else event_link(span.undone_by),
            )
            for span in history.merges
        ],
    )
