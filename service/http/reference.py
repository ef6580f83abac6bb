"""A browsable API reference at ``/docs``, served whole by the service from a pip package.

Nothing is fetched from another host, so the reference works offline and behind a strict
Content-Security-Policy, and readers' browsers never tell a CDN which API they are reading.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any, Final

from litestar import MediaType, Router, get
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# Litestar's OpenAPI router adds openapi.json under OpenAPIConfig.path whenever no render
# plugin claims that name (ours renders only YAML); tests/test_reference.py checks it answers.
CONTRACT_URL: Final = "/schema/openapi.json"

ASSETS_URL: Final = "/docs/assets"


def _vendor_folder() -> Path:
    """Swagger UI's files, as swagger-ui-py ships them.

    Its Swagger UI is 5.x, the first to read OpenAPI 3.1 (what Litestar writes). The package is
    found, not imported: its own code (page handlers for other frameworks) is nothing we run.
    """
    package = find_spec("swagger_ui")
    if package is None or package.origin is None:
        raise RuntimeError("swagger-ui-py is not installed: /docs serves Swagger UI from its files")
    return Path(package.origin).parent / "static"


# The vendor folder also holds a petstore initializer, Swagger Editor, an OAuth redirect page
# and source maps: only what the page loads is reachable.
_SERVED_ASSETS: Final = frozenset(
    {"swagger-ui.css", "index.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"}
)

# Swagger UI styles its widgets inline and draws icons from data: URIs; everything else,
# scripts included, must come from this origin.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'"
)

# Paths are absolute: relative ones would resolve against /, since the page is /docs, not /docs/.
_PAGE: Final = f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Dateline API reference</title>
    <link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
    <link rel="stylesheet" href="{ASSETS_URL}/index.css">
    <link rel="icon" type="image/png" sizes="32x32" href="{ASSETS_URL}/favicon-32x32.png">
    <link rel="icon" type="image/png" sizes="16x16" href="{ASSETS_URL}/favicon-16x16.png">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
"""

# A file of its own because the policy forbids inline scripts. The bundle's built-in defaults
# load the petstore contract and send ours to validator.swagger.io: both are overridden.
_INIT_SCRIPT: Final = f"""window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    url: "{CONTRACT_URL}",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  }});
}});
"""


class _SecurityHeaders(ASGIMiddleware):
    # A middleware rather than response_headers: Litestar does not add those to the files the
    # static router sends, and nosniff matters most there, making browsers refuse a script or
    # stylesheet that is not labelled as one.
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
                headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        await next_app(scope, receive, send_secured)


@get("/", media_type=MediaType.HTML, include_in_schema=False)
async def reference_page() -> str:
    """The page that hosts Swagger UI."""
    return _PAGE


@get("/init.js", media_type="text/javascript", include_in_schema=False)
async def reference_init() -> str:
    """Starts Swagger UI on the service's own contract."""
    return _INIT_SCRIPT


# Async so that Litestar does not hand each asset request to a thread just to compare names.
async def _only_served_assets(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    # Guards run before parameters are parsed: this is the raw path, with its leading slash.
    if str(connection.path_params["file_path"]).lstrip("/") not in _SERVED_ASSETS:
        raise NotFoundException()


_assets = create_static_files_router(
    "/assets",
    directories=[_vendor_folder()],
    name="reference-assets",
    guards=[_only_served_assets],
    include_in_schema=False,
)

REFERENCE_ROUTES: Final[list[Router]] = [
    Router(
        "/docs",
        route_handlers=[reference_page, reference_init, _assets],
        include_in_schema=False,
        middleware=[_SecurityHeaders()],
    )
]
