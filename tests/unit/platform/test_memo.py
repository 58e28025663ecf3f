"""ShortMemo: what Videos.ready_cards and the feed's AuthorStore reuse for a second;
DecodeMemo: what feed pages decode only when the cached bytes change."""

from __future__ import annotations

from flick.platform.memo import DecodeMemo, ShortMemo


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


def test_a_decode_is_reused_only_for_an_equal_source() -> None:
    memo: DecodeMemo[str, bytes, list[int]] = DecodeMemo(2)
    decodes: list[bytes] = []

    def decode(raw: bytes) -> list[int]:
        decodes.append(raw)
        return [int(part) for part in raw.split(b",")]

    first = memo.decoded("a", b"1,2", decode)
    again = b",".join([b"1", b"2"])  # equal bytes, another object
    assert memo.decoded("a", again, decode) is first
    assert memo.decoded("a", b"1,3", decode) == [1, 3]  # changed: decoded at once
    assert memo.decoded("b", b"1,3", decode) == [1, 3]  # keys are apart
    memo.decoded("c", b"4", decode)  # a third key: the memo starts afresh
    assert memo.decoded("a", b"1,3", decode) == [1, 3]
    assert decodes == [b"1,2", b"1,3", b"1,3", b"4", b"1,3"]
