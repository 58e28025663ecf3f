"""The feed store's verbs on the in-process cache: capped inboxes, paging below a cursor,
activity markers and creators' records."""

from __future__ import annotations

import asyncio

import pytest

from flick.feed import store as store_module
from flick.feed.model import Author, score_of
from flick.feed.store import INBOX_CAP, AuthorStore, InboxStore, inbox_key
from flick.platform.cache.memory import MemoryCache
from flick.platform.ids import new_id


def ids(count: int) -> list[int]:
    """`count` snowflakes in order (many share a millisecond, where minting order is not id
    order: each millisecond's sequence starts at a random point)."""
    return sorted(new_id(7) for _ in range(count))


@pytest.fixture
def cache() -> MemoryCache:
    return MemoryCache()


async def test_push_caps_each_inbox_keeping_the_newest(cache: MemoryCache) -> None:
    inboxes = InboxStore(cache)
    videos = ids(INBOX_CAP + 50)
    for video in videos:
        await inboxes.push([1, 2], video)
    for user in (1, 2):
        assert await inboxes.size(user) == INBOX_CAP
        assert await inboxes.read(user, before=None, limit=3) == videos[::-1][:3]
    assert await inboxes.read(1, before=None, limit=INBOX_CAP + 10) == videos[50:][::-1]


async def test_read_pages_below_a_cursor_even_within_one_millisecond(cache: MemoryCache) -> None:
    inboxes = InboxStore(cache)
    videos = ids(60)
    await inboxes.merge(1, videos)
    assert len({score_of(video) for video in videos}) < 60  # some share a millisecond
    seen: list[int] = []
    cursor = None
    while True:
        page = await inboxes.read(1, before=cursor, limit=7)
        seen += page
        if len(page) < 7:
            break
        cursor = page[-1]
    assert seen == videos[::-1]


async def test_a_crowd_in_one_millisecond_is_paged_past(cache: MemoryCache) -> None:
    inboxes = InboxStore(cache)
    base = new_id(3)
    crowd = [base + n for n in range(40)]  # one millisecond, more than the slack
    await inboxes.merge(1, crowd)
    assert await inboxes.read(1, before=crowd[5], limit=3) == [crowd[4], crowd[3], crowd[2]]
    assert await inboxes.read(1, before=crowd[39], limit=100) == crowd[:39][::-1]


async def test_unpush_unmerge_clear_and_trim(cache: MemoryCache) -> None:
    inboxes = InboxStore(cache)
    a, b, c = ids(3)
    await inboxes.push([1, 2, 3], a)
    await inboxes.push([1, 2], b)
    await inboxes.unpush([1, 2, 3, 4], a)
    assert [await inboxes.read(u, before=None, limit=9) for u in (1, 2, 3)] == [[b], [b], []]
    await inboxes.merge(1, [a, c])
    await inboxes.unmerge(1, [a, b])
    assert await inboxes.read(1, before=None, limit=9) == [c]
    await inboxes.clear(1)
    assert await inboxes.size(1) == 0
    await cache.zadd(inbox_key(5), {str(v): score_of(v) for v in ids(INBOX_CAP + 5)})
    await inboxes.trim(5)
    await inboxes.trim(6)  # no inbox: nothing to do
    assert await inboxes.size(5) == INBOX_CAP


async def test_activity_marker_expires(cache: MemoryCache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "INACTIVE_AFTER_S", 0.1)
    inboxes = InboxStore(cache)
    await inboxes.touch(1)
    await inboxes.touch(3)
    assert await inboxes.is_active([1, 2, 3]) == {1, 3}
    await asyncio.sleep(0.15)
    assert await inboxes.is_active([1, 2, 3]) == set()


async def test_author_records_move_up_and_only_for_known_creators(cache: MemoryCache) -> None:
    authors = AuthorStore(cache)
    v1, v2, v3, v4 = ids(4)
    await authors.posted(9, v1, pushed=False)  # unknown creator: left for a read to load
    assert await authors.authors([9]) == {9: None}
    assert await authors.load(9, [v2, v1]) == Author(v2, v2)
    await authors.posted(9, v3, pushed=True)
    assert (await authors.authors([9]))[9] == Author(v3, v2)
    await authors.posted(9, v4, pushed=False)
    await authors.posted(9, v1, pushed=True)  # a late, older one moves nothing down
    assert (await authors.authors([9]))[9] == Author(v4, v4)
    await authors.deleted(9, v3)
    assert await authors.posts(9, before=None, limit=9) == [v4, v2, v1]
    assert await authors.posts(9, before=v2, limit=9) == [v1]
    assert await authors.load(8, []) == Author(0, 0)
