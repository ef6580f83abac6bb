"""What the service logs, and how: one JSON object per line on stderr, uvicorn's lines, the app's
and the projections' alike, each line written while serving a request carrying its id.

Every value goes through a JSON encoder, which escapes quotes, backslashes and control
characters (line breaks included) and anything past ASCII: nothing a client sends (a path, a
query, a header) can end a line or start a fake one.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from service.settings import LogLevel

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the request being served in this context (a task and what it starts), if any."""
ACCESS = "dateline.access"
"""The logger of the access log: one line per request, when ``DATELINE_ACCESS_LOG`` is on."""
# uvicorn hands some lines a copy of their message with terminal colours: noise in JSON.
_COLOURED = "color_message"


class WithRequestId(logging.Filter):
    """Adds ``request_id`` to a line written while a request is served; drops coloured copies."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop(_COLOURED, None)
        request_id = REQUEST_ID.get()
        if request_id is not None:
            record.request_id = request_id
        return True


def log_config(level: LogLevel) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` configuration (uvicorn's ``log_config``): every logger's
    lines as JSON on stderr, at ``level``, the access log at info (it is written only when
    asked for)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": WithRequestId}},
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": ["levelname", "name", "process", "message"],
                "rename_fields": {"levelname": "level", "name": "logger", "process": "pid"},
                "timestamp": True,
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        # uvicorn's own loggers come with handlers of their own: here they pass their lines on
        # to the one handler instead.
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
            ACCESS: {"level": "INFO"},
        },
    }
