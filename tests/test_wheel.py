"""The package as a user installs it: a wheel, in an environment of its own, far from the checkout.

The wheel is built without build isolation or dependencies, so no registry is needed. Its
environment is made with ``--system-site-packages`` and, so that the dependencies the tests run
with are there too, with a path file naming this environment's site-packages: a plain path, so
none of this environment's own path files run (the editable install of the checkout among them)
and ``service`` can only come from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import site
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser import free_port
from tests.conftest import PROJECT_ROOT

_NOT_SOURCES = (".git", ".venv", "var", "build", "dist", "*.egg-info", "results", "__pycache__", ".*_cache")

pytestmark = pytest.mark.slow


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of an environment with only the wheel of this checkout installed."""
    place = tmp_path_factory.mktemp("installed")
    # Built from a copy: setuptools writes its build folders beside the sources.
    sources = place / "sources"
    shutil.copytree(PROJECT_ROOT, sources, ignore=shutil.ignore_patterns(*_NOT_SOURCES))
    wheels = place / "wheels"
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--verbose",
        "--wheel-dir", str(wheels), str(sources), cwd=place,
    )  # fmt: skip
    # setuptools says what it would ignore, and what will become an error, only as warnings.
    assert "Warning" not in built.stdout + built.stderr, built.stdout + built.stderr
    [wheel] = wheels.glob("dateline-*.whl")
    environment = place / "env"
    _run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(environment), cwd=place)
    [packages] = (environment / "lib").glob("python3*/site-packages")
    (packages / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run(
        sys.executable, "-m", "pip", "--python", str(environment / "bin" / "python"), "install",
        "--no-deps", "--no-index", "--quiet", str(wheel), cwd=place,
    )  # fmt: skip
    return environment / "bin"


def test_the_wheel_holds_the_service_and_its_migrations(installed: Path, tmp_path: Path) -> None:
    where = _run(
        str(installed / "python"), "-c",
        "import service, dateline_migrations; print(service.__file__); print(dateline_migrations.__path__[0])",
        cwd=tmp_path,
    )  # fmt: skip
    service_file, migrations_dir = where.stdout.split()
    assert not service_file.startswith(str(PROJECT_ROOT)), service_file
    assert not migrations_dir.startswith(str(PROJECT_ROOT)), migrations_dir
    assert (Path(migrations_dir) / "env.py").exists()
    version = _run(str(installed / "dateline"), "--version", cwd=tmp_path)
    assert version.stdout.startswith("dateline, version ")


def test_the_installed_wheel_migrates_and_serves(installed: Path, database_url: str, tmp_path: Path) -> None:
    # A fresh database, as `dateline db upgrade` finds it: the fixture's is at the head already.
    env = {**os.environ, "DATABASE_URL": database_url}
    _run(str(installed / "dateline"), "db", "downgrade", "base", cwd=tmp_path, env=env)
    upgraded = _run(str(installed / "dateline"), "db", "upgrade", cwd=tmp_path, env=env)
    assert "At revision" in upgraded.stdout

    port = free_port()
    server = subprocess.Popen(
        [str(installed / "dateline"), "run", "--no-demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
                    ready = json.loads(answer.read())
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the installed service did not become ready"
                time.sleep(0.2)
        assert ready["status"] == "ready"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/docs", timeout=5) as page:
            assert page.status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
