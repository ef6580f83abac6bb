"""The kinds of follow-up as a reader meets them in Chromium: the embed page's mark and notes in
English and French, the pinned page's count of amendments, and a live page that highlights a
correction told live but mends an amended item silently."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from service.store.database import with_database
from tests.browser import Contexts, launched, run, serving
from tests.conftest import _admin, _database_from, make_key
from tests.factories import bearer, registered, reported

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SILENT = "Typo fixed in the headline."


class Service:
    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key

    def post(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        response = httpx.post(
            f"{self.base}/v1/events/batch",
            json={"events": list(events)},
            headers=bearer(self.key),
            timeout=30,
        )
        assert response.status_code == 201, response.text
        appended: list[dict[str, Any]] = response.json()["events"]
        return appended

    def url(self, path: str, **params: str) -> str:
        return str(httpx.URL(f"{self.base}{path}", params=params))


def follow_up(fact: str, kind: str, note: str | None, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "event.corrected", "event_id": fact, "kind": kind, "changes": changes}
    if note is not None:
        event["note"] = {"en": note, "fr": f"{note} (fr)"}
    return event


@pytest.fixture(scope="module")
def service(server_url: str, empty_template: str) -> Iterator[Service]:
    name = run(_database_from(server_url, empty_template))
    url = with_database(server_url, name)
    try:
        with serving(url) as base:
            yield Service(base, run(make_key(url)))
    finally:
        run(_admin(server_url, f'drop database "{name}" with (force)'))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as chromium:
        yield chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with Contexts(browser) as made:
        yield made.new().new_page()


@pytest.fixture(scope="module")
def story(service: Service) -> dict[str, Any]:
    service.post(registered("acme"))
    (fact,) = service.post(reported("acme", occurred="2024-05", headline="Acme ships the Rokcet"))
    last = fact
    for step in [
        follow_up(fact["id"], "amendment", SILENT, headline={"en": "Acme ships the Rocket"}),
        follow_up(fact["id"], "correction", "It shipped in June.", occurred="2024-06"),
        follow_up(fact["id"], "clarification", "Rocket is a model.", tags=["models"]),
        follow_up(fact["id"], "update", "A second size shipped.", summary={"en": "Two sizes."}),
    ]:
        (last,) = service.post(step)
    return {"fact": fact, "last": last}


@pytest.mark.parametrize(
    ("language", "mark", "headings", "fixes"),
    [
        ("en", "Updated ", ["Correction", "Clarification", "Update"], "1 minor fix since"),
        ("fr", "Mis à jour le ", ["Rectificatif", "Précision", "Mise à jour"], "1 retouche mineure depuis"),
    ],
)
def test_each_kind_reads_in_the_readers_language(
    page: Page,
    service: Service,
    story: dict[str, Any],
    language: str,
    mark: str,
    headings: list[str],
    fixes: str,
) -> None:
    fact = story["fact"]["id"]
    page.goto(service.url("/embed/acme", lang=language, min_position=str(story["last"]["position"])))
    item = page.locator(f"#event-{fact}")
    expect(item.locator("h2")).to_have_text("Acme ships the Rocket")
    assert item.locator(".mark").inner_text().startswith(mark)
    notes = item.locator(".correction strong").all_inner_texts()
    assert notes == headings
    assert SILENT not in item.inner_text()

    page.goto(service.url("/embed/acme", lang=language, as_of=story["fact"]["recorded_at"]))
    then = page.locator(f"#event-{fact}")
    expect(then.locator("h2")).to_have_text("Acme ships the Rokcet")  # as known then
    assert then.locator(".later strong").all_inner_texts() == headings
    assert then.locator(".amended").inner_text() == fixes
    assert SILENT not in then.inner_text()


def test_a_live_page_highlights_a_correction_and_mends_an_amendment_silently(
    page: Page, service: Service, story: dict[str, Any]
) -> None:
    (fact,) = service.post(reported("acme", occurred="2024-01", headline="Acme hirse a CEO"))
    page.goto(service.url("/embed/acme", lang="en", min_position=str(fact["position"])))
    item = f"#event-{fact['id']}"
    expect(page.locator(item)).to_be_visible()
    service.post(follow_up(fact["id"], "amendment", SILENT, headline={"en": "Acme hires a CEO"}))
    expect(page.locator(f"{item} h2")).to_have_text("Acme hires a CEO", timeout=5000)
    assert "arrived" not in (page.locator(item).get_attribute("class") or "")
    assert page.locator(f"{item} .mark").count() == 0
    service.post(follow_up(fact["id"], "correction", "It was a CTO.", headline={"en": "Acme hires a CTO"}))
    expect(page.locator(f"{item} h2")).to_have_text("Acme hires a CTO", timeout=5000)
    assert "arrived" in (page.locator(item).get_attribute("class") or "")
    assert page.locator(f"{item} .mark").inner_text() == "Corrected"
    assert SILENT not in page.locator(item).inner_text()
