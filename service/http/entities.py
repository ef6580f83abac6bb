"""Entities over HTTP: what we know about an organization, a person, a model, a product now."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath, QueryParameter

from schemas import EntityPage, EntitySummary, EntityView
from service import history
from service.domain.entities import Profile, facts_about
from service.domain.errors import NotFound
from service.http import reads
from service.http.docs import documented
from service.projections import queries


def _summary(profile: Profile) -> EntitySummary:
    return EntitySummary(
        slug=profile.slug,
        kind=profile.kind,
        name=profile.name,
        aliases=profile.aliases,
        merged_into=profile.merged_into,
    )


def _cursor(text: str | None) -> tuple[str | None, int]:
    """A listing cursor: the last slug seen, or, for searches, how many results were shown."""
    if not text:
        return None, 0
    try:
        kind, _, value = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode().partition(":")
        return (value, 0) if kind == "s" else (None, int(value))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise reads.bad_parameter(
            "cursor", "not a cursor from this API: pass back a `next` value unchanged"
        ) from None


def _encode_cursor(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


class EntitiesController(Controller):
    path = "/v1/entities"
    tags = ["entities"]

    @get(
        operation_id="listEntities",
        before_request=reads.cached,
        responses=documented(200, EntityPage, "entities", "A page of entities.", 400),
    )
    async def list_entities(
        self,
        request: Request[Any, Any, Any],
        state: State,
        kind: Annotated[
            Literal["organization", "person", "model", "product"] | None, QueryParameter()
        ] = None,
        q: Annotated[
            str | None,
            QueryParameter(
                max_length=200, description="Names, aliases and descriptions; ranked, accents ignored."
            ),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        cursor: Annotated[
            str | None, QueryParameter(description="The `next` value of the previous page.")
        ] = None,
        min_position: reads.MinPosition = None,
    ) -> Response[Any]:
        """Entities by slug, or the best matches for `q` first (`MIA-1` finds MAI-1 by its alias)."""
        checkpoint = await reads.cache(state).checkpoint(min_position)
        after, offset = _cursor(cursor)

        async def build() -> EntityPage:
            found = await queries.entities(state.pool, kind, q, after, offset, limit + 1)
            following = None
            if len(found) > limit:
                found = found[:limit]
                following = (
                    _encode_cursor("o", str(offset + limit)) if q else _encode_cursor("s", found[-1].slug)
                )
            return EntityPage(entities=[_summary(p) for p in found], next=following)

        return await reads.cache(state).respond(request, checkpoint, build)

    @get(
        "/{slug:str}",
        operation_id="readEntity",
        before_request=reads.cached,
        responses=documented(200, EntityView, "entity", "The entity now.", 400, 404, 503),
    )
    async def read_entity(
        self,
        request: Request[Any, Any, Any],
        state: State,
        slug: FromPath[str],
        min_position: reads.MinPosition = None,
        as_of: reads.AsOf = None,
    ) -> Response[Any]:
        """An entity with the facts known about it; merged slugs and aliases resolve to it."""
        checkpoint = await reads.cache(state).checkpoint(min_position)
        at = reads.instant(as_of)

        # Everything that reads the database happens in build(), which a repeated read skips.
        async def build() -> EntityView:
            profile, merged = await reads.entity(state, slug)
            if at is not None:
                earlier = await history.profile_as_of(state.pool, profile.slug, at)
                if earlier is None:
                    raise NotFound(f"No entity '{slug}' was registered by {at.isoformat()}.")
                profile, merged = earlier, await history.merged_as_of(state.pool, profile.slug, at)
                items = await history.items_as_of(state.pool, at, [profile.slug, *merged])
            else:
                items = await queries.items_involving(state.pool, [profile.slug, *merged])
            return EntityView(
                slug=profile.slug,
                kind=profile.kind,
                name=profile.name,
                aliases=profile.aliases,
                description=profile.description,
                wikidata_id=profile.wikidata_id,
                merged_from=merged,
                facts=facts_about({profile.slug, *merged}, profile.kind, items),
                timeline=f"/v1/entities/{profile.slug}/timeline",
            )

        return await reads.cache(state).respond(request, checkpoint, build)
