"""Snowflake ids: 41 bits of milliseconds since the project epoch, 10 bits of logical shard,
12 bits of sequence. A row's id carries the logical shard of its owner, so any row is routed
to its database without a lookup (Instagram's scheme)."""

from __future__ import annotations

import random
import threading
import time

EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z; 41 bits of ms last until 2095
LOGICAL_SHARDS = 1024  # 10 bits; physical databases own ranges of these (see sql.ShardMap)
SHARD_BITS = 10
SEQUENCE_BITS = 12
SEQUENCE_MASK = (1 << SEQUENCE_BITS) - 1


def shard_of(snowflake: int) -> int:
    """The logical shard a snowflake id was minted for."""
    return (snowflake >> SEQUENCE_BITS) & (LOGICAL_SHARDS - 1)


def timestamp_ms_of(snowflake: int) -> int:
    """Unix milliseconds at which the id was minted."""
    return (snowflake >> (SHARD_BITS + SEQUENCE_BITS)) + EPOCH_MS


class SnowflakeGenerator:
    """Mints ids for any logical shard; thread-safe.

    The layout has no worker bits, so two processes minting for the same shard in the same
    millisecond could collide. Each process starts every millisecond's sequence at a random
    point, which makes that rare, and every id is a primary key, so a collision fails the
    insert loudly rather than merging rows.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current_ms = 0
        # shard -> (first sequence handed out this millisecond, next sequence)
        self._sequences: dict[int, tuple[int, int]] = {}

    def next_id(self, shard: int) -> int:
        """A new id owned by `shard`."""
        if not 0 <= shard < LOGICAL_SHARDS:
            raise ValueError(f"logical shard {shard} is outside 0..{LOGICAL_SHARDS - 1}")
        with self._lock:
            now = self._advance_clock()
            first, sequence = self._sequences.get(shard) or (_random_sequence(),) * 2
            if (sequence + 1) & SEQUENCE_MASK == first:
                # 4096 ids for one shard in one millisecond: the next id waits for the next ms.
                self._current_ms = now + 1
            self._sequences[shard] = (first, (sequence + 1) & SEQUENCE_MASK)
        millis = now - EPOCH_MS
        return (millis << (SHARD_BITS + SEQUENCE_BITS)) | (shard << SEQUENCE_BITS) | sequence

    def _advance_clock(self) -> int:
        now = int(time.time() * 1000)
        while now < self._current_ms:  # the clock went back, or a shard used up its ms
            time.sleep(0.0002)
            now = int(time.time() * 1000)
        if now != self._current_ms:
            self._current_ms = now
            self._sequences.clear()
        return now


def _random_sequence() -> int:
    return random.randrange(SEQUENCE_MASK + 1)


_default = SnowflakeGenerator()


def new_id(shard: int) -> int:
    """A new id owned by logical shard `shard`, from the process-wide generator."""
    return _default.next_id(shard)


def random_shard() -> int:
    """A logical shard for a new account: uniform, so load spreads evenly."""
    return random.randrange(LOGICAL_SHARDS)
