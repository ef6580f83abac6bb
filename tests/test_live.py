"""Live timelines over real HTTP (uvicorn on loopback), read as a browser's EventSource reads
them: changes as they are projected, resumed by Last-Event-ID without loss or repeat, a bounded
resume window, heartbeats, a bound per process, and what makes no sense live refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from service.store.checkpoints import PROJECTIONS_CHANNEL
from tests.browser import serving
from tests.conftest import make_key
from tests.factories import bearer, registered, reported

MOST = 4
WINDOW = 20
SETTINGS = {"live_streams": MOST, "live_heartbeat_seconds": 0.3, "live_window": WINDOW}


class Events:
    """Server-Sent Events as an EventSource reads them: ``id`` lines move ``last_id`` even
    without data; only events with data are handed out."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()
        self.last_id: str | None = None
        self.comments = 0

    async def next(self, seconds: float = 5.0) -> tuple[str, Any]:
        async with asyncio.timeout(seconds):
            return await self._next()

    async def _next(self) -> tuple[str, Any]:
        event, data = "message", list[str]()
        async for line in self.lines:
            if not line:
                if data:
                    return event, json.loads("\n".join(data))
                event = "message"
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                self.comments += 1
            elif name == "id":
                self.last_id = value
            elif name == "event":
                event = value
            elif name == "data":
                data.append(value)
        raise EOFError("the stream ended")

    async def quiet(self, seconds: float) -> None:
        """Nothing with data arrives for ``seconds``."""
        with pytest.raises(TimeoutError):
            await self.next(seconds)


class Service:
    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key
        self.http = httpx.AsyncClient(base_url=base, timeout=30)

    async def post(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        response = await self.http.post(
            "/v1/events/batch", json={"events": list(events)}, headers=bearer(self.key)
        )
        assert response.status_code == 201, response.text
        appended: list[dict[str, Any]] = response.json()["events"]
        return appended

    @asynccontextmanager
    async def live(self, headers: dict[str, str] | None = None, /, **params: str) -> AsyncIterator[Events]:
        async with self.http.stream("GET", "/v1/live", params=params, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            yield Events(response)


@pytest.fixture
def service(database_url: str) -> Iterator[Service]:
    with serving(database_url, **SETTINGS) as base:
        yield Service(base, "")


@pytest.fixture
async def live(service: Service, database_url: str) -> AsyncIterator[Service]:
    service.key = await make_key(database_url)
    (*_, last) = await service.post(registered("acme"), registered("globex"))
    known = await service.http.get("/v1/entities/globex", params={"min_position": last["position"]})
    assert known.status_code == 200
    yield service
    await service.http.aclose()


def corrected(fact: str, **changes: Any) -> dict[str, Any]:
    return {"type": "event.corrected", "event_id": fact, "changes": changes, "note": {"en": "Fixed."}}


async def test_facts_and_their_follow_ups_reach_the_streams_whose_timeline_shows_them(live: Service) -> None:
    async with live.live(entity="acme") as acme, live.live(tags="ai") as tagged:
        await live.post(reported("globex", headline="Not about Acme"))
        (fact,) = await live.post(reported("acme", headline="Acme ships", tags=["ai"]))
        kind, change = await acme.next()
        assert (kind, change["kind"], change["entry"]["headline"]) == ("change", "added", "Acme ships")
        assert (await tagged.next())[1]["entry"]["id"] == fact["id"]

        await live.post(corrected(fact["id"], headline={"en": "Acme ships late"}))
        change = (await acme.next())[1]
        assert (change["kind"], change["entry"]["headline"]) == ("corrected", "Acme ships late")
        assert change["entry"]["corrections"][0]["note"] == "Fixed."
        await live.post({"type": "event.confirmed", "event_id": fact["id"]})
        assert (await acme.next())[1]["entry"]["status"] == "confirmed"
        await live.post({"type": "event.retracted", "event_id": fact["id"], "reason": {"en": "Wrong."}})
        change = (await acme.next())[1]
        assert (change["kind"], change["entry"]["retracted"]["reason"]) == ("retracted", "Wrong.")
        kinds = [(await tagged.next())[1]["kind"] for _ in range(3)]
        assert kinds == ["corrected", "confirmed", "retracted"]
        assert "html" not in change


async def test_a_correction_that_takes_a_fact_out_of_a_timeline_removes_it(live: Service) -> None:
    async with live.live(entity="acme") as acme, live.live(entity="globex") as globex:
        (fact,) = await live.post(reported("acme", headline="Misattributed"))
        assert (await acme.next())[1]["kind"] == "added"
        await live.post(corrected(fact["id"], entities=[{"slug": "globex", "role": "subject"}]))
        assert await acme.next() == ("removed", {"id": fact["id"]})
        assert (await globex.next())[1]["kind"] == "corrected"


async def test_a_resumed_stream_misses_nothing_and_repeats_nothing(live: Service) -> None:
    async with live.live(entity="acme") as first:
        await live.post(reported("acme", headline="Seen"))
        assert (await first.next())[1]["entry"]["headline"] == "Seen"
        seen = first.last_id
    assert seen is not None
    async with live.live(entity="acme") as other:
        missed = await live.post(*(reported("acme", headline=f"Missed {n}") for n in range(3)))
        for _ in missed:
            await other.next()
    async with live.live({"Last-Event-ID": seen}, entity="acme") as resumed:
        told = [(await resumed.next())[1]["entry"]["id"] for _ in missed]
        assert told == [fact["id"] for fact in missed]
        (after,) = await live.post(reported("acme", headline="After"))
        assert (await resumed.next())[1]["entry"]["id"] == after["id"]
        await resumed.quiet(0.8)
        place = resumed.last_id
    # The heartbeat's id is where the stream stood: resuming from it tells nothing again.
    async with live.live(entity="acme", last_event_id=str(place)) as again:
        await again.quiet(0.8)


async def test_past_the_window_a_resumed_stream_is_told_to_reload(live: Service) -> None:
    async with live.live() as first:
        await live.post(reported("acme"))
        await first.next()
        seen = str(first.last_id)
        # The events go by while the reader is away (this stream sees the process tell them).
        await live.post(*(reported("acme", headline=f"Fact {n}") for n in range(WINDOW + 5)))
        for _ in range(WINDOW + 5):
            await first.next()
    async with live.live({"Last-Event-ID": seen}) as resumed:
        kind, body = await resumed.next()
        assert kind == "reload"
        assert str(WINDOW) in body["reason"]
        with pytest.raises(EOFError):
            await resumed.next()


async def test_a_quiet_stream_beats_with_its_place(live: Service) -> None:
    async with live.live(entity="acme") as quiet:
        await quiet.quiet(1.0)
        assert quiet.comments >= 2
        assert quiet.last_id is not None


async def test_a_merge_tells_the_entitys_streams_to_reload(live: Service) -> None:
    async with live.live(entity="globex") as globex:
        await live.post({"type": "entity.merged", "slug": "acme", "into": "globex"})
        kind, body = await globex.next()
        assert kind == "reload"
        assert "merge" in body["reason"]


async def test_html_changes_are_the_embed_pages_items_with_every_text_escaped(live: Service) -> None:
    payload = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    async with live.live(entity="acme", render="html", lang="fr") as acme:
        (fact,) = await live.post(reported("acme", headline=payload, summary={"en": payload}))
        html = (await acme.next())[1]["html"]
    assert html.startswith(f'<li id="event-{fact["id"]}"')
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html
    assert "Rapporté" in html


async def test_past_its_bound_a_process_refuses_streams_until_one_leaves(live: Service) -> None:
    async with live.live() as a, live.live() as b, live.live() as c, live.live() as d:
        assert all([a, b, c, d])
        refused = await live.http.get("/v1/live")
        assert refused.status_code == 503
        assert refused.headers["retry-after"]
        assert refused.json()["type"] == "urn:dateline:problem:too-many-streams"
    for _ in range(50):  # the four left: their places come free as the server notices
        async with live.http.stream("GET", "/v1/live") as response:
            if response.status_code == 200:
                return
        await asyncio.sleep(0.1)
    pytest.fail("the streams that left still count against the bound")


@pytest.mark.parametrize(
    ("params", "headers", "named"),
    [
        ({"as_of": "2024-01-01T00:00:00Z"}, {}, "as_of"),
        ({"cursor": "abc"}, {}, "cursor"),
        ({"order": "desc"}, {}, "order"),
        ({"limit": "5"}, {}, "limit"),
        ({"min_position": "1"}, {}, "min_position"),
        ({}, {"Last-Event-ID": "not-an-id"}, "Last-Event-ID"),
        ({"last_event_id": "WyJ0aW1lIl0"}, {}, "last_event_id"),
        ({"entity": "Not A Slug"}, {}, "entity"),
        ({"entity": "acme,globex"}, {}, "entity"),
        ({"render": "pdf"}, {}, "render"),
    ],
)
async def test_what_makes_no_sense_live_is_refused_by_name(
    live: Service, params: dict[str, str], headers: dict[str, str], named: str
) -> None:
    response = await live.http.get("/v1/live", params=params, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["path"] for error in response.json()["errors"]] == [named]


async def test_an_unknown_entity_is_not_found(live: Service) -> None:
    response = await live.http.get("/v1/live", params={"entity": "nobody"})
    assert response.status_code == 404
    assert response.json()["type"] == "urn:dateline:problem:not-found"


async def test_words_dates_types_and_language_narrow_a_stream_as_they_narrow_the_timeline(
    live: Service,
) -> None:
    async with live.live(q="fusion", **{"from": "2024"}, types="fact.reported", lang="fr") as narrow:
        await live.post(
            reported("acme", occurred="2023-06", headline="Acme fusion, earlier"),
            reported("acme", occurred="2024-06", headline="Acme hires"),
            {
                **reported("acme", occurred="2024-07"),
                "headline": {"en": "Acme merger", "fr": "Fusion d'Acme"},
            },
        )
        kind, change = await narrow.next()
        assert (kind, change["entry"]["headline"], change["entry"]["language"]) == (
            "change",
            "Fusion d'Acme",
            "fr",
        )
        await narrow.quiet(0.8)


async def test_streams_go_on_when_the_database_cuts_the_hubs_listener(
    live: Service, database_url: str
) -> None:
    listening = "select pid from pg_stat_activity where datname = current_database() and query = $1"
    statement = f'LISTEN "{PROJECTIONS_CHANNEL}"'
    async with live.live(entity="acme") as acme:
        conn = await asyncpg.connect(database_url)
        try:
            # Each process has two hubs, the public one and the preview's: both are cut.
            cut = [row[0] for row in await conn.fetch(listening, statement)]
            assert len(cut) == 2
            for pid in cut:
                await conn.execute("select pg_terminate_backend($1)", pid)
            (fact,) = await live.post(reported("acme", headline="Told all the same"))
            assert (await acme.next())[1]["entry"]["id"] == fact["id"]
            for _ in range(100):  # and the hubs listen again
                if len([pid for (pid,) in await conn.fetch(listening, statement) if pid not in cut]) == 2:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the hub did not listen again")
        finally:
            await conn.close()


BOUNDED = {
    "live_streams": 10,
    "live_streams_per_client": 3,
    "live_timelines": 2,
    "live_heartbeat_seconds": 0.3,
}


@pytest.fixture
async def bounded(database_url: str) -> AsyncIterator[Service]:
    with serving(database_url, **BOUNDED) as base:
        service = Service(base, await make_key(database_url))
        (acme,) = await service.post(registered("acme"))
        known = await service.http.get("/v1/entities/acme", params={"min_position": acme["position"]})
        assert known.status_code == 200
        for _ in range(100):  # the hub takes streams once it knows where the log stands
            async with service.http.stream("GET", "/v1/live") as response:
                if response.status_code == 200:
                    break
            await asyncio.sleep(0.05)
        yield service
        await service.http.aclose()


async def _refused(service: Service, **params: str) -> httpx.Response:
    response = await service.http.get("/v1/live", params=params)
    assert response.headers["retry-after"]
    assert response.headers["content-type"] == "application/problem+json"
    return response


async def _taken_again(service: Service, **params: str) -> None:
    """A stream is accepted once the server has noticed the ones that ended."""
    for _ in range(50):
        async with service.http.stream("GET", "/v1/live", params=params) as response:
            if response.status_code == 200:
                return
        await asyncio.sleep(0.1)
    pytest.fail("the streams that ended still count against the bound")


async def test_one_address_holds_a_bounded_share_of_the_streams_and_another_is_served(
    bounded: Service,
) -> None:
    other = httpx.AsyncClient(
        base_url=bounded.base, timeout=30, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    )
    async with bounded.live(lang="en"), bounded.live(lang="en"), bounded.live(lang="en"):
        refused = await _refused(bounded, lang="en")
        assert refused.status_code == 429
        assert refused.json()["type"] == "urn:dateline:problem:too-many-client-streams"
        async with other.stream("GET", "/v1/live", params={"lang": "en"}) as elsewhere:
            assert elsewhere.status_code == 200
    await other.aclose()
    await _taken_again(bounded, lang="en")


async def test_past_its_bound_of_timelines_a_process_refuses_a_new_one_but_serves_those_it_follows(
    bounded: Service,
) -> None:
    async with bounded.live(lang="en"), bounded.live(lang="fr"):
        refused = await _refused(bounded, lang="de")
        assert refused.status_code == 503
        assert refused.json()["type"] == "urn:dateline:problem:too-many-streams"
        assert "timelines" in refused.json()["detail"]
        async with bounded.live(lang="fr") as same:
            assert same
    await _taken_again(bounded, lang="de")


async def test_a_stream_whose_client_vanishes_gives_its_place_back(bounded: Service) -> None:
    for _ in range(3):  # more connections cut than the address may hold at once
        gone = httpx.AsyncClient(base_url=bounded.base, timeout=30)
        response = await gone.send(gone.build_request("GET", "/v1/live"), stream=True)
        assert response.status_code == 200
        await response.aiter_lines().__anext__()  # the stream is being written
        await gone.aclose()  # the connection cut, without the stream being read to its end
    await _taken_again(bounded)
    async with bounded.live(), bounded.live():
        await _taken_again(bounded)


async def test_a_stream_told_to_reload_gives_its_place_back(bounded: Service) -> None:
    for n in range(3):  # as many as the address may hold: one kept would refuse the last three
        async with bounded.live(entity="acme") as acme:
            merged = f"old-acme-{n}"
            await bounded.post(registered(merged), {"type": "entity.merged", "slug": merged, "into": "acme"})
            assert (await acme.next())[0] == "reload"
            with pytest.raises(EOFError):
                await acme.next()
    async with bounded.live(entity="acme"), bounded.live(entity="acme"):
        await _taken_again(bounded, entity="acme")
