"""The one composition root: routes, lifespan, error mapping and the API contract."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Server

from service.appender import Appender
from service.database import create_pool
from service.http.auth import KeyCache
from service.http.entities import EntitiesController
from service.http.events import EventsController
from service.http.health import health, readiness
from service.http.keys import KeysController
from service.http.problems import exception_handlers
from service.http.projections import projections
from service.http.reads import ReadCache
from service.http.reference import REFERENCE_ROUTES
from service.http.services import Services, dependencies, services
from service.http.timelines import TimelineController
from service.projections import PROJECTIONS
from service.projections.engine import Announcer, Runner, running
from service.projections.newsroom import NewsroomReader
from service.settings import Settings

MAX_BODY_BYTES = 1024 * 1024

OPENAPI = OpenAPIConfig(
    title="Dateline",
    version="1.0.0",
    description=(
        "An event-sourced timeline API for tech-industry news. Editors append facts to an "
        "append-only log; readers follow the log, streams and (soon) timelines."
    ),
    servers=[Server(url="http://127.0.0.1:8000", description="Local development")],
    components=Components(
        security_schemes={
            "apiKey": SecurityScheme(
                type="http",
                scheme="bearer",
                description="An API key from `dateline keys create`, sent as `Authorization: Bearer <key>`.",
            )
        }
    ),
    path="/schema",
    render_plugins=[YamlRenderPlugin()],
    create_examples=False,
)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        if settings.database_url is None:
            raise RuntimeError("DATABASE_URL is not set: start the service with `dateline run`")
        pool = await create_pool(settings.database_url, max_size=settings.pool_size)
        newsroom = NewsroomReader(pool)
        runners = (
            [
                Runner(settings.database_url, projection, poll_seconds=settings.projection_poll_seconds)
                for projection in PROJECTIONS
            ]
            if settings.run_projections
            else []
        )
        announcer = Announcer(pool, [runner.wake for runner in runners])
        try:
            async with running(runners), Appender.running(pool, on_commit=announcer.appended) as appender:
                app.state.services = Services(
                    database=pool,
                    appender=appender,
                    newsroom=newsroom,
                    reads=ReadCache(newsroom),
                    keys=KeyCache(pool, settings.key_cache_seconds),
                )
                yield
        finally:
            await announcer.close()
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except TimeoutError:
                pool.terminate()

    app = Litestar(
        route_handlers=[
            EventsController,
            KeysController,
            EntitiesController,
            TimelineController,
            projections,
            health,
            readiness,
            *REFERENCE_ROUTES,
        ],
        dependencies=dependencies(lambda: services(app.state)),
        lifespan=[database],
        exception_handlers=exception_handlers(),
        openapi_config=OPENAPI,
        request_max_body_size=MAX_BODY_BYTES,
    )
    return app
