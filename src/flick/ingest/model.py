"""Uploads, videos and media assets: entities and rules, no I/O.

An *upload* is the tus resource: bytes arriving in chunks, on the uploader's shard.
A *video* is what a person published (caption, owner, status), on the owner's shard.
An *asset* is the media made from one content hash (original + renditions), shared by every
video whose upload had the same SHA-256: identical content is stored and transcoded once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flick.platform.errors import Conflict, DomainError, InvalidInput

CAPTION_MAX = 2200  # TikTok's caption limit
HASHTAGS_MAX = 30  # more is spam; the rest of the caption is kept as text
HASHTAG_MAX_CHARS = 100
# A hashtag: '#' then letters, digits or '_' in any script (#café, #東京, #k_pop), not inside
# a word (mail#tag is no tag).
HASHTAG = re.compile(rf"(?<![\w#])#(\w{{1,{HASHTAG_MAX_CHARS}}})")


class VideoStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class UploadTooLarge(DomainError):
    """tus 413: the declared or sent length is over the limit."""

    status = 413
    slug = "upload-too-large"
    title = "Upload too large"


class ChecksumMismatch(DomainError):
    """tus 460: the chunk's bytes do not match its Upload-Checksum; nothing was kept."""

    status = 460
    slug = "checksum-mismatch"
    title = "Checksum mismatch"


class OffsetMismatch(Conflict):
    """tus 409: a PATCH whose Upload-Offset is not where the upload stands."""

    slug = "offset-mismatch"
    title = "Upload-Offset does not match"


class UploadGone(DomainError):
    """tus 410: the upload expired or was terminated; its bytes are deleted."""

    status = 410
    slug = "upload-gone"
    title = "Upload gone"


class UnsupportedChecksum(DomainError):
    """tus 400: an algorithm the server does not offer."""

    status = 400
    slug = "unsupported-checksum"
    title = "Unsupported checksum algorithm"


@dataclass(frozen=True, slots=True)
class Upload:
    """A tus upload. `received` is the committed offset."""

    id: int
    user_id: int
    length: int
    received: int
    metadata: dict[str, str]
    created_at: float
    expires_at: float
    sha256: str | None = None  # set once every byte has arrived
    video_id: int | None = None  # set once published as a video

    @property
    def complete(self) -> bool:
        return self.received == self.length


@dataclass(frozen=True, slots=True)
class Video:
    """A published video. Media details live on its asset."""

    id: int
    owner_id: int
    asset: str  # the content's SHA-256, hex
    caption: str
    hashtags: list[str]
    status: VideoStatus
    created_at: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Asset:
    """Media made from one content hash."""

    sha256: str
    status: VideoStatus
    source_upload_id: int  # the one upload whose bytes get transcoded
    progress: float = 0.0  # 0..1 of the H.264 ladder
    error: str | None = None
    original_key: str | None = None
    media: dict[str, Any] = field(default_factory=dict)  # duration, size, renditions, stills


def parse_hashtags(caption: str) -> list[str]:
    """Distinct hashtags in order of appearance, lower-cased (NFKC), without '#'."""
    seen: dict[str, None] = {}
    for match in HASHTAG.finditer(caption):
        tag = unicodedata.normalize("NFKC", match.group(1)).casefold()
        if len(seen) >= HASHTAGS_MAX:
            break
        seen.setdefault(tag, None)
    return list(seen)


def clean_caption(caption: str) -> str:
    """Strip, NFC-normalise and bound a caption; newlines allowed, other controls not."""
    text = unicodedata.normalize("NFC", caption.strip())
    if len(text) > CAPTION_MAX:
        raise InvalidInput(
            f"caption has at most {CAPTION_MAX} characters, not {len(text)}", field="caption"
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise InvalidInput("caption may not hold control characters", field="caption")
    return text


# What each served media file is, by extension (stored with the blob, sent by /media).
MEDIA_TYPES = {
    "m3u8": "application/vnd.apple.mpegurl",
    "m4s": "video/iso.segment",
    "mp4": "video/mp4",
    "jpg": "image/jpeg",
}


def asset_prefix(sha256: str) -> str:
    """Where an asset's blobs live: `assets/<sha256>/`."""
    return f"assets/{sha256}/"


def media_key(sha256: str, path: str) -> str:
    """The blob key of a served file (`master.m3u8`, `720p/seg_00001.m4s`, `thumb.jpg`)."""
    return f"{asset_prefix(sha256)}media/{path}"


def upload_prefix(upload_id: int) -> str:
    """Where an upload's parts live until its bytes become an asset's original."""
    return f"uploads/{upload_id}/"
