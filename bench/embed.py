"""The newsroom embed page beside the JSON it is made from: the same entity pages, as HTML.

A repeated embed page is served from the read cache like any read, so it is held to the trivial
route; an uncached one renders a template over the same query, so it is held to the uncached
JSON page of the same run, drawn from the same kind of URL pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from yarl import URL

EMBED_REPEATED = "embed page, repeated"
EMBED_UNCACHED = "embed page, random slug+page"
REPEATED_AIM = 0.5  # at least this share of the trivial route's req/s
UNCACHED_AIM = (
    1.5  # at most this multiple of the uncached JSON page's p99 (and at least its inverse in req/s)
)


def embed_scenarios(
    base: str, slugs: Sequence[str], pages: Sequence[tuple[str, str]]
) -> dict[str, list[URL]]:
    """One entity's embed page again and again, and a random page of a random entity's."""
    return {
        EMBED_REPEATED: [URL(f"{base}/embed/{slugs[len(slugs) // 2]}?limit=20&lang=en")],
        EMBED_UNCACHED: [
            URL(f"{base}/embed/{slug}").with_query(limit=20, cursor=cursor, lang="en")
            for slug, cursor in pages
        ],
    }


def embed_aims(results: dict[str, Any], trivial: str, uncached_json: str) -> list[str]:
    """The two aims at the largest log; records their outcome in ``results``."""
    size = max(results["reads"], key=int)
    reads = results["reads"][size]
    if EMBED_REPEATED not in reads or EMBED_UNCACHED not in reads:
        return []
    repeated = reads[EMBED_REPEATED]["requests_per_second"] / reads[trivial]["requests_per_second"]
    uncached, json_page = reads[EMBED_UNCACHED], reads[uncached_json]
    p99 = uncached["p99_ms"] / json_page["p99_ms"]
    throughput = uncached["requests_per_second"] / json_page["requests_per_second"]
    outcome = {
        "repeated_ratio": repeated,
        "repeated_met": repeated >= REPEATED_AIM,
        "uncached_p99_ratio": p99,
        "uncached_throughput_ratio": throughput,
        "uncached_met": p99 <= UNCACHED_AIM and throughput >= 1 / UNCACHED_AIM,
    }
    results.setdefault("aims", {})["embed"] = outcome
    return [
        f"embed pages at {int(size):,} events:",
        f"  {EMBED_REPEATED:42} req/s {repeated:5.2f}x the trivial route"
        f" (aim at least {REPEATED_AIM:.2f}x): {'met' if outcome['repeated_met'] else 'missed'}",
        f"  {EMBED_UNCACHED:42} req/s {throughput:5.2f}x, p99 {p99:5.2f}x {uncached_json}"
        f" (aim within {UNCACHED_AIM:.2f}x): {'met' if outcome['uncached_met'] else 'missed'}",
    ]
