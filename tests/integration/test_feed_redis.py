"""The feed store on real Redis: the server-side fan-out script, capped inboxes, paging,
activity markers and creators' records, under a key prefix of the test's own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from flick.feed.model import Author
from flick.feed.store import INBOX_CAP, AuthorStore, InboxStore
from flick.platform.cache.redis import RedisCache
from flick.platform.ids import new_id

from ..conftest import REDIS_URL, require_service


@pytest.fixture
async def redis() -> AsyncIterator[RedisCache]:
    require_service("redis")
    cache = RedisCache.from_url(REDIS_URL, prefix=f"t{uuid.uuid4().hex[:10]}:")
    yield cache
    await cache.clear_prefix()
    await cache.close()


def ids(count: int) -> list[int]:
    return sorted(new_id(11) for _ in range(count))


async def test_push_reaches_many_inboxes_and_unpush_takes_it_back(redis: RedisCache) -> None:
    inboxes = InboxStore(redis)
    followers = list(range(1, 5001))  # five server-side batches
    old, new = ids(2)
    await inboxes.merge(3, [old])
    await inboxes.push(followers, new)
    await inboxes.push(followers, new)  # a redelivery changes nothing
    assert await inboxes.read(3, before=None, limit=5) == [new, old]
    assert await inboxes.read(5000, before=None, limit=5) == [new]
    await inboxes.unpush(followers, new)
    assert await inboxes.read(3, before=None, limit=5) == [old]
    assert await inboxes.size(5000) == 0


async def test_inboxes_keep_the_newest_and_page_below_a_cursor(redis: RedisCache) -> None:
    inboxes = InboxStore(redis)
    videos = ids(INBOX_CAP + 40)
    for at in range(0, len(videos), 100):
        for video in videos[at : at + 100]:
            await inboxes.push([7], video)
    assert await inboxes.size(7) == INBOX_CAP
    seen: list[int] = []
    cursor = None
    while True:
        page = await inboxes.read(7, before=cursor, limit=33)
        seen += page
        if len(page) < 33:
            break
        cursor = page[-1]
    assert seen == videos[40:][::-1]
    await inboxes.unmerge(7, seen[:10])
    await inboxes.trim(7)
    assert await inboxes.size(7) == INBOX_CAP - 10
    await inboxes.clear(7)
    assert await inboxes.size(7) == 0


async def test_activity_and_author_records(redis: RedisCache) -> None:
    inboxes, authors = InboxStore(redis), AuthorStore(redis)
    await inboxes.touch(1)
    assert await inboxes.is_active([1, 2]) == {1}
    assert 0 < await redis.client.pttl(redis.prefix + "feed:active:1") <= 7 * 86_400_000
    v1, v2, v3 = ids(3)
    assert await authors.load(5, [v2, v1]) == Author(v2, v2)
    await authors.posted(5, v3, pushed=True)
    assert await authors.authors([5, 6]) == {5: Author(v3, v2), 6: None}
    assert await authors.posts(5, before=v3, limit=5) == [v2, v1]
