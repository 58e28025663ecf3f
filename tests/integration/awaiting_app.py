"""An ASGI app for tests/integration/test_serving.py, served by `flick.cli.granian_server`:
`/await` awaits one Future as a request awaits the cache or the database; `/futures` says
how many Futures the process holds after a full collection."""

from __future__ import annotations

import asyncio
import gc

from starlette.types import ASGIApp, Receive, Scope, Send


def app() -> ASGIApp:
    """The factory Granian calls (flick serves app factories)."""
    return _serve


async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/futures":
        gc.collect()
        body = str(sum(isinstance(o, asyncio.Future) for o in gc.get_objects())).encode()
    else:
        loop = asyncio.get_running_loop()
        answered = loop.create_future()
        loop.call_soon(answered.set_result, None)
        await answered
        body = b"ok"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
