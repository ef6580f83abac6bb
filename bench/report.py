"""The projection benchmarks' report: a run's results as lines of text, every figure next to its
baseline from the same run and to its aim."""

from __future__ import annotations

import os
from typing import Any

from bench.as_of import as_of_aims
from bench.embed import embed_aims
from bench.harness import ratio
from bench.lag import LAG_AIM_MS
from bench.rebuilds import REBUILD_AIM
from bench.timeline_reads import (
    CACHED_BODIES,
    MAIN_READ,
    TRIVIAL,
    UNCACHED_MINIMUM,
    UNCACHED_P99_AIM,
    UNCACHED_READS,
    UNCACHED_THROUGHPUT_AIM,
    WORKERS,
)


def report(results: dict[str, Any]) -> list[str]:
    """Every projection measurement: the rebuild, the projection's lag, then the timeline reads."""
    lines = [f"{'measurement':44} {'rate':>10} {'unit':9} {'p50 ms':>8} {'p99 ms':>8}  ratios (same run)"]
    lines.extend(_rebuild(results))
    lines.extend(_lag(results))
    lines.append("")
    lines.extend(reads_report(results))
    generated = results["generated"]
    lines.append(
        f"(preparation: {generated['events']:,} events generated in {generated['seconds']:.0f} s, "
        f"{generated['events_per_second']:,.0f}/s; "
        + ", ".join(f"{kind} {count:,}" for kind, count in sorted(generated["types"].items()))
        + ")"
    )
    return lines


def _row(name: str, value: float, unit: str, p50: float | None, p99: float | None, *ratios: str) -> str:
    p50_text = f"{p50:8.2f}" if p50 is not None else " " * 8
    p99_text = f"{p99:8.2f}" if p99 is not None else " " * 8
    return f"{name:44} {value:10.0f} {unit:9} {p50_text} {p99_text}  {'  '.join(ratios)}"


def _rebuild(results: dict[str, Any]) -> list[str]:
    rebuilt, read = results["rebuild"], results["log_read"]
    cut = "" if rebuilt["finished"] else f" (cut short at {rebuilt['seconds']:.0f} s)"
    lines = [
        _row(
            f"rebuild, {rebuilt['events']:,} events",
            rebuilt["events_per_second"],
            "events/s",
            None,
            None,
            f"{ratio(rebuilt['events_per_second'], read['events_per_second'])} of log read only",
            f"{ratio(rebuilt['events_per_second'], REBUILD_AIM)} of aim {REBUILD_AIM:,.0f}/s{cut}",
        )
    ]
    if cpu := rebuilt.get("cpu_seconds"):
        spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in cpu.items())
        cores = sum(cpu.values()) / rebuilt["seconds"]
        lines.append(f"  rebuild CPU time: {spent}; {cores:.2f} cores busy on average over {os.cpu_count()}")
    cut = "" if read["finished"] else f" (cut short at {read['seconds']:.0f} s)"
    lines.append(
        _row(
            "  log read only: baseline",
            read["events_per_second"],
            "events/s",
            None,
            None,
            f" 1.00x  {read['events']:,} events, the rebuild's snapshot reader + decode, nothing applied{cut}",
        )
    )
    if page := results.get("first_page"):
        lines.append(
            f"  read_log's first page of 2,000: {page['ms']:.1f} ms, plan: {' > '.join(page['nodes'])}"
        )
    return lines


def _lag(results: dict[str, Any]) -> list[str]:
    lag = results["lag"]
    return [
        _row(
            f"projection lag at {results['settings']['lag_rate']:.0f} appends/s",
            lag["appends_per_second"],
            "appends/s",
            lag["lag_p50_ms"],
            lag["lag_p99_ms"],
            f"p99 {ratio(lag['lag_p99_ms'], lag['append_p99_ms'])} of append p99",
            f"p99 {ratio(lag['lag_p99_ms'], LAG_AIM_MS)} of aim {LAG_AIM_MS:.0f} ms",
        ),
        _row(
            "  append over HTTP (201): baseline",
            lag["appends_per_second"],
            "appends/s",
            lag["append_p50_ms"],
            lag["append_p99_ms"],
            f"max lag {lag['lag_max_ms']:.1f} ms, {lag['uncovered']} never covered, {lag['failures']} failed",
        ),
    ]


def reads_report(results: dict[str, Any]) -> list[str]:
    """The timeline reads at each log size, next to the trivial route; how their p99 grows with
    the log; and the uncached pages at the largest log against their aims, then the as-of and
    pinned pages against theirs (``bench/as_of.py``). Records the growth and the aims' outcome in
    ``results``."""
    lines = [
        f"{'timeline reads, limit=20':40} {'events':>9} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}"
        f"  {'vs trivial: req/s':>17} {'p50':>6} {'p99':>6}  notes"
    ]
    for size, reads in sorted(results["reads"].items(), key=lambda item: int(item[0])):
        trivial = reads[TRIVIAL]
        for name, found in reads.items():
            errors = sum(found["errors"].values())
            notes = [f"{found['urls']:,} URL{'s' if found['urls'] > 1 else ''}"]
            if (hits := found.get("hit_rate")) is not None:
                notes.append(f"hit rate {hits:.1%}")
            notes.append(f"{found['mean_body_bytes']:,.0f} B")
            if name == MAIN_READ:
                notes.insert(0, "main figure")
            if errors:
                notes.append(f"{errors} errors {found['errors']}")
            if runs := found.get("runs_requests_per_second"):
                notes.append("first and last: " + " and ".join(f"{run:.0f}" for run in runs) + " req/s")
            throughput = (
                ""
                if "1 reader" in name
                else ratio(found["requests_per_second"], trivial["requests_per_second"])
            )
            lines.append(
                f"{name:40} {int(size):9,} {found['requests_per_second']:7.0f} {found['p50_ms']:8.2f}"
                f" {found['p99_ms']:8.2f}  {throughput:>17} {ratio(found['p50_ms'], trivial['p50_ms']):>6}"
                f" {ratio(found['p99_ms'], trivial['p99_ms']):>6}  {', '.join(notes)}"
            )
    if skipped := results.get("reads_skipped"):
        lines.append(f"reads of the large log skipped: {skipped}")
    growth = _p99_growth(results["reads"])
    results["p99_growth"] = growth
    if growth:
        sizes = sorted(results["reads"], key=int)
        lines.append(f"p99 at {int(sizes[-1]):,} / p99 at {int(sizes[0]):,} events:")
        lines.extend(f"  {name:42} {value:6.2f}x" for name, value in growth.items())
    if not skipped and results["reads"]:
        lines.extend(_uncached_aims(results))
        lines.extend(as_of_aims(results))
        lines.extend(embed_aims(results, TRIVIAL, UNCACHED_READS[0]))
    return lines


def _p99_growth(reads: dict[str, dict[str, dict[str, Any]]]) -> dict[str, float]:
    sizes = sorted(reads, key=int)
    if len(sizes) < 2:
        return {}
    small, large = reads[sizes[0]], reads[sizes[-1]]
    return {name: large[name]["p99_ms"] / small[name]["p99_ms"] for name in small if name in large}


def _uncached_aims(results: dict[str, Any]) -> list[str]:
    """The uncached pages at the largest log against the trivial route of the same run: at least
    ``UNCACHED_THROUGHPUT_AIM`` of its requests per second, at most ``UNCACHED_P99_AIM`` its p99."""
    size = max(results["reads"], key=int)
    reads = results["reads"][size]
    trivial = reads[TRIVIAL]
    lines = [
        f"uncached pages at {int(size):,} events, against the trivial route in this run"
        f" (aims: req/s at least {UNCACHED_THROUGHPUT_AIM:.2f}x, p99 at most {UNCACHED_P99_AIM:.2f}x):"
    ]
    outcome: dict[str, Any] = {"events": int(size)}
    for name in UNCACHED_READS:
        if name not in reads:
            continue
        found = reads[name]
        throughput = (
            found["requests_per_second"] / trivial["requests_per_second"]
            if trivial["requests_per_second"]
            else float("nan")
        )
        p99 = found["p99_ms"] / trivial["p99_ms"] if trivial["p99_ms"] else float("nan")
        met = {"throughput": throughput >= UNCACHED_THROUGHPUT_AIM, "p99": p99 <= UNCACHED_P99_AIM}
        outcome[name] = {
            "throughput_ratio": throughput,
            "throughput_met": met["throughput"],
            "p99_ratio": p99,
            "p99_met": met["p99"],
            "hit_rate": found.get("hit_rate"),
            "urls": found["urls"],
        }
        notes = [f"{found['urls']:,} URLs"]
        if (hits := found.get("hit_rate")) is not None:
            notes.insert(0, f"hit rate {hits:.1%}")
        if found["urls"] < UNCACHED_MINIMUM:
            notes.append(
                f"fewer than the {UNCACHED_MINIMUM:,} (10 x {WORKERS} workers x {CACHED_BODIES:,} cached bodies)"
                " that make them uncached"
            )
        lines.append(
            f"  {name:42} req/s {throughput:5.2f}x: {_met(met['throughput'])}"
            f"  p99 {p99:5.2f}x: {_met(met['p99'])}  {', '.join(notes)}"
        )
    results["uncached_aims"] = outcome
    return lines


def _met(met: bool) -> str:
    return "met   " if met else "missed"
