"""The tus upload service: uploads whose bytes arrive in chunks, possibly over days, possibly
through different API processes, surviving restarts.

Where state lives:
- the committed offset, length, metadata and final SHA-256 in SQL (`uploads`, uploader's
  shard), advanced with a compare-and-set on the offset, so two racing PATCHes cannot both
  land;
- the bytes as part blobs `uploads/<id>/<offset>-<nonce>` (a directory locally, objects on
  S3, where 5 MiB is the multipart minimum: the article's chunk size), listed in
  `upload_parts` in the same transaction that moves the offset. A part whose transaction lost
  or never ran is an orphan under the upload's prefix and goes when the upload does.
- the running whole-file SHA-256 in this process's memory, updated as bytes arrive (no
  second pass). Python's hashlib cannot export its state, so a process that did not see the
  previous chunks (after a restart, or behind a load balancer) rebuilds it once by hashing
  the stored prefix, then carries on incrementally.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flick.ingest import repository as repo
from flick.ingest.model import (
    ChecksumMismatch,
    OffsetMismatch,
    Upload,
    UploadGone,
    UploadTooLarge,
    upload_prefix,
)
from flick.ingest.tus import CHECKSUM_ALGORITHMS
from flick.platform.blobs import BlobStore
from flick.platform.errors import InvalidInput, NotFound
from flick.platform.ids import new_id, shard_of
from flick.platform.sql import Database

log = logging.getLogger(__name__)

HASHERS_KEPT = 1024  # uploads in flight whose running hash one process keeps
SWEEP_BATCH = 200


class ClientGone(Exception):
    """The client disconnected mid-chunk; what arrived before is kept (tus asks for that)."""


@dataclass
class _Chunk:
    """What one PATCH wrote before it is committed."""

    start: int
    parts: list[tuple[int, int, str]] = field(default_factory=list)
    received: int = 0


class Uploads:
    """Built once by bootstrap; safe to share between requests."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        max_bytes: int,
        expiry_s: float,
        part_bytes: int,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.max_bytes = max_bytes
        self.expiry_s = expiry_s
        self.part_bytes = part_bytes
        # upload id -> (offset the hash covers, running SHA-256 of the bytes before it)
        self._hashers: OrderedDict[int, tuple[int, Any]] = OrderedDict()

    # --- creation, status, termination ---------------------------------------------------

    async def create(self, user_id: int, *, length: int, metadata: dict[str, str]) -> Upload:
        """A new, empty upload of `length` bytes for `user_id`."""
        if length == 0:
            raise InvalidInput("the file is empty (Upload-Length: 0); choose a video file")
        if length > self.max_bytes:
            raise UploadTooLarge(
                f"the file is {_mib(length)}; the largest upload is {_mib(self.max_bytes)}"
            )
        now = time.time()
        upload = Upload(
            id=new_id(shard_of(user_id)),
            user_id=user_id,
            length=length,
            received=0,
            metadata=metadata,
            created_at=now,
            expires_at=now + self.expiry_s,
        )
        async with self.db.transaction(shard_of(upload.id)) as conn:
            await repo.insert_upload(conn, upload)
        self._hashers[upload.id] = (0, hashlib.sha256())
        return upload

    async def get(self, upload_id: int, *, user_id: int) -> Upload:
        """The caller's live upload; NotFound for someone else's, UploadGone once expired."""
        async with self.db.read(shard_of(upload_id)) as conn:
            upload = await repo.get_upload(conn, upload_id)
        if upload is None or upload.user_id != user_id:
            raise NotFound(f"there is no upload {upload_id} of yours")
        if upload.video_id is None and upload.expires_at < time.time():
            await self.remove(upload_id)
            raise UploadGone(f"upload {upload_id} expired and was deleted; start a new one")
        return upload

    async def terminate(self, upload_id: int, *, user_id: int) -> None:
        """tus termination: the upload and its bytes are gone."""
        upload = await self.get(upload_id, user_id=user_id)
        if upload.video_id is not None:
            raise OffsetMismatch("this upload is already published as a video; delete that")
        await self.remove(upload_id)

    async def remove(self, upload_id: int) -> None:
        """Delete an upload's row, parts list and bytes (orphan parts included)."""
        self._hashers.pop(upload_id, None)
        async with self.db.transaction(shard_of(upload_id)) as conn:
            await repo.delete_upload(conn, upload_id)
        await self.blobs.delete_prefix(upload_prefix(upload_id))

    async def sweep_expired(self, *, now: float | None = None) -> int:
        """Delete every expired, unpublished upload; returns how many."""
        now = time.time() if now is None else now
        removed = 0
        for engine in self.db.engines:
            async with engine.connect() as conn:
                expired = await repo.expired_uploads(conn, now=now, limit=SWEEP_BATCH)
            for upload_id in expired:
                await self.remove(upload_id)
            removed += len(expired)
        return removed

    # --- receiving bytes -----------------------------------------------------------------

    async def append(
        self,
        upload_id: int,
        *,
        user_id: int,
        offset: int,
        body: AsyncIterator[bytes],
        checksum: tuple[str, bytes] | None = None,
    ) -> Upload:
        """Store a PATCH body at `offset`. With a checksum, all of it or (on mismatch or a
        dropped connection) none of it; without, whatever arrived."""
        upload = await self.get(upload_id, user_id=user_id)
        if offset != upload.received:
            raise OffsetMismatch(f"the upload is at byte {upload.received}, not {offset}")
        whole = (await self._running_hash(upload)).copy()  # the original stays valid on failure
        piece = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
        chunk = _Chunk(start=offset)
        try:
            await self._receive(upload, body, chunk, hashers=[h for h in (whole, piece) if h])
        except ClientGone:
            if checksum:  # a checksummed chunk is all or nothing
                await self._discard(chunk)
                raise
        except BaseException:
            await self._discard(chunk)
            raise
        if piece is not None and checksum and not hmac.compare_digest(piece.digest(), checksum[1]):
            await self._discard(chunk)
            raise ChecksumMismatch(
                f"the {checksum[0]} of the {chunk.received} bytes sent does not match "
                f"Upload-Checksum; nothing was stored, resend from byte {offset}"
            )
        return await self._commit(upload, chunk, whole)

    async def _receive(
        self, upload: Upload, body: AsyncIterator[bytes], chunk: _Chunk, *, hashers: list[Any]
    ) -> None:
        """Store the body as parts of about `part_bytes`, each streamed to the blob store as
        it arrives (receiving and writing overlap) and hashed on the way."""
        part = _Part(room=upload.length - upload.received, budget=self.part_bytes, hashers=hashers)
        first = await _next_piece(body, part)
        while first is not None:
            at = chunk.start + chunk.received
            key = f"{upload_prefix(upload.id)}{at:015d}-{secrets.token_hex(4)}"
            part.size = 0
            await self.blobs.put_stream(key, part.pieces(first, body))
            chunk.parts.append((at, part.size, key))
            chunk.received += part.size
            first = None if part.ended else await _next_piece(body, part)
        if part.client_gone:
            raise ClientGone

    async def _commit(self, upload: Upload, chunk: _Chunk, whole: Any) -> Upload:
        received = upload.received + chunk.received
        sha256 = whole.hexdigest() if received == upload.length else None
        async with self.db.transaction(shard_of(upload.id)) as conn:
            moved = await repo.advance_upload(
                conn, upload.id, from_offset=upload.received, parts=chunk.parts, sha256=sha256
            )
        if not moved:
            await self._discard(chunk)
            raise OffsetMismatch("another request moved this upload on; ask HEAD for its offset")
        self._remember_hash(upload.id, received, whole)
        return replace(upload, received=received, sha256=sha256)

    async def _discard(self, chunk: _Chunk) -> None:
        for _offset, _size, key in chunk.parts:
            await self.blobs.delete(key)
        chunk.parts.clear()

    # --- the running hash ----------------------------------------------------------------

    async def _running_hash(self, upload: Upload) -> Any:
        """SHA-256 of the committed bytes; rebuilt from the stored parts if this process has
        not seen them all."""
        kept = self._hashers.get(upload.id)
        if kept is not None and kept[0] == upload.received:
            self._hashers.move_to_end(upload.id)
            return kept[1]
        log.info(
            "rebuilding the SHA-256 of upload %d from %d stored bytes", upload.id, upload.received
        )
        hasher = hashlib.sha256()
        async for data in self.read(upload.id):
            hasher.update(data)
        self._remember_hash(upload.id, upload.received, hasher)
        return hasher

    def _remember_hash(self, upload_id: int, offset: int, hasher: Any) -> None:
        self._hashers[upload_id] = (offset, hasher)
        self._hashers.move_to_end(upload_id)
        while len(self._hashers) > HASHERS_KEPT:
            self._hashers.popitem(last=False)

    # --- reading back --------------------------------------------------------------------

    async def read(self, upload_id: int) -> AsyncIterator[bytes]:
        """The committed bytes in order."""
        async with self.db.read(shard_of(upload_id)) as conn:
            parts = await repo.list_parts(conn, upload_id)
        for _offset, _size, key in parts:
            async for data in self.blobs.stream(key, chunk_size=1 << 20):
                yield data

    async def assemble(self, upload_id: int, path: Path) -> int:
        """Write the committed bytes to a local file (for the probe and ffmpeg)."""
        size = 0
        with path.open("wb") as out:
            async for data in self.read(upload_id):
                out.write(data)
                size += len(data)
        return size


class _Part:
    """Feeds one part's pieces of a request body to the blob store: checks the upload's room,
    hashes, counts, and stops after `budget` bytes or at the end of the body. A dropped
    connection ends the body early (`client_gone`); what arrived before is still stored."""

    def __init__(self, *, room: int, budget: int, hashers: list[Any]) -> None:
        self.room, self.budget, self.hashers = room, budget, hashers
        self.size = 0
        self.total = 0
        self.ended = False
        self.client_gone = False

    async def pieces(self, first: bytes, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        piece: bytes | None = first
        while piece is not None:
            self._take(piece)
            yield piece
            if self.size >= self.budget:
                return
            piece = await _next_piece(body, self)

    def _take(self, piece: bytes) -> None:
        if self.total + len(piece) > self.room:
            raise UploadTooLarge(
                f"the chunk runs past Upload-Length; at most {self.room} more bytes fit"
            )
        for hasher in self.hashers:  # hashlib releases the GIL: runs beside the write thread
            hasher.update(piece)
        self.size += len(piece)
        self.total += len(piece)


async def _next_piece(body: AsyncIterator[bytes], part: _Part) -> bytes | None:
    """The next piece of the body; None at its end or when the client is gone."""
    try:
        return await anext(body)
    except StopAsyncIteration:
        part.ended = True
    except ClientGone:
        part.ended = part.client_gone = True
    return None


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"
