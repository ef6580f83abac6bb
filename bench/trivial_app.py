"""The floor for read benchmarks: a Litestar app with one route that returns a fixed JSON body.

Served like the real service (uvicorn, the same number of worker processes), it shows what a
request costs with no database, no query and no per-item formatting, so the timeline reads can
be stated as a ratio of it. The body is about 2 KB, encoded by Litestar on every request as the
real routes' bodies are.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from litestar import Litestar, get

from bench.harness import ROOT, uvicorn_app

PATH = "/trivial"

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
def serve(workers: int = 2) -> Iterator[str]:
    """This app under uvicorn with ``workers`` processes, as ``bench.harness.service`` runs the real one;
    its base URL."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    with uvicorn_app("bench.trivial_app:app", PATH, env=env, workers=workers) as base:
        yield base
