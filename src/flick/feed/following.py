"""The Following feed: the viewer's inbox (posts pushed at write time) merged with the posts
of followees that were not pushed, read at request time (docs/feeds.md).

A page is the `limit` newest videos below the cursor (a video id) of the union of the inbox
and the pulled creators' post lists, after dropping videos that are no longer ready, whose
creator the viewer no longer follows, or who blocks (or is blocked by) the viewer. Which
creators are pulled is not decided here but recorded at write time (`Author.pulled_until`),
so the page is the same under either policy and whatever side of the threshold a creator
was on when each post went out.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import Counter

from flick.feed.model import Author, newest_first
from flick.feed.store import INBOX_CAP, POSTS_CAP, REMARK_AFTER_S, AuthorStore, InboxStore
from flick.ingest.service import Videos
from flick.platform.cache import Cache
from flick.social.service import Social

MAX_FOLLOWING = 10_000  # followees merged per read: TikTok's follow limit
# Creators whose post lists one page reads at most (in parallel). A first page needs at most
# `limit` of them (the ones with the newest not-pushed posts); a later page also those whose
# newest not-pushed post is above the cursor, which each put a post on an earlier page.
MAX_PULLED = 100
LOAD_CONCURRENCY = 16  # creators read from SQL at once when the cache does not know them
MAX_ROUNDS = 5  # refills of a page whose candidates were filtered away (deleted, blocked)
# For You's following source takes at most this many videos of one creator: its lists show
# one per creator in any five anyway, and reading each followee's 60 newest posts to merge
# them was a quarter of an assembly.
NEWEST_PER_CREATOR = 5


class FollowingFeed:
    """Built once by bootstrap; safe to share between requests."""

    def __init__(self, cache: Cache, social: Social, videos: Videos) -> None:
        self.inboxes = InboxStore(cache)
        self.authors = AuthorStore(cache)
        self.social = social
        self.videos = videos

    async def newest(
        self, viewer_id: int, count: int, *, per_creator: int = NEWEST_PER_CREATOR
    ) -> list[int]:
        """The first `count` ids of the viewer's Following feed, at most `per_creator` of any
        one creator (For You's following source)."""
        ids, _ = await self.page(viewer_id, cursor=None, limit=count, per_creator=per_creator)
        return ids

    async def page(
        self, viewer_id: int, *, cursor: int | None, limit: int, per_creator: int | None = None
    ) -> tuple[list[int], int | None]:
        """Video ids newest first, and the cursor of the next page (None at the end); with
        `per_creator`, at most that many of any one creator, read from the newest that many
        of each pulled post list (instead of `limit` of each)."""
        await self.wake(viewer_id)
        followees = await self.followee_ids(viewer_id)
        authors = await self.known_authors(followees)
        page: list[int] = []
        taken: Counter[int] = Counter()  # videos on the page, by creator
        read_each = min(limit, per_creator or limit)
        before = cursor
        for _ in range(MAX_ROUNDS):
            candidates = await self._candidates(
                viewer_id, authors, before=before, limit=limit, read_each=read_each
            )
            for video_id, creator in await self._visible(viewer_id, candidates, set(followees)):
                if len(page) < limit and (per_creator is None or taken[creator] < per_creator):
                    page.append(video_id)
                    taken[creator] += 1
            if len(page) == limit or len(candidates) < limit:
                return page, page[-1] if len(page) == limit else None
            before = candidates[-1]
        return page, before  # short after filtering: the client may go on from here

    following_page = page  # the name the API layer calls it by

    async def wake(self, viewer_id: int) -> None:
        """Mark the viewer active (renewed at most every REMARK_AFTER_S); one who was not
        (skipped by fan-outs) gets a rebuilt inbox. Marked first, so a push after this lands
        in the inbox the rebuild fills."""
        marked_at = await self.inboxes.marked_at(viewer_id)
        if marked_at is None or time.time() - marked_at > REMARK_AFTER_S:
            await self.inboxes.touch(viewer_id)
        if marked_at is None:
            await self.rebuild(viewer_id)

    async def rebuild(self, viewer_id: int) -> None:
        """Refill an inbox from the pushed posts of the viewer's followees (Mastodon's
        regeneration of a returning user's home feed)."""
        await self.inboxes.clear(viewer_id)
        authors = await self.known_authors(await self.followee_ids(viewer_id))
        pushed = [(a.newest, c) for c, a in authors.items() if a.newest > a.pulled_until]
        chosen = [creator for _, creator in heapq.nlargest(INBOX_CAP, pushed)]
        found: list[int] = []
        for at in range(0, len(chosen), LOAD_CONCURRENCY):
            batch = chosen[at : at + LOAD_CONCURRENCY]
            lists = await asyncio.gather(
                *(self.authors.posts(creator, before=None, limit=POSTS_CAP) for creator in batch)
            )
            for creator, posts in zip(batch, lists, strict=True):
                until = authors[creator].pulled_until
                found += [video_id for video_id in posts if video_id > until]
        if found:
            await self.inboxes.merge(viewer_id, heapq.nlargest(INBOX_CAP, found))

    async def followee_ids(self, viewer_id: int) -> list[int]:
        """Whom the viewer follows (at most MAX_FOLLOWING; Social remembers them)."""
        return await self.social.all_followee_ids(viewer_id, most=MAX_FOLLOWING)

    async def known_authors(self, creator_ids: list[int]) -> dict[int, Author]:
        """The creators' records, loading from SQL those the cache does not know."""
        authors = await self.authors.authors(creator_ids)
        unknown = [creator for creator, author in authors.items() if author is None]
        for at in range(0, len(unknown), LOAD_CONCURRENCY):
            batch = unknown[at : at + LOAD_CONCURRENCY]
            loaded = await asyncio.gather(*(self._load(creator) for creator in batch))
            authors.update(zip(batch, loaded, strict=True))
        return {creator: author for creator, author in authors.items() if author is not None}

    async def _load(self, creator_id: int) -> Author:
        video_ids = await self.videos.recent_ready_ids(creator_id, limit=POSTS_CAP)
        return await self.authors.load(creator_id, video_ids)

    async def _candidates(
        self,
        viewer_id: int,
        authors: dict[int, Author],
        *,
        before: int | None,
        limit: int,
        read_each: int,
    ) -> list[int]:
        """The `limit` newest ids below `before` of the inbox and the pulled post lists (the
        newest `read_each` of each)."""
        plan = pull_plan(authors, before=before, limit=limit)
        inbox, pulled = await asyncio.gather(
            self.inboxes.read(viewer_id, before=before, limit=limit),
            self.authors.posts_many(plan, limit=read_each),
        )
        return newest_first(set(inbox).union(*pulled))[:limit]

    async def _visible(
        self, viewer_id: int, candidates: list[int], followees: set[int]
    ) -> list[tuple[int, int]]:
        """(video, creator) of the candidates still ready, by followed creators with no block
        either way."""
        owners = await self.videos.ready_owners(candidates) if candidates else {}
        shown = [(v, owners[v]) for v in candidates if owners.get(v) in followees]
        blocked = await self.social.blocked_with(viewer_id, {c for _, c in shown})
        return [(v, c) for v, c in shown if c not in blocked]


def pull_plan(
    authors: dict[int, Author], *, before: int | None, limit: int
) -> list[tuple[int, int]]:
    """(creator, read below this id) for the post lists a page must merge.

    A creator's posts at or below `pulled_until` may be missing from inboxes. Order creators
    by that id: below the cursor, only the first `limit` can hold one of the page's posts
    (each of them has a post newer than anything of the creators after them). Creators whose
    `pulled_until` is at or above the cursor may have posts on either side of it: all are read.
    """
    pulled = [(a.pulled_until, creator) for creator, a in authors.items() if a.pulled_until]
    if before is None:
        straddling, below = [], pulled
    else:
        straddling = [item for item in pulled if item[0] >= before]
        below = [item for item in pulled if item[0] < before]
    chosen = straddling + heapq.nlargest(limit, below)
    return [
        (creator, until + 1 if before is None else min(before, until + 1))
        for until, creator in chosen[:MAX_PULLED]
    ]
