"""The HTTP server as `flick serve` runs it (flick.cli.granian_server) keeps nothing of a
finished request: Granian's Rust task implementation kept every Future a request awaited
(memory without end, and ever longer full collections in the feeds' p99)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx

from ..processes import free_port

REQUESTS = 2_000


def test_a_request_leaves_no_future_behind() -> None:
    port = free_port()
    code = (
        "from flick.cli import granian_server\n"
        f"granian_server('tests.integration.awaiting_app:app', host='127.0.0.1', port={port})"
        ".serve()"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        before = _futures(base)
        asyncio.run(_load(f"{base}/await"))
        assert _futures(base) - before < REQUESTS / 10
    finally:
        server.terminate()
        server.wait(timeout=30)


def _futures(base: str) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            return int(httpx.get(f"{base}/futures", timeout=5).text)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def _load(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(REQUESTS // 50):
            answers = await asyncio.gather(*(client.get(url) for _ in range(50)))
            assert all(answer.status_code == 200 for answer in answers)
