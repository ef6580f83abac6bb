"""The embed page over HTTP: server-rendered HTML, oEmbed, headers, languages and the way out to
sources. What needs a browser (scripts, resizing, sandboxes, accessibility) is in
tests/test_embed_browser.py."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from service.settings import Settings
from tests.conftest import Client, caught_up
from tests.factories import bearer, registered, reported

MAI_1_REPORT = "0e7ed3bc-2e8c-575b-b78b-3976a187e700"


class _Page(HTMLParser):
    """The parts of a page the tests look at: elements with their attributes, and the text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)

    def all(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            found
            for name, found in self.elements
            if name == tag and all(found.get(key.rstrip("_")) == value for key, value in attrs.items())
        ]


async def _page(client: Client, path: str, **params: Any) -> tuple[Any, _Page]:
    await caught_up(client)
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response, _Page(response.text)


async def test_the_embed_page_is_an_ordered_list_of_dated_sourced_events(demo_client: Client) -> None:
    response, page = await _page(demo_client, "/embed/mai-1", lang="en")
    items = page.all("li")
    events = [item for item in items if item.get("id", "").startswith("event-")]
    assert [tag for tag, _ in page.elements].count("ol") == 1
    assert f"event-{MAI_1_REPORT}" in {item["id"] for item in events}
    times = page.all("time")
    assert {"datetime": "2024-05"} in [{"datetime": t["datetime"]} for t in times]
    text = " ".join(page.text)
    assert "Reported" in text
    assert "MAI-1" in text
    assert "Corrected" in text
    assert "spelling, MIA-1" in text
    sources = [a["href"] for a in page.all("a") if a.get("data-go")]
    assert "https://seed.dateline.invalid/mia-1-report-fr" in sources
    assert all(href.startswith(("https://", "http://")) for href in sources)
    assert page.all("main")
    assert page.all("header")
    assert page.all("h1")
    # Discovery: in the head and as a header, for live and pinned pages alike.
    (alternate,) = page.all("link", rel="alternate")
    assert alternate["type"] == "application/json+oembed"
    assert 'rel="alternate"; type="application/json+oembed"' in response.headers["link"]
    assert "/oembed?url=" in response.headers["link"]


async def test_pages_link_to_the_next_and_each_event_once(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    batch = {"events": [reported("acme", occurred=f"20{10 + n}", headline=f"Year {n}") for n in range(7)]}
    last = (await client.post("/v1/events/batch", json=batch, headers=bearer(write_key))).json()["events"][-1]
    seen: list[str] = []
    path, params = "/embed/acme", {"limit": "3", "min_position": str(last["position"])}
    for _ in range(5):
        _, page = await _page(client, path, **params)
        seen += [item["id"] for item in page.all("li") if item.get("id", "").startswith("event-")]
        following = page.all("a", rel="next")
        if not following:
            break
        assert page.all("link", rel="next")[0]["href"] == following[0]["href"]
        url = urlsplit(following[0]["href"])
        path, params = url.path, {k: v[0] for k, v in parse_qs(url.query).items()}
    assert len(seen) == 7 == len(set(seen))


async def test_the_page_speaks_the_language_asked_or_the_browsers(demo_client: Client) -> None:
    asked, page = await _page(demo_client, "/embed/mai-1", lang="fr")
    assert 'lang="fr"' in asked.text
    assert "Vary" not in asked.headers
    assert "mai 2024" in " ".join(page.text)
    await caught_up(demo_client)
    french = await demo_client.get("/embed/mai-1", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    english = await demo_client.get("/embed/mai-1", headers={"Accept-Language": "en-GB,en;q=0.8"})
    # The same URL twice, one language each: no cache gives one reader's language to another.
    again = await demo_client.get("/embed/mai-1", headers={"Accept-Language": "fr"})
    assert french.headers["vary"] == english.headers["vary"] == "Accept-Language"
    assert '<html lang="fr"' in french.text
    assert '<html lang="en"' in english.text
    assert '<html lang="fr"' in again.text
    assert "Chronologie" not in english.text


async def test_a_pinned_page_says_what_changed_since_and_links_to_the_live_one(
    demo_client: Client, demo_key: str
) -> None:
    await caught_up(demo_client)
    before = (await demo_client.get(f"/v1/events/{MAI_1_REPORT}")).json()["recorded_at"]
    _, page = await _page(demo_client, "/embed/mai-1", as_of=before, lang="en")
    text = " ".join(" ".join(page.text).split())
    assert "As known on" in text
    assert "changed" in text
    assert "MIA-1" in text  # the headline as it read then
    (live,) = [a for a in page.all("a") if a["href"].startswith("/embed/mai-1")]
    assert "as_of" not in live["href"]
    later = [p for p in page.all("p") if "later" in p.get("class", "")]
    assert later, "the later correction is announced on its item"


async def test_oembed_describes_live_and_pinned_pages(demo_client: Client) -> None:
    await caught_up(demo_client)
    base = str(demo_client.base_url).rstrip("/")
    for url in (
        f"{base}/embed/mai-1",
        f"{base}/embed/mai-1?as_of=2024-05-07T09:00:00Z&lang=fr",
        f"{base}/embed",
    ):
        response = await demo_client.get(
            "/oembed", params={"url": url, "maxwidth": "500", "maxheight": "400"}
        )
        assert response.status_code == 200, response.text
        found = response.json()
        assert (found["type"], found["version"], found["provider_name"]) == ("rich", "1.0", "Dateline")
        assert found["width"] <= 500
        assert found["height"] <= 400
        assert found["cache_age"] > 0
        assert found["provider_url"].startswith(base)
        html = found["html"]
        assert html.index("<blockquote") < html.index("<iframe")
        assert 'loading="lazy"' in html
        assert f'title="{found["title"]}"' in html
    assert found["title"] == "Timeline"
    for url, status in [
        ("https://elsewhere.example/embed/mai-1", 404),
        (f"{base}/v1/timeline", 404),
        (f"{base}/embed/mai-1/more/parts", 404),
    ]:
        refused = await demo_client.get("/oembed", params={"url": url})
        assert refused.status_code == status, url
        assert refused.headers["content-type"] == "application/problem+json"
    xml = await demo_client.get("/oembed", params={"url": f"{base}/embed/mai-1", "format": "xml"})
    assert xml.status_code == 501
    assert xml.json()["type"] == "urn:dateline:problem:format-not-supported"


async def test_embed_pages_may_be_framed_and_lock_down_everything_else(demo_client: Client) -> None:
    response, _ = await _page(demo_client, "/embed/mai-1")
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors *" in policy
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "x-frame-options" not in response.headers


def test_who_may_frame_embed_pages_is_a_setting() -> None:
    assert Settings.from_env({"DATELINE_EMBED_ANCESTORS": "https://news.example https://cms.example"})
    assert Settings.from_env({}).embed_ancestors == "*"


async def test_reads_answer_cors_from_any_origin_and_expose_their_etag(demo_client: Client) -> None:
    await caught_up(demo_client)
    for origin in ("https://news.example", "null"):
        response = await demo_client.get("/v1/entities/mai-1/timeline", headers={"Origin": origin})
        assert response.headers["access-control-allow-origin"] == "*"
        assert "etag" in response.headers["access-control-expose-headers"].lower()


async def test_a_source_opens_through_our_own_address(demo_client: Client) -> None:
    await caught_up(demo_client)
    response = await demo_client.get(f"/go/{MAI_1_REPORT}/1", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (
        302,
        "https://seed.dateline.invalid/mia-1-report-fr",
    )
    assert (await demo_client.get(f"/go/{MAI_1_REPORT}/9", follow_redirects=False)).status_code == 404


async def test_json_ld_lists_events_and_their_corrections(demo_client: Client) -> None:
    _, page = await _page(demo_client, "/embed/mai-1", lang="en")
    (data,) = [json.loads(script) for script in page.scripts if script.strip().startswith("{")]
    assert data["@type"] == "ItemList"
    events = [entry["item"] for entry in data["itemListElement"]]
    assert all(event["@type"] == "Event" for event in events)
    corrected = [event for event in events if "subjectOf" in event]
    assert corrected
    assert corrected[0]["subjectOf"][0]["@type"] == "CorrectionComment"


PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(2)</script>",
    "<!-- x --><b>bold</b>",
]


async def test_what_editors_write_is_escaped_everywhere_it_lands(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    hostile = reported(
        "acme",
        headline=" ".join(PAYLOADS),
        summary={"en": PAYLOADS[2]},
        sources=[{"url": 'https://x.example/"><script>alert(3)</script>', "title": PAYLOADS[1]}],
    )
    appended = await client.post("/v1/events", json=hostile, headers=bearer(write_key))
    assert appended.status_code == 201, appended.text
    refused = {**hostile, "sources": [{"url": "javascript:alert(1)"}]}
    assert (await client.post("/v1/events", json=refused, headers=bearer(write_key))).status_code == 422

    _, page = await _page(client, "/embed/acme", min_position=appended.json()["position"])
    ours = [script for script in page.all("script") if "src" in script]
    assert [script["src"] for script in ours] == ["/static/embed-page.js"]
    assert not [element for tag, element in page.elements if tag in ("img", "b")]
    assert not any(re.search(r"^on", name) for _, element in page.elements for name in element)
    shown = " ".join(page.text)
    assert "<script>alert(1)</script>" in shown
    assert "<b>bold</b>" in shown
    (ld,) = [script for script in page.scripts if script.strip().startswith("{")]
    assert "</script" not in ld
    assert json.loads(ld)["itemListElement"][0]["item"]["name"] == " ".join(PAYLOADS)
