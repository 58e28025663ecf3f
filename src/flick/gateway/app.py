"""The HTTP application: FastAPI for routing, validation and /docs, inside the raw `Edge`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

import flick
from flick.accounts import api as accounts_api
from flick.bootstrap import Container, bootstrap, run_retrieval, run_search, run_workers
from flick.feed import api as feed_api
from flick.gateway import ops, problems
from flick.gateway.edge import Edge
from flick.gateway.ratelimit import RateLimiter
from flick.gateway.webapp import WebApp
from flick.ingest import api as ingest_api
from flick.ingest.serving import PREFIX as MEDIA_PREFIX
from flick.ingest.serving import MediaFiles
from flick.notify import api as notify_api
from flick.platform.errors import DomainError
from flick.platform.settings import Settings, load_settings
from flick.recs import api as recs_api
from flick.search import api as search_api
from flick.social import api as social_api

log = logging.getLogger(__name__)


def build_app(services: Container) -> Edge:
    """The ASGI app over already-connected services (tests build it this way)."""
    app = _fastapi_app()
    app.state.container = services
    edge = app.state.edge = _edge(app, services.settings, limiter=services.limiter)
    _add_fast_routes(edge, services)
    return edge


def create_app(
    settings: Settings | None = None,
    *,
    run_relay: bool = True,
    run_worker: bool = False,
    run_recs: bool = True,
) -> Edge:
    """The ASGI app that connects its backends at startup (what `flick serve` runs); with
    `run_worker`, the same process also runs transcode jobs (the `all` role). Every such
    process holds a search index replica, and with `run_recs` a recs index replica."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await bootstrap(settings)
        app.state.container = services
        _add_fast_routes(edge, services)
        edge.limiter = services.limiter
        stop = asyncio.Event()
        tasks = [asyncio.create_task(services.relay.run(stop))] if run_relay else []
        if run_recs:
            tasks.append(asyncio.create_task(run_retrieval(services, stop)))
        tasks.append(asyncio.create_task(run_search(services, stop)))
        live = asyncio.create_task(services.live.run())
        if run_worker:
            tasks.append(asyncio.create_task(run_workers(services, stop)))
        try:
            yield
        finally:
            stop.set()
            live.cancel()
            await asyncio.gather(*tasks)
            with contextlib.suppress(asyncio.CancelledError):
                await live
            await services.close()

    app = _fastapi_app(lifespan=lifespan)
    edge = app.state.edge = _edge(app, settings, limiter=None)  # limiter set at startup
    return edge


def search_only() -> Edge:
    """`flick serve --role search`: the API with a search replica, without the relay, the
    workers or the recs replica (torch), so search scales on machines of its own."""
    return create_app(run_relay=False, run_recs=False)


def _add_fast_routes(edge: Edge, services: Container) -> None:
    edge.add_fast_routes(accounts_api.fast_routes(services))
    edge.add_fast_routes(social_api.fast_routes(services))
    edge.add_fast_routes(feed_api.fast_routes(services))


def _fastapi_app(**kwargs: object) -> FastAPI:
    app = FastAPI(
        title="Flick",
        version=flick.__version__,
        description="A self-hostable short-video platform. Errors are RFC 9457 problem+json.",
        **kwargs,  # type: ignore[arg-type]
    )
    app.include_router(ops.router)
    app.include_router(accounts_api.router)
    app.include_router(ingest_api.router)
    app.include_router(social_api.router)
    app.include_router(notify_api.router)
    app.include_router(recs_api.router)
    app.include_router(feed_api.router)
    app.include_router(search_api.router)
    app.add_exception_handler(DomainError, problems.on_domain_error)
    app.add_exception_handler(RequestValidationError, problems.on_validation_error)
    app.add_exception_handler(StarletteHTTPException, problems.on_http_error)
    app.add_exception_handler(Exception, problems.on_unexpected_error)
    return app


def _edge(app: FastAPI, settings: Settings, *, limiter: RateLimiter | None) -> Edge:
    return Edge(
        WebApp(app),  # the web app's pages and files; everything else reaches FastAPI
        limiter=limiter,
        max_body_bytes=settings.max_body_bytes,
        trust_forwarded_for=settings.trust_forwarded_for,
        prefix_apps={MEDIA_PREFIX: MediaFiles(lambda: app.state.container)},
    )
