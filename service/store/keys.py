"""API keys: created once, shown once, stored only as a hash.

Keys are 256 random bits, so a single SHA-256 is enough to make a stolen table useless: slow
password hashes exist to stretch guessable secrets, and a key cannot be guessed. A fast hash
also keeps the check off every write's latency.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime

import asyncpg
import msgspec

from service.store import Database

KEY_PREFIX = "dl_"
SCOPES = ("write", "admin", "preview")


class ApiKey(msgspec.Struct, frozen=True):
    name: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None = None


class Revoked(Exception):
    """A write's key was not live when the write reached the log: revoked, or never a key."""


class NameTaken(Exception):
    """A live key already has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a live key named '{name}' exists; revoke it first")


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create(db: Database, name: str, scope: str) -> str:
    """Store a new key's hash and return the key itself, which is never stored; ``NameTaken``
    if a live key has that name."""
    key = new_key()
    try:
        await db.execute(
            "insert into api_keys (name, key_hash, scope) values ($1, $2, $3)", name, hash_key(key), scope
        )
    except asyncpg.UniqueViolationError:
        raise NameTaken(name) from None
    return key


async def find(conn: Database, key: str) -> ApiKey | None:
    row = await conn.fetchrow(
        "select name, scope, created_at from api_keys where key_hash = $1 and revoked_at is null",
        hash_key(key),
    )
    return None if row is None else ApiKey(row["name"], row["scope"], row["created_at"])


ALL_LIVE = (
    "(select count(*) from api_keys where key_hash = any({hashes}::bytea[]) and revoked_at is null)"
    " = cardinality({hashes}::bytea[])"
)
"""SQL that is true when each key whose hash is in the ``bytea[]`` parameter ``{hashes}`` (distinct
hashes) is live: one probe of the key index per key."""
_LIVE = "select " + ALL_LIVE.format(hashes="$1")


async def live(conn: Database, hashes: Sequence[bytes]) -> bool:
    """Whether each of the keys ``hashes`` names is live now."""
    found: bool = await conn.fetchval(_LIVE, list(hashes))
    return found


async def revoke(conn: Database, name: str) -> bool:
    status: str = await conn.execute(
        "update api_keys set revoked_at = now() where name = $1 and revoked_at is null", name
    )
    return status != "UPDATE 0"


async def listing(conn: Database) -> list[ApiKey]:
    rows = await conn.fetch(
        "select name, scope, created_at, revoked_at from api_keys order by created_at, id"
    )
    return [ApiKey(row["name"], row["scope"], row["created_at"], row["revoked_at"]) for row in rows]
