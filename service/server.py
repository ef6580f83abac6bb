"""How uvicorn serves the app: one set of options, for `dateline run` and for the tests, so that
what the tests meet is what users meet."""

from __future__ import annotations

from typing import Any

from service.settings import Settings

SHUTDOWN_SECONDS = 5
"""How long a stopping API process waits for its open requests."""


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's keyword arguments that follow from the settings."""
    return {
        # Forwarded headers (X-Forwarded-For, X-Forwarded-Proto) say who the client is and which
        # scheme it used; only a proxy the operator names may say so. Trusting them from
        # loopback, uvicorn's default, would let any client behind a proxy that passes them
        # through choose the scheme of public links and the address rate limits count.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies or None,
        # Live streams never end of themselves: on shutdown they are given this long, then cut
        # (their readers resume elsewhere from their last event id).
        "timeout_graceful_shutdown": SHUTDOWN_SECONDS,
    }
