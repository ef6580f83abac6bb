"""A real browser and real servers for the embed tests: the service over HTTP on loopback, and a
"newsroom" of host pages on another port (so another origin), with WordPress's, Pym.js's and
axe-core's own scripts as `make test` fetches them into var/browser/."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import shutil
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import urlsplit

import uvicorn
from playwright.sync_api import Browser, BrowserContext, Route, sync_playwright

from service.app import create_app
from service.server import server_options
from service.settings import Settings
from tests.conftest import NO_RATE_LIMITS, PROJECT_ROOT

ASSETS = PROJECT_ROOT / "var" / "browser"
SCRIPTS = {
    "wp-embed.js": ASSETS / "wp-embed.js",
    "pym.js": ASSETS / "node_modules" / "pym.js" / "dist" / "pym.v1.js",
    "axe.js": ASSETS / "node_modules" / "axe-core" / "axe.min.js",
}
TIMELINEJS = ASSETS / "node_modules" / "@knight-lab" / "timelinejs" / "dist"
"""TimelineJS's own files (js/, css/, js/locale/), served by the newsroom under /timelinejs/."""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError(
            "the browser tests need Chromium: `make test` installs it (apt-get install chromium)"
        )
    return found


@contextmanager
def launched() -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright (which downloads no browser of its own)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class Contexts:
    """Browser contexts in which any request to a host but this machine's fails the test: when
    they are closed, on leaving ``with Contexts(browser)``."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.elsewhere: list[str] = []
        self.opened: list[BrowserContext] = []

    def new(self, *, tolerated: tuple[str, ...] = (), **options: Any) -> BrowserContext:
        """A context; requests to the ``tolerated`` hosts fail without failing the test."""
        context = self.browser.new_context(**options)

        def guard(route: Route) -> None:
            host = urlsplit(route.request.url).hostname
            if host in ("127.0.0.1", "localhost"):
                route.continue_()
                return
            if host not in tolerated:
                self.elsewhere.append(route.request.url)
            route.abort()

        context.route("**/*", guard)
        self.opened.append(context)
        return context

    def __enter__(self) -> Contexts:
        return self

    def __exit__(self, *_: object) -> None:
        for context in self.opened:
            context.close()
        assert self.elsewhere == [], "requests to other hosts"


T = TypeVar("T")


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code: in a thread of its own, since
    Playwright's synchronous API keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def script(name: str) -> str:
    path = SCRIPTS[name]
    if not path.exists():
        raise RuntimeError(f"{path} is missing: `make test` fetches it (make browser-assets)")
    return path.read_text()


def free_port() -> int:
    """A port on loopback nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(database_url: str, **chosen: Any) -> Iterator[str]:
    """The service on loopback, on a thread of its own, with the ``chosen`` settings; yields its
    base URL."""
    port = free_port()
    settings = Settings(
        **{
            "database_url": database_url,
            "key_cache_seconds": 0.0,
            "projection_poll_seconds": 0.05,
            **NO_RATE_LIMITS,
            **chosen,
        }
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            **server_options(settings),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def status(base: str, path: str) -> int:
    """The status a GET of ``path`` answers, on a connection of its own."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def demo_folded(base: str) -> None:
    """Wait until the projection has folded the demo's log: its entities are there."""
    for _ in range(100):
        if status(base, "/v1/entities/mai-1") == 200:
            return
        time.sleep(0.1)
    raise AssertionError("the demo was not folded within 10 s")


class Newsroom:
    """Host pages on another origin: ``pages[path] = html``."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                kind = "text/html; charset=utf-8"
                if path.startswith("/timelinejs/") and ".." not in path:
                    file = TIMELINEJS / path.removeprefix("/timelinejs/")
                    body = file.read_text() if file.is_file() else None
                    kind = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}.get(
                        file.suffix, "application/octet-stream"
                    )
                else:
                    body = pages.get(path)
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def inline(name: str) -> str:
    """A script of ``SCRIPTS`` for a host page, as the newsroom would include it."""
    return f"<script>{script(name)}</script>"


class Cable:
    """A TCP relay on loopback in front of the service, whose connections the test can cut:
    what a reader's dropped connection looks like to both ends. While cut, it refuses anew."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.cut_off = threading.Event()
        self.sockets: list[socket.socket] = []
        self.heads: list[bytes] = []
        """The first bytes each connection sent: its request line and headers."""
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                reader, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off.is_set():
                reader.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [reader, upstream]
            for source, sink, heads in ((reader, upstream, self.heads), (upstream, reader, None)):
                threading.Thread(target=self._pipe, args=(source, sink, heads), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, heads: list[bytes] | None) -> None:
        try:
            while data := source.recv(65536):
                if heads is not None:
                    heads.append(data)
                    heads = None
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.cut_off.set()
        with self.lock:
            cut, self.sockets = self.sockets, []
        for end in cut:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def mend(self) -> None:
        self.cut_off.clear()

    def retarget(self, target: str) -> None:
        """Relay new connections to ``target`` from now on: another process, the same address."""
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))

    def close(self) -> None:
        self.cut()
        self.listener.close()
