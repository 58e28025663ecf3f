"""Operational endpoints: liveness, readiness (every backend answers) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from flick.gateway.deps import container
from flick.gateway.problems import PROBLEM_TYPE, problem_body

router = APIRouter(tags=["operations"])
READY_TIMEOUT_S = 2.0  # a backend slower than this to answer a ping is not ready


@router.get("/healthz")
async def healthz() -> Response:
    """The process is up and serving."""
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Every configured backend answers; 503 problem naming the ones that do not."""
    services = container(request)
    checks = {
        "sql": services.db.ping,
        "cache": services.cache.ping,
        "bus": services.bus.ping,
        "blobs": services.blobs.ping,
    }
    results = dict(zip(checks, await asyncio.gather(*map(_check, checks.values())), strict=True))
    failing = {name: result for name, result in results.items() if result != "ok"}
    if not failing:
        return Response(
            orjson.dumps({"status": "ready", "checks": results}), media_type="application/json"
        )
    detail = "; ".join(f"{name}: {error}" for name, error in failing.items())
    body = problem_body(
        status=503,
        slug="not-ready",
        title="Not ready",
        detail=f"backends not answering: {detail}; run `flick doctor`",
        extra={"checks": results},
    )
    return Response(body, status_code=503, media_type=PROBLEM_TYPE)


@router.get("/metrics")
async def metrics() -> Response:
    """Prometheus text exposition."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _check(ping: Callable[[], Awaitable[None]]) -> str:
    try:
        await asyncio.wait_for(ping(), READY_TIMEOUT_S)
    except Exception as error:
        return f"{type(error).__name__}: {error}"[:300] or "failed"
    return "ok"
