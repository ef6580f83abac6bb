"""The embed page in a real browser (Chromium, driven by Playwright): without JavaScript, with it,
inside WordPress's sandbox with WordPress's own host script, under Pym.js and our /embed.js,
checked by axe-core, by keyboard, and against script payloads in everything editors write."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    Dialog,
    Page,
    Response,
    expect,
)

from service.store.database import with_database
from tests.browser import Cable, Contexts, Newsroom, inline, launched, run, script, serving
from tests.conftest import _admin, _database_from, make_key
from tests.factories import bearer, registered, reported

MAI_1_REPORT = "0e7ed3bc-2e8c-575b-b78b-3976a187e700"
PAYLOAD = '<script>window.hit=1</script><img src=x onerror="window.hit=2">'

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class Service:
    def __init__(self, base: str, key: str, database_url: str) -> None:
        self.base, self.key, self.database_url = base, key, database_url

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

    def url(self, path: str, after: list[dict[str, Any]] | None = None, **params: str) -> str:
        if after:
            params["min_position"] = str(after[-1]["position"])
        return str(httpx.URL(f"{self.base}{path}", params=params))


@pytest.fixture(scope="module")
def service(server_url: str, demo_template: str) -> Iterator[Service]:
    name = run(_database_from(server_url, demo_template))
    url = with_database(server_url, name)
    try:
        with serving(url) as base:
            yield Service(base, run(make_key(url)), url)
    finally:
        run(_admin(server_url, f'drop database "{name}" with (force)'))


@pytest.fixture(scope="module")
def newsroom() -> Iterator[Newsroom]:
    host = Newsroom()
    yield host
    host.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as chromium:
        yield chromium


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Contexts]:
    with Contexts(browser) as made:
        yield made


@pytest.fixture
def page(contexts: Contexts) -> Page:
    return contexts.new().new_page()


@pytest.mark.parametrize("javascript", [False, True])
def test_the_page_live_and_pinned_with_and_without_javascript(
    contexts: Contexts, service: Service, javascript: bool
) -> None:
    page = contexts.new(java_script_enabled=javascript).new_page()
    page.goto(service.url("/embed/mai-1", lang="en"))
    events = page.locator("ol.timeline > li")
    assert events.count() >= 2
    assert page.locator("ol.timeline time[datetime]").count() >= events.count()
    report = page.locator("li", has_text="MAI-1, up to 500 billion")
    assert "Reported" in report.inner_text()
    report.locator("summary").click()
    assert (report.locator("ul.sources a").first.get_attribute("href") or "").startswith("https://")
    assert report.locator(".correction").count() == 1

    reported_at = httpx.get(f"{service.base}/v1/events/{MAI_1_REPORT}").json()["recorded_at"]
    page.goto(service.url("/embed/mai-1", lang="en", as_of=reported_at))
    assert "As known on" in page.locator(".pinned").inner_text()
    then = page.locator("li", has_text="MIA-1, up to 500 billion")  # the headline as it read then
    assert then.locator(".later").count() == 1
    assert "Correction" in then.locator(".later").inner_text()
    assert "as_of" not in (page.locator(".pinned a").get_attribute("href") or "as_of")


def test_a_5000_event_timeline_read_to_its_end_keeps_each_event_once_in_a_bounded_page(
    page: Page, service: Service
) -> None:
    service.post(registered("busy"))
    for start in range(0, 5000, 1000):
        appended = service.post(
            *(
                reported("busy", occurred=f"{1900 + n // 12}-{n % 12 + 1:02d}", headline=f"Busy {n}")
                for n in range(start, start + 1000)
            )
        )
    page.goto(service.url("/embed/busy", appended, limit="100", lang="en"))
    seen: set[str] = set()
    for _ in range(120):
        ids = page.eval_on_selector_all("ol.timeline > li", "items => items.map(item => item.id)")
        assert len(ids) == len(set(ids)) <= 300
        seen.update(ids)
        if page.locator('main a[rel="next"]').count() == 0:
            break
        page.eval_on_selector("ol.timeline", "list => { list.scrollTop = list.scrollHeight; }")
        page.wait_for_timeout(150)
    assert len(seen) == 5000
    assert "Busy 4999" in page.locator("ol.timeline > li").last.inner_text()
    assert page.locator('main a[rel="prev"]').count() == 1  # the way back to what was let go


def _wordpress(service: Service, path: str) -> str:
    # What WordPress writes for a provider it does not know: a link, then a frame sandboxed to
    # scripts, and its host script.
    return (
        f'<!doctype html><html><body><blockquote class="wp-embedded-content" data-secret="s3cr3t">'
        f'<a href="{service.base}{path}">Timeline</a></blockquote>'
        f'<iframe class="wp-embedded-content" sandbox="allow-scripts" security="restricted" '
        f'src="{service.base}{path}#?secret=s3cr3t" data-secret="s3cr3t" width="600" height="200" '
        f'title="Timeline" frameborder="0" scrolling="no"></iframe>{inline("wp-embed.js")}</body></html>'
    )


def test_inside_wordpress_the_frame_is_sized_and_sources_open_through_its_host_script(
    page: Page, service: Service, newsroom: Newsroom
) -> None:
    newsroom.pages["/landing"] = "<!doctype html><title>The source</title><p>The source itself.</p>"
    service.post(registered("sourced"))
    appended = service.post(
        reported(
            "sourced",
            headline="A sourced fact",
            sources=[{"url": f"{newsroom.base}/landing", "title": "Src"}],
        )
    )
    path = f"/embed/sourced?lang=en&min_position={appended[-1]['position']}"
    newsroom.pages["/article"] = _wordpress(service, path)
    page.goto(f"{newsroom.base}/article")
    frame = page.frame_locator("iframe.wp-embedded-content")
    frame.locator("summary").first.click()
    page.wait_for_function("document.querySelector('iframe').height !== '200'")
    assert 200 <= int(page.eval_on_selector("iframe", "f => f.height")) <= 1000
    frame.locator("ul.sources a", has_text="Src").click()
    page.wait_for_url(f"{newsroom.base}/landing")
    assert page.title() == "The source"


def test_pym_and_our_host_script_size_their_frames(page: Page, service: Service, newsroom: Newsroom) -> None:
    newsroom.pages["/pym"] = (
        f'<!doctype html><body><div id="timeline"></div>{inline("pym.js")}'
        f'<script>new pym.Parent("timeline", "{service.base}/embed/mai-1?lang=en", {{}});</script></body>'
    )
    page.goto(f"{newsroom.base}/pym")
    page.wait_for_function(
        "(f => f && parseInt(f.height || f.style.height) > 300)(document.querySelector('iframe'))"
    )

    newsroom.pages["/ours"] = (
        f'<!doctype html><body><iframe data-dateline src="{service.base}/embed/mai-1?lang=en" title="Timeline" '
        f'style="height: 150px; border: 0"></iframe><script src="{service.base}/embed.js"></script></body>'
    )
    page.goto(f"{newsroom.base}/ours")
    page.wait_for_function("parseInt(document.querySelector('iframe').style.height) > 300")
    sized = page.eval_on_selector("iframe", "f => f.style.height")
    # A message from anywhere but the frame's own window changes nothing.
    page.evaluate("window.postMessage({type: 'dateline:height', height: 5}, '*')")
    page.wait_for_timeout(200)
    assert page.eval_on_selector("iframe", "f => f.style.height") == sized


def test_axe_finds_nothing_and_every_control_takes_visible_focus(
    contexts: Contexts, service: Service
) -> None:
    page = contexts.new(
        bypass_csp=True
    ).new_page()  # to inject axe-core; the page's own CSP is tested elsewhere
    for lang in ("en", "fr"):
        for theme in ("light", "dark"):
            page.goto(service.url("/embed/mai-1", lang=lang, theme=theme))
            page.add_script_tag(content=script("axe.js"))
            violations = page.evaluate(
                "axe.run().then(result => result.violations.map(v => v.id + ': ' + v.help))"
            )
            assert violations == [], (lang, theme)
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate("(e => [e.tagName, getComputedStyle(e).outlineStyle])(document.activeElement)")
        )
    tags = {tag for tag, _ in reached}
    assert {"SELECT", "BUTTON", "SUMMARY", "A"} <= tags
    # Past the last control, focus leaves the page (the body): every control on the way shows it.
    assert all(outline != "none" for tag, outline in reached if tag != "BODY"), reached


def test_themes_follow_the_parameter_or_the_system(contexts: Contexts, service: Service) -> None:
    for theme, scheme, background in [
        ("light", "dark", "rgb(255, 255, 255)"),
        ("dark", "light", "rgb(20, 24, 32)"),
        ("auto", "dark", "rgb(20, 24, 32)"),
    ]:
        page = contexts.new(color_scheme=scheme).new_page()
        page.goto(service.url("/embed/mai-1", theme=theme))
        assert page.evaluate("getComputedStyle(document.documentElement).backgroundColor") == background, (
            theme
        )


def test_payloads_editors_write_never_run_in_the_page_the_oembed_html_or_the_json_ld(
    page: Page, service: Service, newsroom: Newsroom
) -> None:
    service.post(registered("hostile", name=PAYLOAD))
    appended = service.post(
        reported(
            "hostile",
            headline=PAYLOAD,
            summary={"en": "</script><script>window.hit=3</script>"},
            sources=[{"url": 'https://x.example/"><script>window.hit=4</script>', "title": PAYLOAD}],
        )
    )
    dialogs: list[str] = []

    def dialog_opened(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dialog_opened)
    page.goto(service.url("/embed/hostile", appended, lang="en"))
    page.locator("summary").first.click()
    assert page.evaluate("window.hit") is None
    assert page.locator("h2").first.inner_text() == PAYLOAD
    assert page.locator("ul.sources a").first.inner_text() == PAYLOAD
    assert page.locator("img").count() == 0
    data = page.evaluate(
        "JSON.parse(document.querySelector('script[type=\"application/ld+json\"]').textContent)"
    )
    assert data["itemListElement"][0]["item"]["name"] == PAYLOAD

    oembed = httpx.get(f"{service.base}/oembed", params={"url": f"{service.base}/embed/hostile"}).json()
    newsroom.pages["/oembedded"] = f"<!doctype html><body>{oembed['html']}</body>"
    page.goto(f"{newsroom.base}/oembedded")
    page.wait_for_selector("iframe")
    assert page.locator("blockquote a").inner_text() == PAYLOAD
    assert page.evaluate("window.hit") is None
    assert dialogs == []


def test_timelinejs_renders_the_export_with_every_event_and_runs_nothing(
    contexts: Contexts, service: Service, newsroom: Newsroom
) -> None:
    # TimelineJS's own stylesheet asks Google's font servers for its fonts: those requests are
    # refused (there is no network), and the timeline renders in the fallback fonts.
    page = contexts.new(tolerated=("fonts.googleapis.com", "fonts.gstatic.com")).new_page()
    service.post(registered("exported"))
    appended = service.post(
        *(reported("exported", occurred=f"20{10 + n}", headline=f"Exported {n}") for n in range(6)),
        reported("exported", occurred="2020-05", headline=PAYLOAD, summary={"en": PAYLOAD}),
    )
    export = service.url("/v1/entities/exported/timeline", appended, format="timelinejs")
    newsroom.pages["/timelinejs-host"] = (
        '<!doctype html><html><head><link rel="stylesheet" href="/timelinejs/css/timeline.css">'
        '<script src="/timelinejs/js/timeline.js"></script></head>'
        '<body><div id="timeline" style="width: 900px; height: 600px"></div>'
        f"<script>window.timeline = new TL.Timeline('timeline', {export!r}, "
        f"{{script_path: '{newsroom.base}/timelinejs/js/', language: 'en'}});</script></body></html>"
    )
    page.goto(f"{newsroom.base}/timelinejs-host")
    page.wait_for_function("document.querySelectorAll('.tl-timemarker').length >= 7", timeout=15000)
    headlines = page.eval_on_selector_all(
        ".tl-slide-content .tl-headline", "hs => hs.map(h => h.textContent)"
    )
    assert {f"Exported {n}" for n in range(6)} | {PAYLOAD} <= set(headlines)
    assert page.locator(".tl-timemarker").count() == 7
    assert page.evaluate("window.hit") is None
    assert page.locator(".tl-slide img").count() == 0


def _headlines(where: Page, within: str = "") -> list[str]:
    found: list[str] = where.eval_on_selector_all(
        f"{within} ol.timeline > li h2".strip(), "hs => hs.map(h => h.textContent)"
    )
    return found


def _corrected(fact: dict[str, Any], headline: str) -> dict[str, Any]:
    return {
        "type": "event.corrected",
        "event_id": fact["id"],
        "changes": {"headline": {"en": headline}},
        "note": {"en": "The headline was wrong."},
    }


def _live(response: Any) -> bool:
    return "/v1/live?" in response.url


def test_the_page_shows_an_append_then_its_correction_live_each_within_a_second(
    page: Page, service: Service
) -> None:
    service.post(registered("wire"))
    first = service.post(reported("wire", occurred="2024-01", headline="Wire one"))
    with page.expect_response(_live) as stream:
        page.goto(service.url("/embed/wire", first, lang="en"))
    assert stream.value.status == 200
    (fact,) = service.post(reported("wire", occurred="2024-02", headline="Wire two"))
    # Once the 201 is back, the page has a second to show it.
    expect(page.locator("ol.timeline > li")).to_have_count(2, timeout=1000)
    assert _headlines(page) == ["Wire one", "Wire two"]
    assert page.locator("p.notice").inner_text().startswith("1 new event")
    service.post(_corrected(fact, "Wire two, corrected"))
    item = f"#event-{fact['id']}"
    expect(page.locator(f"{item} h2")).to_have_text("Wire two, corrected", timeout=1000)
    assert "The headline was wrong." in page.locator(f"{item} .correction").inner_text()
    page.locator("p.notice button").click()
    assert page.locator("p.notice").is_hidden()


def test_a_dropped_stream_comes_back_with_what_it_missed_and_nothing_twice(
    page: Page, service: Service
) -> None:
    cable = Cable(service.base)
    try:
        service.post(registered("flaky"))
        first = service.post(reported("flaky", occurred="2024-01", headline="Before"))
        with page.expect_response(_live):
            page.goto(f"{cable.base}/embed/flaky?lang=en&min_position={first[-1]['position']}")
        (told,) = service.post(reported("flaky", occurred="2024-02", headline="Told live"))
        expect(page.locator("ol.timeline > li")).to_have_count(2, timeout=1000)
        cable.cut()
        service.post(
            reported("flaky", occurred="2024-03", headline="Missed one"),
            reported("flaky", occurred="2024-04", headline="Missed two"),
            _corrected(told, "Told live, corrected"),
        )
        page.wait_for_timeout(300)
        with page.expect_response(lambda response: _live(response) and response.status == 200):
            cable.mend()
        resumed = [head for head in cable.heads if head.startswith(b"GET /v1/live?")][-1]
        assert b"\r\nlast-event-id: " in resumed.lower()
        expect(page.locator("ol.timeline > li")).to_have_count(4, timeout=5000)
        expect(page.locator("ol.timeline")).to_contain_text("Told live, corrected", timeout=5000)
        ids = page.eval_on_selector_all("ol.timeline > li", "items => items.map(item => item.id)")
        assert len(ids) == len(set(ids)) == 4
        assert _headlines(page) == ["Before", "Told live, corrected", "Missed one", "Missed two"]
    finally:
        cable.close()


def test_a_stream_whose_process_stops_comes_back_to_another_and_misses_nothing(
    page: Page, service: Service
) -> None:
    """Behind one address (the relay), a process that stops parts its stream with a hint to come
    back; the page's EventSource comes back by itself, to another process, from where it was."""
    service.post(registered("restarted"))
    first = service.post(reported("restarted", occurred="2024-01", headline="Before the restart"))
    with serving(service.database_url) as stopping:
        cable = Cable(stopping)
        try:
            with page.expect_response(_live):
                page.goto(f"{cable.base}/embed/restarted?lang=en&min_position={first[-1]['position']}")
            cable.retarget(service.base)
            stopped = time.monotonic()
        except BaseException:
            cable.close()
            raise
    try:
        assert time.monotonic() - stopped < 3, "the stream was held open until the deadline"
        service.post(reported("restarted", occurred="2024-02", headline="After the restart"))
        expect(page.locator("ol.timeline > li")).to_have_count(2, timeout=6000)
        assert _headlines(page) == ["Before the restart", "After the restart"]
        resumed = [head for head in cable.heads if head.startswith(b"GET /v1/live?")][-1]
        assert b"\r\nlast-event-id: " in resumed.lower()
    finally:
        cable.close()


def test_where_streams_cannot_be_had_the_page_polls_with_if_none_match(
    contexts: Contexts, service: Service
) -> None:
    context = contexts.new()
    context.add_init_script("delete window.EventSource")
    page = context.new_page()
    page.clock.install()
    service.post(registered("polled"))
    first = service.post(reported("polled", occurred="2024-01", headline="Polled one"))
    polls: list[Response] = []
    page.on(
        "response", lambda response: polls.append(response) if "/polled/timeline" in response.url else None
    )

    def poll(count: int) -> None:
        page.clock.run_for(21_000)
        deadline = time.monotonic() + 5
        while len(polls) < count and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert len(polls) == count

    page.goto(service.url("/embed/polled", first, lang="en"))
    poll(1)
    added = service.post(reported("polled", occurred="2024-02", headline="Polled two"))
    assert httpx.get(service.url("/v1/entities/polled/timeline", added)).status_code == 200
    poll(2)
    expect(page.locator("ol.timeline > li")).to_have_count(2, timeout=5000)
    poll(3)
    sent = [(poll.request.all_headers().get("if-none-match"), poll.status) for poll in polls]
    tags = [poll.headers.get("etag") for poll in polls]
    assert sent == [(None, 200), (tags[0], 200), (tags[1], 304)]  # read again only once it changed
    assert _headlines(page) == ["Polled one", "Polled two"]


def _component(service: Service, **attributes: str) -> str:
    written = " ".join(f'{name}="{value}"' for name, value in attributes.items())
    return (
        '<!doctype html><html lang="en"><head><title>An article</title>'
        "<style>h2 { color: rgb(255, 0, 0); } li { list-style: square; }</style></head>"
        f'<body><h1>An article</h1><script type="module" src="{service.base}/widget.js"></script>'
        f"<dateline-timeline {written}></dateline-timeline></body></html>"
    )


def test_the_web_component_draws_the_embed_pages_timeline_in_its_own_shadow_dom(
    contexts: Contexts, service: Service, newsroom: Newsroom
) -> None:
    context = contexts.new()
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    newsroom.pages["/component"] = _component(service, entity="mai-1", lang="fr", theme="dark")
    page.goto(f"{newsroom.base}/component")
    page.locator("dateline-timeline ol.timeline > li").first.wait_for()

    framed = context.new_page()
    framed.goto(service.url("/embed/mai-1", lang="fr", theme="dark"))
    assert _headlines(page, "dateline-timeline") == _headlines(framed)
    assert "Rapporté" in page.locator("dateline-timeline ol.timeline").inner_text()
    assert page.evaluate("document.querySelector('dateline-timeline').shadowRoot.mode") == "open"
    assert page.evaluate("document.querySelectorAll('ol.timeline').length") == 0  # not in the host's DOM
    style = "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e.querySelector('h2')).color]"
    drawn = page.locator("dateline-timeline .dl-root").evaluate(style)
    assert drawn == framed.locator("html").evaluate(
        style.replace("e.querySelector('h2')", "document.querySelector('h2')")
    )

    # Only the service and the host page were asked anything; nothing set a cookie.
    assert {urlsplit(url).netloc for url in asked} == {
        urlsplit(service.base).netloc,
        urlsplit(newsroom.base).netloc,
    }
    assert context.cookies() == []
    weight = sum(
        len(gzip.compress(httpx.get(f"{service.base}{path}").content))
        for path in ("/widget.js", "/static/timeline.js", "/static/embed.css")
    )
    assert weight < 30 * 1024

    # Its attributes are the page's parameters: as_of pins it, a later change redraws it.
    reported_at = httpx.get(f"{service.base}/v1/events/{MAI_1_REPORT}").json()["recorded_at"]
    page.evaluate(f"document.querySelector('dateline-timeline').setAttribute('as_of', '{reported_at}')")
    page.locator("dateline-timeline .pinned").wait_for()
    assert "MIA-1" in page.locator("dateline-timeline ol.timeline").inner_text()


def test_the_web_component_takes_the_timelines_filters_and_follows_it_live(
    page: Page, service: Service, newsroom: Newsroom
) -> None:
    service.post(registered("tagged"))
    first = service.post(
        reported("tagged", occurred="2023", headline="Tagged ai", tags=["ai"]),
        reported("tagged", occurred="2024", headline="Tagged chips", tags=["chips"]),
        reported("tagged", occurred="2025", headline="Tagged later", tags=["ai"]),
    )
    httpx.get(service.url("/v1/entities/tagged", first))
    newsroom.pages["/filtered"] = _component(service, entities="tagged", tags="ai", to="2024", lang="en")
    with page.expect_response(_live):
        page.goto(f"{newsroom.base}/filtered")
    assert _headlines(page, "dateline-timeline") == ["Tagged ai"]
    (fact,) = service.post(reported("tagged", occurred="2022", headline="Tagged earlier", tags=["ai"]))
    expect(page.locator("dateline-timeline ol.timeline > li")).to_have_count(2, timeout=1000)
    service.post(_corrected(fact, "Tagged earlier, corrected"))
    expect(page.locator("dateline-timeline ol.timeline")).to_contain_text("earlier, corrected", timeout=1000)
    assert _headlines(page, "dateline-timeline") == ["Tagged earlier, corrected", "Tagged ai"]


def test_payloads_told_live_never_run_in_the_page_or_the_web_component(
    page: Page, service: Service, newsroom: Newsroom
) -> None:
    service.post(registered("hostile-live"))
    ready = service.post(reported("hostile-live", occurred="2020", headline=PAYLOAD, summary={"en": PAYLOAD}))
    newsroom.pages["/hostile-live"] = _component(service, entity="hostile-live", lang="en").replace(
        "</body>",
        f'<iframe src="{service.url("/embed/hostile-live", ready, lang="en")}" title="Timeline"></iframe></body>',
    )
    dialogs: list[str] = []

    def dialog_opened(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dialog_opened)
    streams: list[int] = []
    page.on("response", lambda response: streams.append(response.status) if _live(response) else None)
    page.goto(f"{newsroom.base}/hostile-live")
    deadline = time.monotonic() + 10
    while len(streams) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert streams == [200, 200]
    service.post(
        reported(
            "hostile-live",
            occurred="2021",
            headline=PAYLOAD,
            summary={"en": "</script><script>window.hit=3</script>"},
            sources=[{"url": 'https://x.example/"><script>window.hit=4</script>', "title": PAYLOAD}],
        )
    )
    frame = page.frame_locator("iframe")
    # Drawn first by the service, then told live: each copy shows the payload as text.
    expect(frame.locator("ol.timeline h2", has_text="<script>")).to_have_count(2, timeout=2000)
    expect(page.locator("dateline-timeline h2", has_text="<script>")).to_have_count(2, timeout=2000)
    assert _headlines(page, "dateline-timeline") == [PAYLOAD, PAYLOAD]
    assert page.evaluate("window.hit") is None
    assert page.frames[1].evaluate("window.hit") is None
    assert page.locator("dateline-timeline img").count() == 0
    assert frame.locator("img").count() == 0
    assert dialogs == []
