"""Blob key (and range) rules shared by every adapter, so what one store accepts all accept."""

from __future__ import annotations

import re

MAX_KEY_BYTES = 1024  # S3's limit, on the UTF-8 encoding
MAX_SEGMENT_BYTES = 255  # NAME_MAX of ext4, XFS, APFS: the local adapter makes each a file name
# The local adapter writes blobs as `.tmp-*` files beside their target and skips such names
# when listing; a key with a segment like that could be stored but never listed.
RESERVED_SEGMENT_PREFIX = ".tmp-"
# C0 and C1 controls (NUL included) and DEL: invisible in logs and URLs, refused by some
# S3-API servers; backslash: a path separator on Windows and ambiguous in URLs.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative '/'-path; raise ValueError saying why not."""
    shown = repr(key[:80])
    if not key or key.startswith("/"):
        raise ValueError(f"blob key {shown} must be a non-empty relative path")
    if found := _FORBIDDEN.search(key):
        raise ValueError(f"blob key {shown} holds the forbidden character {found.group()!r}")
    try:
        size = len(key.encode())
    except UnicodeEncodeError:  # a lone surrogate: no file system or S3 could store it
        raise ValueError(f"blob key {shown} is not valid Unicode") from None
    if size > MAX_KEY_BYTES:
        raise ValueError(f"blob key {shown} has {size} bytes; the limit is {MAX_KEY_BYTES}")
    for segment in key.split("/"):
        _check_segment(segment, shown)
    return key


def _check_segment(segment: str, shown: str) -> None:
    if segment in ("", ".", ".."):
        raise ValueError(f"blob key {shown} has an empty, '.' or '..' segment")
    if segment.startswith(RESERVED_SEGMENT_PREFIX):
        raise ValueError(f"blob key segments may not start with {RESERVED_SEGMENT_PREFIX!r}")
    if len(segment.encode()) > MAX_SEGMENT_BYTES:
        raise ValueError(f"blob key {shown} has a segment longer than {MAX_SEGMENT_BYTES} bytes")


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key-like string that may end in one '/'."""
    if prefix:
        check_key(prefix.removesuffix("/"))
    return prefix


def check_range(start: int, end: int | None) -> None:
    """Refuse a negative start: files and S3 would each read it differently (or fail)."""
    if start < 0 or (end is not None and end < 0):
        raise ValueError(f"a blob range starts and ends at 0 or after, not {start}..{end}")
