"""Blob store on a local directory (the embedded adapter: one process owns the directory).

Layout: the bytes of a blob are the plain file `<root>/data/<key>`; its metadata is the sidecar
`<root>/.meta/<key>`, JSON `{"etag", "content_type", "file": [inode, size, mtime_ns]}`.

Writes go to a `.tmp-*` file beside the target, are fsynced and renamed over it (os.replace),
so a reader sees the old blob or the new one, never a part; a failed write removes its
temporary file.

ETag: the first 128 bits of the SHA-256 of the content, computed while writing, quoted. It is a
strong validator and equal bytes get equal ETags, as with S3's MD5 ETag of a single-part upload.

Data and sidecar cannot be renamed in one step, so the sidecar names the file it describes:
it is written first, and `stat` trusts it only while the inode, size and mtime still match the
file under the key. In the instant between the two renames, after a crash there, or for a file
copied in by hand, the blob gets derived values instead: ETag `"<size>-<mtime_ns>-<inode>"`
(hex) and a content type guessed from the key's extension. It never gets another version's ETag.

Limitation: a path cannot be both a file and a directory, so here a key cannot be both a blob
and the prefix of other blobs ("a" and "a/b"); S3 allows that. Such a put raises ValueError.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import json
import mimetypes
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

from flick.platform.blobs import BlobInfo, BlobNotFound
from flick.platform.blobs.keys import (
    RESERVED_SEGMENT_PREFIX,
    check_key,
    check_prefix,
    check_range,
)

COPY_CHUNK = 1 << 20  # put_file copies 1 MiB at a time: few syscalls, bounded memory
# put_stream hands bytes to its writer threads 1 MiB at a time: a body arrives in pieces of
# ~64 KiB, and a thread hand-off per piece cost more CPU than the writing and hashing.
STREAM_BATCH = 1 << 20
ETAG_HEX = 32  # 128 bits of SHA-256, as long as an MD5 ETag
DEFAULT_TYPE = "application/octet-stream"
_MISSING = (FileNotFoundError, IsADirectoryError, NotADirectoryError)
_CLASH = (FileExistsError, IsADirectoryError, NotADirectoryError)


class LocalBlobStore:
    """BlobStore port on a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.meta = root / ".meta"
        self.data.mkdir(parents=True, exist_ok=True)
        self.meta.mkdir(parents=True, exist_ok=True)
        # Worker threads write concurrently. This lock covers only the short steps that must
        # not interleave: creating a temp file in a directory that delete might prune, and
        # the sidecar + data renames of one put. Copying and fsync run outside it.
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> LocalBlobStore:
        """`file:///absolute/directory`."""
        path = unquote(urlparse(url).path)
        if not path.startswith("/"):
            raise ValueError(f"blob URL {url!r} names no absolute directory; write file:///dir")
        return cls(Path(path))

    # --- writing -------------------------------------------------------------------------

    async def put(self, key: str, data: bytes, *, content_type: str = DEFAULT_TYPE) -> BlobInfo:
        """Store bytes atomically."""
        check_key(key)
        return await asyncio.to_thread(self._write, key, lambda out: out.write(data), content_type)

    async def put_file(self, key: str, path: Path, *, content_type: str = DEFAULT_TYPE) -> BlobInfo:
        """Store a local file atomically, streaming it."""
        check_key(key)

        def copy(out: _HashingWriter) -> None:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, out, COPY_CHUNK)

        return await asyncio.to_thread(self._write, key, copy, content_type)

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str = DEFAULT_TYPE
    ) -> BlobInfo:
        """Store chunks as they arrive: each batch is written in a worker thread while the
        caller produces the next, so receiving and writing overlap. The ETag is the file's
        identity (size, mtime, inode: new for every write, so still a strong validator), not
        a content hash: streamed blobs are upload parts, which are never served, and hashing
        them again cost a fifth of an upload's CPU (S3's multipart ETags are no content hash
        either)."""
        check_key(key)
        out, temp = await asyncio.to_thread(self._open_temp, key)
        writing: asyncio.Future[Any] | None = None
        try:
            async for batch in _batched(chunks, STREAM_BATCH):
                if writing is not None:
                    await writing
                out.size += len(batch)
                writing = asyncio.ensure_future(asyncio.to_thread(out.raw.write, batch))
            if writing is not None:
                await writing
            return await asyncio.to_thread(
                self._commit, key, out, temp, content_type, identity_etag=True
            )
        except BaseException:
            if writing is not None:
                with suppress(BaseException):
                    await asyncio.shield(writing)  # never close the file under a write
            _discard(out, temp)
            raise

    def _write(
        self, key: str, fill: Callable[[_HashingWriter], object], content_type: str
    ) -> BlobInfo:
        out, temp = self._open_temp(key)
        try:
            fill(out)
            return self._commit(key, out, temp, content_type)
        except BaseException:
            _discard(out, temp)
            raise

    def _open_temp(self, key: str) -> tuple[_HashingWriter, str]:
        with self._lock:
            fd, temp = self._temp_beside(self.data / key, key)
        return _HashingWriter(os.fdopen(fd, "wb")), temp

    def _commit(
        self,
        key: str,
        out: _HashingWriter,
        temp: str,
        content_type: str,
        *,
        identity_etag: bool = False,
    ) -> BlobInfo:
        """fsync the temp file, then put its sidecar and itself in place (see the module doc)."""
        with out.raw as raw:
            raw.flush()
            os.fsync(raw.fileno())
            written = os.fstat(raw.fileno())  # a rename keeps inode and mtime
        etag = _identity_etag(written) if identity_etag else out.etag()
        info = BlobInfo(key, out.size, etag, content_type)
        with self._lock, _clash_is_value_error(key):
            self._write_meta(key, info, written)
            os.replace(temp, self.data / key)
        return info

    def _write_meta(self, key: str, info: BlobInfo, written: os.stat_result) -> None:
        record = {"etag": info.etag, "content_type": info.content_type, "file": _identity(written)}
        path = self.meta / key
        fd, temp = self._temp_beside(path, key)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(record, out)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def _temp_beside(self, target: Path, key: str) -> tuple[int, str]:
        """A new temp file in `target`'s directory, made if needed (call under the lock)."""
        with _clash_is_value_error(key):
            target.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=target.parent, prefix=RESERVED_SEGMENT_PREFIX)

    # --- reading -------------------------------------------------------------------------

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> bytes:
        """Bytes `start`..`end` (exclusive) of a blob."""
        check_key(key)
        check_range(start, end)
        return await asyncio.to_thread(self._read, key, start, end)

    def _read(self, key: str, start: int, end: int | None) -> bytes:
        with self._open_at(key, start) as f:
            return f.read() if end is None else f.read(max(0, end - start))

    async def stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 1 << 16
    ) -> AsyncIterator[bytes]:
        """A range of a blob as chunks, each read in a worker thread."""
        check_key(key)
        check_range(start, end)
        f = await asyncio.to_thread(self._open_at, key, start)
        try:
            left = None if end is None else max(0, end - start)
            while left is None or left > 0:
                size = chunk_size if left is None else min(chunk_size, left)
                chunk = await asyncio.to_thread(f.read, size)
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            f.close()

    def _open_at(self, key: str, start: int) -> BinaryIO:
        try:
            f = open(self.data / key, "rb")  # noqa: SIM115 (the caller closes it)
        except _MISSING:
            raise BlobNotFound(key) from None
        f.seek(start)
        return f

    async def stat(self, key: str) -> BlobInfo | None:
        """Size, ETag and content type, or None."""
        check_key(key)
        return await asyncio.to_thread(self._stat, key)

    def _stat(self, key: str) -> BlobInfo | None:
        try:
            found = os.stat(self.data / key)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(found.st_mode):
            return None
        meta = self._read_meta(key)
        if meta.get("file") == _identity(found):
            return BlobInfo(key, found.st_size, meta["etag"], meta["content_type"])
        etag = _identity_etag(found)
        return BlobInfo(key, found.st_size, etag, mimetypes.guess_type(key)[0] or DEFAULT_TYPE)

    def _read_meta(self, key: str) -> dict[str, Any]:
        try:
            meta = json.loads((self.meta / key).read_text())
        except (OSError, ValueError):  # none yet, or torn by a crash: derive instead
            return {}
        return meta if isinstance(meta, dict) else {}

    # --- deleting and listing ------------------------------------------------------------

    async def delete(self, key: str) -> bool:
        """Remove a blob; whether it existed."""
        check_key(key)
        return await asyncio.to_thread(self._delete, key)

    def _delete(self, key: str) -> bool:
        with self._lock:
            try:
                (self.data / key).unlink()
                existed = True
            except _MISSING:
                existed = False
            with suppress(*_MISSING):
                (self.meta / key).unlink()
            # Empty directories left behind would otherwise pile up (one per deleted video)
            # and block a later blob whose key is the directory's name.
            _prune_empty_parents(self.data, key)
            _prune_empty_parents(self.meta, key)
        return existed

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every blob whose key starts with `prefix`."""
        keys = await self.list(prefix)
        await asyncio.to_thread(self._delete_all, keys)
        return len(keys)

    def _delete_all(self, keys: builtins.list[str]) -> None:
        for key in keys:
            self._delete(key)

    async def list(self, prefix: str = "") -> list[str]:
        """Keys starting with `prefix`, sorted."""
        check_prefix(prefix)
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[str]:
        # Walk only the deepest directory the prefix names in full.
        base = self.data / prefix.rsplit("/", 1)[0] if "/" in prefix else self.data
        keys = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(RESERVED_SEGMENT_PREFIX):  # a write in flight
                    continue
                key = (Path(dirpath) / name).relative_to(self.data).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    # --- lifecycle -----------------------------------------------------------------------

    async def ping(self) -> None:
        """Raise unless the directory is writable."""
        await asyncio.to_thread(self._probe_write)

    def _probe_write(self) -> None:
        with tempfile.NamedTemporaryFile(dir=self.data, prefix=RESERVED_SEGMENT_PREFIX):
            pass

    async def close(self) -> None:
        """Nothing to release."""


class _HashingWriter:
    """Writes through to a file while hashing and counting the bytes."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def etag(self) -> str:
        return f'"{self.digest.hexdigest()[:ETAG_HEX]}"'


@contextmanager
def _clash_is_value_error(key: str) -> Iterator[None]:
    """Turn the OS errors of a file/directory clash into a ValueError a caller can act on."""
    try:
        yield
    except _CLASH as error:
        raise ValueError(
            f"blob key {key[:80]!r} clashes with another blob: in a local store a key cannot "
            "be both a blob and the prefix of other blobs ('a' and 'a/b')"
        ) from error


async def _batched(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """Chunks joined into batches of at least `size` bytes (the last may be smaller)."""
    pending: list[bytes] = []
    held = 0
    async for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)


def _discard(out: _HashingWriter, temp: str) -> None:
    """Close and remove an unfinished write (small, so fine on the event loop)."""
    out.raw.close()
    Path(temp).unlink(missing_ok=True)


def _identity_etag(found: os.stat_result) -> str:
    return f'"{found.st_size:x}-{found.st_mtime_ns:x}-{found.st_ino:x}"'


def _identity(found: os.stat_result) -> list[int]:
    return [found.st_ino, found.st_size, found.st_mtime_ns]


def _prune_empty_parents(tree: Path, key: str) -> None:
    parent = (tree / key).parent
    while parent != tree:
        try:
            parent.rmdir()
        except OSError:  # not empty (or already gone): stop climbing
            return
        parent = parent.parent
