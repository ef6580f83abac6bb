"""Draw a benchmark run's results as a PNG, for docs/benchmarks.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use(): the backend must be chosen first


def plot_appends(results: dict[str, dict[str, float]], output: Path) -> None:
    groups = [("1 client", "x1"), ("16 clients", "x16"), ("64 clients", "x64")]
    series = [
        ("Dateline over HTTP", "http single"),
        ("raw asyncpg", "raw single"),
        ("eventsourcing", "eventsourcing"),
    ]
    figure, (singles, batches) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.26
    for offset, (label, prefix) in enumerate(series):
        values = [results.get(f"{prefix} {suffix}", {}).get("events_per_second", 0.0) for _, suffix in groups]
        positions = [index + (offset - 1) * width for index in range(len(groups))]
        bars = singles.bar(positions, values, width, label=label)
        singles.bar_label(bars, labels=[f"{value:.0f}" if value else "" for value in values], fontsize=7)
    singles.set_xticks(range(len(groups)), [name for name, _ in groups])
    singles.set_ylabel("events per second")
    singles.set_title("One event per request / transaction")
    singles.legend(fontsize=8)
    batch = [("Dateline over HTTP", "http batch"), ("raw asyncpg", "raw batch")]
    values = [results.get(key, {}).get("events_per_second", 0.0) for _, key in batch]
    bars = batches.bar([name for name, _ in batch], values, color=["C0", "C1"])
    batches.bar_label(bars, fmt="%.0f", fontsize=7)
    batches.set_title("1,000 events per request / insert")
    figure.suptitle("Append throughput, same PostgreSQL, same run (2 cores)")
    figure.tight_layout()
    figure.savefig(output, dpi=110)


if __name__ == "__main__":
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    plot_appends(json.loads(source.read_text()), target)
