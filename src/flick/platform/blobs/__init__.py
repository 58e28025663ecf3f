"""The blob store port: immutable-ish objects (uploads, segments, thumbnails) by key.

Keys are '/'-separated paths such as `media/123/720p/seg_001.m4s`. The local adapter keeps a
directory; the S3 adapter any S3-API server. tests/contract/test_blobs.py holds both to the
same behaviour.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class BlobNotFound(KeyError):
    """No blob under that key."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What is known about a stored blob without reading it."""

    key: str
    size: int
    etag: str  # quoted strong validator, usable as an HTTP ETag
    content_type: str


class BlobStore(Protocol):
    """A store of blobs addressed by key."""

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> BlobInfo:
        """Store bytes under `key`, replacing any previous blob atomically."""
        ...

    async def put_file(
        self, key: str, path: Path, *, content_type: str = "application/octet-stream"
    ) -> BlobInfo:
        """Store a local file under `key` without reading it all into memory."""
        ...

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str = "application/octet-stream",
    ) -> BlobInfo:
        """Store bytes as they arrive (an upload's body), atomically once `chunks` ends; if
        iterating `chunks` raises, nothing is stored and the error propagates. The ETag is a
        strong validator of what was stored, but need not equal `put`'s for the same bytes
        (as with S3's multipart uploads)."""
        ...

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> bytes:
        """The bytes of `key` from `start` up to but not including `end`; BlobNotFound if absent."""
        ...

    def stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 1 << 16
    ) -> AsyncIterator[bytes]:
        """The bytes of a range as chunks, for responses larger than memory."""
        ...

    async def stat(self, key: str) -> BlobInfo | None:
        """Size, ETag and type, or None if absent."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove a blob; returns whether it existed."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every blob whose key starts with `prefix`; returns how many."""
        ...

    async def list(self, prefix: str = "") -> list[str]:
        """Keys that start with `prefix`, sorted."""
        ...

    async def ping(self) -> None:
        """Raise if the backend cannot be reached."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
