"""Small builders for request bodies, so tests say only what matters to them."""

from __future__ import annotations

from typing import Any


def registered(slug: str, kind: str = "organization", **fields: Any) -> dict[str, Any]:
    return {"type": "entity.registered", "slug": slug, "kind": kind, "name": slug.title(), **fields}


def reported(
    *slugs: str, occurred: str = "2024-05", headline: str = "Something happened", **fields: Any
) -> dict[str, Any]:
    return {
        "type": "fact.reported",
        "occurred": occurred,
        "headline": {"en": headline},
        "entities": [{"slug": slug, "role": "subject"} for slug in slugs],
        **fields,
    }


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
