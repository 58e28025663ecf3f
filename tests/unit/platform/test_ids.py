from __future__ import annotations

import time

import pytest

from flick.platform.ids import LOGICAL_SHARDS, SnowflakeGenerator, shard_of, timestamp_ms_of


def test_ids_carry_their_shard_and_time() -> None:
    generator = SnowflakeGenerator()
    before = int(time.time() * 1000)
    for shard in (0, 1, 511, LOGICAL_SHARDS - 1):
        snowflake = generator.next_id(shard)
        assert shard_of(snowflake) == shard
        assert before - 1 <= timestamp_ms_of(snowflake) <= int(time.time() * 1000) + 1
        assert 0 < snowflake < 2**63  # fits a signed BIGINT


def test_ids_are_unique_even_past_4096_in_one_millisecond() -> None:
    generator = SnowflakeGenerator()
    ids = [generator.next_id(42) for _ in range(20_000)]
    assert len(set(ids)) == len(ids)


def test_out_of_range_shard_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        SnowflakeGenerator().next_id(LOGICAL_SHARDS)
