"""An experiment: PostgreSQL composing the uncached timeline page's JSON (``json_agg``, as
PostgREST does), against the app's own path, on the same pages in the same run.

The app's path is what the service runs for an uncached page, minus HTTP: the newsroom reader's
``timeline`` (the store's SQL, its rows decoded into ``Item`` structs by msgspec), then
``timeline_page`` (each item in the reader's language), then the read cache's encoder. The
composed path runs the same selection (the store's ``timeline_sql``), wrapped so that PostgreSQL
builds each entry in the wire shape of ``TimelinePage``'s items: the texts of the reader's
language picked in SQL, the display date written from the locale's pattern and month names
(taken from Babel in Python, passed as parameters), the rest copied from the stored item's JSON.
Python only encodes the next page's cursor and puts the two together.

It is composed two ways (``FORMS``): reading the stored item as the json it is kept as, or as
jsonb converted once. All three are called in this process (the ETag both would share is left
out), one page at a time and then 16 at a time, in the order ``ORDER``, with the CPU time this
process and PostgreSQL spent; the bodies are first checked equal as JSON values (PostgreSQL
spaces its JSON differently) on a sample of pages in three languages. Nothing of the service's
read path is changed: the composed path lives here only, and names the store's statement in one
place (``composed_sql``). A profile of the app's path, ``EXPLAIN (ANALYZE, BUFFERS)`` of the
statements, and the service's whole handler timed and profiled over ASGI in this process
(``handler_cost``) say where an uncached page's time goes.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any, Literal

import msgspec
from babel.dates import match_skeleton, tokenize_pattern
from yarl import URL

from bench import app_cost
from bench.harness import measure, postgres_cpu_seconds
from service.domain import cursors
from service.domain.cursors import TimelineCursor
from service.domain.queries import TimelineQuery
from service.presentation.languages import locale_of
from service.presentation.timelines import timeline_page
from service.projections.newsroom import NewsroomReader
from service.store import Database
from service.store.database import create_pool
from service.store.newsroom import reads as tables

_encode = msgspec.json.Encoder().encode
LANGUAGES = ("en", "fr", "de")
"""English and French, which the generated log writes, and one it does not (each text's first)."""
Form = Literal["json", "jsonb"]
FORMS: tuple[Form, ...] = ("json", "jsonb")
"""How the composed statement reads each stored item: as the json it is kept as (each ``->``
parses the text again), or converted to jsonb once (each ``->`` a lookup), the written json
kept for what needs its order (a text's first language) and for the rare follow-ups."""
PATHS = ("app", *FORMS)
EXPLAINED = 3
ORDER = (*PATHS, *reversed(PATHS))
"""Each path measured twice, in this order: a drift of the machine weighs on both alike."""

# The skeletons the presentation formats dates with (service/presentation/languages.py), by
# the read model's precision: year, month, day; an instant is Babel's medium date and time.
_SKELETONS = ("y", "yMMMM", "yMMMMd")
# The date fields those patterns use in the languages checked, each as a template's
# placeholder, and what SQL writes in its place (``local``: the instant in UTC).
_FIELDS = {
    ("y", 1): "{y}",
    ("M", 4): "{MMMM}",
    ("M", 3): "{MMM}",
    ("M", 2): "{MM}",
    ("d", 1): "{d}",
    ("d", 2): "{dd}",
    ("h", 1): "{h}",
    ("H", 2): "{HH}",
    ("m", 2): "{mm}",
    ("s", 2): "{ss}",
    ("a", 1): "{a}",
}


def _template(pattern: str, language: str) -> str:
    template = ""
    for kind, value in tokenize_pattern(pattern):
        if kind == "chars":
            template += str(value)
        elif (field := _FIELDS.get(value)) is not None:  # type: ignore[arg-type]
            template += field
        else:
            raise ValueError(f"{language}: the date field {value} is not written in SQL here")
    return template


@cache
def date_patterns(language: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """The locale's display-date templates for a year, a month, a day and an instant (in
    ``_FIELDS``' placeholders), its month names, wide and abbreviated, and its AM and PM: what
    SQL needs to write a partial date as the presentation does with Babel."""
    locale = locale_of(language)
    templates = []
    for skeleton in _SKELETONS:
        matched = (
            skeleton
            if skeleton in locale.datetime_skeletons
            else match_skeleton(skeleton, locale.datetime_skeletons)
        )
        assert matched is not None
        templates.append(_template(locale.datetime_skeletons[matched].pattern, language))
    instant = (
        str(locale.datetime_formats["medium"])
        .replace("'", "")
        .replace("{0}", _template(locale.time_formats["medium"].pattern, language))
        .replace("{1}", _template(locale.date_formats["medium"].pattern, language))
    )
    templates.append(instant + " UTC")
    months = locale.months["format"]
    periods = locale.day_periods["format"]["abbreviated"]
    return (
        templates,
        [months["wide"][month] for month in range(1, 13)],
        [months["abbreviated"][month] for month in range(1, 13)],
        [periods["am"], periods["pm"]],
    )


def _utc(column: str) -> str:
    """A timestamptz as msgspec writes a UTC datetime: ``2024-05-01T00:00:00Z``."""
    local = f"({column} at time zone 'UTC')"
    return (
        f"""to_char({local}, 'YYYY-MM-DD"T"HH24:MI:SS') || case when extract(microseconds from {local})::int"""
        f""" % 1000000 = 0 then '' else to_char({local}, '.US') end || 'Z'"""
    )


def _text(texts: str, written: str, lang: str, base: str) -> str:
    """``pick``'s text in SQL: the reader's language, its base language, else the first written
    (from ``written``, the same texts as json: jsonb does not keep the order they were written in)."""
    return (
        f"coalesce({texts}->>{lang}, {texts}->>{base}, (select value from json_each_text({written}) limit 1))"
    )


def _language(texts: str, written: str, lang: str, base: str) -> str:
    """``pick``'s language in SQL."""
    return (
        f"case when {texts}->{lang} is not null then {lang} when {texts}->{base} is not null then {base}"
        f" else (select key from json_each_text({written}) limit 1) end"
    )


def composed_sql(query: TimelineQuery, form: Form, language: str) -> tuple[str, list[object]]:
    """The store's timeline statement for ``query``, wrapped so that it answers one row: the
    page's items as JSON in the wire shape of ``TimelinePage`` for a reader of ``language``, and
    the sort key of the last item shown when there is a next page. Its parameters: the store's,
    then the language, its base, the date templates, the month names wide and abbreviated, AM
    and PM, and the limit."""
    sql, params = tables.timeline_sql(query)
    # The store's statement selects only each item's JSON from its ordered rows; the sort key
    # is taken too, for the end of the interval, the date and the cursor.
    inner = "select item from ("
    if not sql.startswith(inner):
        raise RuntimeError("the store's timeline statement changed shape: re-point bench/page_json.py")
    sql = "select item, start, precision, position from (" + sql.removeprefix(inner)
    n = len(params)
    lang, base, templates, months, short, periods, limit = (f"${n + k}" for k in range(1, 8))
    direction = "desc" if query.descending else "asc"
    end = (
        "(start at time zone 'UTC' + case precision when 9 then interval '1 year' when 10 then interval"
        " '1 month' when 11 then interval '1 day' else interval '1 microsecond' end) at time zone 'UTC'"
    )
    local = "(start at time zone 'UTC')"
    written = {
        "{MMMM}": f"({months}::text[])[extract(month from {local})::int]",
        "{MMM}": f"({short}::text[])[extract(month from {local})::int]",
        "{MM}": f"to_char({local}, 'MM')",
        "{dd}": f"to_char({local}, 'DD')",
        "{d}": f"extract(day from {local})::int::text",
        "{y}": f"extract(year from {local})::int::text",
        "{h}": f"to_char({local}, 'FMHH12')",
        "{HH}": f"to_char({local}, 'HH24')",
        "{mm}": f"to_char({local}, 'MI')",
        "{ss}": f"to_char({local}, 'SS')",
        "{a}": f"({periods}::text[])[case when extract(hour from {local}) < 12 then 1 else 2 end]",
    }
    display = f"({templates}::text[])[case precision when 9 then 1 when 10 then 2 when 11 then 3 else 4 end]"
    for placeholder, value in written.items():
        display = f"replace({display}, '{placeholder}', {value})"
    i, w, empty = (
        ("p.item", "p.written", "'[]'::jsonb") if form == "jsonb" else ("p.item", "p.item", "'[]'::json")
    )
    entry = f"""json_build_object(
        'id', {i}->'id', 'type', {i}->'type', 'stream', {i}->'stream',
        'occurred', json_build_object('value', {i}->'occurred',
            'precision', case precision when 9 then 'year' when 10 then 'month' when 11 then 'day' else 'instant' end,
            'start', {_utc("start")}, 'end', {_utc(end)}),
        'display_date', {display},
        'headline', coalesce({_text(f"({i}->'headline')", f"({w}->'headline')", lang, base)}, ''),
        'language', coalesce({_language(f"({i}->'headline')", f"({w}->'headline')", lang, base)}, {lang}::text),
        'status', {i}->'status', 'entities', {i}->'entities',
        'sources', coalesce({i}->'sources', {empty}), 'tags', coalesce({i}->'tags', {empty}),
        'position', {i}->'position', 'recorded_at', {i}->'recorded_at', 'updated_at', {i}->'updated_at',
        'link', '/v1/events/' || ({i}->>'id'),
        'summary', {_text(f"({i}->'summary')", f"({w}->'summary')", lang, base)},
        'summary_language', {_language(f"({i}->'summary')", f"({w}->'summary')", lang, base)},
        'details', coalesce({i}->'details', {empty.replace("[]", "{}")}),
        'corrections', case when {i}->'corrections' is null then '[]'::json else (
            select json_agg(json_build_object('event_id', c->'event_id',
            'date', c->'recorded_at', 'note', coalesce({_text("(c->'note')", "(c->'note')", lang, base)}, ''),
            'language', coalesce({_language("(c->'note')", "(c->'note')", lang, base)}, {lang}::text),
            'changed', c->'changed')) from json_array_elements({w}->'corrections') c) end,
        'retracted', case when {form}_typeof({i}->'retracted') = 'object' then json_build_object(
            'event_id', {w}->'retracted'->'event_id', 'date', {w}->'retracted'->'recorded_at',
            'reason', coalesce({_text(f"({w}->'retracted'->'reason')", f"({w}->'retracted'->'reason')", lang, base)}, ''),
            'language', coalesce({_language(f"({w}->'retracted'->'reason')", f"({w}->'retracted'->'reason')", lang, base)}, {lang}::text)) end
    )"""
    read = "item::jsonb as item, item::json as written" if form == "jsonb" else "item::json as item"
    order = f"start {direction}, precision {direction}, position {direction}"
    statement = f"""
    with p as (
        select {read}, start, precision, position, row_number() over (order by {order}) as n
        from ({sql}) page
    )
    select (select coalesce(json_agg({entry} order by n), '[]')::text from p where n <= {limit}::int),
           last.start, last.precision, last.position
    from (select) one left join lateral (
        select start, precision, position from p where n = {limit}::int and exists (select from p where n > {limit}::int)
    ) last on true
    """
    return statement, [*params, language, language.split("-")[0], *date_patterns(language), query.limit]


async def composed_page(db: Database, query: TimelineQuery, language: str, form: Form) -> bytes:
    """The page's body, composed by PostgreSQL (``query`` already of its entity's slugs)."""
    statement, params = composed_sql(query, form, language)
    row = await db.fetchrow(statement, *params)
    assert row is not None
    following = None if row[1] is None else cursors.encode(TimelineCursor(row[1], row[2], row[3]))
    items: str = row[0]
    return b'{"items":' + items.encode() + b',"next":' + _encode(following) + b"}"


async def app_page(reader: NewsroomReader, query: TimelineQuery, language: str) -> bytes:
    """The page's body as the service builds it: store, msgspec, presentation, encoder."""
    return _encode(timeline_page(await reader.timeline(query), language))


@dataclass(frozen=True)
class Pages:
    """The pages compared: each kind's queries as the service's parameters make them (``app``),
    and the same with the entity's slugs resolved (``composed``: the app resolves them once per
    checkpoint, so they are resolved once here, before measuring)."""

    app: dict[str, list[TimelineQuery]]
    composed: dict[str, list[TimelineQuery]]


async def pages_of(
    db: Database, starts: Sequence[str], entity_pages: Sequence[tuple[str, str]], count: int
) -> Pages:
    """Up to ``count`` pages of each kind, from the same sample the HTTP scenarios draw from."""
    app = {
        "entity": [
            TimelineQuery(entity=slug, after=cursors.decode(cursor, TimelineCursor))
            for slug, cursor in entity_pages[:count]
        ],
        "global": [TimelineQuery(after=cursors.decode(cursor, TimelineCursor)) for cursor in starts[:count]],
    }
    resolved: dict[str, list[str]] = {}
    for query in app["entity"]:
        assert query.entity is not None
        if query.entity not in resolved:
            found = await tables.resolve_entity(db, query.entity)
            assert found is not None
            profile, merged = found
            resolved[query.entity] = [profile.slug, *merged]
    composed = {
        "entity": [query.of(resolved[query.entity or ""]) for query in app["entity"]],
        "global": app["global"],
    }
    return Pages(app, composed)


async def check(reader: NewsroomReader, db: Database, pages: Pages, sample: int) -> dict[str, Any]:
    """Every path's body for the first ``sample`` pages of each kind in each language, compared
    with the app's as JSON values; how many differed, the first difference, the mean sizes."""
    compared, differed, first = 0, 0, None
    sizes = dict.fromkeys(PATHS, 0)
    for kind in pages.app:
        chosen = list(zip(pages.app[kind], pages.composed[kind], strict=True))[:sample]
        for app_query, composed_query in chosen:
            for language in LANGUAGES:
                bodies = {"app": await app_page(reader, app_query, language)}
                for form in FORMS:
                    bodies[form] = await composed_page(db, composed_query, language, form)
                compared += 1
                for path, body in bodies.items():
                    sizes[path] += len(body)
                wanted = msgspec.json.decode(bodies["app"])
                for form in FORMS:
                    if msgspec.json.decode(bodies[form]) != wanted:
                        differed += 1
                        first = first or f"{kind} page, {language}, {form}: {bodies[form][:300]!r}"
    return {
        "compared": compared,
        "differed": differed,
        "first_difference": first,
        "mean_bytes": {path: size / max(1, compared) for path, size in sizes.items()},
    }


@dataclass(frozen=True)
class Timed:
    pages_per_second: float
    p50_ms: float
    p99_ms: float
    python_cpu_ms: float
    """This process's CPU time per page."""
    postgres_cpu_ms: float
    """PostgreSQL's CPU time per page (every process of the server)."""


async def timed(
    url: str,
    clients: int,
    seconds: float,
    queries: Sequence[TimelineQuery],
    page: Callable[[TimelineQuery], Awaitable[bytes]],
) -> Timed:
    """``page`` over ``queries`` in turn from ``clients`` loops, bounded by ``seconds`` and one pass."""
    sent = [0]

    async def one(_client: int, _n: int) -> int:
        query = queries[sent[0] % len(queries)]
        sent[0] += 1
        await page(query)
        return 1

    postgres = await postgres_cpu_seconds(url) or 0.0
    python = time.process_time()
    rate = await measure(clients, seconds, len(queries), one)
    python = time.process_time() - python
    postgres = (await postgres_cpu_seconds(url) or 0.0) - postgres
    pages = max(1, rate.events)
    return Timed(rate.per_second, rate.p50_ms, rate.p99_ms, python / pages * 1000, postgres / pages * 1000)


async def profiled(reader: NewsroomReader, queries: Sequence[TimelineQuery], top: int = 8) -> dict[str, Any]:
    """Where the app's path spends this process's CPU, one page at a time: each stage's share
    (the store's query and decode, the presentation, the encoder), then, in a second pass,
    cProfile's functions by their own CPU time (the profiler's overhead inflates those)."""
    stages = {"store: query and decode": 0.0, "presentation": 0.0, "encode": 0.0}
    for query in queries:
        begin = time.process_time()
        found = await reader.timeline(query)
        fetched = time.process_time()
        page = timeline_page(found, "en")
        presented = time.process_time()
        _encode(page)
        stages["store: query and decode"] += fetched - begin
        stages["presentation"] += presented - fetched
        stages["encode"] += time.process_time() - presented
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for query in queries:
        await app_page(reader, query, "en")
    profiler.disable()
    return {
        "pages": len(queries),
        "stages_ms": {name: seconds / len(queries) * 1000 for name, seconds in stages.items()},
        "functions_ms": _heaviest(profiler, len(queries), top),
    }


async def explained(db: Database, query: TimelineQuery) -> dict[str, Any]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the store's statement for ``query`` and of the composed
    ones, each the fastest of ``EXPLAINED`` runs: planning and execution times, shared buffers
    hit and read."""
    statements: dict[str, tuple[str, list[object]]] = {"app": tables.timeline_sql(query)}
    statements.update({form: composed_sql(query, form, "en") for form in FORMS})
    found = {}
    for name, (statement, params) in statements.items():
        plans = [
            msgspec.json.decode(
                await db.fetchval(f"explain (analyze, buffers, format json) {statement}", *params)
            )[0]
            for _ in range(EXPLAINED)
        ]
        top = min(plans, key=lambda plan: plan["Planning Time"] + plan["Execution Time"])
        found[name] = {
            "planning_ms": top["Planning Time"],
            "execution_ms": top["Execution Time"],
            "shared_hit": top["Plan"].get("Shared Hit Blocks", 0),
            "shared_read": top["Plan"].get("Shared Read Blocks", 0),
        }
    return found


def _heaviest(
    profiler: cProfile.Profile, count: int, top: int, *, cumulative: bool = False
) -> list[tuple[str, float]]:
    """cProfile's functions by their own CPU time (or their cumulative, for the service's
    own functions), in milliseconds per page."""
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = [
        row
        for row in stats.stats.items()  # type: ignore[attr-defined]
        if not cumulative or "/service/" in row[0][0]
    ]
    index = 3 if cumulative else 2
    return [
        (f"{name} ({filename.rsplit('/', 2)[-1]}:{line})", figures[index] / count * 1000)
        for (filename, line, name), figures in sorted(rows, key=lambda row: -row[1][index])[:top]
    ]


async def handler_cost(url: str, scenarios: dict[str, list[URL]], count: int) -> dict[str, Any]:
    """The service's own handler for ``count`` uncached pages of each scenario, in this process
    over ASGI (no server, no client, one request at a time): its CPU and PostgreSQL's per page,
    then, on as many other pages, cProfile's heaviest functions."""
    os.environ["DATABASE_URL"] = url
    # Rate limits on, above any rate reached here, as in the other benches.
    os.environ.setdefault("DATELINE_READ_RATE", "1000000/second")
    os.environ.setdefault("DATELINE_WRITE_RATE", "1000000/second")
    found: dict[str, Any] = {}
    async with app_cost.in_process() as answer:
        for name, urls in scenarios.items():
            measured, profiled_urls = urls[:count], urls[count : 2 * count]
            hits, failed = 0, 0
            postgres = await postgres_cpu_seconds(url) or 0.0
            python = time.process_time()
            for target in measured:
                start = await answer(target.path, target.raw_query_string.encode())
                failed += start["status"] != 200
                hits += dict(start["headers"]).get(b"cache-status") == b"dateline; hit"
            python = time.process_time() - python
            postgres = (await postgres_cpu_seconds(url) or 0.0) - postgres
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for target in profiled_urls:
                await answer(target.path, target.raw_query_string.encode())
            profiler.disable()
            found[name] = {
                "pages": len(measured),
                "hits": hits,
                "failed": failed,
                "python_cpu_ms": python / len(measured) * 1000,
                "postgres_cpu_ms": postgres / len(measured) * 1000,
                "own_ms": _heaviest(profiler, len(profiled_urls), 10),
                "cumulative_ms": _heaviest(profiler, len(profiled_urls), 10, cumulative=True),
            }
    return found


def handler_report(found: dict[str, Any]) -> list[str]:
    lines = ["the service's handler in this process over ASGI, one uncached page at a time (CPU a page):"]
    for name, figures in found.items():
        lines.append(
            f"  {name}: {figures['python_cpu_ms']:.3f} ms Python, {figures['postgres_cpu_ms']:.3f} ms PostgreSQL"
            f" ({figures['pages']} pages, {figures['hits']} hits, {figures['failed']} not 200)"
        )
        lines.append("    heaviest by own CPU: " + ", ".join(f"{n} {ms:.3f}" for n, ms in figures["own_ms"]))
        lines.append(
            "    the service's functions by cumulative CPU: "
            + ", ".join(f"{n} {ms:.3f}" for n, ms in figures["cumulative_ms"])
        )
    return lines


def _composed(db: Database, form: Form) -> Callable[[TimelineQuery], Awaitable[bytes]]:
    return lambda query: composed_page(db, query, "en", form)


async def compare(
    url: str,
    starts: Sequence[str],
    entity_pages: Sequence[tuple[str, str]],
    *,
    pages: int,
    seconds: float,
    sample: int,
) -> dict[str, Any]:
    """The experiment against the database at ``url``: the check, each kind of page timed both
    ways one at a time and 16 at a time, the statements explained, the app's path profiled."""
    pool = await create_pool(url)
    try:
        reader = NewsroomReader(pool)
        await reader.checkpoint()  # names are then resolved once per checkpoint, as in the service
        chosen = await pages_of(pool, starts, entity_pages, pages)
        results: dict[str, Any] = {"check": await check(reader, pool, chosen, sample), "timed": {}}
        paths: dict[str, Callable[[TimelineQuery], Awaitable[bytes]]] = {
            "app": lambda query: app_page(reader, query, "en"),
            **{form: _composed(pool, form) for form in FORMS},
        }
        for kind in chosen.app:
            for clients in (1, 16):
                runs: dict[str, list[dict[str, float]]] = {path: [] for path in PATHS}
                for path in ORDER:
                    queries = chosen.app[kind] if path == "app" else chosen.composed[kind]
                    runs[path].append(asdict(await timed(url, clients, seconds, queries, paths[path])))
                results["timed"][f"{kind} x{clients}"] = runs
        results["explain"] = {
            kind: await explained(pool, chosen.composed[kind][0]) for kind in chosen.composed
        }
        results["profile"] = {kind: await profiled(reader, chosen.app[kind][:500]) for kind in chosen.app}
    finally:
        await pool.close()
    return results


def _mean(runs: list[dict[str, float]], key: str) -> float:
    return sum(run[key] for run in runs) / len(runs)


def report(results: dict[str, Any]) -> list[str]:
    """The experiment's lines: the check, the paths side by side with their ratios to the app's,
    the plans and the profile."""
    checked = results["check"]
    sizes = ", ".join(f"{path} {size:,.0f} B" for path, size in checked["mean_bytes"].items())
    lines = [
        f"json_agg experiment (in this process, no HTTP): {checked['compared']:,} pages compared in"
        f" {', '.join(LANGUAGES)}, {checked['differed']} differed from the app's as JSON; mean body: {sizes}",
        *([f"  first difference: {checked['first_difference']}"] if checked["first_difference"] else []),
        f"  {'pages, readers':15} {'path':6} {'pages/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'Python CPU':>11}"
        f" {'PG CPU':>9}  {'vs app: pages/s':>15} {'CPU':>6}  runs (pages/s)",
    ]
    for name, runs in results["timed"].items():
        app = runs["app"]
        app_cpu = _mean(app, "python_cpu_ms") + _mean(app, "postgres_cpu_ms")
        for path, timed_runs in runs.items():
            cpu = _mean(timed_runs, "python_cpu_ms") + _mean(timed_runs, "postgres_cpu_ms")
            throughput = _mean(timed_runs, "pages_per_second") / _mean(app, "pages_per_second")
            lines.append(
                f"  {name:15} {path:6} {_mean(timed_runs, 'pages_per_second'):8.0f}"
                f" {_mean(timed_runs, 'p50_ms'):7.2f} {_mean(timed_runs, 'p99_ms'):7.2f}"
                f" {_mean(timed_runs, 'python_cpu_ms'):8.3f} ms {_mean(timed_runs, 'postgres_cpu_ms'):6.3f} ms"
                f"  {throughput:14.2f}x {cpu / app_cpu:5.2f}x  "
                + " and ".join(f"{run['pages_per_second']:.0f}" for run in timed_runs)
            )
    for kind, plans in results["explain"].items():
        lines.append(f"  EXPLAIN (ANALYZE, BUFFERS) of one {kind} page (the fastest of {EXPLAINED}):")
        lines.extend(
            f"    {path:6} planning {plan['planning_ms']:.2f} ms, execution {plan['execution_ms']:.2f} ms,"
            f" {plan['shared_hit']} buffers hit, {plan['shared_read']} read"
            for path, plan in plans.items()
        )
    for kind, profile in results["profile"].items():
        stages = ", ".join(f"{name} {ms:.3f} ms" for name, ms in profile["stages_ms"].items())
        lines.append(
            f"  the app's path, {kind} pages, Python CPU a page ({profile['pages']} pages): {stages}"
        )
        lines.append(
            "    heaviest by own CPU: "
            + ", ".join(f"{name} {ms:.3f} ms" for name, ms in profile["functions_ms"])
        )
    return lines
