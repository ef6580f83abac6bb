"""The ``dateline`` command: run the service, manage keys, migrate, load the demo."""

from __future__ import annotations

import asyncio
import contextlib
import logging.config
import os
import signal
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

import click
import msgspec
import yaml

from schemas import EventErased, Tombstone
from service import migrations
from service.appender import Appender
from service.demo.story import demo_batches, embargoed_batch
from service.domain.errors import Conflict, Rejected
from service.http.metrics import MULTIPROCESS_DIR
from service.logs import log_config
from service.projections import PROJECTIONS
from service.projections.engine import EventNotApplied, Projection, Runner, running
from service.projections.erasures import clean_up, erasure_ledger
from service.projections.rebuild import rebuild
from service.server import server_options
from service.settings import LogLevel, Settings, SettingsError
from service.store import Pool, keys
from service.store.database import (
    DATABASE_NAME,
    NoEmbeddedServer,
    create_pool,
    ensure_database,
    start_embedded,
)

T = TypeVar("T")


def settings() -> Settings:
    """The environment's settings; a bad value ends the command with what was wrong."""
    try:
        return Settings.from_env()
    except SettingsError as error:
        raise click.UsageError(str(error)) from None


def database_url() -> str:
    """``DATABASE_URL``, or the embedded server under ``var/`` (started if need be)."""
    chosen = settings()
    if chosen.database_url:
        return chosen.database_url
    try:
        server = start_embedded(Path(chosen.var_dir or "var") / "pgdata")
    except NoEmbeddedServer as missing:
        raise click.ClickException(str(missing)) from None
    url = asyncio.run(ensure_database(server, DATABASE_NAME))
    # Worker processes and child commands find the same server through the environment.
    os.environ["DATABASE_URL"] = url
    return url


def _with_database(url: str, work: Callable[[Pool], Awaitable[T]]) -> T:
    async def run() -> T:
        pool = await create_pool(url, max_size=1)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


DEMO_EMBARGO = timedelta(minutes=1)
"""How long after ``run --demo`` loads it the demo's embargoed fact appears."""


async def load_demo(url: str, embargo: timedelta | None = None) -> bool:
    """Append the seed story; False when it was already there (nothing appended). With an
    ``embargo``, also a fact held until that long from now (``run --demo`` shows it appear).

    A log holding an earlier version of the story (its facts by the same ids, told otherwise)
    keeps it: the log is append-only, and the demo is no reason to refuse to start.
    """
    pool = await create_pool(url, max_size=1)
    appended = False
    held = [] if embargo is None else [embargoed_batch(datetime.now(UTC) + embargo)]
    try:
        async with Appender.running(pool, writers=1) as appender:
            for batch in [*demo_batches(), *held]:
                paths = [f"demo[{index}]" for index in range(len(batch.events))]
                try:
                    outcome = await appender.append(batch.events, {"author": "demo"}, paths)
                except Conflict:
                    continue
                appended |= not outcome.replayed
    finally:
        await pool.close()
    return appended


@click.group()
@click.version_option(package_name="dateline", prog_name="dateline")
def main() -> None:
    """Dateline: an event-sourced timeline API for tech-industry news."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", type=int, default=lambda: int(os.environ.get("PORT", "8000")), show_default="$PORT or 8000"
)
@click.option("--workers", type=int, default=1, show_default=True, help="API processes sharing the database.")
@click.option(
    "--demo/--no-demo",
    default=False,
    show_default=True,
    help="Load the seed story (once: a second load appends nothing) and make a demo write key.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="How much to log [default: $DATELINE_LOG_LEVEL or warning].",
)
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="Log every request [default: $DATELINE_ACCESS_LOG or off].",
)
def run(
    host: str, port: int, workers: int, demo: bool, log_level: str | None, access_log: bool | None
) -> None:
    """Migrate, load the demo data if asked, and serve the API."""
    import uvicorn

    chosen = settings()
    # Worker processes read their settings from the environment: what the options chose goes there.
    if access_log is not None:
        os.environ[Settings.ENVIRONMENT["access_log"]] = str(access_log).lower()
    url = database_url()
    migrations.upgrade(url)
    if demo:
        loaded = asyncio.run(load_demo(url, embargo=DEMO_EMBARGO))
        click.echo("Demo data loaded." if loaded else "Demo data already loaded: nothing appended.")
        _demo_key(url, host, port)
    click.echo(f"Serving on http://{host}:{port} (API reference at /docs, contract at /schema/openapi.yaml)")
    # uvicorn re-raises SIGTERM once it has shut down; exiting through SystemExit instead of the
    # signal's default action lets the embedded PostgreSQL be stopped on the way out.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    level = cast(LogLevel, log_level or chosen.log_level)
    with _metrics_shared(workers):
        uvicorn.run(
            "service.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            # The app writes the access log itself (``service.http.observed``), with the request id.
            access_log=False,
            log_config=log_config(level),
            log_level=level,
            **server_options(chosen),
        )


@contextlib.contextmanager
def _metrics_shared(workers: int) -> Iterator[None]:
    """With several workers, a directory where each keeps its figures for the others to read
    (prometheus-client's multiprocess mode), made empty before they start and removed after.
    An operator's own ``PROMETHEUS_MULTIPROC_DIR`` is used, emptied of an earlier run's files."""
    if workers < 2:
        yield
        return
    if given := os.environ.get(MULTIPROCESS_DIR):
        for old in Path(given).glob("*.db"):
            old.unlink()
        yield
        return
    with tempfile.TemporaryDirectory(prefix="dateline-metrics-") as directory:
        os.environ[MULTIPROCESS_DIR] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_DIR]


def _demo_key(url: str, host: str, port: int) -> None:
    """A write key to try the API with, unless one named ``demo`` is live: that one is kept,
    since only its holder has it, and it is never replaced behind their back."""
    try:
        key = _with_database(url, lambda pool: keys.create(pool, "demo", "write"))
    except keys.NameTaken:
        click.echo(
            "The demo write key made earlier still works (it is shown only once); "
            "`dateline keys revoke demo` and run again for a new one."
        )
        return
    click.echo(f"A write key to try the API with (shown once): {key}")
    click.echo(
        f"  curl -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
        f"http://{host}:{port}/v1/events -d @event.json"
    )


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@main.group()
def db() -> None:
    """The database schema."""


@db.command()
def upgrade() -> None:
    """Apply every migration not yet applied."""
    migrations.upgrade(database_url())
    click.echo(f"At revision {migrations.head_revision()}.")


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Undo migrations down to REVISION (``base`` for all)."""
    migrations.downgrade(database_url(), revision)


@main.group(name="keys")
def keys_group() -> None:
    """API keys: shown once at creation, stored hashed."""


@keys_group.command()
@click.option("--name", required=True, help="Who or what uses the key; recorded as the author of its events.")
@click.option("--scope", type=click.Choice(keys.SCOPES), default="write", show_default=True)
def create(name: str, scope: str) -> None:
    """Create a key and print it; it cannot be shown again."""
    try:
        key = _with_database(database_url(), lambda conn: keys.create(conn, name, scope))
    except keys.NameTaken as taken:
        raise click.ClickException(str(taken)) from None
    click.echo(key)


@keys_group.command(name="list")
def list_keys() -> None:
    """Every key's name, scope and dates (never the key)."""
    for key in _with_database(database_url(), keys.listing):
        revoked = f" revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""
        click.echo(f"{key.name}\t{key.scope}\tcreated {key.created_at:%Y-%m-%d %H:%M}{revoked}")


@keys_group.command()
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke the live key called NAME."""
    if not _with_database(database_url(), lambda conn: keys.revoke(conn, name)):
        raise click.ClickException(f"no live key named '{name}'")
    click.echo(f"Revoked '{name}'.")


@main.group()
def projections() -> None:
    """Read models folded from the log."""


def _chosen(name: str | None) -> list[Projection]:
    chosen = [projection for projection in PROJECTIONS if name in (None, projection.name)]
    if not chosen:
        raise click.BadParameter(f"no projection '{name}'; there is {', '.join(p.name for p in PROJECTIONS)}")
    return chosen


@projections.command(name="run")
@click.option(
    "--poll",
    type=float,
    default=None,
    help="Seconds between looks at the log [default: $DATELINE_PROJECTION_POLL_SECONDS or 1].",
)
def run_projections(poll: float | None) -> None:
    """Keep every projection up to date (for deployments whose API runs with DATELINE_PROJECTIONS=off)."""
    poll = poll or settings().projection_poll_seconds
    url = database_url()
    logging.config.dictConfig(log_config(settings().log_level))
    signal.signal(signal.SIGTERM, _exit_on_signal)

    async def until_signal() -> int:
        # A signal stops the runners, which end the batch they are applying first: raised in
        # the middle of a step, it would cancel the batch instead.
        loop = asyncio.get_running_loop()
        received: asyncio.Future[int] = loop.create_future()

        def stop(signum: int) -> None:
            if not received.done():  # a second signal while stopping changes nothing
                received.set_result(signum)

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop, signum)
        async with running([Runner(url, projection, poll_seconds=poll) for projection in PROJECTIONS]):
            return await received

    raise SystemExit(128 + asyncio.run(until_signal()))


@projections.command(name="rebuild")
@click.argument("name", required=False)
def rebuild_projections(name: str | None) -> None:
    """Rebuild NAME (or every projection) from the log and switch over atomically."""
    url = database_url()
    for projection in _chosen(name):
        with click.progressbar(length=1, label=f"Rebuilding {projection.name}", show_pos=True) as bar:

            def progress(done: int, total: int, bar: Any = bar) -> None:
                bar.length = max(total, 1)
                bar.update(done - bar.pos)

            try:
                applied = asyncio.run(rebuild(url, projection, progress=progress))
            except EventNotApplied as failure:
                raise click.ClickException(
                    f"{projection.name}: the rebuild stopped at {failure}; the live tables are unchanged."
                ) from None
        click.echo(f"{projection.name}: {applied} events applied; now serving the rebuilt tables.")


@main.group(name="erasures")
def erasures_group() -> None:
    """Legal erasures: the cleanup after them, and their ledger."""


@erasures_group.command(name="cleanup")
def cleanup_erasures() -> None:
    """Rewrite what still holds erased text on disk: the shredded keys' partitions, every
    projection (rebuilt), then a checkpoint."""
    done = asyncio.run(clean_up(database_url()))
    click.echo(
        f"Compacted {len(done.partitions)} key partitions in {done.compact_seconds:.2f} s, "
        f"rebuilt {', '.join(done.rebuilt)} in {done.rebuild_seconds:.1f} s, "
        f"checkpoint in {done.checkpoint_seconds:.2f} s."
    )
    if not done.statistics:
        click.echo(
            "The planner's statistics (pg_statistic) were not rewritten: that needs a superuser, "
            "who can run VACUUM FULL pg_catalog.pg_statistic.",
            err=True,
        )


@erasures_group.command(name="export")
@click.option(
    "--output", type=click.File("wb"), default="-", help="Where to write the ledger [default: stdout]."
)
def export_erasures(output: BinaryIO) -> None:
    """Every erasure in the log as NDJSON: position, recorded_at, author, what, basis, reference."""
    for entry in _with_database(database_url(), erasure_ledger):
        output.write(msgspec.json.encode(entry) + b"\n")


@main.group()
def demo() -> None:
    """The seed story."""


@demo.command()
def load() -> None:
    """Append the seed story (nothing when it is already there)."""
    url = database_url()
    migrations.upgrade(url)
    click.echo("Demo data loaded." if asyncio.run(load_demo(url)) else "Already loaded: nothing appended.")


@main.command()
@click.option(
    "--event", "event_id", type=click.UUID, default=None, help="A fact, or a follow-up whose note is erased."
)
@click.option(
    "--entity", "slug", default=None, help="An entity whose name, aliases and description are erased."
)
@click.option("--basis", required=True, help='The legal basis, e.g. "GDPR Art. 17" or "court order".')
@click.option("--reference", required=True, help="The order's or the request's reference.")
@click.option("--author", default="cli", show_default=True, help="Recorded as the erasure's author.")
def erase(event_id: uuid.UUID | None, slug: str | None, basis: str, reference: str, author: str) -> None:
    """Erase a fact, a follow-up's note or an entity's personal fields, for legal reasons, as
    POST /v1/erasures does; prints the tombstone as JSON."""
    try:
        erasure = msgspec.convert(
            {"event_id": event_id, "slug": slug, "basis": basis, "reference": reference}, EventErased
        )
    except msgspec.ValidationError as invalid:
        raise click.UsageError(f"{invalid} (give exactly one of --event and --entity)") from None

    async def work(pool: Pool) -> Tombstone:
        async with Appender.running(pool, writers=1) as appender:
            made, _ = await appender.erase(erasure, {"author": author})
            return made

    try:
        made = _with_database(database_url(), work)
    except (Rejected, Conflict) as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(msgspec.json.encode(made).decode())


@main.command()
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def openapi(output: Path | None) -> None:
    """Write the API contract as YAML (to stdout without --output)."""
    from service.app import create_app

    text = contract_yaml(create_app().openapi_schema.to_schema())
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


def contract_yaml(schema: dict[str, object]) -> str:
    return yaml.safe_dump(schema, sort_keys=True, allow_unicode=True, width=100)
