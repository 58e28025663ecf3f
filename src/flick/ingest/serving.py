"""`/media/{video_id}/{path}`: HLS playlists, segments and stills from the blob store.

A raw ASGI app (the edge routes `/media/` here without FastAPI), written for a caching edge in
front (nginx proxy_cache, a CDN): strong ETags with `If-None-Match` -> 304, single byte
ranges (`Range: bytes=a-b`, `bytes=a-`, `bytes=-n`) -> 206 / 416, and Cache-Control by kind:
segments, init segments and stills never change (immutable); rendition playlists of a
finished video do not either; the master playlist is short-lived because the HEVC rendition
joins it after the video is ready.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from flick.gateway.edge import header, send_problem
from flick.ingest.model import MEDIA_TYPES, media_key
from flick.platform.blobs import BlobInfo, BlobNotFound
from flick.platform.errors import DomainError, NotFound

if TYPE_CHECKING:
    from flick.bootstrap import Container

PREFIX = "/media/"
PATH = re.compile(
    r"^/media/([0-9]{1,20})/((?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+\.(m3u8|m4s|mp4|jpg))$"
)
IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_CONTROL = {
    "m4s": IMMUTABLE,
    "mp4": IMMUTABLE,
    "jpg": IMMUTABLE,
    "m3u8": "public, max-age=300",
}
MASTER_CACHE_CONTROL = "public, max-age=10"  # HEVC joins the master after `ready`
STREAM_CHUNK = 1 << 18


class BadRange(DomainError):
    status = 416
    slug = "range-not-satisfiable"
    title = "Range not satisfiable"

    def __init__(self, detail: str, *, size: int) -> None:
        super().__init__(detail)
        self.size = size


class MethodNotAllowed(DomainError):
    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"


class MediaFiles:
    """The ASGI app; `services` gives the process's container once it has started."""

    def __init__(self, services: Callable[[], Container]) -> None:
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._serve(scope, send)
        except DomainError as error:
            await send_problem(send, scope, error, extra_headers=_problem_headers(error))

    async def _serve(self, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            raise MethodNotAllowed("media is read with GET or HEAD")
        match = PATH.match(scope["path"])
        if match is None:
            raise NotFound(f"no media file is at {scope['path'][:200]}")
        video_id, path, kind = int(match[1]), match[2], match[3]
        services = self.services()
        sha256 = await services.videos.asset_for_media(video_id)
        info = await services.blobs.stat(media_key(sha256, path)) if sha256 else None
        if sha256 is None or info is None:
            raise NotFound(f"video {video_id} has no ready media file {path!r}")
        headers = _headers(info, kind=kind, master=path == "master.m3u8")
        if _not_modified(scope, info):
            await _start(send, 304, headers)
            await send({"type": "http.response.body", "body": b""})
            return
        start, end, status = _range(scope, info)
        if status == 206:
            headers.append((b"content-range", f"bytes {start}-{end - 1}/{info.size}".encode()))
        headers.append((b"content-length", str(end - start).encode()))
        await _start(send, status, headers)
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        await _stream(send, services, info.key, start, end)


def _headers(info: BlobInfo, *, kind: str, master: bool) -> list[tuple[bytes, bytes]]:
    cache_control = MASTER_CACHE_CONTROL if master else CACHE_CONTROL[kind]
    return [
        (b"content-type", MEDIA_TYPES[kind].encode()),
        (b"etag", info.etag.encode()),
        (b"cache-control", cache_control.encode()),
        (b"accept-ranges", b"bytes"),
        (b"access-control-allow-origin", b"*"),  # players embedded on other sites
    ]


def _not_modified(scope: Scope, info: BlobInfo) -> bool:
    given = header(scope, b"if-none-match")
    if given is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in given.split(",")}
    return "*" in tags or info.etag in tags


def _range(scope: Scope, info: BlobInfo) -> tuple[int, int, int]:
    """(start, end exclusive, status) for the request's Range header, if any applies."""
    raw = header(scope, b"range")
    if_range = header(scope, b"if-range")
    if raw is None or (if_range is not None and if_range.strip() != info.etag):
        return 0, info.size, 200
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", raw)
    if match is None or not (match[1] or match[2]):
        return 0, info.size, 200  # multi-range or garbage: RFC 9110 lets us send it all
    if match[1]:
        start = int(match[1])
        end = min(int(match[2]) + 1, info.size) if match[2] else info.size
    else:
        start, end = max(0, info.size - int(match[2])), info.size
    if start >= info.size or start >= end:
        detail = f"bytes {raw.strip()[6:]} are outside the file's {info.size} bytes"
        raise BadRange(detail, size=info.size)
    return start, end, 206


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _stream(send: Send, services: Container, key: str, start: int, end: int) -> None:
    try:
        async for data in services.blobs.stream(key, start=start, end=end, chunk_size=STREAM_CHUNK):
            await send({"type": "http.response.body", "body": data, "more_body": True})
    except BlobNotFound:
        pass  # deleted mid-response: end the body short; the client sees a short read
    await send({"type": "http.response.body", "body": b""})


def _problem_headers(error: DomainError) -> list[tuple[bytes, bytes]]:
    if isinstance(error, BadRange):
        return [(b"content-range", f"bytes */{error.size}".encode())]
    return []
