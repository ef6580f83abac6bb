"""Erased text leaves the log through keys: what the log's rows hold, the one narrow path that
deletes keys, the placeholders readers get, the cleanup and the ledger, and migration 0009 over
an existing log."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest

from service import migrations
from service.projections.erasures import clean_up
from service.store import events as log
from service.store import held
from service.store.database import create_database, with_database
from tests.conftest import Client, make_key
from tests.factories import bearer, registered, reported
from tests.test_cli import _dateline

UNIQUE = "Zyxqvorth"


async def _fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def _post(client: Client, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/events", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _logged(client: Client) -> dict[str, dict[str, Any]]:
    """Every event's data as ``/v1/events`` gives it, by id."""
    page = (await client.get("/v1/events", params={"limit": 1000})).json()
    return {event["id"]: event["data"] for event in page["events"]}


async def _story(client: Client, key: str) -> dict[str, str]:
    """A person, a fact about them, a correction of it and a confirmation; their ids."""
    person = await _post(client, key, registered("jane-roe", "person", aliases=[f"{UNIQUE} Roe"]))
    await _post(client, key, registered("acme"))
    fact = await _post(
        client,
        key,
        reported(
            "jane-roe",
            "acme",
            headline=f"{UNIQUE} joins Acme",
            summary={"en": f"{UNIQUE} said so."},
            tags=["people"],
        ),
    )
    correction = await _post(
        client,
        key,
        {
            "type": "event.corrected",
            "event_id": fact["id"],
            "changes": {"occurred": "2024-06", "headline": {"en": f"{UNIQUE} joined Acme"}},
            "note": {"en": f"The date was wrong, says {UNIQUE}."},
        },
    )
    confirmation = await _post(
        client, key, {"type": "event.confirmed", "event_id": fact["id"], "note": {"en": "Acme confirms."}}
    )
    return {
        "person": person["id"],
        "fact": fact["id"],
        "correction": correction["id"],
        "confirmation": confirmation["id"],
    }


async def test_the_log_holds_only_ciphertext_and_readers_get_what_was_posted(
    client: Client, database_url: str, write_key: str
) -> None:
    ids = await _story(client, write_key)
    rows = await _fetch(database_url, "select id, data::text as data from events")
    assert rows
    assert all(UNIQUE not in row["data"] for row in rows)
    fact_row = json.loads(next(row["data"] for row in rows if str(row["id"]) == ids["fact"]))
    assert set(fact_row) == {"type", "occurred", "entities", "sealed"}
    assert set(fact_row["sealed"]) == {"texts"}
    correction_row = json.loads(next(row["data"] for row in rows if str(row["id"]) == ids["correction"]))
    assert correction_row["changes"] == {"occurred": "2024-06"}  # where the fact stands stays readable
    assert set(correction_row["sealed"]) == {"texts", "note"}
    keys = await _fetch(database_url, "select event, part from event_keys")
    assert {(str(row["event"]), row["part"]) for row in keys} >= {
        (ids["fact"], 0),
        (ids["correction"], 0),
        (ids["correction"], 1),
        (ids["person"], 0),
    }

    logged = await _logged(client)
    assert logged[ids["fact"]]["headline"] == {"en": f"{UNIQUE} joins Acme"}
    assert logged[ids["fact"]]["summary"] == {"en": f"{UNIQUE} said so."}
    assert logged[ids["fact"]]["tags"] == ["people"]
    assert logged[ids["correction"]]["changes"] == {
        "occurred": "2024-06",
        "headline": {"en": f"{UNIQUE} joined Acme"},
    }
    assert logged[ids["correction"]]["note"] == {"en": f"The date was wrong, says {UNIQUE}."}
    assert logged[ids["person"]]["aliases"] == [f"{UNIQUE} Roe"]
    stream = (await client.get("/v1/streams/jane-roe")).json()["events"]
    assert stream[0]["data"]["name"] == "Jane-Roe"
    timeline = (await client.get("/v1/timeline", params={"q": UNIQUE})).json()
    assert [item["headline"] for item in timeline["items"]] == [f"{UNIQUE} joined Acme"]


async def test_erasing_a_fact_shreds_its_keys_and_its_follow_ups(
    client: Client, database_url: str, write_key: str
) -> None:
    ids = await _story(client, write_key)
    admin = await make_key(database_url, "legal", "admin")
    erasure = await _post(
        client,
        admin,
        {"type": "event.erased", "event_id": ids["fact"], "basis": "GDPR Art. 17", "reference": "R-1"},
    )

    keys = {
        (str(row["event"]), row["part"])
        for row in await _fetch(database_url, "select event, part from event_keys")
    }
    for gone in ("fact", "correction", "confirmation"):
        assert not any(event == ids[gone] for event, _ in keys)
    assert (ids["person"], 0) in keys
    assert (erasure["id"], 0) in keys  # the erasure itself is the tombstone, and stays readable

    logged = await _logged(client)
    assert logged[ids["fact"]] == {
        "type": "fact.reported",
        "occurred": "2024-05",
        "entities": [{"slug": "jane-roe", "role": "subject"}, {"slug": "acme", "role": "subject"}],
        "headline": {},
    }
    assert logged[ids["correction"]] == {
        "type": "event.corrected",
        "event_id": ids["fact"],
        "changes": {"occurred": "2024-06"},
        "note": {},
    }
    assert logged[ids["confirmation"]] == {"type": "event.confirmed", "event_id": ids["fact"], "note": {}}
    assert logged[erasure["id"]]["basis"] == "GDPR Art. 17"
    partitions = await _fetch(database_url, "select partition from event_keys_to_compact")
    assert partitions


async def test_erasing_a_follow_ups_note_keeps_what_it_changed(
    client: Client, database_url: str, write_key: str
) -> None:
    ids = await _story(client, write_key)
    admin = await make_key(database_url, "legal", "admin")
    await _post(
        client,
        admin,
        {"type": "event.erased", "event_id": ids["correction"], "basis": "court order", "reference": "C-7"},
    )
    logged = await _logged(client)
    assert logged[ids["correction"]]["changes"] == {
        "occurred": "2024-06",
        "headline": {"en": f"{UNIQUE} joined Acme"},
    }
    assert logged[ids["correction"]]["note"] == {}
    assert logged[ids["fact"]]["headline"] == {"en": f"{UNIQUE} joins Acme"}
    assert logged[ids["confirmation"]]["note"] == {"en": "Acme confirms."}


async def test_erasing_an_entity_shreds_its_registration_and_updates(
    client: Client, database_url: str, write_key: str
) -> None:
    ids = await _story(client, write_key)
    update = await _post(
        client,
        write_key,
        {"type": "entity.updated", "slug": "jane-roe", "description": {"en": f"{UNIQUE}, engineer"}},
    )
    admin = await make_key(database_url, "legal", "admin")
    await _post(
        client,
        admin,
        {"type": "event.erased", "slug": "jane-roe", "basis": "GDPR Art. 17", "reference": "R-2"},
    )
    logged = await _logged(client)
    assert logged[ids["person"]] == {
        "type": "entity.registered",
        "slug": "jane-roe",
        "kind": "person",
        "name": "",
    }
    assert logged[update["id"]] == {"type": "entity.updated", "slug": "jane-roe"}
    assert logged[ids["fact"]]["headline"] == {"en": f"{UNIQUE} joins Acme"}


async def test_an_erasure_refused_shreds_nothing(client: Client, database_url: str, write_key: str) -> None:
    await _story(client, write_key)
    before = await _fetch(database_url, "select count(*) from event_keys")
    admin = await make_key(database_url, "legal", "admin")
    response = await client.post(
        "/v1/events",
        json={
            "type": "event.erased",
            "event_id": str(uuid.uuid4()),
            "basis": "GDPR Art. 17",
            "reference": "R-3",
        },
        headers=bearer(admin),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"].endswith("event_id")
    assert await _fetch(database_url, "select count(*) from event_keys") == before


REFUSED_STATEMENTS = [
    "update events set data = data",
    "delete from events",
    "truncate events",
    "update held_events set data = data",
    "delete from held_events",
    "truncate held_events",
    "update event_keys set key = key",
    "delete from event_keys",
    "truncate event_keys",
    "update {partition} set key = key",
    "delete from {partition}",
    "truncate {partition}",
]
"""``{partition}``: one that holds keys (a row trigger fires only for rows)."""


async def test_nothing_but_shred_rewrites_the_log_or_its_keys(
    client: Client, database_url: str, write_key: str
) -> None:
    await _story(client, write_key)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "insert into held_events (id, stream, type, schema_version, data, metadata)"
            " values (gen_random_uuid(), 'acme', 'fact.reported', 1, '{}', '{}')"
        )
        before = await conn.fetchval("select count(*) from event_keys")
        partition = await conn.fetchval("select tableoid::regclass::text from event_keys limit 1")
        for statement in REFUSED_STATEMENTS:
            with pytest.raises(asyncpg.RestrictViolationError):
                await conn.execute(statement.format(partition=partition))
        assert await conn.fetchval("select count(*) from event_keys") == before
        assert await conn.fetchval("select count(*) from events") == 5
    finally:
        await conn.close()


async def test_the_cleanup_compacts_the_shredded_partitions_and_rebuilds(
    client: Client, database_url: str, write_key: str
) -> None:
    ids = await _story(client, write_key)
    admin = await make_key(database_url, "legal", "admin")
    await _post(
        client,
        admin,
        {"type": "event.erased", "event_id": ids["fact"], "basis": "GDPR Art. 17", "reference": "R-4"},
    )
    noted = {
        row["partition"] for row in await _fetch(database_url, "select partition from event_keys_to_compact")
    }
    files = {
        row["name"]: row["node"]
        for row in await _fetch(
            database_url,
            "select c.relname as name, c.relfilenode as node from pg_class c where c.relname = any($1::text[])",
            sorted(noted),
        )
    }
    done = await clean_up(database_url)
    assert sorted(done.partitions) == sorted(noted)
    assert done.rebuilt == {"newsroom": 6, "newsroom_preview": 6}
    assert await _fetch(database_url, "select partition from event_keys_to_compact") == []
    rewritten = await _fetch(
        database_url,
        "select c.relname as name, c.relfilenode as node from pg_class c where c.relname = any($1::text[])",
        sorted(noted),
    )
    assert all(files[row["name"]] != row["node"] for row in rewritten)  # a new file each
    assert (await client.get("/v1/timeline")).status_code == 200


async def test_the_ledger_exports_every_erasure(client: Client, database_url: str, write_key: str) -> None:
    ids = await _story(client, write_key)
    admin = await make_key(database_url, "legal", "admin")
    first = await _post(
        client,
        admin,
        {"type": "event.erased", "event_id": ids["correction"], "basis": "court order", "reference": "C-1"},
    )
    second = await _post(
        client,
        admin,
        {"type": "event.erased", "slug": "jane-roe", "basis": "GDPR Art. 17", "reference": "R-5"},
    )
    noted = len(await _fetch(database_url, "select partition from event_keys_to_compact"))
    cleaned = _dateline("erasures", "cleanup", database_url=database_url)
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout.startswith(f"Compacted {noted} key partitions")
    assert await _fetch(database_url, "select partition from event_keys_to_compact") == []
    exported = _dateline("erasures", "export", database_url=database_url)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert lines == [
        {
            "id": first["id"],
            "position": first["position"],
            "recorded_at": lines[0]["recorded_at"],
            "author": "legal",
            "event_id": ids["correction"],
            "basis": "court order",
            "reference": "C-1",
        },
        {
            "id": second["id"],
            "position": second["position"],
            "recorded_at": lines[1]["recorded_at"],
            "author": "legal",
            "slug": "jane-roe",
            "basis": "GDPR Art. 17",
            "reference": "R-5",
        },
    ]
    assert lines[0]["recorded_at"] == first["recorded_at"].replace("+00:00", "Z")


# Migration 0009 over a log written before it.
_PLAIN = [
    (
        "entity.registered",
        "acme",
        {"type": "entity.registered", "slug": "acme", "kind": "organization", "name": UNIQUE},
    ),
    (
        "fact.reported",
        "acme",
        {
            "type": "fact.reported",
            "occurred": "2024",
            "headline": {"en": f"{UNIQUE} founded"},
            "entities": [{"slug": "acme", "role": "subject"}],
        },
    ),
]


@pytest.fixture
def blank_url(server_url: str) -> Any:
    name = f"sealing_{uuid.uuid4().hex[:12]}"
    asyncio.run(create_database(server_url, name))
    yield with_database(server_url, name)

    async def drop() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f'drop database "{name}" with (force)')
        finally:
            await conn.close()

    asyncio.run(drop())


def test_migration_0009_seals_an_existing_log_and_its_downgrade_opens_it(blank_url: str) -> None:
    migrations.upgrade(blank_url, "0007")
    ids = [uuid.uuid4() for _ in _PLAIN]
    correction_id = uuid.uuid4()

    async def write_plain() -> None:
        conn = await asyncpg.connect(blank_url)
        try:
            await conn.execute("insert into streams values ('acme', 3, 'organization', null)")
            for version, (event_id, (kind, stream, data)) in enumerate(zip(ids, _PLAIN, strict=True), 1):
                await conn.execute(
                    "insert into events (id, stream, version, type, schema_version, data, metadata)"
                    " values ($1, $2, $3, $4, 1, $5::jsonb, '{}')",
                    event_id,
                    stream,
                    version,
                    kind,
                    json.dumps(data),
                )
            correction = {
                "type": "event.corrected",
                "event_id": str(ids[1]),
                "changes": {"occurred": "2023", "summary": {"en": UNIQUE}},
                "note": {"en": UNIQUE},
            }
            await conn.execute(
                "insert into events (id, stream, version, type, schema_version, data, metadata)"
                " values ($1, 'acme', 3, 'event.corrected', 1, $2::jsonb, '{}')",
                correction_id,
                json.dumps(correction),
            )
            # The fact was a draft before it was published: its held copy shares its keys.
            await conn.execute(
                "insert into held_events (id, stream, type, schema_version, data, metadata)"
                " values ($1, 'acme', 'fact.reported', 1, $2::jsonb, '{}')",
                ids[1],
                json.dumps(_PLAIN[1][2]),
            )
        finally:
            await conn.close()

    async def rows() -> list[tuple[str, str]]:
        return [
            (str(row["id"]), row["data"])
            for row in await _fetch(blank_url, "select id, data::text as data from events order by position")
        ]

    async def read_back() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(blank_url)
        try:
            logged = [json.loads(bytes(row.data)) for row in await log.read_stream(conn, "acme", 1, 10)]
            draft = await held.read_held(conn, ids[1])
            assert draft is not None
            return [*logged, json.loads(bytes(draft.data))]
        finally:
            await conn.close()

    asyncio.run(write_plain())
    before = asyncio.run(rows())
    migrations.upgrade(blank_url)
    sealed = asyncio.run(rows())
    assert all(UNIQUE not in data for _, data in sealed)
    assert asyncio.run(read_back()) == [*(json.loads(data) for _, data in before), _PLAIN[1][2]]
    for statement in ("update events set data = data", "delete from events", "truncate events"):
        with pytest.raises(asyncpg.RestrictViolationError):
            asyncio.run(_fetch(blank_url, statement))
    migrations.downgrade(blank_url, "0007")
    assert [(event, json.loads(data)) for event, data in asyncio.run(rows())] == [
        (event, json.loads(data)) for event, data in before
    ]
    with pytest.raises(asyncpg.RestrictViolationError):
        asyncio.run(_fetch(blank_url, "delete from events"))
