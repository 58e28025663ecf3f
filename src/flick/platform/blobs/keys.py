"""Blob key rules shared by every adapter, so a key valid in one store is valid in all."""

from __future__ import annotations

MAX_KEY_LENGTH = 1024  # S3's limit


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative '/'-path; raise ValueError saying why not."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"a blob key has 1 to {MAX_KEY_LENGTH} characters")
    if key.startswith("/") or "\\" in key:
        raise ValueError(f"blob key {key[:80]!r} must be relative and use '/' only")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise ValueError("a blob key may not hold control characters")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"blob key {key[:80]!r} has an empty, '.' or '..' segment")
        if segment.startswith(".meta"):
            raise ValueError("blob key segments may not start with '.meta' (reserved)")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key-like string (it may end in '/')."""
    if prefix:
        check_key(prefix.rstrip("/") or "x")
    return prefix
