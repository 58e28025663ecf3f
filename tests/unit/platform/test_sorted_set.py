"""The in-process cache's sorted set against a model: a dict of scores, sorted per read the
way Redis orders a sorted set (score, then member)."""

from __future__ import annotations

import heapq

from hypothesis import given
from hypothesis import strategies as st

from flick.platform.cache.sorted_set import SortedSet

members = st.sampled_from([f"m{n}" for n in range(12)])
scores = st.sampled_from([-1.5, 0.0, 1.0, 2.0, 2.5, float("inf")])  # few: plenty of ties
step = st.one_of(
    st.tuples(st.just("add"), st.dictionaries(members, scores, max_size=5)),
    st.tuples(st.just("remove"), st.lists(members, max_size=4)),
    st.tuples(st.just("trim"), st.integers(0, 12)),
    st.tuples(st.just("read"), st.integers(0, 14)),
)


def model_top(model: dict[str, float], limit: int, max_score: float | None) -> list:
    items = [(m, s) for m, s in model.items() if max_score is None or s <= max_score]
    return heapq.nlargest(limit, items, key=lambda item: (item[1], item[0]))


@given(
    st.lists(step, max_size=25),
    st.integers(0, 14),
    st.one_of(st.none(), scores, st.just(1.7)),
)
def test_it_orders_trims_and_reads_like_the_model(steps, limit, max_score) -> None:  # type: ignore[no-untyped-def]
    zset, model = SortedSet(), {}
    for kind, argument in steps:
        if kind == "add":
            zset.add(argument)
            model.update(argument)
        elif kind == "remove":
            expected = len(set(argument) & set(model))
            assert zset.remove(argument) == expected
            for member in argument:
                model.pop(member, None)
        elif kind == "trim":
            zset.trim(argument)
            model = dict(model_top(model, argument, None))
        else:  # a read between writes: the order is built, then kept or dropped by them
            assert zset.top(argument) == model_top(model, argument, None)
        assert len(zset) == len(model)
    assert zset.top(limit, max_score) == model_top(model, limit, max_score)


def test_a_rescored_member_moves() -> None:
    zset = SortedSet()
    zset.add({"a": 1.0, "b": 2.0})
    zset.add({"a": 3.0, "b": 2.0})
    assert zset.top(5) == [("a", 3.0), ("b", 2.0)]
    assert zset.top(5, max_score=2.0) == [("b", 2.0)]
