"""``python -m bench``: run the benchmarks and print each figure with its baseline ratios."""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from bench import appends
from bench.harness import postgres_server
from bench.plot import plot_appends

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suite", nargs="?", default="appends", choices=["appends"])
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each measurement runs")
    parser.add_argument("--quick", action="store_true", help="a smoke run: short and small")
    args = parser.parse_args()

    settings = appends.Settings(seconds=args.seconds)
    if args.quick:
        settings = appends.Settings(seconds=0.3, max_ops=2_000, clients=(1, 16), batch_clients=1)
    print(
        f"Dateline benchmarks on {platform.node()}: {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}; {settings.seconds:g} s per measurement"
    )
    with postgres_server() as server:
        lines = appends.run(server, settings)
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = {
        name: {"events_per_second": rate.per_second, "p50_ms": rate.p50_ms, "p99_ms": rate.p99_ms}
        for name, rate in settings.results.items()
    }
    (RESULTS / f"{args.suite}-{stamp}.json").write_text(json.dumps(results, indent=2))
    plot_appends(results, RESULTS / f"{args.suite}-{stamp}.png")
    print(f"Results and plot: {RESULTS}/{args.suite}-{stamp}.json and .png")


if __name__ == "__main__":
    main()
