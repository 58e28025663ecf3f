"""For You keeps its creator rule across the lists it assembles: the creators shown just
before a new list count."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flick.feed.foryou import CREATOR_WINDOW, _spaced_after

A, B, C, D, E = range(1, 6)


def test_the_creators_shown_just_before_push_their_next_videos_down() -> None:
    pairs = [(1, A), (2, C), (3, B), (4, D), (5, E)]
    assert _spaced_after([A, B], pairs) == [(2, C), (4, D), (5, E), (1, A), (3, B)]
    assert _spaced_after([], pairs) == pairs


@given(
    st.lists(st.integers(1, 8), max_size=6),
    st.lists(st.integers(1, 8), max_size=40),
)
def test_nothing_is_lost_and_each_window_holds_until_nothing_fits(
    before: list[int], creators: list[int]
) -> None:
    pairs = list(enumerate(creators))
    placed = _spaced_after(before, pairs)
    assert sorted(placed) == sorted(pairs)
    shown = before[-(CREATOR_WINDOW - 1) :] + [creator for _, creator in placed]
    offset = len(shown) - len(placed)
    for i, (_, creator) in enumerate(placed):
        if creator in shown[max(0, offset + i - CREATOR_WINDOW + 1) : offset + i]:
            # from here on only videos whose creators had no room are left, in rank order
            rest = placed[i:]
            assert rest == sorted(rest)
            break
