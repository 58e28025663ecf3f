"""ShortMemo: what Videos.ready_views and the feed's AuthorStore reuse for a second."""

from __future__ import annotations

from flick.platform.memo import ShortMemo


def test_fresh_values_come_back_and_the_rest_are_missing_in_order() -> None:
    memo: ShortMemo[int, str | None] = ShortMemo(10)
    memo.remember({1: "one", 2: None}, until=5.0)  # None is a value: "known to be absent"
    assert memo.fresh([3, 2, 1], now=4.0) == ({2: None, 1: "one"}, [3])
    assert memo.fresh([1, 2], now=5.0) == ({}, [1, 2])  # `until` has passed


def test_it_starts_afresh_past_its_size_and_forgets_on_demand() -> None:
    memo: ShortMemo[int, str] = ShortMemo(3)
    memo.remember({1: "a", 2: "b"}, until=9.0)
    memo.forget(1)
    memo.forget(7)  # not there: nothing happens
    assert memo.fresh([1, 2], now=0.0) == ({2: "b"}, [1])
    memo.remember({3: "c", 4: "d", 5: "e"}, until=9.0)  # 1 + 3 > 3: the old ones go
    assert memo.fresh([2, 3, 4, 5], now=0.0) == ({3: "c", 4: "d", 5: "e"}, [2])
