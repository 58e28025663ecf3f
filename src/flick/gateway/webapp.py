"""The web app, served by Flick itself: the files Vite builds into `web/dist` (docs/web.md).

`WebApp` wraps the API app as raw ASGI. A GET or HEAD outside the server's own paths (the
API, media, docs and operations) is the web app's: a built file when there is one, else
`index.html`, so the app's history routes (/u/ana, /v/123, shared links) load on a reload.
Everything else (other methods, WebSockets, lifespan) goes to the API app untouched.

Vite names what it puts under `assets/` by content hash, so those files never change and are
cached for a year; `index.html` and the few unhashed files are revalidated every time, so a
new build reaches browsers on their next load.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from flick.gateway.edge import header
from flick.gateway.problems import problem_body

DIST = Path(__file__).resolve().parents[3] / "web" / "dist"  # the checkout's built app
# Paths that belong to the server, never to the app (a prefix matches itself and below it).
SERVER_PATHS = (
    "/api",
    "/media",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/healthz",
    "/readyz",
    "/metrics",
)
HASHED_PREFIX = "assets/"
HASHED_CACHE = "public, max-age=31536000, immutable"  # a content-hashed name never changes
REVALIDATE = "no-cache"  # may be stored, but asked about (ETag) before every use
NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Flick</title>
<body style="font-family:system-ui;background:#000;color:#eee;max-width:40em;margin:3em auto">
<h1>Flick's web app is not built yet</h1>
<p>Build it with <code>./run demo</code> (which builds it when its sources change), or by hand:
<code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>. Then reload this page.</p>
<p>The API is running: see <a href="/docs" style="color:#25f4ee">/docs</a>.</p>
"""


class WebApp:
    """Serves `dist` for app paths in front of `api`; see the module docstring."""

    def __init__(self, api: ASGIApp, *, dist: Path = DIST) -> None:
        self.api = api
        self.dist = dist.resolve()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.serves(scope):
            await self.api(scope, receive, send)
            return
        response = self.response(scope["path"], header(scope, b"if-none-match"))
        await response(scope, receive, send)

    def serves(self, scope: Scope) -> bool:
        """Whether this request is the web app's rather than the API's."""
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return False
        path: str = scope["path"]
        return not any(path == p or path.startswith(p + "/") for p in SERVER_PATHS)

    def response(self, path: str, if_none_match: str | None) -> Response:
        """A built file, index.html for an app route, or a 404 for a missing file."""
        index = self.dist / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, headers={"cache-control": "no-store"})
        relative = path.lstrip("/")
        found = self._file(relative)
        if found is not None:
            cache = HASHED_CACHE if relative.startswith(HASHED_PREFIX) else REVALIDATE
            return _file_response(found, cache=cache, if_none_match=if_none_match)
        if relative.startswith(HASHED_PREFIX) or "." in relative.rsplit("/", 1)[-1]:
            body = problem_body(
                status=404,
                slug="not-found",
                title="Not found",
                detail=f"{path} is neither a file of the web app nor a route of the API",
                instance=path,
            )
            return Response(body, status_code=404, media_type="application/problem+json")
        return _file_response(index, cache=REVALIDATE, if_none_match=if_none_match)

    def _file(self, relative: str) -> Path | None:
        if not relative:
            return None
        candidate = (self.dist / relative).resolve()
        if not candidate.is_relative_to(self.dist) or not candidate.is_file():
            return None  # outside dist (../), or missing
        return candidate


def _file_response(path: Path, *, cache: str, if_none_match: str | None) -> Response:
    stat = path.stat()
    version = f"{stat.st_mtime_ns}-{stat.st_size}".encode()
    etag = f'"{hashlib.sha256(version).hexdigest()[:32]}"'
    headers = {"cache-control": cache, "etag": etag, "x-content-type-options": "nosniff"}
    if if_none_match is not None and etag in _etags(if_none_match):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, headers=headers, stat_result=stat)


def _etags(value: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in value.split(",")}
