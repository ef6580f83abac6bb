"""What the visibility rules cost public reads: the same reads against the service before and
after them, interleaved in one run.

``python -m bench.visibility --before-url URL --before-path PATHS --after-url URL [--rounds 3]
[--seconds 5]``

Two services run side by side, each on its own copy of the same log with its read models built:
the service of an earlier checkout (``--before-path``: what ``PYTHONPATH`` must hold for its
processes to import that checkout's ``service`` and its migrations, ``dateline_migrations``),
on ``--before-url``, and this checkout's on ``--after-url``. Each read scenario is measured
against one, then the other, then the other again (ABBA, round after round), so that the
shared machine's load, which drifts over minutes, weighs on both alike: the figure is the
ratio of the two, pooled over the rounds. Issue 20's aim: public reads lose at most 10% (ratio
of requests per second at least 0.90) to drafts, embargoes, erasure and sealing.

The scenarios are the reads bench's (``bench/timeline_reads.py``): an entity's first page (the
cache's), a random page of an entity's and of the whole newsroom's timeline, and a random embed
page, drawn from 50,000 URLs (cursors sampled from each side's own read model with the same
seed). Each measurement is bounded by ``--seconds`` and a count; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from yarl import URL

from bench.embed import embed_scenarios
from bench.harness import ROOT, service
from bench.projection_settings import ProjectionSettings
from bench.timeline_reads import (
    MAIN_READ,
    Reads,
    entity_slugs,
    pooled,
    read_load,
    sample_pages,
    uncached_scenarios,
)

AIM = 0.90
"""After's requests per second at least this fraction of before's."""
RESULTS = ROOT / "bench" / "results"
SIDES = ("before", "after")
_EMBED = "embed page, random slug+page"


async def _scenarios(url: str, base: str, pages: int) -> dict[str, list[URL]]:
    slugs = await entity_slugs(url, "organization")
    starts, entity_pages = await sample_pages(url, pages)
    return {
        MAIN_READ: [URL(f"{base}/v1/entities/{slug}/timeline?limit=20") for slug in slugs],
        **uncached_scenarios(base, starts, entity_pages),
        _EMBED: embed_scenarios(base, slugs, entity_pages)[_EMBED],
    }


def run(urls: dict[str, str], before_path: str, rounds: int, settings: ProjectionSettings) -> dict[str, Any]:
    paths = os.pathsep.join(filter(None, [before_path, os.environ.get("PYTHONPATH")]))
    measured: dict[str, dict[str, list[Reads]]] = {}
    with contextlib.ExitStack() as stack:
        bases = {
            "before": stack.enter_context(service(urls["before"], chosen={"PYTHONPATH": paths})),
            "after": stack.enter_context(service(urls["after"])),
        }
        scenarios = {side: asyncio.run(_scenarios(urls[side], bases[side], 50_000)) for side in SIDES}
        for round_ in range(rounds):
            for seed, name in enumerate(scenarios["after"], start=100 * round_):
                order = SIDES if round_ % 2 == 0 else SIDES[::-1]
                for side in (*order, *order[::-1]):
                    reads = asyncio.run(read_load(scenarios[side][name], settings, seed))
                    measured.setdefault(name, {}).setdefault(side, []).append(reads)
    return {
        name: {side: pooled(runs).summary() for side, runs in sides.items()}
        for name, sides in measured.items()
    }


def report(results: dict[str, Any]) -> list[str]:
    lines = [
        f"{'scenario':<34} {'before req/s':>12} {'after req/s':>12} {'ratio':>6}"
        f" {'p99 before':>10} {'p99 after':>10} {'ratio':>6}  aim: req/s ratio >= {AIM:.2f}"
    ]
    for name, sides in results.items():
        before, after = sides["before"], sides["after"]
        speed = after["requests_per_second"] / max(before["requests_per_second"], 1e-9)
        tail = after["p99_ms"] / max(before["p99_ms"], 1e-9)
        errors = {**before["errors"], **after["errors"]}
        verdict = "met" if speed >= AIM and not errors else "missed"
        lines.append(
            f"{name:<34} {before['requests_per_second']:>12,.0f} {after['requests_per_second']:>12,.0f}"
            f" {speed:>6.2f} {before['p99_ms']:>10.1f} {after['p99_ms']:>10.1f} {tail:>6.2f}  {verdict}"
            + (f" errors {errors}" if errors else "")
        )
    return lines


def main(arguments: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.visibility", description=__doc__.split("\n\n")[0])
    parser.add_argument("--before-url", required=True, help="the database the earlier service reads")
    parser.add_argument("--before-path", required=True, help="PYTHONPATH for the earlier service")
    parser.add_argument("--after-url", required=True, help="the database this checkout's service reads")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="each measurement's bound")
    args = parser.parse_args(arguments)
    settings = ProjectionSettings(read_seconds=args.seconds)
    results = run(
        {"before": args.before_url, "after": args.after_url}, args.before_path, args.rounds, settings
    )
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (RESULTS / f"visibility-{stamp}.json").write_text(json.dumps(results, indent=2))
    print("\n".join(report(results)))
    print(f"Results: {RESULTS}/visibility-{stamp}.json")


if __name__ == "__main__":
    main()
