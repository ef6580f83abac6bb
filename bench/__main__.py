"""``python -m bench``: run the benchmarks and print each figure with its baseline ratios."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import appends, live, metrics_cost, page, preview_twin, projections
from bench.harness import postgres_server
from bench.plot import plot_appends, plot_live, plot_reads
from bench.projection_settings import ProjectionSettings

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent


def code_version() -> str:
    """The commit measured, and how many files of the service differ from it."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        head = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            [git, "status", "--porcelain", "--", "service", "schemas", "alembic"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (f" + {len(changed)} changed files" if changed else "")


def _finite(value: Any) -> Any:
    """JSON has no NaN: an empty measurement is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _save_appends(settings: appends.AppendSettings, stamp: str) -> None:
    results = {
        name: {"events_per_second": rate.per_second, "p50_ms": rate.p50_ms, "p99_ms": rate.p99_ms}
        for name, rate in settings.results.items()
    }
    (RESULTS / f"appends-{stamp}.json").write_text(json.dumps(results, indent=2))
    plot_appends(results, RESULTS / f"appends-{stamp}.png")
    print(f"Results and plot: {RESULTS}/appends-{stamp}.json and .png")


def _save_projections(settings: ProjectionSettings, name: str) -> None:
    (RESULTS / f"{name}.json").write_text(json.dumps(_finite(settings.results), indent=2))
    plot_reads(settings.results, RESULTS / f"{name}.png")
    print(f"Results and plot: {RESULTS}/{name}.json and .png")


def _live_settings(args: argparse.Namespace) -> live.LiveSettings:
    """The live suite's settings: 1,000 streams for 30 s, or 100 for 5 s with ``--quick``."""
    settings = live.LiveSettings(client_processes=args.client_processes)
    if args.quick:
        settings = live.LiveSettings(
            streams=100,
            seconds=5.0,
            baseline_seconds=3.0,
            idle_seconds=1.0,
            client_processes=args.client_processes,
        )
    if args.streams is not None:
        settings.streams = args.streams
    if args.seconds is not None:
        settings.seconds = args.seconds
    if args.rate is not None:
        settings.rate = args.rate
    return settings


def _page(args: argparse.Namespace, reads: ProjectionSettings, code: str, stamp: str) -> None:
    """The uncached page and the json_agg experiment, against ``--database-url`` or a log generated
    on the bench's server."""
    settings = page.PageSettings(reads=reads, rounds=args.rounds)
    if args.quick:
        settings.json_pages, settings.json_seconds, settings.json_sample, settings.handler_pages = (
            200,
            0.5,
            10,
            100,
        )
    settings.results["code"] = code
    with contextlib.ExitStack() as stack:
        server = "" if args.database_url is not None else stack.enter_context(postgres_server())
        print("\n".join(page.run(args.database_url, server, settings)))
    (RESULTS / f"page-{stamp}.json").write_text(json.dumps(_finite(settings.results), indent=2, default=str))
    print(f"Results: {RESULTS}/page-{stamp}.json")


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "suite",
        nargs="?",
        default="appends",
        choices=["appends", "projections", "all", "reads", "page", "live", "metrics", "preview"],
        help="reads: the timeline reads alone, against --database-url; page: the uncached page against "
        "the trivial route, and the json_agg experiment; live: live streams; metrics: what metrics cost; "
        "preview: what the preview twin costs the appends' fold (none of these in all)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="how long each measurement runs (default 5; live: the appending, default 30)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: short and small")
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help="projections: events in the large log (default 1,000,000; 5,000 with --quick)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="reads, page: an existing database holding a generated log, already built (projected)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="page: rounds of measurements (default 2)")
    parser.add_argument("--streams", type=int, default=None, help="live: concurrent streams (default 1,000)")
    parser.add_argument("--rate", type=float, default=None, help="live: appends per second (default 50)")
    parser.add_argument(
        "--client-processes", type=int, default=1, help="live: processes the streams' clients are spread over"
    )
    args = parser.parse_args()
    if args.client_processes < 1 or (args.streams is not None and args.streams < 1):
        parser.error("--streams and --client-processes take at least 1")
    live_settings = _live_settings(args)
    if args.seconds is None:
        args.seconds = 5.0
    if args.database_url is not None and args.suite not in ("reads", "page"):
        parser.error("--database-url goes with the reads and page suites")
    if args.suite == "reads" and args.database_url is None:
        parser.error("the reads suite needs --database-url")
    if args.rounds < 1:
        parser.error("--rounds takes at least 1")

    settings = appends.AppendSettings(seconds=args.seconds)
    if args.quick:
        settings = appends.AppendSettings(seconds=0.3, max_ops=2_000, clients=(1, 16), batch_clients=1)
    projection_settings = ProjectionSettings(read_seconds=args.seconds)
    if args.quick:
        projection_settings = ProjectionSettings(
            events=5_000,
            small_events=1_000,
            read_seconds=0.5,
            read_max_ops=5_000,
            lag_seconds=2.0,
            generate_seconds=60.0,
            rebuild_seconds=60.0,
            catch_up_seconds=60.0,
        )
    if args.events is not None:
        projection_settings.events = args.events
    suites = ["appends", "projections"] if args.suite == "all" else [args.suite]
    measuring = [f"{settings.seconds:g} s per append measurement"]
    if "projections" in suites:
        measuring.append(
            f"projections: logs of {projection_settings.small_events:,} and {projection_settings.events:,} events, "
            f"{projection_settings.read_seconds:g} s per read measurement"
        )
    if args.suite == "live":
        measuring = [
            f"live: {live_settings.streams:,} streams, {live_settings.rate:g} appends/s for "
            f"{live_settings.seconds:g} s (one stream: {live_settings.baseline_seconds:g} s)"
        ]
    if args.suite == "page":
        where = (
            f"database {projections.where(args.database_url)}"
            if args.database_url is not None
            else f"a generated log of {projection_settings.events:,} events"
        )
        measuring = [
            f"the uncached page against {where}, {args.rounds} rounds, "
            f"{projection_settings.read_seconds:g} s per read measurement"
        ]
    elif args.database_url is not None:
        measuring = [
            f"timeline reads against database {projections.where(args.database_url)}, "
            f"{projection_settings.read_seconds:g} s per read measurement"
        ]
    print(
        f"Dateline benchmarks on {platform.node()}: {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}; " + "; ".join(measuring)
    )
    code = code_version()
    print(f"Code: {code}")
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    # A run stopped with SIGTERM leaves through SystemExit, so its embedded server is stopped too.
    signal.signal(signal.SIGTERM, _stop)
    if args.suite == "page":
        _page(args, projection_settings, code, stamp)
    elif args.database_url is not None:
        projection_settings.results["code"] = code
        print("\n".join(projections.reads_only(args.database_url, projection_settings)))
        _save_projections(projection_settings, f"reads-{stamp}")
    else:
        with postgres_server() as server:
            if "appends" in suites:
                lines = appends.run(server, settings)
                print("\n".join(lines))
                _save_appends(settings, stamp)
            if "projections" in suites:
                projection_settings.results["code"] = code
                lines = projections.run(server, projection_settings)
                print("\n".join(lines))
                _save_projections(projection_settings, f"projections-{stamp}")
            if "metrics" in suites:
                cost = (
                    metrics_cost.MetricsSettings(rounds=2, seconds=1.0)
                    if args.quick
                    else metrics_cost.MetricsSettings()
                )
                print("\n".join(metrics_cost.run(server, cost)))
            if "preview" in suites:
                print(
                    "\n".join(
                        preview_twin.run(server, **({"events": 2_000, "rounds": 1} if args.quick else {}))
                    )
                )
            if "live" in suites:
                live_settings.results["code"] = code
                print("\n".join(live.run(server, live_settings)))
                (RESULTS / f"live-{stamp}.json").write_text(
                    json.dumps(_finite(live_settings.results), indent=2)
                )
                plot_live(live_settings.results, RESULTS / f"live-{stamp}.png")
                print(f"Results: {RESULTS}/live-{stamp}.json, plot: {RESULTS}/live-{stamp}.png")
    if (after := code_version()) != code:
        print(f"WARNING: the code changed during the run ({code} -> {after}): figures may mix versions")


if __name__ == "__main__":
    main()
