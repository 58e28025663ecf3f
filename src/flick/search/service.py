"""Search use cases: videos, users and hashtags for a query, ranked and paged, without what
the viewer blocks or is blocked by; and the rebuild of the index from SQL.

The index gives the CANDIDATES best hits by text relevance; they are re-ranked here with
popularity (the social domain's counts, cached) and freshness, and pages are cut from that
list: the cursor is an offset into it (docs/search.md).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson

from flick.accounts.service import Accounts
from flick.feed.hydrate import hydrate
from flick.ingest.service import Videos
from flick.platform.errors import InvalidInput
from flick.platform.paging import Page, page_limit, parse_cursor
from flick.search.index import (
    BASE,
    CREATOR_MATCHES,
    SearchIndex,
    UserDoc,
    UserHit,
    VideoDoc,
    VideoHit,
)
from flick.search.model import (
    CANDIDATES,
    Kind,
    SearchUnavailable,
    clean_query,
    engagement,
    hashtag_prefix,
    user_score,
    video_score,
)
from flick.social.service import Social

Hit = TypeVar("Hit", VideoHit, UserHit)
REBUILD_HEAP_BYTES = 256_000_000  # a rebuild writes big segments: fewer merges
REBUILD_THREADS = 2


class Search:
    """Built once by bootstrap; `index` is set while this process holds a replica."""

    def __init__(self, accounts: Accounts, videos: Videos, social: Social) -> None:
        self.accounts = accounts
        self.videos = videos
        self.social = social
        self.index: SearchIndex | None = None

    async def search(
        self, q: str, *, kind: Kind, viewer_id: int | None, cursor: str | None, limit: int
    ) -> Page:
        """A page of results for a query (BadQuery for one that cannot be searched)."""
        text = clean_query(q)
        limit = page_limit(limit)
        offset = _offset(cursor)
        index = self._index()
        if kind is Kind.VIDEOS:
            return await self._videos(index, text, viewer_id, offset=offset, limit=limit)
        if kind is Kind.USERS:
            return await self._users(index, text, viewer_id, offset=offset, limit=limit)
        return await self._hashtags(index, text, offset=offset, limit=limit)

    async def _videos(
        self, index: SearchIndex, text: str, viewer_id: int | None, *, offset: int, limit: int
    ) -> Page:
        hits = await asyncio.to_thread(_video_hits, index, text)
        hits = await self._unblocked(viewer_id, hits, [hit.owner_id for hit in hits])
        counts = await self.social.video_counts_many([hit.video_id for hit in hits])
        now = time.time()
        ranked = sorted(
            hits,
            key=lambda hit: (
                -video_score(
                    hit.text_score,
                    engagement=engagement(counts[hit.video_id]),
                    age_s=now - hit.created_at,
                )
            ),
        )
        page = [hit.video_id for hit in ranked[offset : offset + limit]]
        items = await hydrate(page, viewer_id=viewer_id, videos=self.videos, social=self.social)
        return Page(items, _next_cursor(offset, limit, len(ranked)))

    async def _users(
        self, index: SearchIndex, text: str, viewer_id: int | None, *, offset: int, limit: int
    ) -> Page:
        hits = await asyncio.to_thread(index.search_users, text)
        hits = await self._unblocked(viewer_id, hits, [hit.user_id for hit in hits])
        ids = [hit.user_id for hit in hits]
        counts = dict(
            zip(ids, await asyncio.gather(*map(self.social.user_counts, ids)), strict=True)
        )
        ranked = sorted(
            hits,
            key=lambda hit: -user_score(hit.text_score, followers=counts[hit.user_id]["followers"]),
        )
        page = [hit.user_id for hit in ranked[offset : offset + limit]]
        followed = await self.social.following_among(viewer_id, page) if viewer_id else set()
        items = []
        for user_id in page:
            user: dict[str, Any] = orjson.loads(await self.accounts.user_json(user_id))
            user["counts"] = counts[user_id]
            if viewer_id is not None:
                user["viewer"] = {"following": user_id in followed}
            items.append(user)
        return Page(items, _next_cursor(offset, limit, len(ranked)))

    async def _hashtags(self, index: SearchIndex, text: str, *, offset: int, limit: int) -> Page:
        prefix = hashtag_prefix(text)
        found = await asyncio.to_thread(index.hashtags, prefix, limit=CANDIDATES)
        if prefix and prefix not in dict(found):  # the tag itself, however rare
            found.append((prefix, await asyncio.to_thread(index.hashtag_count, prefix)))
        # The tag itself first, then the most used; counts of the page made exact.
        ranked = sorted(found, key=lambda tc: (tc[0] != prefix, -tc[1], tc[0]))
        page = ranked[offset : offset + limit]
        exact = await asyncio.to_thread(lambda: [index.hashtag_count(tag) for tag, _ in page])
        items = [{"tag": tag, "videos": n} for (tag, _), n in zip(page, exact, strict=True) if n]
        return Page(items, _next_cursor(offset, limit, len(ranked)))

    async def _unblocked(
        self, viewer_id: int | None, hits: Sequence[Hit], owners: Sequence[int]
    ) -> list[Hit]:
        """The hits whose owner neither blocks the viewer nor is blocked by them."""
        others = {owner for owner in owners if owner != viewer_id}
        if viewer_id is None or not others:
            return list(hits)
        blocked = await self.social.blocked_with(viewer_id, others)
        return [hit for hit, owner in zip(hits, owners, strict=True) if owner not in blocked]

    def _index(self) -> SearchIndex:
        if self.index is None:
            raise SearchUnavailable(
                "this process holds no search index; send searches to `flick serve` or "
                "`flick serve --role search`"
            )
        return self.index


def _video_hits(index: SearchIndex, text: str) -> list[VideoHit]:
    """Videos by text, or by creators whose handle or name the query is (one thread hop)."""
    creators = index.search_users(text, partial=False, limit=CREATOR_MATCHES)
    return index.search_videos(text, creators=[hit.user_id for hit in creators])


def _offset(cursor: str | None) -> int:
    offset = parse_cursor(cursor) or 0
    if offset >= CANDIDATES:
        raise InvalidInput("cursor is not one this server gave out", field="cursor")
    return offset


def _next_cursor(offset: int, limit: int, total: int) -> str | None:
    return str(offset + limit) if offset + limit < total else None


# --- the rebuild ---------------------------------------------------------------------------


async def rebuild(
    search_dir: Path,
    *,
    accounts: Accounts,
    videos: Videos,
    progress: Callable[[str, int], None] = lambda what, done: None,
) -> tuple[int, int]:
    """Build a new base snapshot from SQL (every user, every ready video) and swap it in;
    (users, videos) indexed. New replicas start from it (running ones keep theirs)."""
    scratch = search_dir / f"{BASE}.new-{os.urandom(4).hex()}"
    built = await asyncio.to_thread(
        SearchIndex, scratch, heap_bytes=REBUILD_HEAP_BYTES, threads=REBUILD_THREADS
    )
    try:
        handles, users = await _index_users(built, accounts, progress)
        count = await _index_videos(built, videos, handles, progress)
        await asyncio.to_thread(built.users.commit)
        await asyncio.to_thread(built.videos.commit)
    except BaseException:
        built.close()
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    built.close()
    await asyncio.to_thread(_swap_in, scratch, search_dir / BASE)
    return users, count


async def _index_users(
    built: SearchIndex, accounts: Accounts, progress: Callable[[str, int], None]
) -> tuple[dict[int, str], int]:
    handles: dict[int, str] = {}
    batch = []
    async for user in accounts.all_users():
        handles[user.id] = user.username
        batch.append(UserDoc(user.id, user.username, user.display_name))
        if len(batch) == 1000:
            await asyncio.to_thread(built.add_users, batch)
            progress("users", len(handles))
            batch = []
    await asyncio.to_thread(built.add_users, batch)
    progress("users", len(handles))
    return handles, len(handles)


async def _index_videos(
    built: SearchIndex,
    videos: Videos,
    handles: dict[int, str],
    progress: Callable[[str, int], None],
) -> int:
    count = 0
    batch = []
    async for video, _media in videos.ready_videos():
        creator = handles.get(video.owner_id, "")
        batch.append(
            VideoDoc(
                video.id, video.owner_id, video.caption, video.hashtags, creator, video.created_at
            )
        )
        if len(batch) == 1000:
            count += await asyncio.to_thread(built.add_videos, batch)
            progress("videos", count)
            batch = []
    count += await asyncio.to_thread(built.add_videos, batch)
    progress("videos", count)
    return count


def _swap_in(new: Path, base: Path) -> None:
    """Replace `base` by `new` (two renames; a replica starting in between finds none and
    starts empty, then catches up from the bus)."""
    old = base.with_name(f"{BASE}.old-{os.urandom(4).hex()}")
    if base.exists():
        base.rename(old)
    new.rename(base)
    shutil.rmtree(old, ignore_errors=True)
