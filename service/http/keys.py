"""API keys over HTTP, for admins: list, create (shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import Body, PathParameter

from schemas import ApiKeyInfo, CreatedApiKey, NewApiKey
from service.demo.examples import NEW_KEY
from service.domain.errors import NotFound
from service.http.auth import needs
from service.http.body import StrictBody
from service.http.docs import documented, shown
from service.store import Pool, keys

_NEW_KEY_EXAMPLES = [shown(NEW_KEY, "A key for the CMS")]


class KeysController(Controller):
    path = "/v1/keys"
    tags = ["keys"]
    opt = needs("admin")
    security = [{"apiKey": []}]

    @get(operation_id="listKeys", **documented(200, list[ApiKeyInfo], "keys", "Every key.", 401, 403, 503))
    async def list_keys(self, database: NamedDependency[Pool]) -> list[ApiKeyInfo]:
        """Every key's name, scope and dates; never the key."""
        found = await keys.listing(database)
        return [
            ApiKeyInfo(name=k.name, scope=k.scope, created_at=k.created_at, revoked_at=k.revoked_at)  # type: ignore[arg-type]
            for k in found
        ]

    @post(
        operation_id="createKey",
        dto=StrictBody.of(NewApiKey),
        return_dto=None,
        **documented(
            201, CreatedApiKey, "created_key", "The new key, shown once.", 400, 401, 403, 409, 422, 503
        ),
    )
    async def create_key(
        self, database: NamedDependency[Pool], data: Annotated[NewApiKey, Body(examples=_NEW_KEY_EXAMPLES)]
    ) -> CreatedApiKey:
        """Create a key; the response is the only time it is shown."""
        key = await keys.create(database, data.name, data.scope)
        return CreatedApiKey(name=data.name, scope=data.scope, key=key)

    @delete(
        "/{name:str}",
        operation_id="revokeKey",
        **documented(204, None, "revoked", "Revoked.", 400, 401, 403, 404, 503),
    )
    async def revoke_key(
        self,
        database: NamedDependency[Pool],
        name: Annotated[str, PathParameter(description="The key's name.")],
    ) -> None:
        """Revoke a key; it stops working within seconds."""
        if not await keys.revoke(database, name):
            raise NotFound(f"No live key named '{name}'.")
