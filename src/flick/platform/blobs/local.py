"""Blob store on a local directory.

Blobs live under `<root>/data/<key>`; their content type and ETag under
`<root>/.meta/<key>.json`. Writes go to a temporary file in the same directory, are fsynced
and renamed over the target, so a reader sees the old blob or the new one, never a part.
The ETag is the SHA-256 of the content (computed while writing), so it is a strong validator.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from flick.platform.blobs import BlobInfo, BlobNotFound
from flick.platform.blobs.keys import check_key, check_prefix

COPY_CHUNK = 1 << 20


class LocalBlobStore:
    """BlobStore port on a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.meta = root / ".meta"
        self.data.mkdir(parents=True, exist_ok=True)
        self.meta.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_url(cls, url: str) -> LocalBlobStore:
        """`file:///absolute/directory`."""
        path = urlparse(url).path
        if not path:
            raise ValueError(f"blob URL {url!r} names no directory; write file:///abs/dir")
        return cls(Path(path))

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> BlobInfo:
        """Store bytes atomically."""
        check_key(key)
        return await asyncio.to_thread(self._write, key, lambda out: out.write(data), content_type)

    async def put_file(
        self, key: str, path: Path, *, content_type: str = "application/octet-stream"
    ) -> BlobInfo:
        """Store a local file atomically, streaming it."""
        check_key(key)

        def copy(out: BinaryIO) -> None:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, out, COPY_CHUNK)

        return await asyncio.to_thread(self._write, key, copy, content_type)

    def _write(self, key: str, fill: Callable[[BinaryIO], object], content_type: str) -> BlobInfo:
        target = self.data / key
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as raw:
                out = _HashingWriter(raw, digest)
                fill(out)  # type: ignore[arg-type]
                raw.flush()
                os.fsync(raw.fileno())
            etag = f'"{digest.hexdigest()[:32]}"'
            info = BlobInfo(key, out.size, etag, content_type)
            self._write_meta(key, info)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return info

    def _write_meta(self, key: str, info: BlobInfo) -> None:
        meta = self._meta_path(key)
        meta.parent.mkdir(parents=True, exist_ok=True)
        temp = meta.with_name(meta.name + ".tmp")
        temp.write_text(
            json.dumps({"etag": info.etag, "content_type": info.content_type, "size": info.size})
        )
        os.replace(temp, meta)

    def _meta_path(self, key: str) -> Path:
        return self.meta / f"{key}.json"

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> bytes:
        """Bytes `start`..`end` (exclusive) of a blob."""
        check_key(key)
        return await asyncio.to_thread(self._read, key, start, end)

    def _read(self, key: str, start: int, end: int | None) -> bytes:
        try:
            with open(self.data / key, "rb") as f:
                f.seek(start)
                return f.read() if end is None else f.read(max(0, end - start))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None

    async def stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 1 << 16
    ) -> AsyncIterator[bytes]:
        """A range of a blob as chunks."""
        check_key(key)
        chunks = await asyncio.to_thread(self._open_chunks, key, start, end, chunk_size)
        while (chunk := await asyncio.to_thread(next, chunks, b"")) != b"":
            yield chunk

    def _open_chunks(
        self, key: str, start: int, end: int | None, chunk_size: int
    ) -> Iterator[bytes]:
        try:
            f = open(self.data / key, "rb")  # noqa: SIM115 (closed by the generator)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None

        def chunks() -> Iterator[bytes]:
            with f:
                f.seek(start)
                left = None if end is None else max(0, end - start)
                while left is None or left > 0:
                    chunk = f.read(chunk_size if left is None else min(chunk_size, left))
                    if not chunk:
                        return
                    if left is not None:
                        left -= len(chunk)
                    yield chunk

        return chunks()

    async def stat(self, key: str) -> BlobInfo | None:
        """Size, ETag and content type, or None."""
        check_key(key)
        return await asyncio.to_thread(self._stat, key)

    def _stat(self, key: str) -> BlobInfo | None:
        path = self.data / key
        if not path.is_file():
            return None
        size = path.stat().st_size
        try:
            meta = json.loads(self._meta_path(key).read_text())
            return BlobInfo(key, size, meta["etag"], meta["content_type"])
        except (FileNotFoundError, ValueError, KeyError):  # written by hand: derive validators
            stat = path.stat()
            return BlobInfo(
                key, size, f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"', "application/octet-stream"
            )

    async def delete(self, key: str) -> bool:
        """Remove a blob; whether it existed."""
        check_key(key)
        return await asyncio.to_thread(self._delete, key)

    def _delete(self, key: str) -> bool:
        self._meta_path(key).unlink(missing_ok=True)
        try:
            (self.data / key).unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return False
        return True

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every blob whose key starts with `prefix`."""
        keys = await self.list(prefix)
        for key in keys:
            await asyncio.to_thread(self._delete, key)
        return len(keys)

    async def list(self, prefix: str = "") -> list[str]:
        """Keys starting with `prefix`, sorted."""
        check_prefix(prefix)
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[str]:
        base = self.data / prefix.rsplit("/", 1)[0] if "/" in prefix else self.data
        if not base.is_dir():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                key = (Path(dirpath) / name).relative_to(self.data).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    async def ping(self) -> None:
        """Raise unless the directory is writable."""
        await asyncio.to_thread(self._probe_write)

    def _probe_write(self) -> None:
        with tempfile.NamedTemporaryFile(dir=self.data, prefix=".tmp-ping"):
            pass

    async def close(self) -> None:
        """Nothing to release."""


class _HashingWriter:
    """Writes through to a file while hashing and counting the bytes."""

    def __init__(self, raw: BinaryIO, digest: hashlib._Hash) -> None:
        self.raw, self.digest, self.size = raw, digest, 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)
