"""The proof on disk: an erased text is in none of the database's files after the cleanup.

The files searched are every file of this database's directory (``base/<oid>/``: its tables,
indexes, TOAST, free space and visibility maps, the read model's included), read after a
checkpoint, so that what shared buffers held has been written. The WAL is not searched: it
keeps what was written until it is recycled (docs/operations.md says for how long).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg

from service.projections.erasures import clean_up
from tests.conftest import Client, make_key
from tests.factories import bearer, registered, reported

UNIQUE = "Qwixotlbrumf"
"""In a small payload (a headline, a summary), which PostgreSQL stores uncompressed."""


async def _database_files(database_url: str) -> list[Path]:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("checkpoint")
        data = await conn.fetchval("select current_setting('data_directory')")
        oid = await conn.fetchval("select oid from pg_database where datname = current_database()")
    finally:
        await conn.close()
    return sorted(path for path in (Path(data) / "base" / str(oid)).iterdir() if path.is_file())


async def _table_files(database_url: str, table: str = "events") -> list[Path]:
    """A table's files (the log's, or the held events'): its heap, its TOAST table and index, and
    its own indexes."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("checkpoint")
        data = await conn.fetchval("select current_setting('data_directory')")
        paths = await conn.fetch(
            """
            select pg_relation_filepath(oid) as path from pg_class
            where oid in ($1::regclass, (select reltoastrelid from pg_class where oid = $1::regclass))
               or oid in (select indexrelid from pg_index
                          where indrelid in ($1::regclass,
                                             (select reltoastrelid from pg_class where oid = $1::regclass)))
            """,
            table,
        )
    finally:
        await conn.close()
    files: list[Path] = []
    for row in paths:
        first = Path(data) / row["path"]
        files += [first, *sorted(first.parent.glob(f"{first.name}.*"))]  # its other segments and forks
    return [path for path in files if path.is_file()]


def _holding(files: list[Path], *needles: bytes) -> list[str]:
    return [path.name for path in files if any(needle in path.read_bytes() for needle in needles)]


async def _post(client: Client, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/events", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


NEEDLES = (UNIQUE.encode(), UNIQUE.lower().encode())
"""The text as written, and as the search vectors keep its words."""


async def test_an_erased_fact_is_in_no_file_of_the_database_after_the_cleanup(
    client: Client, database_url: str, write_key: str
) -> None:
    await _post(client, write_key, registered("acme"))
    fact = await _post(
        client,
        write_key,
        reported("acme", headline=f"{UNIQUE} leaves Acme", summary={"en": f"{UNIQUE} resigned in May."}),
    )
    read = await client.get("/v1/timeline", params={"q": UNIQUE, "min_position": fact["position"]})
    assert [item["headline"] for item in read.json()["items"]] == [f"{UNIQUE} leaves Acme"]

    # The positive control: the read model's files hold the text, so the search can find it.
    assert _holding(await _database_files(database_url), *NEEDLES)
    assert _holding(await _table_files(database_url), *NEEDLES) == []

    admin = await make_key(database_url, "legal", "admin")
    erasure = await _post(
        client,
        admin,
        {"type": "event.erased", "event_id": fact["id"], "basis": "GDPR Art. 17", "reference": "D-1"},
    )
    assert (await client.get("/v1/timeline", params={"min_position": erasure["position"]})).status_code == 200
    await clean_up(database_url)

    assert _holding(await _database_files(database_url), *NEEDLES) == []
    assert (await client.get("/v1/timeline", params={"q": UNIQUE})).json()["items"] == []


async def test_the_log_never_holds_a_text_in_clear(client: Client, database_url: str, write_key: str) -> None:
    await _post(client, write_key, registered("acme", description={"en": f"{UNIQUE} makes anvils."}))
    fact = await _post(client, write_key, reported("acme", headline=f"{UNIQUE} ships", tags=["anvils"]))
    await _post(
        client,
        write_key,
        {"type": "event.retracted", "event_id": fact["id"], "reason": {"en": f"{UNIQUE} denied it."}},
    )
    await client.get("/v1/timeline", params={"min_position": fact["position"] + 1})
    assert _holding(await _database_files(database_url), *NEEDLES)  # after a checkpoint
    events = await _table_files(database_url)
    assert events
    assert _holding(events, *NEEDLES) == []


async def test_a_held_event_is_sealed_and_its_erasure_reaches_both_copies(
    client: Client, database_url: str, write_key: str
) -> None:
    """A draft is sealed as it is held, and its publication under the same keys: erasing the
    published fact leaves its text in neither ``held_events`` nor the log, nor anywhere else."""
    await _post(client, write_key, registered("acme"))
    draft = await _post(
        client, write_key, {**reported("acme", headline=f"{UNIQUE} joins Acme"), "draft": True}
    )
    assert _holding(await _table_files(database_url, "held_events"), *NEEDLES) == []
    preview = await client.get(
        "/v1/timeline", params={"q": UNIQUE, "preview": "true"}, headers=bearer(write_key)
    )
    assert [item["headline"] for item in preview.json()["items"]] == [f"{UNIQUE} joins Acme"]

    published = await client.post(f"/v1/events/{draft['id']}/publish", headers=bearer(write_key))
    assert published.status_code == 201, published.text
    read = await client.get(
        "/v1/timeline", params={"q": UNIQUE, "min_position": published.json()["position"]}
    )
    assert [item["headline"] for item in read.json()["items"]] == [f"{UNIQUE} joins Acme"]
    assert _holding(await _database_files(database_url), *NEEDLES)  # the read models hold it

    admin = await make_key(database_url, "legal", "admin")
    erasure = await _post(
        client,
        admin,
        {"type": "event.erased", "event_id": draft["id"], "basis": "GDPR Art. 17", "reference": "D-2"},
    )
    assert (await client.get("/v1/timeline", params={"min_position": erasure["position"]})).status_code == 200
    await clean_up(database_url)

    assert _holding(await _database_files(database_url), *NEEDLES) == []
    for preview_too in ("false", "true"):
        again = await client.get(
            "/v1/timeline", params={"q": UNIQUE, "preview": preview_too}, headers=bearer(write_key)
        )
        assert again.json()["items"] == []
