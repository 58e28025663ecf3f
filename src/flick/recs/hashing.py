"""Deterministic hashing of ids and tokens into buckets (the hashing trick).

Python's `hash()` is salted per process, so every hash here comes from splitmix64 (integers) or
BLAKE2b (strings): the same id lands in the same bucket on every machine and every run.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

_GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's increment: 2**64 / golden ratio
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_MASK63 = (1 << 63) - 1


def mix64(values: np.ndarray, *, salt: int = 0) -> np.ndarray:
    """splitmix64 of each value (any integer dtype), as uint64."""
    offset = np.uint64((_GOLDEN * (salt + 1)) & ((1 << 64) - 1))
    with np.errstate(over="ignore"):
        z = np.asarray(values).astype(np.uint64) + offset
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def bucket(
    values: np.ndarray, buckets: int, *, salt: int = 0, reserve_zero: bool = False
) -> np.ndarray:
    """Each value's bucket in [0, buckets), or [1, buckets) keeping 0 for padding."""
    hashed = mix64(values, salt=salt)
    if reserve_zero:
        return (hashed % np.uint64(buckets - 1)).astype(np.int64) + 1
    return (hashed % np.uint64(buckets)).astype(np.int64)


@lru_cache(maxsize=1 << 16)
def token_hash(token: str, *, salt: str = "") -> int:
    """A stable non-negative 63-bit hash of a string."""
    digest = hashlib.blake2b(token.encode(), digest_size=8, person=salt.encode()[:16]).digest()
    return int.from_bytes(digest, "little") & _MASK63


def normalise_tag(tag: str) -> str:
    """`#Cooking ` and `cooking` are one hashtag."""
    return tag.strip().lstrip("#").casefold()


def tag_ids(tags: tuple[str, ...] | list[str], *, width: int) -> np.ndarray:
    """Up to `width` hashtags as stable 63-bit ids (int64), 0-padded; 0 never names a tag."""
    ids = np.zeros(width, dtype=np.int64)
    unique = list(dict.fromkeys(normalise_tag(tag) for tag in tags if normalise_tag(tag)))
    for slot, tag in enumerate(unique[:width]):
        ids[slot] = token_hash(tag, salt="tag") or 1
    return ids
