"""The API reference at /docs is served whole by the service, under a strict policy."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from tests.conftest import Client

PAGE = "/docs"
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'"
)
# With nosniff, browsers run or apply a file only when its type says it is a script or a stylesheet.
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append(value)
                if tag == "script":
                    self.scripts.append(value)


async def _references(client: Client) -> _References:
    response = await client.get(PAGE)
    assert response.status_code == 200
    parsed = _References()
    parsed.feed(response.text)
    # Resolved as a browser would, against the page's own URL.
    parsed.urls = [urljoin(PAGE, url) for url in parsed.urls]
    parsed.scripts = [urljoin(PAGE, url) for url in parsed.scripts]
    return parsed


async def _contract_url(client: Client) -> str:
    # The page loads the bundle first and starts it with the last script.
    init = await client.get((await _references(client)).scripts[-1])
    assert init.status_code == 200
    match = re.search(r'\burl:\s*"([^"]+)"', init.text)
    assert match, init.text
    return match.group(1)


async def test_the_page_is_html_under_a_strict_policy(client: Client) -> None:
    response = await client.get(PAGE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == POLICY
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_everything_the_page_loads_is_same_origin_and_served(client: Client) -> None:
    references = await _references(client)
    assert references.scripts, "the page loads no script"
    for url in references.urls:
        parts = urlsplit(url)
        assert not parts.scheme, url
        assert not parts.netloc, url
        response = await client.get(url)
        assert response.status_code == 200, url
        suffix = parts.path[parts.path.rfind(".") :]
        assert response.headers["content-type"].startswith(CONTENT_TYPES[suffix]), (
            url,
            response.headers["content-type"],
        )
        assert response.headers["x-content-type-options"] == "nosniff", url


async def test_the_init_script_reads_the_services_own_contract(client: Client) -> None:
    url = await _contract_url(client)
    assert url == "/schema/openapi.json"
    init = await client.get((await _references(client)).scripts[-1])
    # Swagger UI's default sends the contract to validator.swagger.io for a badge.
    assert "validatorUrl: null" in init.text
    assert "http://" not in init.text
    assert "https://" not in init.text


async def test_the_contract_url_answers_the_json_contract(client: Client) -> None:
    response = await client.get(await _contract_url(client))
    assert response.status_code == 200
    assert "json" in response.headers["content-type"]
    contract = response.json()
    assert contract["info"]["title"] == "Dateline"
    assert not [path for path in contract["paths"] if path.startswith("/docs")]


async def test_nothing_of_ours_points_at_the_petstore(client: Client) -> None:
    page = await client.get(PAGE)
    assert "petstore" not in page.text.lower()
    references = await _references(client)
    for url in references.urls:
        response = await client.get(url)
        # swagger-ui-bundle.js keeps the petstore URL as its built-in default, which the init
        # script overrides; everything else must not mention it.
        if url.endswith("/swagger-ui-bundle.js"):
            continue
        if response.headers["content-type"].startswith(("text/", "application/")):
            assert "petstore" not in response.text.lower(), url


async def test_the_vendors_demo_files_are_not_served(client: Client) -> None:
    # The vendor folder's own initializer and index page load the petstore contract.
    for name in (
        "swagger-initializer.js",
        "oauth2-redirect.html",
        "swagger-editor-bundle.js",
        "swagger-ui-bundle.js.map",
        "../templates/doc.html",
    ):
        response = await client.get(f"/docs/assets/{name}")
        assert response.status_code == 404, name


async def test_try_it_out_is_sent_to_the_service_the_contract_came_from(client: Client) -> None:
    # A relative server: Swagger UI resolves it against the contract's own URL.
    contract = (await client.get(await _contract_url(client))).json()
    assert [server["url"] for server in contract["servers"]] == ["/"]
