"""The outermost ASGI layer, written against raw ASGI because it runs on every request:
request ids, body-size limit, per-address rate limit, metrics, and a table of hot routes
served without FastAPI's per-request machinery (FastAPI still documents them in /docs).

Measured here on Granian: a raw ASGI route ~51k req/s, a plain Starlette route inside a
FastAPI app ~25k, a FastAPI route ~9k (docs/benchmarks.md). GET /api/v1/me is the kind of
call every client makes constantly, so it takes the raw path.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flick.gateway.metrics import REQUEST_METRICS
from flick.gateway.problems import (
    PROBLEM_TYPE,
    BodyTooLarge,
    domain_error_body,
    problem_headers,
)
from flick.gateway.ratelimit import RateLimiter
from flick.platform.errors import DomainError

log = logging.getLogger(__name__)

# A hot route gets the raw scope and answers (status, JSON body); DomainError -> problem.
# A route path may hold one `{}` segment (e.g. "/api/v1/videos/{}/like"); its value is put
# in scope["path_params"]["id"].
FastRoute = Callable[[Scope], Awaitable[tuple[int, bytes]]]

UNLIMITED_BODY_PREFIXES = ("/api/v1/uploads",)  # tus chunks have their own, larger limit
JSON_HEADERS = [(b"content-type", b"application/json")]
MAX_INSTANCE_CHARS = 200  # a problem names the path it answers, not a megabyte of it
_request_numbers = itertools.count()
_process_tag = os.urandom(4).hex()


class Edge:
    """Wraps the FastAPI app; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter | None,
        max_body_bytes: int,
        trust_forwarded_for: bool = False,
        fast_routes: dict[tuple[str, str], FastRoute] | None = None,
        prefix_apps: dict[str, ASGIApp] | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes
        self.trust_forwarded_for = trust_forwarded_for
        self.fast_routes: dict[tuple[str, str], FastRoute] = {}
        self._templates: list[tuple[str, str, str, FastRoute]] = []
        self.add_fast_routes(fast_routes or {})
        # Raw ASGI apps by path prefix (e.g. "/media/": files), served without FastAPI.
        self.prefix_apps = prefix_apps or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        fast = self.fast_routes.get((scope["method"], scope["path"])) or self._templated(scope)
        if fast is not None:
            status = await self._serve_fast(fast, scope, send, request_id)
            route = _route_name(scope)
        else:
            status_holder = [500]
            send = _tagging_send(send, request_id, status_holder)
            route = await self._dispatch(scope, receive, send)
            status = status_holder[0]
        REQUEST_METRICS.observe(scope["method"], route, status, time.perf_counter() - started)

    def add_fast_routes(self, routes: dict[tuple[str, str], FastRoute]) -> None:
        """Serve these (method, path) routes in the edge; see FastRoute for templates."""
        for (method, path), route in routes.items():
            if "{}" in path:
                prefix, _, suffix = path.partition("{}")
                self._templates.append((method, prefix, suffix, route))
            else:
                self.fast_routes[(method, path)] = route

    def _templated(self, scope: Scope) -> FastRoute | None:
        path = scope["path"]
        for method, prefix, suffix, route in self._templates:
            if method == scope["method"] and path.startswith(prefix) and path.endswith(suffix):
                middle = path[len(prefix) : len(path) - len(suffix)]
                if middle and "/" not in middle:
                    scope["path_params"] = {"id": middle}
                    return route
        return None

    async def _serve_fast(self, fast: FastRoute, scope: Scope, send: Send, request_id: str) -> int:
        # Hot routes take no request body (GETs, likes), so the body limit has nothing to do
        # here; a body sent anyway is left unread.
        tag = (b"x-request-id", request_id.encode())
        try:
            if self.limiter is not None:
                await self.limiter.check_address(self.client_address(scope))
            status, body = await fast(scope)
        except DomainError as error:
            await send_problem(send, scope, error, extra_headers=[tag])
            return error.status
        await _send_bytes(send, status, body, [*JSON_HEADERS, tag] if body else [tag])
        return status

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> str:
        try:
            if scope["path"].startswith("/api/"):
                if self.limiter is not None:
                    await self.limiter.check_address(self.client_address(scope))
                receive = await self._limit_body(scope, receive)
        except DomainError as error:
            await send_problem(send, scope, error)
            return "rejected"
        for prefix, app in self.prefix_apps.items():
            if scope["path"].startswith(prefix):
                await app(scope, receive, send)
                return prefix
        await self.app(scope, receive, send)
        route = scope.get("route")
        return str(getattr(route, "path", "unmatched"))

    def client_address(self, scope: Scope) -> str:
        """The caller's address; the first X-Forwarded-For hop only behind a trusted proxy.
        Routes read it as `client_address(request.scope)`, via the app's `state.edge`."""
        if self.trust_forwarded_for:
            forwarded = header(scope, b"x-forwarded-for")
            if forwarded:
                return forwarded.split(",")[0].strip()
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    async def _limit_body(self, scope: Scope, receive: Receive) -> Receive:
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return receive
        if scope["path"].startswith(UNLIMITED_BODY_PREFIXES):
            return receive
        declared = header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_body_bytes:
                raise self._too_large()
            return receive
        return await self._buffer_chunked(receive)

    async def _buffer_chunked(self, receive: Receive) -> Receive:
        # No Content-Length: read up to the limit now, then replay it to the app.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return receive
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_body_bytes:
                raise self._too_large()
        replay = iter([{"type": "http.request", "body": b"".join(chunks), "more_body": False}])

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        return replayed

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(f"a request body may have at most {self.max_body_bytes} bytes")


def header(scope: Scope, name: bytes) -> str | None:
    """One request header by lower-case name, decoded as latin-1 (ASGI's rule)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def query_params(scope: Scope) -> dict[str, str]:
    """The query string's parameters, the last value of a repeated one, blank ones left out
    (as parse_qs, whose percent and plus decoding is taken only when the string has any: a
    hot route's query is usually `cursor=...&limit=20`)."""
    text = scope.get("query_string", b"").decode("latin-1")
    if "%" in text or "+" in text:
        return {key: values[-1] for key, values in parse_qs(text).items()}
    params = {}
    for part in text.split("&"):
        key, _, value = part.partition("=")
        if value:
            params[key] = value
    return params


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if any."""
    value = header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _route_name(scope: Scope) -> str:
    """The metrics label of a fast route: its path, with a template's id put back as `{}`
    so /metrics does not grow a series per video."""
    params = scope.get("path_params")
    if params and "id" in params:
        return str(scope["path"]).replace(params["id"], "{}", 1)
    return str(scope["path"])


def _request_id(scope: Scope) -> str:
    given = header(scope, b"x-request-id")
    if given and len(given) <= 64 and given.replace("-", "").replace("_", "").isalnum():
        return given
    # Unique per process and request without the cost of uuid4 on the hot path.
    return f"{_process_tag}-{next(_request_numbers):x}"


def _tagging_send(send: Send, request_id: str, status_holder: list[int]) -> Send:
    tag = (b"x-request-id", request_id.encode())

    async def tagged(message: Message) -> None:
        if message["type"] == "http.response.start":
            status_holder[0] = message["status"]
            message["headers"] = [*message.get("headers", []), tag]
        await send(message)

    return tagged


async def _send_bytes(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_problem(
    send: Send,
    scope: Scope,
    error: DomainError,
    *,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer a raw ASGI request (one the edge has tagged) with the error's problem+json."""
    instance = scope["path"][:MAX_INSTANCE_CHARS]
    body = domain_error_body(error, instance=instance, request_id=scope["state"]["request_id"])
    headers = [(b"content-type", PROBLEM_TYPE.encode())]
    headers += [(k.encode(), v.encode()) for k, v in problem_headers(error).items()]
    headers += extra_headers or []
    await _send_bytes(send, error.status, body, headers)
