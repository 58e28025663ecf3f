"""ASGI factories Granian imports in each worker; settings come from the environment."""

from __future__ import annotations

from flick.gateway.app import create_app
from flick.gateway.edge import Edge


def all_in_one() -> Edge:
    """API, outbox relay and transcode worker in one process (`flick serve`, `--role all`)."""
    return create_app(run_relay=True, run_worker=True)


def api_only() -> Edge:
    """Only the HTTP API (`--role api`); a separate `--role relay` process publishes events."""
    return create_app(run_relay=False)
