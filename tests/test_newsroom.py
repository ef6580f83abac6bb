"""The seed story through the read API: entity states, timelines, corrections, retractions, search."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service.demo.story import demo_id
from tests.conftest import Client, client_for
from tests.factories import bearer, registered, reported

MAI_1_REPORT = str(demo_id("fact/mai-1-reported"))
SERVERS_REPORT = str(demo_id("fact/mai-1-servers"))


async def _latest_position(client: Client) -> int:
    page = (await client.get("/v1/events", params={"limit": 1000})).json()
    return int(max(event["position"] for event in page["events"]))


async def _get(client: Client, url: str, **params: Any) -> Any:
    """A read that waits for the projection to include what the log shows; a test that has just
    appended passes its own append's `min_position`, which the log may not show yet (it only
    serves what no running transaction can still precede)."""
    response = await client.get(url, params={"min_position": await _latest_position(client), **params})
    assert response.status_code == 200, response.text
    return response.json()


async def test_suleyman_is_ceo_of_microsoft_ai_and_was_ceo_of_inflection(demo_client: Client) -> None:
    suleyman = await _get(demo_client, "/v1/entities/mustafa-suleyman")
    roles = {(role["organization"], role["title"]): role for role in suleyman["facts"]["roles"]}

    current = roles[("microsoft-ai", "CEO")]
    assert current["since"] == "2024-03"
    assert "until" not in current
    assert current["status"] == "confirmed"
    former = roles[("inflection-ai", "CEO")]
    assert (former["since"], former["until"]) == ("2022", "2024-03")
    assert {ref["value"][0] for ref in suleyman["facts"]["founded"]} == {"deepmind", "inflection-ai"}


async def test_mai_1_is_reported_by_microsoft_up_to_500_billion(demo_client: Client) -> None:
    mai = await _get(demo_client, "/v1/entities/mai-1")
    facts = mai["facts"]
    assert facts["stage"]["value"] == "reported"
    assert facts["stage"]["status"] == "reported"
    assert facts["developer"]["value"] == "microsoft"
    assert facts["parameters"]["value"] == {"count": 500_000_000_000, "qualifier": "up_to"}
    assert facts["overseen_by"]["value"] == ["mustafa-suleyman"]
    assert facts["developer"]["event"] == f"/v1/events/{MAI_1_REPORT}"


async def test_searching_mia_1_finds_mai_1(demo_client: Client) -> None:
    found = await _get(demo_client, "/v1/entities", q="MIA-1")
    assert found["entities"][0]["slug"] == "mai-1"
    by_alias = await _get(demo_client, "/v1/entities/MIA-1")
    assert by_alias["slug"] == "mai-1"
    timeline = await _get(demo_client, "/v1/timeline", q="MIA-1")
    assert MAI_1_REPORT in [item["id"] for item in timeline["items"]]


async def test_search_ignores_accents_and_stems_french(demo_client: Client) -> None:
    # "paramètres" in the French headline; the reader types it without the accent, singular.
    timeline = await _get(demo_client, "/v1/timeline", q="parametre", lang="fr")
    assert MAI_1_REPORT in [item["id"] for item in timeline["items"]]
    english = await _get(demo_client, "/v1/timeline", q="releases")
    assert {item["type"] for item in english["items"]} == {"model.released"}


async def test_french_typography_does_not_glue_words_together(client: Client, write_key: str) -> None:
    # Typographic apostrophes, guillemets and dashes separate words, as in any French copy.
    fact = reported("acme", headline="Acme ships a model")
    fact["headline"]["fr"] = "Acme lance l\u2019intelligence «Aurore»—enfin"
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    appended = (await client.post("/v1/events", json=fact, headers=bearer(write_key))).json()
    for word in ("intelligence", "aurore", "enfin"):
        found = await _get(client, "/v1/timeline", q=word, lang="fr", min_position=appended["position"])
        assert [item["id"] for item in found["items"]] == [appended["id"]], word


async def test_the_corrected_headline_shows_with_its_note(demo_client: Client) -> None:
    timeline = await _get(demo_client, "/v1/entities/mai-1/timeline", lang="fr")
    [item] = [item for item in timeline["items"] if item["id"] == MAI_1_REPORT]
    assert "MAI-1" in item["headline"]
    assert item["language"] == "fr"
    assert item["display_date"] == "mai 2024"
    [correction] = item["corrections"]
    assert correction["changed"] == ["headline"]
    assert "MIA-1" in correction["note"]
    assert correction["language"] == "fr"


async def test_timeline_is_in_the_order_things_happened(demo_client: Client) -> None:
    timeline = await _get(demo_client, "/v1/entities/mustafa-suleyman/timeline", limit=100)
    dates = [item["occurred"]["value"] for item in timeline["items"]]
    assert dates == sorted(dates, key=lambda d: (d[:4], len(d), d))
    assert dates[0] == "2010"
    assert timeline["items"][0]["display_date"] == "2010"
    newest_first = await _get(demo_client, "/v1/entities/mustafa-suleyman/timeline", order="desc", limit=100)
    assert [item["id"] for item in newest_first["items"]] == [item["id"] for item in timeline["items"]][::-1]


async def test_pages_follow_each_other_without_gaps(demo_client: Client) -> None:
    everything = await _get(demo_client, "/v1/timeline", limit=100)
    seen: list[str] = []
    cursor = None
    while True:
        page = await _get(demo_client, "/v1/timeline", limit=3, **({"cursor": cursor} if cursor else {}))
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [item["id"] for item in everything["items"]]


async def test_filters_narrow_the_timeline(demo_client: Client) -> None:
    small = await _get(demo_client, "/v1/timeline", tags="small-models")
    assert {item["id"] for item in small["items"]} == {
        str(demo_id("fact/gemma-released")),
        str(demo_id("fact/phi-3-mini-released")),
    }
    reported_only = await _get(demo_client, "/v1/timeline", status="reported")
    assert {item["status"] for item in reported_only["items"]} == {"reported"}
    in_2024 = await _get(demo_client, "/v1/timeline", **{"from": "2024-03", "to": "2024-04"})
    assert {item["occurred"]["value"] for item in in_2024["items"]} == {"2024-03", "2024-04"}
    models = await _get(demo_client, "/v1/timeline", types="model.released,model.reported")
    assert {item["type"] for item in models["items"]} == {"model.released", "model.reported"}


async def test_a_retraction_leaves_the_timeline_but_not_the_record(
    demo_client: Client, demo_key: str
) -> None:
    retraction = {
        "type": "event.retracted",
        "event_id": SERVERS_REPORT,
        "reason": {"en": "The source withdrew it."},
    }
    retracted = await demo_client.post("/v1/events", json=retraction, headers=bearer(demo_key))
    assert retracted.status_code == 201
    after = retracted.json()["position"]

    default = await _get(demo_client, "/v1/entities/microsoft/timeline", limit=100, min_position=after)
    assert SERVERS_REPORT not in [item["id"] for item in default["items"]]
    everything = await _get(
        demo_client, "/v1/entities/microsoft/timeline", include="retracted", limit=100, min_position=after
    )
    [item] = [item for item in everything["items"] if item["id"] == SERVERS_REPORT]
    assert item["retracted"]["reason"] == "The source withdrew it."
    assert item["retracted"]["date"]


async def test_confirmation_and_denial_change_the_status(demo_client: Client, demo_key: str) -> None:
    confirm = {"type": "event.confirmed", "event_id": MAI_1_REPORT, "note": {"en": "Confirmed at Build."}}
    confirmed = await demo_client.post("/v1/events", json=confirm, headers=bearer(demo_key))
    assert confirmed.status_code == 201
    mai = await _get(demo_client, "/v1/entities/mai-1", min_position=confirmed.json()["position"])
    assert mai["facts"]["developer"]["status"] == "confirmed"


async def test_a_merged_entity_resolves_to_the_survivor_with_its_history(
    demo_client: Client, demo_key: str
) -> None:
    merge = {"type": "entity.merged", "slug": "deepmind", "into": "google-deepmind"}
    merged = await demo_client.post("/v1/events", json=merge, headers=bearer(demo_key))
    assert merged.status_code == 201
    after = merged.json()["position"]

    survivor = await _get(demo_client, "/v1/entities/deepmind", min_position=after)
    assert survivor["slug"] == "google-deepmind"
    assert survivor["merged_from"] == ["deepmind"]
    timeline = await _get(demo_client, "/v1/entities/google-deepmind/timeline", min_position=after)
    assert str(demo_id("fact/deepmind-founded")) in [item["id"] for item in timeline["items"]]


async def test_reads_send_an_etag_and_honour_if_none_match(demo_client: Client) -> None:
    await _get(demo_client, "/v1/timeline")  # caught up: the checkpoint, and so the ETag, stays put
    first = await demo_client.get("/v1/timeline")
    assert first.headers["cache-control"].startswith("public")
    again = await demo_client.get("/v1/timeline", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


async def test_a_repeated_read_is_answered_again_once_the_projection_moves(
    client: Client, write_key: str
) -> None:
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    url = "/v1/entities/acme/timeline"
    await _get(client, url)  # caught up
    first, again = await client.get(url), await client.get(url)  # the second one from the cache
    assert (
        (first.json(), first.headers["etag"])
        == (again.json(), again.headers["etag"])
        == (
            {"items": [], "next": None},
            first.headers["etag"],
        )
    )

    appended = (await client.post("/v1/events", json=reported("acme"), headers=bearer(write_key))).json()
    await _get(client, "/v1/timeline", min_position=appended["position"])
    await asyncio.sleep(0.2)  # past the process's checkpoint cache
    later = await client.get(url)
    assert [item["id"] for item in later.json()["items"]] == [appended["id"]]
    assert later.headers["etag"] != first.headers["etag"]


async def test_read_your_writes(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
    appended = (await client.post("/v1/events", json=reported("microsoft"), headers=bearer(write_key))).json()
    timeline = await client.get(
        "/v1/entities/microsoft/timeline", params={"min_position": appended["position"]}
    )
    assert [item["id"] for item in timeline.json()["items"]] == [appended["id"]]
    # A position the log has not reached: waiting would not help, so it is refused at once, with the head.
    began = time.monotonic()
    never = await client.get("/v1/timeline", params={"min_position": appended["position"] + 1000})
    assert time.monotonic() - began < 1.0
    assert never.status_code == 400
    problem = never.json()
    assert problem["type"] == "urn:dateline:problem:position-beyond-log"
    assert problem["head"] == appended["position"]
    assert problem["errors"][0]["path"] == "min_position"


async def test_a_position_the_projection_has_not_reached_is_a_503_to_retry(
    database_url: str, write_key: str
) -> None:
    # No projection runs in this app: the append is in the log but never in the read model.
    async with client_for(database_url, projections=False) as client:
        await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))
        appended = (
            await client.post("/v1/events", json=reported("microsoft"), headers=bearer(write_key))
        ).json()
        waiting = await client.get("/v1/entities/microsoft", params={"min_position": appended["position"]})
    assert waiting.status_code == 503
    assert waiting.headers["retry-after"] == "1"
    assert waiting.json()["type"] == "urn:dateline:problem:not-caught-up"


async def test_projection_status_reports_progress(demo_client: Client) -> None:
    await _get(demo_client, "/v1/timeline")
    [status] = (await demo_client.get("/v1/projections")).json()
    assert status["name"] == "newsroom"
    assert status["state"] == "running"
    assert status["checkpoint"] == status["head"]
    assert status["lag_events"] == 0


async def test_unknown_entities_and_bad_parameters(demo_client: Client) -> None:
    assert (await demo_client.get("/v1/entities/nobody")).status_code == 404
    assert (await demo_client.get("/v1/entities/nobody/timeline")).status_code == 404
    for params in (
        {"from": "2024-13"},
        {"status": "rumoured"},
        {"cursor": "???"},
        {"lang": "!!"},
        {"limit": 0},
    ):
        response = await demo_client.get("/v1/timeline", params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_pages_stay_stable_while_new_events_arrive(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("microsoft"), headers=bearer(write_key))

    async def append(date: str) -> int:
        body = reported("microsoft", occurred=date)
        return int((await client.post("/v1/events", json=body, headers=bearer(write_key))).json()["position"])

    for date in ["2020", "2021", "2022", "2023"]:
        last = await append(date)
    first = await _get(client, "/v1/timeline", limit=2, min_position=last)
    # Something that happened earlier, and something later, are appended between two pages.
    for date in ("2019", "2025"):
        last = await append(date)
    second = await _get(client, "/v1/timeline", limit=10, cursor=first["next"], min_position=last)

    shown = [item["occurred"]["value"] for item in first["items"] + second["items"]]
    assert shown == ["2020", "2021", "2022", "2023", "2025"]


def _dateline(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "dateline"), *args],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_rebuild_command_reports_progress(demo_database_url: str, demo_client: Client) -> None:
    before = await _get(demo_client, "/v1/timeline", limit=100)
    # In a thread: the rebuild waits for the API's own runner, which runs on this test's clock.
    done = await asyncio.to_thread(_dateline, demo_database_url, "projections", "rebuild", "newsroom")
    assert done.returncode == 0, done.stderr
    assert "newsroom: 24 events applied" in done.stdout  # the demo's 24th event: its amendment
    assert await _get(demo_client, "/v1/timeline", limit=100) == before
    unknown = await asyncio.to_thread(_dateline, demo_database_url, "projections", "rebuild", "nope")
    assert unknown.returncode != 0
    assert "no projection 'nope'" in unknown.stderr


async def _pages(client: Client, url: str, **params: Any) -> list[str]:
    """Every item's `occurred`, following `next` two items at a time."""
    seen: list[str] = []
    cursor = None
    while True:
        page = await _get(client, url, limit=2, **params, **({"cursor": cursor} if cursor else {}))
        seen += [item["occurred"]["value"] for item in page["items"]]
        cursor = page.get("next")
        if cursor is None:
            return seen


async def test_from_keeps_every_fact_whose_date_reaches_into_it(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    dates = ["2023", "2024", "2024-04", "2024-05", "2024-05-05", "2024-05-06", "2024-05-06T09:59:59Z"]
    dates += ["2024-05-06T10:00:00Z", "2024-05-07", "2025"]
    events = [reported("acme", occurred=date, headline=f"At {date}") for date in dates]
    response = await client.post("/v1/events/batch", json={"events": events}, headers=bearer(write_key))
    assert response.status_code == 201

    # 10:00 UTC on 6 May 2024: inside the year 2024, the month of May, the day of the 6th.
    since = {"from": "2024-05-06T12:00:00+02:00"}
    expected = ["2024", "2024-05", "2024-05-06", "2024-05-06T10:00:00Z", "2024-05-07", "2025"]
    for url in ("/v1/timeline", "/v1/entities/acme/timeline"):
        assert await _pages(client, url, **since) == expected
        assert await _pages(client, url, **since, order="desc") == expected[::-1]
        assert await _pages(client, url, **since, to="2024-05-06") == expected[:4]
    in_may = ["2024", "2024-05", "2024-05-05", "2024-05-06", "2024-05-06T09:59:59Z", *expected[3:]]
    assert await _pages(client, "/v1/timeline", **{"from": "2024-05"}) == in_may


async def test_a_ranked_search_puts_the_best_matches_first(client: Client, write_key: str) -> None:
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    once = reported(
        "acme", occurred="2025", headline="Acme's quarterly results", summary={"en": "Chips sold well."}
    )
    often = reported("acme", occurred="2020", headline="Chips, chips and more chips: Acme's chip plan")
    other = reported("acme", occurred="2022", headline="Acme hires a new finance chief")
    batch = {"events": [once, often, other]}
    assert (await client.post("/v1/events/batch", json=batch, headers=bearer(write_key))).status_code == 201

    first = await _get(client, "/v1/timeline", q="chip", order="relevance", limit=1)
    second = await _get(
        client, "/v1/entities/acme/timeline", q="chip", order="relevance", cursor=first["next"]
    )
    assert [page["items"][0]["headline"] for page in (first, second)] == [
        often["headline"]["en"],
        once["headline"]["en"],
    ]
    assert "next" not in second or second["next"] is None
    by_date = await _get(client, "/v1/timeline", q="chip", limit=1)
    assert by_date["items"][0]["occurred"]["value"] == "2020"
    # As known at an instant, ranked the same way among what was known then.
    known = first["items"][0]["recorded_at"]
    ranked_then = await _get(client, "/v1/timeline", q="chip", order="relevance", as_of=known)
    assert [item["headline"] for item in ranked_then["items"]] == [
        often["headline"]["en"],
        once["headline"]["en"],
    ]
    before = await _get(client, "/v1/timeline", q="chip", order="relevance", as_of="2000-01-01T00:00:00Z")
    assert before["items"] == []

    for params, field in [
        ({"order": "relevance"}, "order"),
        ({"order": "relevance", "q": "chip", "cursor": by_date["next"]}, "cursor"),
        ({"q": "chip", "cursor": first["next"]}, "cursor"),
    ]:
        response = await client.get("/v1/timeline", params=params)
        assert response.status_code == 400, params
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text


async def test_a_search_finds_the_same_whether_its_words_are_rare_or_common(
    demo_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rare words are looked up in the search index and sorted; common ones are met walking the
    # date order. In the demo every word is rare; counting none as rare takes the other path.
    from service.store.newsroom import reads as newsroom

    queries = [{"q": "model"}, {"q": "microsoft", "order": "desc"}, {"q": "zzzqqq"}, {"q": "paramètres"}]
    rare = [await _get(demo_client, "/v1/timeline", **query, limit=3) for query in queries]
    entity = await _get(demo_client, "/v1/entities/microsoft/timeline", q="model")
    monkeypatch.setattr(newsroom, "RARE", 0)
    common = [await _get(demo_client, "/v1/timeline", **query, limit=3, lang="en") for query in queries]
    assert [page["items"] for page in common] == [page["items"] for page in rare]
    assert rare[0]["items"]
    assert not rare[2]["items"]
    assert await _get(demo_client, "/v1/entities/microsoft/timeline", q="model", lang="en") == entity


async def test_a_person_cannot_be_merged_into_an_organization(demo_client: Client, demo_key: str) -> None:
    merge = {"type": "entity.merged", "slug": "mustafa-suleyman", "into": "microsoft"}
    refused = await demo_client.post("/v1/events", json=merge, headers=bearer(demo_key))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["path"] == "$.into"
    person = await _get(demo_client, "/v1/entities/mustafa-suleyman")
    assert person["slug"] == "mustafa-suleyman"
    assert "merged_into" not in person


async def test_entities_are_found_as_an_editor_types_their_name(demo_client: Client) -> None:
    typed = await _get(demo_client, "/v1/entities", q="Micr")
    slugs = [entity["slug"] for entity in typed["entities"]]
    assert slugs[0] == "microsoft"
    assert "microsoft-ai" in slugs
    exact = await _get(demo_client, "/v1/entities", q="Microsoft AI")
    assert exact["entities"][0]["slug"] == "microsoft-ai"
    assert (await _get(demo_client, "/v1/entities", q="sulei"))["entities"] == []
    assert [e["slug"] for e in (await _get(demo_client, "/v1/entities", q="suley"))["entities"]] == [
        "mustafa-suleyman"
    ]
    models = await _get(demo_client, "/v1/entities", q="ph", kind="model")
    assert [entity["slug"] for entity in models["entities"]] == ["phi-3-mini"]
    for odd in ("'", ":*", "a & b", "!!", "--"):
        assert (await demo_client.get("/v1/entities", params={"q": odd})).status_code == 200, odd


async def test_dates_come_in_the_readers_language_and_texts_say_theirs(
    client: Client, write_key: str
) -> None:
    await client.post("/v1/events", json=registered("acme"), headers=bearer(write_key))
    english_only = reported(
        "acme", occurred="2024-05-06", headline="Acme ships", summary={"en": "It shipped."}
    )
    both = reported(
        "acme",
        occurred="2024-05",
        headline="Acme hires",
        summary={"en": "A hire.", "fr": "Une embauche."},
    )
    both["headline"]["fr"] = "Acme embauche"
    batch = {"events": [english_only, both]}
    appended = (await client.post("/v1/events/batch", json=batch, headers=bearer(write_key))).json()
    last = appended["events"][-1]["position"]

    french = await _get(client, "/v1/entities/acme/timeline", lang="fr", min_position=last)
    by_headline = {item["headline"]: item for item in french["items"]}
    shipped = by_headline["Acme ships"]
    assert (shipped["display_date"], shipped["language"]) == ("6 mai 2024", "en")
    assert (shipped["summary"], shipped["summary_language"]) == ("It shipped.", "en")
    hired = by_headline["Acme embauche"]
    assert (hired["display_date"], hired["language"], hired["summary_language"]) == ("mai 2024", "fr", "fr")
    english = await _get(client, "/v1/entities/acme/timeline", lang="en", min_position=last)
    assert {item["display_date"] for item in english["items"]} == {"May 6, 2024", "May 2024"}


async def test_a_facts_history_lists_every_version_with_what_changed_it(
    demo_client: Client, demo_key: str
) -> None:
    history = await _get(demo_client, f"/v1/events/{MAI_1_REPORT}/history")
    first, corrected = history["versions"]
    assert (first["version"], first["type"], first["event_id"]) == (1, "model.reported", MAI_1_REPORT)
    assert "note" not in first
    assert "MIA-1" in first["item"]["headline"]
    assert (corrected["version"], corrected["type"]) == (2, "event.corrected")
    assert "MIA-1" in corrected["note"]
    assert "MAI-1" in corrected["item"]["headline"]
    assert corrected["item"]["corrections"][0]["event_id"] == corrected["event_id"]

    confirm = {"type": "event.confirmed", "event_id": MAI_1_REPORT, "note": {"fr": "Confirmé à la Build."}}
    confirmed = (await demo_client.post("/v1/events", json=confirm, headers=bearer(demo_key))).json()
    later = await _get(
        demo_client, f"/v1/events/{MAI_1_REPORT}/history", lang="fr", min_position=confirmed["position"]
    )
    third = later["versions"][-1]
    assert (third["version"], third["type"], third["event_id"]) == (3, "event.confirmed", confirmed["id"])
    assert (third["note"], third["language"], third["item"]["status"]) == (
        "Confirmé à la Build.",
        "fr",
        "confirmed",
    )

    assert (await demo_client.get(f"/v1/events/{confirmed['id']}/history")).status_code == 404
    assert (await demo_client.get(f"/v1/events/{uuid.uuid4()}/history")).status_code == 404


async def test_a_search_counted_within_a_callers_transaction_leaves_its_planner_as_it_was(
    demo_database_url: str,
) -> None:
    # The count of a search's matches turns the planner's other scans off for itself only: on a
    # connection already in a transaction, its savepoint would hand that on to the rest.
    from service.domain.queries import TimelineQuery
    from service.store.newsroom import reads as newsroom

    conn = await asyncpg.connect(demo_database_url)
    try:
        async with conn.transaction():
            await newsroom.timeline(conn, TimelineQuery(text="model"))
            assert await conn.fetchval("show enable_seqscan") == "on"
            assert await conn.fetchval("show enable_indexscan") == "on"
    finally:
        await conn.close()
