"""The TimelineJS export: Knight Lab's JSON, dates with only their known parts, text escaped for
the HTML TimelineJS renders it as, and a cap it says it has."""

from __future__ import annotations

from typing import Any

from tests.conftest import Client
from tests.factories import bearer, registered, reported

PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>"


async def _export(client: Client, path: str, **params: Any) -> Any:
    response = await client.get(path, params={"format": "timelinejs", **params})
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_export_is_a_timelinejs_document_with_known_date_parts(
    client: Client, write_key: str
) -> None:
    await client.post("/v1/events", json=registered("acme", name=PAYLOAD), headers=bearer(write_key))
    source = {"url": "https://example.com/story?a=1&b=2", "title": PAYLOAD}
    batch = {
        "events": [
            reported("acme", occurred="2024", headline="A year"),
            reported("acme", occurred="2024-05", headline=PAYLOAD, summary={"en": PAYLOAD}, sources=[source]),
            reported("acme", occurred="2024-05-06T09:30:00Z", headline="An instant"),
        ]
    }
    appended = (await client.post("/v1/events/batch", json=batch, headers=bearer(write_key))).json()["events"]
    document = await _export(client, "/v1/entities/acme/timeline", min_position=appended[-1]["position"])

    dates = [event["start_date"] for event in document["events"]]
    assert dates == [
        {"year": 2024},
        {"year": 2024, "month": 5},
        {"year": 2024, "month": 5, "day": 6, "hour": 9, "minute": 30, "second": 0},
    ]
    hostile = document["events"][1]
    assert hostile["unique_id"] == f"event-{appended[1]['id']}"
    assert (hostile["group"], hostile["display_date"]) == ("fact.reported", "May 2024")
    assert "<script" not in hostile["text"]["headline"]
    assert "&lt;script&gt;" in hostile["text"]["headline"]
    assert "<script" not in hostile["text"]["text"]
    assert "<img" not in hostile["text"]["text"]
    assert (
        '<a href="https://example.com/story?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">'
        in (hostile["text"]["text"])
    )
    assert "<script" not in document["title"]["text"]["headline"]
    assert document["title"]["text"]["text"] == ""  # all of it is here: nothing to say


async def test_an_export_caps_its_size_and_says_so(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("busy"), headers=bearer(write_key))
    for start in (0, 300):
        batch = {
            "events": [
                reported("busy", occurred=f"{1500 + n}", headline=f"N{n}") for n in range(start, start + 300)
            ]
        }
        last = (await client.post("/v1/events/batch", json=batch, headers=bearer(write_key))).json()[
            "events"
        ][-1]
    document = await _export(client, "/v1/timeline", entities="busy", min_position=last["position"])
    assert len(document["events"]) == 500
    assert "The first 500 events" in document["title"]["text"]["text"]
    assert "format=json" in document["title"]["text"]["text"]
