"""Draw a benchmark run's results as a PNG, for docs/benchmarks.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

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


def plot_reads(results: dict[str, Any], output: Path) -> None:
    """Timeline read latency (p50 and p99) against the log's size, next to the trivial route."""
    reads: dict[str, dict[str, dict[str, Any]]] = results["reads"]
    sizes = sorted(reads, key=int)
    figure, axes = plt.subplots(figsize=(11, 5))
    names = [name for name in reads[sizes[0]] if name != "trivial route"]
    for index, name in enumerate(names):
        points = [(int(size), reads[size][name]) for size in sizes if name in reads[size]]
        xs = [size for size, _ in points]
        color = f"C{index}"
        axes.plot(xs, [found["p99_ms"] for _, found in points], "o-", color=color, label=f"{name}: p99")
        axes.plot(
            xs, [found["p50_ms"] for _, found in points], "s--", color=color, label=f"{name}: p50", alpha=0.7
        )
    trivial = [(int(size), reads[size]["trivial route"]) for size in sizes if "trivial route" in reads[size]]
    if trivial:
        xs = [size for size, _ in trivial]
        axes.plot(
            xs, [found["p99_ms"] for _, found in trivial], "o-", color="0.5", label="trivial route: p99"
        )
        axes.plot(
            xs, [found["p50_ms"] for _, found in trivial], "s--", color="0.5", label="trivial route: p50"
        )
    axes.set_xscale("log")
    axes.set_xticks([int(size) for size in sizes], [f"{int(size):,}" for size in sizes])
    axes.minorticks_off()
    axes.set_xlabel("events in the log")
    axes.set_ylabel("latency, ms (log scale)")
    axes.set_yscale("log")
    settings = results.get("settings", {})
    axes.set_title(
        f"Timeline reads, limit=20: {settings.get('readers', 64)} concurrent readers unless marked 1 reader"
        " (same PostgreSQL, same run)"
    )
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(output, dpi=110)


def plot_live(results: dict[str, Any], output: Path) -> None:
    """Latency from each 201 to its arrival, one stream against many, beside the worker's CPU."""
    figure, (latency, cpu) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2, 1.2]})
    phases = [("one", "1 stream"), ("many", f"{results['settings']['streams']:,} streams")]
    width = 0.26
    for offset, (key, label) in enumerate([("p50_ms", "p50"), ("p99_ms", "p99"), ("max_ms", "max")]):
        values = [results[phase]["deliveries"][key] for phase, _ in phases]
        bars = latency.bar(
            [index + (offset - 1) * width for index in range(len(phases))], values, width, label=label
        )
        latency.bar_label(bars, fmt="%.0f", fontsize=7)
    latency.axhline(results["aim"]["aim_p99_ms"], color="C3", linestyle="--", linewidth=1, label="aim: p99")
    latency.set_xticks(range(len(phases)), [name for _, name in phases])
    latency.set_ylabel("ms from the append's 201 to the stream")
    latency.set_title(f"Every append to every stream, {results['settings']['rate']:g} appends/s")
    latency.legend(fontsize=8)
    labels = ["no stream", *[name for _, name in phases]]
    for offset, (who, label) in enumerate([("worker", "API worker"), ("postgres", "PostgreSQL")]):
        values = [
            results[phase]["cpu_seconds"][who] / results[phase]["window_seconds"]
            for phase in ("none", "one", "many")
        ]
        bars = cpu.bar([index + (offset - 0.5) * 0.38 for index in range(3)], values, 0.38, label=label)
        cpu.bar_label(bars, fmt="%.2f", fontsize=7)
    cpu.set_xticks(range(3), labels)
    cpu.set_ylabel("CPU seconds per second")
    cpu.set_title("What the appends and the fan-out cost")
    cpu.legend(fontsize=8)
    figure.suptitle("Live streams on one API process (same PostgreSQL, same run, 2 cores)")
    figure.tight_layout()
    figure.savefig(output, dpi=110)


if __name__ == "__main__":
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    data = json.loads(source.read_text())
    if "reads" in data:
        plot_reads(data, target)
    elif "many" in data:
        plot_live(data, target)
    else:
        plot_appends(data, target)
