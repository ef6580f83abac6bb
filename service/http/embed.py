"""The newsroom embed: a timeline page made for an iframe, its oEmbed description, the way out to
a fact's sources from a sandboxed frame, and the host page's resizing script.

Embed pages take every timeline parameter (``Reading``), plus ``theme``; the language is the
``lang`` parameter, or else the browser's (then the answer says ``Vary: Accept-Language`` and
the process caches it per language).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect

from schemas import OEmbed
from service.domain import cursors
from service.domain.cursors import LogCursor
from service.http.docs import VARY, documented, header
from service.http.params import Preview, query_without, reader_language, with_query
from service.http.read_cache import ReadCache, private_headers
from service.http.services import CACHED_PAGE
from service.http.timelines import ENTITIES, READING, Reading, live_query
from service.presentation import embed as page
from service.presentation.timelines import pinned_page, timeline_page, title
from service.projections.newsroom import ItemPage, NewsroomReader, PinnedPage
from service.settings import Settings

Theme = Annotated[
    Literal["auto", "light", "dark"],
    QueryParameter(description="Light, dark, or as the reader's system prefers (auto)."),
]
# Embed pages run only their own script and style, and connect only home; who may frame them is
# the operator's choice (any site by default: they are made to be embedded).
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": header(
        "The page runs only its own script and style; `frame-ancestors` is DATELINE_EMBED_ANCESTORS."
    ),
    "Link": header('The page\'s oEmbed description (`rel="alternate"; type="application/json+oembed"`).'),
    "Vary": VARY,
}
_PAGE = "text/html"
_SCRIPT = "text/javascript"
_SCRIPT_CACHE = "public, max-age=3600"
_SCRIPT_HEADERS = {"Cache-Control": header(f"`{_SCRIPT_CACHE}`.")}
_OEMBED_MAX = (640, 1000)
"""The width and height an oEmbed answer offers at most; WordPress caps a frame at 1,000 px."""


async def _embed(
    request: Request[Any, Any, Any],
    cache: ReadCache,
    read: Reading,
    theme: str,
    slug: str | None,
    ancestors: str,
) -> Response[Any]:
    negotiated = reader_language(request)
    language = negotiated or read.lang
    base = str(request.base_url).rstrip("/")
    path = request.url.path
    query = query_without(request, "cursor")
    canonical = base + with_query(path, query)
    oembed = f"{base}/oembed?" + urlencode({"url": canonical, "format": "json"})
    headers = {
        "Content-Security-Policy": _CSP.format(ancestors=ancestors),
        "Link": f'<{oembed}>; rel="alternate"; type="application/json+oembed"',
        **({"Vary": "Accept-Language"} if negotiated is not None else {}),
    }
    live = live_query(request, path)

    def present(found: PinnedPage | ItemPage) -> bytes:
        if isinstance(found, PinnedPage):
            shown: Any = pinned_page(found, language, live)
            entity, following, follow = found.page.entity, found.page.next, None
        else:
            shown, entity, following = timeline_page(found, language), found.entity, found.next
            # A preview is not followed live: a browser's EventSource cannot send the key.
            since = None if read.preview else found.since
            follow = None if since is None else _live(request, slug, language, since)
        next_page = None
        if following is not None:
            next_page = f"{path}?" + urlencode([*query, ("cursor", cursors.encode(following))])
        html = page.render(
            shown,
            heading=title(entity, language),
            language=language,
            theme=theme,
            path=path,
            canonical=canonical,
            oembed=oembed,
            next_page=next_page,
            live=live,
            follow=follow,
            descending=read.query.descending,
            keep=[(name, value) for name, value in query if name not in ("status", "as_of")],
            chosen={"status": request.query_params.get("status", "")},
        )
        return html.encode()

    async def fetch(newsroom: NewsroomReader) -> PinnedPage | ItemPage:
        if read.as_of is None:
            return await newsroom.timeline(read.query, followed=True)
        return await newsroom.pinned(read.query, read.as_of)

    return await cache.answer(
        request,
        fetch,
        present,
        min_position=read.min_position,
        variant=negotiated or "",
        # Litestar adds the charset to a text/ type itself: given one, it would send two.
        media_type=_PAGE,
        headers=headers,
        preview=read.preview,
    )


_NOT_FOLLOWED = ("cursor", "as_of", "theme", "order", "limit", "min_position", "include", "lang")
_NOT_POLLED = ("cursor", "as_of", "theme", "min_position", "lang")


def _live(
    request: Request[Any, Any, Any], slug: str | None, language: str, since: LogCursor
) -> dict[str, str]:
    """How the page's script follows its timeline: the live stream, in the page's language and
    rendered, from ``since``; and, where streams cannot be had, the JSON timeline to poll."""
    stream = query_without(request, *_NOT_FOLLOWED) + ([("entity", slug)] if slug is not None else [])
    stream += [("lang", language), ("render", "html"), ("last_event_id", cursors.encode(since))]
    timeline = "/v1/timeline" if slug is None else f"/v1/entities/{quote(slug)}/timeline"
    return {
        "stream": "/v1/live?" + urlencode(stream),
        "poll": f"{timeline}?" + urlencode([*query_without(request, *_NOT_POLLED), ("lang", language)]),
    }


def _page_documented(*problems: int) -> dict[str, Any]:
    return documented(
        200,
        str,
        "embed",
        "The page (HTML), in `lang` or else the browser's language (then `Vary: Accept-Language`).",
        400,
        401,
        503,
        *problems,
        conditional=True,
        media_type=_PAGE,
        headers=_PAGE_HEADERS,
    )


class EmbedController(Controller):
    tags = ["embed"]
    dependencies = READING

    @get(
        "/embed",
        operation_id="embedTimeline",
        opt=CACHED_PAGE,
        **_page_documented(),
    )
    async def embed_timeline(
        self,
        request: Request[Any, Any, Any],
        cache: NamedDependency[ReadCache],
        settings: NamedDependency[Settings],
        read: NamedDependency[Reading],
        entities: ENTITIES = None,
        theme: Theme = "auto",
    ) -> Response[Any]:
        """Any timeline as a page for an iframe."""
        return await _embed(request, cache, read.of_entities(entities), theme, None, settings.embed_ancestors)

    @get(
        "/embed/{slug:str}",
        operation_id="embedEntity",
        opt=CACHED_PAGE,
        **_page_documented(404),
    )
    async def embed_entity(
        self,
        request: Request[Any, Any, Any],
        cache: NamedDependency[ReadCache],
        settings: NamedDependency[Settings],
        read: NamedDependency[Reading],
        slug: FromPath[str],
        theme: Theme = "auto",
    ) -> Response[Any]:
        """An entity's timeline as a page for an iframe."""
        return await _embed(request, cache, read.of_entity(slug), theme, slug, settings.embed_ancestors)

    @get(
        "/oembed",
        operation_id="describeEmbed",
        **documented(200, OEmbed, "oembed", "How to embed the page.", 400, 401, 404, 501, 503),
    )
    async def oembed(
        self,
        request: Request[Any, Any, Any],
        newsroom: NamedDependency[NewsroomReader],
        cache: NamedDependency[ReadCache],
        url: Annotated[str, QueryParameter(max_length=2000, description="An embed page's URL.")],
        maxwidth: Annotated[int | None, QueryParameter(ge=1, le=10_000)] = None,
        maxheight: Annotated[int | None, QueryParameter(ge=1, le=10_000)] = None,
        format: Annotated[str, QueryParameter(description="Only `json`.")] = "json",
        preview: Preview = False,
    ) -> Response[OEmbed]:
        """The oEmbed description of an embed page, live or pinned (`as_of`): a link, then an iframe."""
        if format != "json":
            raise HTTPException(status_code=501, detail=f"format '{format}' is not supported: only json")
        base = urlsplit(str(request.base_url))
        asked = urlsplit(url)
        parts = asked.path.strip("/").split("/")
        if (
            (asked.scheme, asked.netloc) != (base.scheme, base.netloc)
            or parts[0] != "embed"
            or len(parts) > 2
        ):
            raise NotFoundException(detail="not a Dateline embed page: its URL is /embed or /embed/<entity>")
        asked_lang = dict(parse_qsl(asked.query)).get("lang", "en")
        if preview:
            newsroom = (await cache.previewing(request)).newsroom
        named = await newsroom.named(parts[1]) if len(parts) == 2 else None
        heading = title(named, asked_lang)
        width = min(maxwidth or _OEMBED_MAX[0], _OEMBED_MAX[0])
        height = min(maxheight or _OEMBED_MAX[1], _OEMBED_MAX[1])
        described = OEmbed(
            title=heading,
            provider_name="Dateline",
            provider_url=f"{base.scheme}://{base.netloc}/",
            cache_age=3600,
            width=width,
            height=height,
            html=page.oembed_html(url, heading, width, height),
        )
        return Response(described, headers=private_headers() if preview else None)

    @get(
        "/go/{event_id:uuid}/{index:int}",
        operation_id="openSource",
        status_code=302,
        **documented(
            302,
            None,
            "source",
            "To the source's own URL.",
            400,
            401,
            404,
            503,
            headers={"Location": header("The source's URL, as its fact gives it.")},
        ),
    )
    async def source(
        self,
        request: Request[Any, Any, Any],
        newsroom: NamedDependency[NewsroomReader],
        cache: NamedDependency[ReadCache],
        event_id: FromPath[UUID],
        index: FromPath[int],
        preview: Preview = False,
    ) -> Redirect:
        """A fact's source, by our own address: what a frame sandboxed to its own host can open."""
        if preview:
            newsroom = (await cache.previewing(request)).newsroom
        url = await newsroom.source(event_id, index)
        if url is None:
            raise NotFoundException(detail=f"fact {event_id} has no source {index}")
        return Redirect(url, status_code=302, headers=private_headers() if preview else None)

    @get(
        "/embed.js",
        operation_id="hostScript",
        cache_control=None,
        **documented(200, str, "host_script", "The script.", media_type=_SCRIPT, headers=_SCRIPT_HEADERS),
    )
    async def host_script(self) -> Response[bytes]:
        """The host page's script: sizes each Dateline iframe to what its page reports."""
        return _script("embed.js")

    @get(
        "/widget.js",
        operation_id="widgetScript",
        cache_control=None,
        **documented(200, str, "widget", "The module.", media_type=_SCRIPT, headers=_SCRIPT_HEADERS),
    )
    async def widget(self) -> Response[bytes]:
        """The ``<dateline-timeline>`` element, a module that loads the rest from beside it."""
        return _script("widget.js")


def _script(name: str) -> Response[bytes]:
    """A script host pages load from the service's root, whatever their origin."""
    return Response(
        (page.STATIC / name).read_bytes(),
        # Litestar adds the charset itself.
        media_type=_SCRIPT,
        headers={"Cache-Control": _SCRIPT_CACHE, "Access-Control-Allow-Origin": "*"},
    )
