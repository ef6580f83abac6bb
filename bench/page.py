"""The uncached timeline page at a million events (issue 19): one command that measures it
against the trivial route in the same run and prints the ratios.

The two random-page scenarios of the timeline reads (an entity's timeline, and the whole
newsroom's, each at a random cursor of 50,000, so that the read cache mostly misses; the hit
share is counted from ``Cache-Status``) and the trivial route, in rounds: each round measures the
trivial route, then the entity pages, then the global pages, and one last trivial measurement
closes the run; each round's pages are set against the trivial measurements either side of it.
Beside each figure, the CPU time per request of the service's processes, PostgreSQL, the load
generator (this process) and the rest of the machine: at saturation the figures are CPU time.
Then the ``json_agg`` experiment (``bench/page_json.py``) on the same pages.

Against ``--database-url`` (a generated log, built), or a log of ``--events`` generated into a
throwaway database of the bench's server and rebuilt first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil
from yarl import URL

from bench import page_json, page_json_app, trivial_app
from bench.harness import READ_MODEL, caught_up, fresh_database, postgres_cpu_seconds, service, vacuum
from bench.newsroom_log import KIND, generate
from bench.projection_settings import ProjectionSettings
from bench.projections import log_size
from bench.rebuilds import timed_rebuild
from bench.timeline_reads import (
    TRIVIAL,
    UNCACHED_MINIMUM,
    UNCACHED_READS,
    UNCACHED_URLS,
    Reads,
    entity_slugs,
    idle,
    pooled,
    read_load,
    sample_pages,
    uncached_scenarios,
)

# Issue 19's aims for the uncached page, against the trivial route in the same run.
PAGE_THROUGHPUT_AIM = 0.2  # at least this fraction of the trivial route's requests per second
PAGE_P99_AIM = 5.0  # at most this multiple of the trivial route's p99


@dataclass
class PageSettings:
    reads: ProjectionSettings = field(default_factory=ProjectionSettings)
    """The readers, each measurement's length and bounds, the log's size and deadlines."""
    rounds: int = 2
    json_pages: int = 2_000
    """Pages of each kind the json_agg experiment goes through."""
    json_seconds: float = 4.0
    """How long each of the experiment's measurements runs at most."""
    json_sample: int = 100
    """Pages of each kind whose bodies are checked equal both ways, in each language."""
    handler_pages: int = 1_000
    """Pages of each kind the service's handler is timed on in this process, and as many profiled."""
    results: dict[str, Any] = field(default_factory=dict)


def _cpu_seconds(url: str) -> dict[str, float]:
    """CPU time so far of the service's processes, the trivial app's, this process's, PostgreSQL's,
    and the machine's busy time in all."""
    own = psutil.Process()
    found = {"service": 0.0, "trivial": 0.0, "bench": sum(own.cpu_times()[:2])}
    for child in own.children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.name().startswith("postgres"):  # an embedded server, counted below
                continue
            name = "trivial" if "trivial_app" in " ".join(child.cmdline()) else "service"
            for process in [child, *child.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    found[name] += sum(process.cpu_times()[:2])
    found["postgres"] = asyncio.run(postgres_cpu_seconds(url)) or 0.0
    machine = psutil.cpu_times()
    found["machine"] = machine.user + machine.system + machine.nice + getattr(machine, "softirq", 0.0)
    return found


def _measured(
    url: str, urls: list[URL], settings: ProjectionSettings, seed: int
) -> tuple[Reads, dict[str, float]]:
    """One scenario's reads, and the CPU milliseconds per request each party spent on them."""
    asyncio.run(idle(url, settings.request_seconds * 4))
    before = _cpu_seconds(url)
    reads = asyncio.run(read_load(urls, settings, seed))
    after = _cpu_seconds(url)
    spent = {name: after[name] - before[name] for name in before}
    spent["others"] = spent.pop("machine") - sum(spent.values())
    return reads, {name: seconds / max(1, reads.rate.events) * 1000 for name, seconds in spent.items()}


@contextlib.contextmanager
def _database(database_url: str | None, server_url: str, settings: ProjectionSettings) -> Iterator[str]:
    """The database measured: the one given, or a generated log in a fresh one, rebuilt."""
    if database_url is not None:
        yield database_url
        return
    with fresh_database(server_url) as url:
        generated = asyncio.run(
            generate(
                url,
                settings.events,
                entities=settings.entities,
                seed=settings.seed,
                seconds=settings.generate_seconds,
            )
        )
        print(f"(generated {generated.events:,} events in {generated.seconds:.0f} s)")
        asyncio.run(vacuum(url, ["events"]))
        rebuilt = asyncio.run(timed_rebuild(url, settings.rebuild_seconds))
        if not rebuilt.finished:
            raise SystemExit(
                f"the rebuild was cut short at {rebuilt.seconds:.0f} s: the read model is incomplete"
            )
        yield url


def run(database_url: str | None, server_url: str, settings: PageSettings) -> list[str]:
    """The uncached pages and the trivial route in rounds, then the experiment; the report's lines."""
    reads = settings.reads
    results = settings.results
    with _database(database_url, server_url, reads) as url:
        with service(url) as base:
            asyncio.run(caught_up(base, reads.catch_up_seconds))
            if not asyncio.run(entity_slugs(url, KIND)):
                raise SystemExit(f"no entities of kind {KIND!r}: is it a generated log?")
            if reads.analyze:
                asyncio.run(vacuum(url, READ_MODEL))
            starts, pages = asyncio.run(sample_pages(url, UNCACHED_URLS))
            scenarios = uncached_scenarios(base, starts, pages)
            measured: list[dict[str, tuple[Reads, dict[str, float]]]] = []
            with trivial_app.serve() as trivial_base:
                trivial_urls = [URL(f"{trivial_base}{trivial_app.PATH}")]
                for round_ in range(settings.rounds):
                    found = {TRIVIAL: _measured(url, trivial_urls, reads, seed=0)}
                    for seed, (name, urls) in enumerate(scenarios.items(), start=1 + 10 * round_):
                        found[name] = _measured(url, urls, reads, seed)
                    measured.append(found)
                closing = _measured(url, trivial_urls, reads, seed=0)
        with page_json_app.serve(url) as both:
            results["json_agg_http"] = _both_over_http(url, both, starts, pages, reads)
        results["events"] = asyncio.run(log_size(url))
        results["rounds"] = _rounds(measured, closing)
        print("(measuring the json_agg experiment)")
        results["json_agg"] = asyncio.run(
            page_json.compare(
                url,
                starts,
                pages,
                pages=settings.json_pages,
                seconds=settings.json_seconds,
                sample=settings.json_sample,
            )
        )
        results["handler"] = asyncio.run(page_json.handler_cost(url, scenarios, settings.handler_pages))
    return (
        report(results)
        + page_json.report(results["json_agg"])
        + _http_report(results["json_agg_http"])
        + page_json.handler_report(results["handler"])
    )


def _both_over_http(
    url: str, base: str, starts: list[str], pages: list[tuple[str, str]], settings: ProjectionSettings
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The same random pages from ``bench/page_json_app.py``'s two routes, 64 readers, in the
    order app, composed, composed, app for each kind: each run's figures and CPU per request."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for kind in ("entity", "global"):
        runs: dict[str, list[dict[str, Any]]] = {"app": [], "composed": []}
        for seed, path in enumerate(("app", "composed", "composed", "app"), start=100):
            urls = (
                [URL(f"{base}/{path}").with_query(slug=slug, cursor=cursor) for slug, cursor in pages]
                if kind == "entity"
                else [URL(f"{base}/{path}").with_query(cursor=cursor) for cursor in starts]
            )
            reads, cpu = _measured(url, urls, settings, seed)
            runs[path].append({**reads.summary(), "cpu_ms": cpu})
        found[kind] = runs
    return found


def _http_report(found: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    lines = [
        "json_agg over HTTP (bench/page_json_app.py: both ways in one bare app, no cache, 64 readers),"
        " each run: req/s, p99 ms, CPU ms a request of the app and of PostgreSQL"
    ]
    for kind, runs in found.items():
        mean = {path: sum(run["requests_per_second"] for run in got) / len(got) for path, got in runs.items()}
        for path, got in runs.items():
            lines.append(
                f"  {kind:7} {path:9} "
                + "; ".join(
                    f"{run['requests_per_second']:.0f} req/s, p99 {run['p99_ms']:.1f},"
                    f" CPU {run['cpu_ms']['service']:.2f} + {run['cpu_ms']['postgres']:.2f}"
                    + (f", {sum(run['errors'].values())} errors" if run["errors"] else "")
                    for run in got
                )
            )
        lines.append(f"  {kind:7} composed/app req/s: {mean['composed'] / mean['app']:.2f}x")
    return lines


def _rounds(
    measured: list[dict[str, tuple[Reads, dict[str, float]]]], closing: tuple[Reads, dict[str, float]]
) -> list[dict[str, Any]]:
    """Each round's figures, its pages set against the trivial route pooled from its own
    measurement and the next (the closing one, for the last round)."""
    rounds = []
    for index, found in enumerate(measured):
        following = measured[index + 1][TRIVIAL] if index + 1 < len(measured) else closing
        trivial = pooled([found[TRIVIAL][0], following[0]])
        summary: dict[str, Any] = {TRIVIAL: {**trivial.summary(), "cpu_ms": found[TRIVIAL][1]}}
        for name in UNCACHED_READS:
            reads, cpu = found[name]
            throughput = (
                reads.rate.per_second / trivial.rate.per_second if trivial.rate.per_second else float("nan")
            )
            p99 = reads.rate.p99_ms / trivial.rate.p99_ms if trivial.rate.p99_ms else float("nan")
            summary[name] = {
                **reads.summary(),
                "cpu_ms": cpu,
                "throughput_ratio": throughput,
                "p99_ratio": p99,
                "throughput_met": throughput >= PAGE_THROUGHPUT_AIM,
                "p99_met": p99 <= PAGE_P99_AIM,
            }
        rounds.append(summary)
    return rounds


def report(results: dict[str, Any]) -> list[str]:
    """Each round's lines, then each page's ratios over the rounds against the aims."""
    lines = [
        f"uncached page at {results['events']:,} events, limit=20, against the trivial route in the same run"
        f" (aims: req/s at least {PAGE_THROUGHPUT_AIM:.2f}x, p99 at most {PAGE_P99_AIM:.2f}x)",
        f"  {'round, scenario':40} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'req/s x':>7} {'p99 x':>6}"
        f" {'hits':>6}  CPU ms a request: the app served (the service, or the trivial app), PostgreSQL,"
        " the load generator, the rest of the machine",
    ]
    for number, found in enumerate(results["rounds"], start=1):
        for name, figures in found.items():
            cpu = figures["cpu_ms"]
            ratios = (
                f"{figures['throughput_ratio']:6.2f}x {figures['p99_ratio']:5.2f}x {figures['hit_rate']:6.1%}"
                if name != TRIVIAL
                else f"{'':7} {'':6} {'':6}"
            )
            errors = sum(figures["errors"].values())
            lines.append(
                f"  {number} {name:38} {figures['requests_per_second']:7.0f} {figures['p50_ms']:7.2f}"
                f" {figures['p99_ms']:7.2f} {ratios}  {cpu['trivial' if name == TRIVIAL else 'service']:.2f},"
                f" {cpu['postgres']:.2f},"
                f" {cpu['bench']:.2f}, {cpu['others']:.2f}"
                + (f"  {errors} errors {figures['errors']}" if errors else "")
            )
    for name in UNCACHED_READS:
        throughputs = [found[name]["throughput_ratio"] for found in results["rounds"]]
        p99s = [found[name]["p99_ratio"] for found in results["rounds"]]
        failed = any(sum(found[name]["errors"].values()) for found in results["rounds"])
        urls = results["rounds"][0][name]["urls"]
        few = (
            f", fewer than the {UNCACHED_MINIMUM:,} that make them uncached"
            if urls < UNCACHED_MINIMUM
            else ""
        )
        lines.append(
            f"  {name:42} req/s {min(throughputs):.2f}x to {max(throughputs):.2f}x:"
            f" {_met(min(throughputs) >= PAGE_THROUGHPUT_AIM and not failed)}"
            f"  p99 {min(p99s):.2f}x to {max(p99s):.2f}x: {_met(max(p99s) <= PAGE_P99_AIM and not failed)}"
            f"  ({len(throughputs)} rounds, {urls:,} URLs{few}{', FAILED: errors' if failed else ''})"
        )
    return lines


def _met(met: bool) -> str:
    return "met" if met else "missed"
