"""The Following feed's cache state, spoken in domain verbs (Mastodon's feed_manager).

Keys (docs/feeds.md):
    inbox:<user>          sorted set, member = video id, score = its milliseconds: the posts
                          pushed to the user, capped at INBOX_CAP
    feed:active:<user>    present while the user read their feed in the last 7 days; the
                          fan-out skips users without it and their inbox is rebuilt on return
    feed:posts:<creator>  sorted set of the creator's newest POSTS_CAP ready videos
    feed:author:<creator> `Author` record: newest post, newest post that was not pushed
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable, Sequence

from flick.feed.model import Author, score_of
from flick.platform.cache import Cache, ZRange
from flick.platform.memo import ShortMemo

INBOX_CAP = 800  # Twitter's timeline cap; more costs cache memory per user, and few scroll it
INACTIVE_AFTER_S = 7 * 86_400.0  # Mastodon's rule: unread for a week = not worth pushing to
REMARK_AFTER_S = 3_600.0  # a reader's mark is renewed at most hourly, not on every read
POSTS_CAP = 200  # a creator's posts kept for merging at read time and rebuilding inboxes
AUTHOR_MEMO_S = 1.0  # how long this process reuses a creator record it read
AUTHOR_MEMO_MAX = 200_000  # records kept per process; past it, start afresh
# Extra members asked for when reading below a cursor: those in the cursor's millisecond that
# are not below it come back too and are dropped (the read asks again if that was not enough).
SAME_MS_SLACK = 8


# Creator records read recently, per cache object.
_memos: weakref.WeakKeyDictionary[Cache, ShortMemo[int, Author | None]] = (
    weakref.WeakKeyDictionary()
)


def inbox_key(user_id: int) -> str:
    return f"inbox:{user_id}"


def active_key(user_id: int) -> str:
    return f"feed:active:{user_id}"


def posts_key(creator_id: int) -> str:
    return f"feed:posts:{creator_id}"


def author_key(creator_id: int) -> str:
    return f"feed:author:{creator_id}"


async def read_below(cache: Cache, key: str, *, before: int | None, limit: int) -> list[int]:
    """Up to `limit` video ids of a sorted set, newest first, strictly below `before`."""
    if before is None:
        return [int(member) for member, _ in await cache.zrange(key, limit=limit)]
    want = limit + SAME_MS_SLACK
    while True:
        rows = await cache.zrange(key, max_score=score_of(before), limit=want)
        found = [video_id for video_id in (int(member) for member, _ in rows) if video_id < before]
        if len(found) >= limit or len(rows) < want:
            return found[:limit]
        want *= 2  # a crowd of posts in one millisecond: look further


async def read_below_many(
    cache: Cache, sources: Sequence[tuple[str, int | None]], *, limit: int
) -> list[list[int]]:
    """`read_below` of several sorted sets, each (key, before), in one round trip; a set
    with a crowd of posts in the cursor's millisecond is read again on its own."""
    want = limit + SAME_MS_SLACK
    reads = [
        ZRange(key, None, limit) if before is None else ZRange(key, score_of(before), want)
        for key, before in sources
    ]
    found: list[list[int]] = []
    for (key, before), rows in zip(sources, await cache.zrange_many(reads), strict=True):
        ids = [int(member) for member, _ in rows]
        if before is not None:
            ids = [video_id for video_id in ids if video_id < before]
            if len(ids) < limit and len(rows) == want:
                ids = await read_below(cache, key, before=before, limit=limit)
        found.append(ids[:limit])
    return found


class InboxStore:
    """Users' inboxes (the posts pushed to them) and their activity markers."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    async def push(self, user_ids: Sequence[int], video_id: int) -> None:
        """Put a post into many inboxes at once, each kept to INBOX_CAP (one script call per
        batch of inboxes on Redis)."""
        if user_ids:
            keys = [inbox_key(user_id) for user_id in user_ids]
            await self.cache.zadd_many(keys, {str(video_id): score_of(video_id)}, cap=INBOX_CAP)

    async def unpush(self, user_ids: Sequence[int], video_id: int) -> None:
        """Take a post out of many inboxes (it was deleted)."""
        if user_ids:
            await self.cache.zrem_many([inbox_key(user_id) for user_id in user_ids], str(video_id))

    async def merge(self, user_id: int, video_ids: Iterable[int]) -> None:
        """Add posts to one inbox (a new follow, a rebuild), keeping it to INBOX_CAP."""
        members = {str(video_id): score_of(video_id) for video_id in video_ids}
        await self.cache.zadd(inbox_key(user_id), members, cap=INBOX_CAP)

    async def unmerge(self, user_id: int, video_ids: Iterable[int]) -> None:
        """Remove posts from one inbox (an unfollow, a block)."""
        await self.cache.zrem(inbox_key(user_id), *(str(video_id) for video_id in video_ids))

    async def trim(self, user_id: int) -> None:
        """Cut an inbox back to INBOX_CAP (after the cap was lowered): re-adding the newest
        member with the cap trims the rest."""
        top = await self.cache.zrange(inbox_key(user_id), limit=1)
        if top:
            await self.cache.zadd(inbox_key(user_id), dict(top), cap=INBOX_CAP)

    async def read(self, user_id: int, *, before: int | None, limit: int) -> list[int]:
        """Up to `limit` video ids of the inbox, newest first, strictly below `before`."""
        return await read_below(self.cache, inbox_key(user_id), before=before, limit=limit)

    async def size(self, user_id: int) -> int:
        return await self.cache.zcard(inbox_key(user_id))

    async def clear(self, user_id: int) -> None:
        await self.cache.delete(inbox_key(user_id))

    async def touch(self, user_id: int) -> None:
        """Mark the user active for INACTIVE_AFTER_S from now."""
        await self.cache.set(active_key(user_id), b"%d" % time.time(), ttl=INACTIVE_AFTER_S)

    async def marked_at(self, user_id: int) -> float | None:
        """When the user was last marked active (0.0 for a mark that does not say), or None
        if they are not."""
        mark = await self.cache.get(active_key(user_id))
        if mark is None:
            return None
        return float(mark) if mark.isdigit() else 0.0

    async def is_active(self, user_ids: Sequence[int]) -> set[int]:
        """Which of these users read their feed in the last INACTIVE_AFTER_S."""
        marks = await self.cache.get_many([active_key(user_id) for user_id in user_ids])
        return {user_id for user_id, mark in zip(user_ids, marks, strict=True) if mark}


class AuthorStore:
    """Creators' newest posts and `Author` records: what reads merge and rebuilds replay.

    An absent record means "not known here" (never loaded, or the cache lost it): the
    reader loads it from SQL with `load`, treating every post as not pushed, which is always
    correct (a post found in an inbox too counts once), only slower to read.

    Every read of a Following page wants the records of all the viewer's followees (2,000
    for a heavy follower), and viewers share creators, so records read are also kept in
    this process for AUTHOR_MEMO_S (`_memos`, one per cache, shared by every store on it):
    writes made here update it at once, another process's show within AUTHOR_MEMO_S. A post
    seen that much later is what the Following feed's eventual consistency allows."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._memo = _memos.setdefault(cache, ShortMemo(AUTHOR_MEMO_MAX))

    async def authors(self, creator_ids: Sequence[int]) -> dict[int, Author | None]:
        """The records of these creators; None for those not known here."""
        now = time.monotonic()
        found, missing = self._memo.fresh(creator_ids, now)
        if missing:
            raws = await self.cache.get_many([author_key(creator) for creator in missing])
            read = {
                creator: Author.decode(raw) if raw is not None else None
                for creator, raw in zip(missing, raws, strict=True)
            }
            self._memo.remember(read, now + AUTHOR_MEMO_S)
            found |= read
        return found

    def _remember(self, creator_id: int, author: Author) -> None:
        self._memo.remember({creator_id: author}, time.monotonic() + AUTHOR_MEMO_S)

    async def load(self, creator_id: int, video_ids: Sequence[int]) -> Author:
        """Record a creator's newest posts read from SQL (newest first), all as not pushed."""
        if video_ids:
            members = {str(video_id): score_of(video_id) for video_id in video_ids}
            await self.cache.zadd(posts_key(creator_id), members, cap=POSTS_CAP)
        newest = max(video_ids, default=0)
        author = Author(newest, newest)
        await self.cache.set(author_key(creator_id), author.encode())
        self._remember(creator_id, author)
        return author

    async def posted(self, creator_id: int, video_id: int, *, pushed: bool) -> None:
        """Record a new post of a known creator (an unknown one is loaded when read)."""
        raw = await self.cache.get(author_key(creator_id))
        if raw is None:
            return
        await self.cache.zadd(
            posts_key(creator_id), {str(video_id): score_of(video_id)}, cap=POSTS_CAP
        )
        author = Author.decode(raw).posted(video_id, pushed=pushed)
        await self.cache.set(author_key(creator_id), author.encode())
        self._remember(creator_id, author)

    async def deleted(self, creator_id: int, video_id: int) -> None:
        await self.cache.zrem(posts_key(creator_id), str(video_id))

    async def posts(self, creator_id: int, *, before: int | None, limit: int) -> list[int]:
        """Up to `limit` of the creator's post ids, newest first, strictly below `before`."""
        return await read_below(self.cache, posts_key(creator_id), before=before, limit=limit)

    async def posts_many(
        self, plan: Sequence[tuple[int, int | None]], *, limit: int
    ) -> list[list[int]]:
        """`posts` of several (creator, before) in one round trip."""
        sources = [(posts_key(creator), before) for creator, before in plan]
        return await read_below_many(self.cache, sources, limit=limit)
