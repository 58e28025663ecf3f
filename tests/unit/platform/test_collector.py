"""The serving process's garbage collector settings and the pause metric on /metrics."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from flick.gateway.metrics import REGISTRY
from flick.platform.collector import OLDER_THRESHOLDS, settle_for_serving
from flick.platform.settings import Settings


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_settling_freezes_what_is_loaded_and_spaces_young_collections() -> None:
    gc.unfreeze()
    kept_for_life = [[n] for n in range(1_000)]  # containers the collector tracks
    young = Settings().gc_young_threshold
    assert young > 700  # CPython's default: serving must space young collections out
    settle_for_serving(young)
    assert gc.get_freeze_count() >= len(kept_for_life)
    assert gc.get_threshold() == (young, *OLDER_THRESHOLDS)


def pause_counts() -> dict[str, float]:
    """flick_gc_pause_seconds_count by generation, as a scrape of /metrics reads it."""
    text = generate_latest(REGISTRY).decode()
    for family in text_string_to_metric_families(text):
        if family.name == "flick_gc_pause_seconds":
            return {
                s.labels["generation"]: s.value
                for s in family.samples
                if s.name == "flick_gc_pause_seconds_count"
            }
    raise AssertionError("no flick_gc_pause_seconds on /metrics")


def test_every_collection_is_timed_under_its_generation() -> None:
    before = pause_counts()
    gc.collect(2)
    gc.collect(2)
    gc.collect(1)
    after = pause_counts()
    assert after["2"] - before["2"] == 2
    assert after["1"] - before["1"] >= 1  # the collector may also run one on its own
    assert set(after) == {"0", "1", "2"}
