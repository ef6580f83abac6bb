"""The one composition root: routes, lifespan, error mapping and the API contract."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import CacheControlHeader
from litestar.enums import ScopeType
from litestar.static_files import create_static_files_router
from litestar.types import (
    HTTPScope,
    LifeSpanReceive,
    LifeSpanScope,
    LifeSpanSend,
    Message,
    Receive,
    Scope,
    Send,
)

from service.appender import Appender
from service.http.auth import guard, may_preview
from service.http.docs import contract_config
from service.http.embed import EmbedController
from service.http.entities import EntitiesController
from service.http.erasures import ErasuresController
from service.http.events import EventsController
from service.http.feeds import FeedController
from service.http.health import health, readiness
from service.http.key_cache import KeyCache
from service.http.keys import KeysController
from service.http.live import follow
from service.http.metrics import Meter
from service.http.observed import Observed
from service.http.problems import exception_handlers, schema_not_found
from service.http.projections import projections
from service.http.query import KnownParameters
from service.http.rates import RateLimit
from service.http.read_cache import Previews, ReadCache
from service.http.reference import REFERENCE_ROUTES
from service.http.scrape import sample, scrape
from service.http.services import Services, answer_cached, dependencies
from service.http.timelines import TimelineController
from service.live import Hub
from service.presentation.embed import STATIC
from service.projections import PROJECTIONS
from service.projections.engine import Announcer, Runner, running
from service.projections.newsroom import PREVIEW, NewsroomReader
from service.projections.newsroom import PROJECTION as NEWSROOM
from service.publisher import Publisher
from service.server import CUT_SHORT, STOPPING
from service.settings import Settings
from service.store.database import create_pool

MAX_BODY_BYTES = 1024 * 1024
_STATIC_CACHE = CacheControlHeader(public=True, max_age=3600)


class Dateline(Litestar):
    """The app, which also answers HEAD wherever it answers GET (RFC 9110, 9.3.2): a HEAD is
    routed, guarded, cached and answered as a GET, and only its body is dropped; and which
    drops cookies, which it never reads, before anything sees them."""

    stopping: Callable[[], None] = staticmethod(lambda: None)
    """What the server calls the moment it stops taking requests (``server.STOPPING``)."""
    observed: Observed
    """Gives each request its id, and counts and logs it: set by ``create_app``."""

    async def __call__(
        self, scope: Scope | LifeSpanScope, receive: Receive | LifeSpanReceive, send: Send | LifeSpanSend
    ) -> None:
        if scope["type"] == "lifespan":
            cast(dict[str, Any], scope).setdefault("state", {})[STOPPING] = lambda: self.stopping()
        if scope["type"] != ScopeType.HTTP:
            return await super().__call__(scope, receive, send)
        await self.observed(cast(HTTPScope, scope), cast(Receive, receive), cast(Send, send), self._serve)

    async def _serve(self, request: HTTPScope, receive: Receive, send: Send) -> HTTPScope:
        """Answer the request; the scope it was routed with (a HEAD's is a GET's copy)."""
        if any(name == b"cookie" for name, _ in request["headers"]):
            # The service reads no cookie (keys come as a bearer token), and Litestar's CORS
            # answers a request with one by echoing its Origin and replacing the response's
            # Vary (Accept-Language included) with Vary: Origin, which would let a shared cache
            # serve one reader's language to another. So no part of it ever sees one.
            headers = [(name, value) for name, value in request["headers"] if name != b"cookie"]
            request = cast(HTTPScope, {**request, "headers": headers})
        try:
            return await self._answer(request, receive, send)
        except asyncio.CancelledError:
            # Only a stopping server cancels a request (a client that leaves is told otherwise).
            with contextlib.suppress(RuntimeError):  # the answer had begun: it is cut short
                for message in CUT_SHORT:
                    await send(cast(Message, message))
            raise

    async def _answer(self, request: HTTPScope, receive: Receive, send: Send) -> HTTPScope:
        if request["method"] != "HEAD":
            await super().__call__(request, receive, send)
            return request
        # A copy: the server reads the scope it made too, and must go on seeing a HEAD, or it
        # expects the body that Content-Length announces and drops the connection without it.
        request = cast(HTTPScope, {**request, "method": "GET"})

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await super().__call__(request, receive, headers_only)
        return request


_PREVIEW_POOL = 3
"""Connections each process keeps for previews."""


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    meter = Meter(settings.metrics != "off")
    serving: list[Services] = []
    """The services while the app serves: its lifespan opens them, and its handlers, guard and
    hook are given them."""

    def current() -> Services:
        return serving[0]

    @asynccontextmanager
    async def services_running(app: Litestar) -> AsyncIterator[None]:
        """The pool, the live hub, the projection runners, the appender and the rest of the
        services, for as long as the app serves."""
        if settings.database_url is None:
            raise RuntimeError("DATABASE_URL is not set: start the service with `dateline run`")
        pool = await create_pool(settings.database_url, max_size=settings.pool_size)
        newsroom = NewsroomReader(pool)
        # Previews are an editor's reads, a few at a time: a small pool of their own, whose
        # connections find the preview tables first.
        previews = await create_pool(
            settings.database_url, max_size=_PREVIEW_POOL, search_path=PREVIEW.search_path
        )
        preview = NewsroomReader(previews, name=PREVIEW.name, merged=True)
        keys = KeyCache(pool, settings.key_cache_seconds)
        runners = (
            [
                Runner(settings.database_url, projection, poll_seconds=settings.projection_poll_seconds)
                for projection in PROJECTIONS
            ]
            if settings.run_projections
            else []
        )
        announcer = Announcer(pool, [runner.wake for runner in runners])
        hubs = [
            Hub(
                reader,
                hub_pool,
                settings.database_url,
                most=settings.live_streams,
                per_client=settings.live_streams_per_client,
                timelines=settings.live_timelines,
                window=settings.live_window,
                heartbeat_seconds=settings.live_heartbeat_seconds,
                poll_seconds=settings.projection_poll_seconds,
                read=read,
            )
            for reader, hub_pool, read in ((newsroom, pool, NEWSROOM.read), (preview, previews, PREVIEW.read))
        ]
        hub, preview_hub = hubs
        for each in hubs:
            await each.take_place()
        following = [asyncio.create_task(each.run()) for each in hubs]

        def part() -> None:
            for each in hubs:
                each.part()

        cast(Dateline, app).stopping = part
        try:
            async with running(runners), Appender.running(pool, on_commit=announcer.appended) as appender:
                publisher = Publisher(
                    appender,
                    settings.database_url,
                    poll_seconds=settings.projection_poll_seconds,
                    on_outcome=meter.publication,
                )
                publishing = asyncio.create_task(publisher.run())
                woken = appender.on_held

                def held_appended() -> None:
                    # The preview folds held events too: its runners, here and elsewhere, wake now.
                    if woken is not None:
                        woken()
                    announcer.appended()

                appender.on_held = held_appended
                opened = Services(
                    database=pool,
                    appender=appender,
                    newsroom=newsroom,
                    reads=ReadCache(
                        newsroom,
                        most_bytes=settings.read_cache_mb * 2**20,
                        misses=RateLimit(settings.read_rate, "reads the cache does not answer, per client"),
                        meter=meter,
                        previews=Previews(preview, preview_hub, lambda request: may_preview(request, keys)),
                        next_publication=lambda: publisher.next_at,
                    ),
                    writes=RateLimit(settings.write_rate, "writes per API key"),
                    keys=keys,
                    settings=settings,
                    live=hub,
                    meter=meter,
                    publisher=publisher,
                )
                serving.append(opened)
                sampling = asyncio.create_task(sample(opened))
                # What startup made lives as long as the process, and is most of its heap: the
                # collector need not walk it again at every full collection, which the many
                # small objects of live streams set off often.
                gc.collect()
                gc.freeze()
                try:
                    yield
                finally:
                    serving.clear()
                    sampling.cancel()
                    publishing.cancel()
                    await asyncio.wait([publishing], timeout=5)
        finally:
            meter.stopped()
            for task in following:
                task.cancel()
            await asyncio.wait(following, timeout=5)
            await announcer.close()
            for opened_pool in (previews, pool):
                try:
                    await asyncio.wait_for(opened_pool.close(), timeout=10)
                except TimeoutError:
                    opened_pool.terminate()

    app = Dateline(
        route_handlers=[
            # The guard only where a route may need a key: Litestar copies the route's handler
            # for every guard it runs, which a cached read would pay on every request.
            Router(
                "/",
                route_handlers=[
                    EventsController,
                    KeysController,
                    ErasuresController,
                    *([scrape(settings)] if meter.on else []),
                ],
                guards=[guard(current)],
            ),
            EntitiesController,
            TimelineController,
            EmbedController,
            FeedController,
            follow,
            create_static_files_router(
                "/static", directories=[STATIC], include_in_schema=False, cache_control=_STATIC_CACHE
            ),
            projections,
            health,
            readiness,
            *REFERENCE_ROUTES,
        ],
        dependencies=dependencies(current),
        before_request=answer_cached(current),
        lifespan=[services_running],
        exception_handlers=exception_handlers(),
        openapi_config=contract_config(
            # One router per app: Litestar keeps the document it serves on it.
            openapi_router=Router(
                "/schema", route_handlers=[], include_in_schema=False, after_request=schema_not_found
            ),
        ),
        request_max_body_size=MAX_BODY_BYTES,
        middleware=[KnownParameters()],
        # Reads are public: any page may fetch them, a sandboxed frame (origin null) included,
        # and see their validators.
        cors_config=CORSConfig(
            allow_origins=["*"],
            allow_methods=["GET", "HEAD", "OPTIONS"],
            expose_headers=["ETag", "Cache-Status", "Link", "X-Request-Id"],
        ),
        # Each command configures logging for its process (``service.logs``): Litestar's own
        # configuration would replace the root logger's JSON handler with a plain one.
        logging_config=None,
    )
    app.observed = Observed(meter, settings.access_log)
    return app
