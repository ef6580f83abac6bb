"""The floor for read benchmarks: a Litestar app with one route that returns a fixed JSON body.

Served like the real service (uvicorn, the same number of worker processes), it shows what a
request costs with no database, no query and no per-item formatting, so the timeline reads can
be stated as a ratio of it. The body is about 2 KB, encoded by Litestar on every request as the
real routes' bodies are.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from litestar import Litestar, get

PATH = "/trivial"
ROOT = Path(__file__).resolve().parent.parent

BODY: dict[str, Any] = {
    "items": [
        {
            "id": f"00000000-0000-4000-8000-{n:012d}",
            "type": "fact.reported",
            "occurred": {"value": "2024-05", "precision": "month"},
            "display_date": "May 2024",
            "headline": f"Example Labs {n} reported to be training a new model",
            "status": "reported",
            "entities": [{"slug": f"example-labs-{n}", "role": "subject"}],
            "tags": ["large-models"],
        }
        for n in range(7)
    ],
    "next": None,
}


@get(PATH)
async def trivial() -> dict[str, Any]:
    """The same body every time."""
    return BODY


app = Litestar(route_handlers=[trivial])


@contextlib.contextmanager
def serve(port: int, workers: int = 2) -> Iterator[str]:
    """This app under uvicorn with ``workers`` processes, as ``bench.harness.service`` runs the real one;
    its base URL."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.trivial_app:app",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}{PATH}", timeout=2):  # noqa: S310 - loopback
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the trivial app did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
