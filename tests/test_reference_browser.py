"""The API reference at /docs in a real browser (Chromium, driven by Playwright), from a real
server: it renders the whole contract from the service's own files, under its strict policy, and
its "Try it out" reaches the very service the page came from."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from service.store.database import with_database
from tests.browser import Cable, Contexts, launched, run, serving
from tests.conftest import _admin, _database_from

# Recorded by the page itself: Chromium also logs a refusal to the console, but the event names
# the directive that refused it.
_RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def service(server_url: str, demo_template: str) -> Iterator[str]:
    name = run(_database_from(server_url, demo_template))
    try:
        with serving(with_database(server_url, name)) as base:
            yield base
    finally:
        run(_admin(server_url, f'drop database "{name}" with (force)'))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as chromium:
        yield chromium


class Watched:
    """A page whose console errors, uncaught exceptions and policy violations are kept."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.add_init_script(_RECORD_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.violations")
        return found


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    with Contexts(browser) as contexts:
        yield Watched(contexts.new().new_page())


def _operations(base: str) -> set[tuple[str, str]]:
    contract = httpx.get(f"{base}/schema/openapi.json", timeout=30).json()
    return {(method.upper(), path) for path, item in contract["paths"].items() for method in item}


def test_the_reference_renders_every_operation_of_the_contract(service: str, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{service}/docs")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible(timeout=30_000)
    shown = page.eval_on_selector_all(
        ".opblock",
        """blocks => blocks.map(block => [
                block.querySelector(".opblock-summary-method").textContent,
                block.querySelector(".opblock-summary-path").dataset.path,
            ])""",
    )
    assert {(method.upper(), path) for method, path in shown} == _operations(service)
    expect(page.get_by_text("Facts in the order they happened").first).to_be_visible()
    assert page.get_by_text("Unable to render this definition").count() == 0
    assert watched.errors == []
    assert watched.violations() == []


def test_try_it_out_asks_the_service_the_page_came_from_at_its_host_and_port(
    service: str, watched: Watched
) -> None:
    # Through a relay on a port of its own, the address the reader sees is not the server's:
    # only a contract whose server is relative sends "Try it out" there, and only the service
    # behind the relay holds the demo's entities the answer shows.
    relay = Cable(service)
    try:
        page = watched.page
        page.goto(f"{relay.base}/docs#/entities/listEntities")
        operation = page.locator("#operations-entities-listEntities")
        operation.get_by_role("button", name="Try it out").click()
        with page.expect_response(lambda response: "/v1/entities" in response.url) as answered:
            operation.get_by_role("button", name="Execute").click()
        response = answered.value
        assert response.url.startswith(f"{relay.base}/v1/entities"), response.url
        assert response.status == 200
        expect(operation.locator(".live-responses-table tbody .response-col_status")).to_have_text("200")
        expect(operation.locator(".live-responses-table .microlight").first).to_contain_text('"mai-1"')
        assert watched.errors == []
        assert watched.violations() == []
    finally:
        relay.close()
