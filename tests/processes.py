"""The service as its users run it, for the tests that signal it: `dateline run` in a process
of its own, on loopback."""

from __future__ import annotations

import contextlib
import http.client
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.browser import free_port, status
from tests.conftest import PROJECT_ROOT

DATELINE = str(Path(sys.executable).parent / "dateline")


@dataclass
class Served:
    """A running `dateline run`: where it listens, and, once it has ended, what it printed."""

    base: str
    process: subprocess.Popen[str]
    printed: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for it to end; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=timeout)
        if not self.printed:
            self.printed.append(output)
        return self.process.returncode

    def connection(self, timeout: float = 10) -> http.client.HTTPConnection:
        port = int(self.base.rpartition(":")[2])
        return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


@contextlib.contextmanager
def dateline_run(*args: str, env: dict[str, str]) -> Iterator[Served]:
    """``dateline run ARGS`` until the block ends, ready to serve; stopped (SIGTERM) at the end
    if it still runs."""
    port = free_port()
    process = subprocess.Popen(
        [DATELINE, "run", *args],
        env={**env, "PORT": str(port)},
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if status(served.base, "/readyz") == 200:
                    break
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.1)
        yield served
    finally:
        served.stop()
