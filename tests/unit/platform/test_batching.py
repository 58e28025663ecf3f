"""Group commit: concurrent submits share one flush; one bad item fails only its caller."""

from __future__ import annotations

import asyncio

import pytest

from flick.platform.batching import GroupCommit, SingleFlight


async def test_concurrent_submits_share_one_flush_and_get_their_own_results() -> None:
    flushed: list[list[int]] = []

    async def double(items: list[int]) -> list[int]:
        flushed.append(items)
        return [item * 2 for item in items]

    commits = GroupCommit(double)
    results = await asyncio.gather(*(commits.submit(n) for n in range(10)))
    assert results == [n * 2 for n in range(10)]
    assert flushed == [list(range(10))]


async def test_items_queued_during_a_flush_go_in_the_next_one() -> None:
    flushed: list[list[int]] = []
    first_flush_started = asyncio.Event()

    async def slow(items: list[int]) -> list[None]:
        flushed.append(items)
        first_flush_started.set()
        await asyncio.sleep(0.01)
        return [None] * len(items)

    commits = GroupCommit(slow, max_batch=3)
    first = asyncio.ensure_future(commits.submit(0))
    await first_flush_started.wait()
    await asyncio.gather(first, *(commits.submit(n) for n in range(1, 6)))
    assert flushed == [[0], [1, 2, 3], [4, 5]]


async def test_a_failing_item_fails_its_caller_only() -> None:
    async def refuse_seven(items: list[int]) -> list[int]:
        if 7 in items:
            raise ValueError("seven is refused")
        return items

    commits = GroupCommit(refuse_seven)
    outcomes = await asyncio.gather(*(commits.submit(n) for n in (5, 7, 9)), return_exceptions=True)
    assert outcomes[0] == 5 and outcomes[2] == 9
    assert isinstance(outcomes[1], ValueError)


async def test_a_caller_that_goes_away_does_not_cancel_the_batch() -> None:
    written: list[int] = []

    async def write(items: list[int]) -> list[None]:
        await asyncio.sleep(0.01)
        written.extend(items)
        return [None] * len(items)

    commits = GroupCommit(write)
    leaving = asyncio.ensure_future(commits.submit(1))
    staying = asyncio.ensure_future(commits.submit(2))
    await asyncio.sleep(0)
    leaving.cancel()
    await staying
    await commits.close()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert written == [1, 2]


async def test_callers_of_a_flush_cancelled_at_shutdown_do_not_wait_forever() -> None:
    started = asyncio.Event()

    async def hang(items: list[int]) -> list[None]:
        started.set()
        await asyncio.sleep(3600)
        return [None] * len(items)

    commits = GroupCommit(hang)
    waiting = asyncio.ensure_future(asyncio.gather(commits.submit(1), commits.submit(2)))
    await started.wait()
    assert commits._flusher is not None
    commits._flusher.cancel()  # as a shutdown cancels the tasks left
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 1)


def test_a_commit_outlives_the_event_loop_of_its_first_flush() -> None:
    async def echo(items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return items

    commits = GroupCommit(echo)

    async def abandon() -> None:
        left = asyncio.ensure_future(commits.submit(1))
        await asyncio.sleep(0)  # the flusher started; the loop ends (and cancels it) first
        assert not left.done()

    asyncio.run(abandon())
    assert asyncio.run(commits.submit(2)) == 2


async def test_single_flight_shares_one_load_per_key_and_forgets_it_after() -> None:
    calls: list[str] = []

    async def load(key: str) -> str:
        calls.append(key)
        await asyncio.sleep(0.01)
        return key.upper()

    flights: SingleFlight[str] = SingleFlight()
    answers = await asyncio.gather(
        *(flights.run(key, lambda key=key: load(key)) for key in ("a", "a", "b", "a"))
    )
    assert answers == ["A", "A", "B", "A"]
    assert sorted(calls) == ["a", "b"]
    await flights.run("a", lambda: load("a"))  # the finished flight is not reused
    assert calls.count("a") == 2
