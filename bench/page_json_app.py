"""The json_agg experiment over HTTP: one Litestar app serving the uncached page both ways, the
app's own path (``/app``) and PostgreSQL composing it from jsonb (``/composed``), with nothing
else around either (no read cache, no ETag, no middleware), so that the two differ only in how
the body is made. Served like the trivial app (uvicorn, two workers) against ``DATABASE_URL``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from litestar import Litestar, Response, get
from litestar.datastructures import State

from bench.harness import ROOT, uvicorn_app
from bench.page_json import app_page, composed_page
from service.domain import cursors
from service.domain.cursors import TimelineCursor
from service.domain.queries import TimelineQuery
from service.projections.newsroom import NewsroomReader
from service.store.database import create_pool
from service.store.newsroom import reads as tables

READY = "/ready"
JSON = "application/json"


def _query(slug: str | None, cursor: str) -> TimelineQuery:
    return TimelineQuery(entity=slug, after=cursors.decode(cursor, TimelineCursor))


@get(READY)
async def ready() -> str:
    return "ready"


@get("/app")
async def by_the_app(state: State, cursor: str, slug: str | None = None) -> Response[bytes]:
    return Response(await app_page(state.reader, _query(slug, cursor), "en"), media_type=JSON)


@get("/composed")
async def by_postgresql(state: State, cursor: str, slug: str | None = None) -> Response[bytes]:
    query = _query(slug, cursor)
    if slug is not None:
        # Resolved once per slug, as the app's reader does once per checkpoint.
        slugs: dict[str, list[str]] = state.slugs
        if slug not in slugs:
            found = await tables.resolve_entity(state.pool, slug)
            assert found is not None
            slugs[slug] = [found[0].slug, *found[1]]
        query = query.of(slugs[slug])
    return Response(await composed_page(state.pool, query, "en", "jsonb"), media_type=JSON)


async def _start(app: Litestar) -> None:
    app.state.pool = await create_pool(os.environ["DATABASE_URL"])
    app.state.reader = NewsroomReader(app.state.pool)
    app.state.slugs = {}
    await app.state.reader.checkpoint()


async def _stop(app: Litestar) -> None:
    await app.state.pool.close()


app = Litestar(route_handlers=[ready, by_the_app, by_postgresql], on_startup=[_start], on_shutdown=[_stop])


@contextlib.contextmanager
def serve(database_url: str, workers: int = 2) -> Iterator[str]:
    """This app under uvicorn with ``workers`` processes against ``database_url``; its base URL."""
    env: dict[str, Any] = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    with uvicorn_app("bench.page_json_app:app", READY, env=env, workers=workers) as base:
        yield base
