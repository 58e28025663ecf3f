"""The tus 1.0.0 wire format: headers in, headers out. No I/O.

https://tus.io/protocols/resumable-upload: core, creation, creation-with-upload, checksum,
termination, expiration. Errors are DomainErrors, so they reach the client as problem+json
with the status the protocol asks for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any

from flick.ingest.model import UnsupportedChecksum
from flick.platform.errors import DomainError, InvalidInput

VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,checksum,termination,expiration"
CHECKSUM_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}  # sha1: tus requires it
CHUNK_CONTENT_TYPE = "application/offset+octet-stream"
METADATA_MAX_BYTES = 4096  # filename + caption, base64: generous, but bounded
METADATA_KEYS_MAX = 16


class PreconditionFailed(DomainError):
    """tus 412: the client speaks a protocol version this server does not."""

    status = 412
    slug = "tus-version"
    title = "Unsupported tus version"


class WrongContentType(DomainError):
    """tus 415: a PATCH without `application/offset+octet-stream`."""

    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


def check_version(headers: Mapping[str, str]) -> None:
    """Every request but OPTIONS carries `Tus-Resumable: 1.0.0`."""
    if headers.get("tus-resumable") != VERSION:
        raise PreconditionFailed(f"send `Tus-Resumable: {VERSION}`; it is the only version served")


def check_chunk_type(headers: Mapping[str, str]) -> None:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != CHUNK_CONTENT_TYPE:
        raise WrongContentType(f"upload bytes are sent as `Content-Type: {CHUNK_CONTENT_TYPE}`")


def non_negative_int(headers: Mapping[str, str], name: str) -> int:
    """A header holding a non-negative integer, or a 400 naming it."""
    raw = headers.get(name.lower())
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise DomainError(f"`{name}` must be a non-negative integer")
    return int(raw)


def parse_metadata(raw: str | None) -> dict[str, str]:
    """`Upload-Metadata: key base64value,key2 base64value2` -> dict of UTF-8 strings."""
    if not raw:
        return {}
    if len(raw) > METADATA_MAX_BYTES:
        raise DomainError(f"Upload-Metadata has at most {METADATA_MAX_BYTES} bytes")
    pairs = [p.strip() for p in raw.split(",") if p.strip()]
    if len(pairs) > METADATA_KEYS_MAX:
        raise DomainError(f"Upload-Metadata has at most {METADATA_KEYS_MAX} keys")
    return dict(_metadata_pair(pair) for pair in pairs)


def _metadata_pair(pair: str) -> tuple[str, str]:
    key, _, value = pair.partition(" ")
    if not key.isascii() or not key.isprintable():
        raise DomainError(f"Upload-Metadata key {key[:40]!r} must be printable ASCII")
    try:
        return key, base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise DomainError(f"Upload-Metadata value of {key!r} is not base64 of UTF-8") from None


def encode_metadata(metadata: Mapping[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())


def parse_checksum(raw: str | None) -> tuple[str, bytes] | None:
    """`Upload-Checksum: sha256 <base64 digest>` -> (algorithm, digest)."""
    if raw is None:
        return None
    algorithm, _, encoded = raw.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        offered = ", ".join(CHECKSUM_ALGORITHMS)
        raise UnsupportedChecksum(f"checksum algorithm {algorithm[:20]!r}: use one of {offered}")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise InvalidInput("Upload-Checksum digest is not base64") from None
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise InvalidInput(f"Upload-Checksum digest is not {algorithm} length")
    return algorithm, digest


def http_date(timestamp: float) -> str:
    """RFC 9110 date, as Upload-Expires wants."""
    return formatdate(timestamp, usegmt=True)


def capability_headers(*, max_size: int) -> dict[str, str]:
    """What OPTIONS advertises."""
    return {
        "Tus-Resumable": VERSION,
        "Tus-Version": VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(max_size),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }


def offset_headers(offset: int, *, expires_at: float, **extra: Any) -> dict[str, str]:
    """The headers of a HEAD or PATCH answer."""
    headers = {
        "Tus-Resumable": VERSION,
        "Upload-Offset": str(offset),
        "Upload-Expires": http_date(expires_at),
        "Cache-Control": "no-store",
    }
    headers.update({k: str(v) for k, v in extra.items()})
    return headers
