"""What every read of the newsroom shares: read-your-writes, conditional requests, caching."""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response

from service.http.metrics import Meter
from service.http.rates import RateLimit, client_address
from service.live import Hub
from service.projections.newsroom import NewsroomReader

# Public reads may sit in a CDN for a few seconds and be served stale while it revalidates.
CACHE_CONTROL = "public, max-age=5, stale-while-revalidate=30"
_MAX_AGE, _STALE = 5, 30
# An answer as known at an instant nothing can still be recorded by will never change.
FINAL_CACHE_CONTROL = "public, max-age=86400"
# A preview shows what is not public yet: no cache may keep it, nor serve it to anyone else.
PREVIEW_CACHE_CONTROL = "private, no-store"
_encode = msgspec.json.Encoder().encode
Found = TypeVar("Found")
"""What a read finds, before it is presented."""


def etag(body: bytes) -> str:
    """A strong validator from the body itself: unrelated appends leave it, and a 304, alone.

    SHA-256 because processors compute it in hardware: half the time of BLAKE2b on a page.
    """
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def private_headers() -> dict[str, str]:
    """What a preview answers with: kept by no cache, this process's included, and no ETag."""
    return {
        "Cache-Control": PREVIEW_CACHE_CONTROL,
        "Cache-Status": "dateline; fwd=bypass",
        "Vary": "Authorization",
    }


class PreviewRefused(Exception):
    """``preview=true`` without a live key that may preview."""


@dataclass(frozen=True, slots=True)
class Previews:
    """What previews are read from: the preview read model and its live hub, and who may read them."""

    newsroom: NewsroomReader
    live: Hub
    may: Callable[[Request[Any, Any, Any]], Awaitable[bool]]


class _Body(msgspec.Struct, frozen=True):
    checkpoint: int
    content: bytes
    etag: str
    final: bool
    """It holds at every checkpoint to come: see ``respond``."""
    media_type: str
    headers: dict[str, str]


class ReadCache:
    """The read side as HTTP meets it, one ``answer`` per read: the newsroom's facade
    (``newsroom``), and per process the encoded responses by URL and checkpoint.

    A read's answer is a function of its URL and the read model's checkpoint, so a repeated read
    costs one dictionary lookup until the projection moves.
    """

    def __init__(
        self,
        newsroom: NewsroomReader,
        size: int = 2048,
        most_bytes: int = 64 * 2**20,
        misses: RateLimit | None = None,
        meter: Meter | None = None,
        previews: Previews | None = None,
        next_publication: Callable[[], datetime | None] = lambda: None,
    ) -> None:
        self.newsroom = newsroom
        self.previews = previews
        """Reads with ``preview=true`` go there, past the cache; without it they are refused."""
        self.next_publication = next_publication
        """The next instant a held event is to be published at, if any (the publisher knows)."""
        self.misses = misses
        """Counts the reads each client makes that the cache does not answer."""
        self.meter = meter or Meter(on=False)
        """Counts hits and misses, and their bytes."""
        self.size = size
        self.most_bytes = most_bytes
        """What the bodies kept may weigh together: URLs differ without end, memory does not."""
        self.held = 0
        """What the bodies kept weigh now, as ``_weight`` counts them."""
        self._bodies: OrderedDict[str, _Body] = OrderedDict()

    async def answer(
        self,
        request: Request[Any, Any, Any],
        fetch: Callable[[NewsroomReader], Awaitable[Found]],
        present: Callable[[Found], Any],
        *,
        min_position: int | None = None,
        settles_at: datetime | None = None,
        variant: str = "",
        media_type: str = "application/json",
        headers: dict[str, str] | None = None,
        preview: bool = False,
    ) -> Response[Any]:
        """The answer to a read: 304 if the client has it; else its body, read (``fetch``) and
        presented (``present``: bytes, or a value to encode as JSON) once per URL and checkpoint.

        The checkpoint waits (bounded) for ``min_position`` if asked. An answer as known at an
        instant the log is settled at (``settles_at``) is final: the same at every checkpoint, it
        is kept across them, and caches downstream may keep it for a day. A ``variant`` (the
        language a browser chose) is part of the key, with the URL.

        A ``preview`` (``preview=true``, for a key that may) is read from the preview read model
        and never kept, here or downstream.
        """
        if preview:
            return await self._preview(request, fetch, present, min_position, media_type, headers)
        checkpoint = await self.newsroom.checkpoint(min_position)
        key = _key(request, variant)
        cached = self._bodies.get(key)
        if cached is not None and (cached.final or cached.checkpoint == checkpoint):
            self._bodies.move_to_end(key)
            self.meter.cache(True, len(cached.content))
            return _answer(request, cached, "hit", self._cache_control(cached))
        if self.misses is not None:
            self.misses.hit(client_address(request))
        # Asked before reading: an answer is final only if the log was settled before it was read.
        final = settles_at is not None and await self.newsroom.settled(settles_at)
        shown = present(await fetch(self.newsroom))
        content = shown if isinstance(shown, bytes) else _encode(shown)
        body = _Body(checkpoint, content, etag(content), final, media_type, headers or {})
        self._keep(key, body)
        self.meter.cache(False, len(content))
        return _answer(request, body, "fwd=miss", self._cache_control(body))

    def _cache_control(self, body: _Body) -> str:
        """How long shared caches may keep ``body``: never past the next publication, which
        may change it. A final answer is as known at an instant already past, and a published
        event is recorded at its publication: none can change it."""
        if body.final:
            return FINAL_CACHE_CONTROL
        coming = self.next_publication()
        if coming is None:
            return CACHE_CONTROL
        left = math.floor((coming - datetime.now(UTC)).total_seconds())
        if left >= _MAX_AGE + _STALE:
            return CACHE_CONTROL
        fresh = max(min(_MAX_AGE, left), 0)
        return f"public, max-age={fresh}, stale-while-revalidate={max(left - fresh, 0)}"

    async def previewing(self, request: Request[Any, Any, Any]) -> Previews:
        """The preview read model, for a request whose key may read it; else ``PreviewRefused``."""
        if self.previews is None or not await self.previews.may(request):
            raise PreviewRefused
        return self.previews

    async def _preview(
        self,
        request: Request[Any, Any, Any],
        fetch: Callable[[NewsroomReader], Awaitable[Found]],
        present: Callable[[Found], Any],
        min_position: int | None,
        media_type: str,
        headers: dict[str, str] | None,
    ) -> Response[Any]:
        newsroom = (await self.previewing(request)).newsroom
        await newsroom.checkpoint(min_position)
        shown = present(await fetch(newsroom))
        content = shown if isinstance(shown, bytes) else _encode(shown)
        sent = {**(headers or {}), **private_headers()}
        if headers and "Vary" in headers:  # the language the browser chose, and the key
            sent["Vary"] = f"{headers['Vary']}, Authorization"
        return Response(content, media_type=media_type, headers=sent)

    def _keep(self, key: str, body: _Body) -> None:
        """Keep ``body`` under ``key``, letting the least recently read go past either bound."""
        replaced = self._bodies.pop(key, None)
        if replaced is not None:
            self.held -= _weight(key, replaced)
        weight = _weight(key, body)
        if weight > self.most_bytes:
            return
        self._bodies[key] = body
        self.held += weight
        while len(self._bodies) > self.size or self.held > self.most_bytes:
            gone, old = self._bodies.popitem(last=False)
            self.held -= _weight(gone, old)

    async def hit(self, request: Request[Any, Any, Any], variant: str = "") -> Response[Any] | None:
        """The answer to a read made before, if the projection has not moved since; else None.

        An answer is only ever stored for a URL whose parameters were valid and whose
        ``min_position`` the checkpoint it was built at included, so it can be served without
        looking at the parameters again.
        """
        cached = self._bodies.get(_key(request, variant))
        if cached is None or not (cached.final or cached.checkpoint == await self.newsroom.checkpoint()):
            return None
        self.meter.cache(True, len(cached.content))
        return _answer(request, cached, "hit", self._cache_control(cached))


def _key(request: Request[Any, Any, Any], variant: str) -> str:
    """The URL with its parameters in a canonical order and encoding: ``?a=1&b=2`` and
    ``?b=2&a=1`` are one read, kept once. Every name in it is one its route takes
    (``service.http.query``); the host stays in, since pages link to it."""
    url = request.url
    query = urlencode(sorted(request.query_params.multi_items()))
    return f"{url.scheme}://{url.netloc}{url.path}?{query}#{variant}"


def _weight(key: str, body: _Body) -> int:
    """What a kept body costs, near enough: its bytes, its key's and its headers'."""
    headers = sum(len(name) + len(value) for name, value in body.headers.items())
    return len(body.content) + len(key) + headers + len(body.etag) + len(body.media_type)


def _answer(request: Request[Any, Any, Any], body: _Body, cache: str, cache_control: str) -> Response[Any]:
    # Cache-Status (RFC 9211) says whether this process's cache answered: a proxy's own
    # entry follows it, and benchmarks count the hits.
    headers = {
        **body.headers,
        "ETag": body.etag,
        "Cache-Control": cache_control,
        "Cache-Status": f"dateline; {cache}",
    }
    sent = request.headers.get("if-none-match")
    if sent is not None and body.etag in {part.strip().removeprefix("W/") for part in sent.split(",")}:
        return Response(None, status_code=304, headers=headers)
    return Response(body.content, media_type=body.media_type, headers=headers)
