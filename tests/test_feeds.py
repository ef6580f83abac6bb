"""Timelines as Atom feeds, read by a real feed parser: entries the latest changed first, a
correction bringing its fact back up as updated, RFC 5005 paging, and editors' text as text."""

from __future__ import annotations

from typing import Any

import feedparser

from tests.conftest import Client
from tests.factories import bearer, registered, reported

PAYLOAD = "<script>alert(1)</script> & <b>bold</b>"


async def _feed(client: Client, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    return response, feedparser.parse(response.content)


async def test_a_timeline_feed_pages_the_latest_changed_first(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    batch = {"events": [reported("acme", occurred=f"20{10 + n}", headline=f"Fact {n}") for n in range(5)]}
    facts = (await client.post("/v1/events/batch", json=batch, headers=bearer(write_key))).json()["events"]
    correction = {
        "type": "event.corrected",
        "event_id": facts[1]["id"],
        "changes": {"headline": {"en": "Fact 1, corrected"}},
        "note": {"en": "Fixed."},
    }
    corrected = (await client.post("/v1/events", json=correction, headers=bearer(write_key))).json()

    titles: list[str] = []
    params: dict[str, Any] = {"limit": 2, "min_position": corrected["position"]}
    path = "/v1/entities/acme/feed.atom"
    for _ in range(5):
        _, parsed = await _feed(client, path, **params)
        assert not parsed.bozo, parsed.bozo_exception
        titles += [entry.title for entry in parsed.entries]
        following = [link.href for link in parsed.feed.links if link.rel == "next"]
        if not following:
            break
        params = {"before": following[0].split("before=")[1]}
    assert titles[0] == "Fact 1, corrected"  # the correction brought it back up
    assert sorted(titles) == sorted(["Fact 0", "Fact 1, corrected", "Fact 2", "Fact 3", "Fact 4"])
    assert {link.rel for link in parsed.feed.links} >= {"self", "first", "alternate"}
    first = (await _feed(client, path, min_position=corrected["position"]))[1].entries[0]
    assert first.id == f"urn:uuid:{facts[1]['id']}"
    assert first.updated > first.published  # both RFC 3339, in UTC: they sort as text
    assert "Corrected" in first.summary
    assert "Fixed." in first.summary


async def test_what_editors_write_stays_text_in_a_feed(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("acme", name=PAYLOAD), headers=bearer(write_key))
    hostile = reported("acme", headline=PAYLOAD, summary={"en": PAYLOAD}, tags=["ai"])
    appended = (await client.post("/v1/events", json=hostile, headers=bearer(write_key))).json()
    response, parsed = await _feed(client, "/v1/feed.atom", min_position=appended["position"], tags="ai")
    assert b"<script" not in response.content
    assert b"<b>" not in response.content
    assert parsed.entries[0].title == PAYLOAD
    assert PAYLOAD in parsed.entries[0].summary
    bad = await client.get("/v1/feed.atom", params={"before": "nonsense"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["path"] == "before"
