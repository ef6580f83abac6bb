"""Entities over HTTP: what we know about an organization, a person, a model, a product now."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from schemas import EntityHistory, EntityPage, EntityView
from service.domain.cursors import RankCursor, SlugCursor
from service.domain.queries import EntityQuery
from service.http import params
from service.http.docs import documented
from service.http.read_cache import ReadCache
from service.http.services import CACHED
from service.presentation.entities import entity_history, entity_page, entity_view


class EntitiesController(Controller):
    path = "/v1/entities"
    tags = ["entities"]

    @get(
        operation_id="listEntities",
        opt=CACHED,
        **documented(200, EntityPage, "entities", "A page of entities.", 400, 401, 503, conditional=True),
    )
    async def list_entities(
        self,
        request: Request[Any, Any, Any],
        cache: NamedDependency[ReadCache],
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
        min_position: params.MinPosition = None,
        preview: params.Preview = False,
    ) -> Response[Any]:
        """Entities by slug, or the best matches for `q` first (`MIA-1` finds MAI-1 by its alias)."""
        after = (
            params.cursor("cursor", cursor, RankCursor) if q else params.cursor("cursor", cursor, SlugCursor)
        )
        query = EntityQuery(kind=kind, text=q or None, after=after, limit=limit)
        return await cache.answer(
            request,
            lambda newsroom: newsroom.entities(query),
            entity_page,
            min_position=min_position,
            preview=preview,
        )

    @get(
        "/{slug:str}/history",
        operation_id="readEntityHistory",
        opt=CACHED,
        **documented(
            200,
            EntityHistory,
            "entity_history",
            "Every version of the entity.",
            400,
            401,
            404,
            503,
            conditional=True,
        ),
    )
    async def entity_history(
        self,
        request: Request[Any, Any, Any],
        cache: NamedDependency[ReadCache],
        slug: FromPath[str],
        min_position: params.MinPosition = None,
        preview: params.Preview = False,
    ) -> Response[Any]:
        """Every version of an entity (itself, even when merged into another), and every merge it took part in and its undoing, from either side."""
        return await cache.answer(
            request,
            lambda newsroom: newsroom.entity_history(slug),
            entity_history,
            min_position=min_position,
            preview=preview,
        )

    @get(
        "/{slug:str}",
        operation_id="readEntity",
        opt=CACHED,
        **documented(200, EntityView, "entity", "The entity now.", 400, 401, 404, 503, conditional=True),
    )
    async def read_entity(
        self,
        request: Request[Any, Any, Any],
        cache: NamedDependency[ReadCache],
        slug: FromPath[str],
        min_position: params.MinPosition = None,
        as_of: params.AsOf = None,
        preview: params.Preview = False,
    ) -> Response[Any]:
        """An entity with the facts known about it; merged slugs and aliases resolve to it."""
        at = params.instant(as_of)
        return await cache.answer(
            request,
            lambda newsroom: newsroom.entity(slug, at),
            entity_view,
            min_position=min_position,
            settles_at=at,
            preview=preview,
        )
