"""Social use cases: check -> write -> record events. Edges are idempotent: following twice,
liking twice or blocking twice changes nothing and records no second event."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from flick.accounts.service import Accounts
from flick.ingest.service import Videos
from flick.platform.batching import GroupCommit
from flick.platform.cache import Cache
from flick.platform.errors import Forbidden, NotFound
from flick.platform.ids import new_id, shard_of
from flick.platform.memo import DecodeMemo
from flick.platform.outbox import record_event, record_events
from flick.platform.paging import Page, next_cursor, page_limit
from flick.platform.sql import Database
from flick.social import repository as repo
from flick.social.consumers import counts_key
from flick.social.events import (
    BLOCKED,
    COMMENT_DELETED,
    COMMENTED,
    FOLLOWED,
    GRAPH,
    INTERACTION,
    LIKED,
    SHARED,
    UNFOLLOWED,
    UNLIKED,
    social_event,
)
from flick.social.model import Blocked, Comment, SelfAction, clean_comment
from flick.social.viewer import (
    STAMP_TTL_S,
    STATE_TTL_S,
    Followees,
    ViewerFacts,
    ViewerState,
    blocks_key,
    decode_blocks,
    decode_followees,
    encode_blocks,
    encode_followees,
    followees_key,
    new_stamp,
    stamp_key,
    state_key,
)

FOLLOWEE_PAGE = 2_000  # followee ids per query when reading them all
LIKE_BATCH_MAX = 500  # likes per group commit: ~3 ms of SQLite work, bounds a batch's wait
VIDEO_COUNTERS = ("likes", "comments", "shares", "views")
COUNTS_CACHE_TTL = 60.0  # the aggregator deletes a moved count at once; this bounds misses
# Decoded viewer states and encoded video counts kept per process (DecodeMemo: reused only
# while the cached bytes are unchanged). A state holds up to STATE_MAX_IDS ids.
STATES_DECODED = 1_000
COUNTS_ENCODED = 50_000  # as Videos' VIEW_MEMO_MAX: the videos pages show at once
BLOCKS_DECODED = 50_000  # users' block lists kept decoded: viewers and the creators ranked


class Social:
    """Built once by bootstrap; safe to share between requests."""

    def __init__(
        self,
        db: Database,
        cache: Cache,
        accounts: Accounts,
        videos: Videos,
        *,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.cache = cache
        self.accounts = accounts
        self.videos = videos
        self.on_commit = on_commit  # wakes the in-process outbox relay
        self._like_writes = GroupCommit(self._write_likes, max_batch=LIKE_BATCH_MAX)
        self._states: DecodeMemo[int, tuple[bytes | None, bytes | None], ViewerState] = DecodeMemo(
            STATES_DECODED
        )
        self._counts_json: DecodeMemo[int, bytes, bytes] = DecodeMemo(COUNTS_ENCODED)
        self._blocks: DecodeMemo[int, tuple[bytes | None, bytes | None], frozenset[int] | None] = (
            DecodeMemo(BLOCKS_DECODED)
        )

    async def close(self) -> None:
        """Write likes still queued for a group commit."""
        await self._like_writes.close()

    # --- follows and blocks --------------------------------------------------------------

    async def follow(self, follower_id: int, followee_id: int) -> None:
        """Follow a user (strong in the follower's shard); idempotent."""
        if follower_id == followee_id:
            raise SelfAction("you cannot follow yourself")
        await self.accounts.get_user(followee_id)  # NotFound for nobody
        if await self.blocked_between(follower_id, followee_id):
            raise Blocked("you cannot follow this user")
        now = time.time()
        if await self._add(repo.follows, follower_id, followee_id, now, event=FOLLOWED):
            await self._add(repo.followers, followee_id, follower_id, now)

    async def unfollow(self, follower_id: int, followee_id: int) -> None:
        """Stop following; idempotent."""
        if await self._remove(repo.follows, follower_id, followee_id, event=UNFOLLOWED):
            await self._remove(repo.followers, followee_id, follower_id)

    async def block(self, blocker_id: int, blocked_id: int) -> None:
        """Block a user: follows between the two end, and they cannot follow or comment."""
        if blocker_id == blocked_id:
            raise SelfAction("you cannot block yourself")
        await self.accounts.get_user(blocked_id)
        await self._add(repo.blocks, blocker_id, blocked_id, time.time(), event=BLOCKED)
        await self.unfollow(blocker_id, blocked_id)
        await self.unfollow(blocked_id, blocker_id)

    async def unblock(self, blocker_id: int, blocked_id: int) -> None:
        if await self._remove(repo.blocks, blocker_id, blocked_id):
            await self._restamp([blocker_id])  # no event, but the remembered blocks change

    async def blocked_between(self, a: int, b: int) -> bool:
        """Whether either user blocks the other."""
        return frozenset((a, b)) in await self.blocked_pairs([(a, b)])

    async def blocked_pairs(self, pairs: list[tuple[int, int]]) -> set[frozenset[int]]:
        """Which of these pairs of users have a block between them, either way round (For
        You checks every candidate's creator): from each user's remembered block list."""
        unique = set(pairs)
        blocks = await self._blocks_of(list({user for pair in unique for user in pair}))
        return {frozenset((a, b)) for a, b in unique if b in blocks[a] or a in blocks[b]}

    async def blocked_with(self, user_id: int, others: Iterable[int]) -> set[int]:
        """Which of `others` block this user or are blocked by them (a feed checks every
        candidate's creator against its viewer): `blocked_pairs` of one user, without a pair
        per candidate."""
        others = set(others) - {user_id}
        if not others:
            return set()
        blocks = await self._blocks_of([user_id, *others])
        theirs = blocks[user_id]
        return {other for other in others if other in theirs or user_id in blocks[other]}

    async def _blocks_of(self, user_ids: list[int]) -> dict[int, frozenset[int]]:
        """Whom each user blocks: remembered in the cache under the user's stamp (their block
        or unblock renews it, flick.social.viewer), read from SQL, one query per database,
        for the users not remembered. Most lists are empty; one cache read for them all."""
        keys = [key for user in user_ids for key in (blocks_key(user), stamp_key(user))]
        raw = await self.cache.get_many(keys)
        found: dict[int, frozenset[int]] = {}
        stamps: dict[int, bytes | None] = {}
        for at, user in enumerate(user_ids):
            source = raw[2 * at], raw[2 * at + 1]
            remembered = self._blocks.decoded(user, source, decode_blocks)
            if remembered is None:
                stamps[user] = source[1]  # read before SQL: a block committed since renews it
            else:
                found[user] = remembered
        if stamps:
            read: dict[int, set[int]] = {}
            for engine, users in self.db.by_engine(stamps, int).items():
                async with engine.connect() as conn:
                    read |= await repo.edges_of(conn, repo.blocks, users)
            loaded = {user: frozenset(read.get(user, ())) for user in stamps}
            await self.cache.set_many(
                {blocks_key(u): encode_blocks(ids, stamps[u]) for u, ids in loaded.items()},
                ttl=STATE_TTL_S,
            )
            found |= loaded
        return found

    async def following_among(self, follower_id: int, user_ids: list[int]) -> set[int]:
        """Which of these users the follower follows (the `viewer.following` of a page)."""
        if not user_ids:
            return set()
        async with self.db.read(shard_of(follower_id)) as conn:
            return await repo.edges_among(conn, repo.follows, follower_id, user_ids)

    async def viewer_state(
        self, viewer_id: int, video_ids: Sequence[int], creator_ids: Sequence[int]
    ) -> ViewerFacts:
        """Which of these videos the viewer likes and which of these users they follow (a
        feed page's `viewer` fields). Remembered in the cache until the viewer's next like,
        unlike, follow, unfollow or block (flick.social.viewer), so a feed that asks for a
        whole ranked list once answers its pages from one cache read."""
        raw, stamp = await self.cache.get_many([state_key(viewer_id), stamp_key(viewer_id)])
        return await self._viewer_state_from(raw, stamp, viewer_id, video_ids, creator_ids)

    async def page_facts(
        self, viewer_id: int, video_ids: list[int], creator_ids: Sequence[int]
    ) -> tuple[ViewerFacts, dict[int, bytes]]:
        """`viewer_state` and the videos' counts (as `video_counts_many`, each encoded as the
        API's `counts` object) of one feed page, from one cache read."""
        keys = [state_key(viewer_id), stamp_key(viewer_id), *map(counts_key, video_ids)]
        raw, stamp, *counts = await self.cache.get_many(keys)
        facts = await self._viewer_state_from(raw, stamp, viewer_id, video_ids, creator_ids)
        return facts, await self._counts_json_from(video_ids, counts)

    async def _viewer_state_from(
        self,
        raw: bytes | None,
        stamp: bytes | None,
        viewer_id: int,
        video_ids: Sequence[int],
        creator_ids: Sequence[int],
    ) -> ViewerFacts:
        state = self._states.decoded(viewer_id, (raw, stamp), _decode_state)
        videos, creators = state.unchecked(video_ids, creator_ids)
        if videos or creators:
            state = ViewerState.decode(raw, stamp=stamp)  # its own copy to learn in
            following = await self._remembered_following(viewer_id, creators)
            liked: set[int] = set()
            if videos or following is None:
                async with self.db.read(shard_of(viewer_id)) as conn:
                    if videos:
                        liked = await repo.edges_among(conn, repo.likes, viewer_id, videos)
                    if following is None:
                        following = await repo.edges_among(conn, repo.follows, viewer_id, creators)
            state.learn(videos, liked, creators, following)
            await self.cache.set(state_key(viewer_id), state.encode(), ttl=STATE_TTL_S)
        return state.facts(video_ids, creator_ids)

    async def _remembered_following(self, viewer_id: int, creators: list[int]) -> set[int] | None:
        """Which of these users the viewer follows, from their whole followee list if it is
        remembered (the Following feed and For You read it on every assembly): no SQL then.
        None when it is not remembered, or not whole."""
        if not creators:
            return set()
        remembered, _ = await self._remembered_followees(viewer_id)
        if remembered is None or not remembered.complete:
            return None
        return set(creators).intersection(remembered.ids)

    async def all_followee_ids(self, user_id: int, *, most: int) -> list[int]:
        """Everyone the user follows, newest follow first, at most `most` (the Following feed
        merges them on every read): remembered in the cache until the user's next follow,
        unfollow or block, like `viewer_state`."""
        remembered, stamp = await self._remembered_followees(user_id)
        if remembered is not None and (remembered.complete or len(remembered.ids) >= most):
            return remembered.ids[:most]
        found: list[int] = []
        cursor: int | None = None
        while len(found) < most:
            page, cursor = await self.followee_ids(user_id, cursor=cursor, limit=FOLLOWEE_PAGE)
            found += page
            if cursor is None:
                break
        complete = cursor is None and len(found) <= most
        found = found[:most]
        await self.cache.set(
            followees_key(user_id), encode_followees(found, stamp, complete), ttl=STATE_TTL_S
        )
        return found

    async def _remembered_followees(self, user_id: int) -> tuple[Followees | None, bytes | None]:
        """The followee list remembered under the user's current stamp (None if there is
        none), and that stamp: a list read from SQL afterwards is remembered under it."""
        raw, stamp = await self.cache.get_many([followees_key(user_id), stamp_key(user_id)])
        return decode_followees(raw, stamp=stamp), stamp

    async def _restamp(self, viewer_ids: Iterable[int]) -> None:
        """After a viewer's like or follow commits: their remembered state is stale."""
        stamp = new_stamp()
        await self.cache.set_many({stamp_key(v): stamp for v in set(viewer_ids)}, ttl=STAMP_TTL_S)

    async def is_following(self, follower_id: int, followee_id: int) -> bool:
        async with self.db.read(shard_of(follower_id)) as conn:
            return await repo.has_edge(conn, repo.follows, follower_id, followee_id)

    async def follower_ids(
        self, user_id: int, *, cursor: int | None, limit: int
    ) -> tuple[list[int], int | None]:
        """A page of follower ids, newest first, and the cursor of the next (fan-outs)."""
        async with self.db.read(shard_of(user_id)) as conn:
            edges = await repo.list_edges(conn, repo.followers, user_id, before=cursor, limit=limit)
        return [other for other, _ in edges], edges[-1][1] if len(edges) == limit else None

    async def followee_ids(
        self, user_id: int, *, cursor: int | None, limit: int
    ) -> tuple[list[int], int | None]:
        """A page of the ids the user follows, newest follow first, and the cursor of the
        next (the Following feed reads whom to merge)."""
        async with self.db.read(shard_of(user_id)) as conn:
            edges = await repo.list_edges(conn, repo.follows, user_id, before=cursor, limit=limit)
        return [other for other, _ in edges], edges[-1][1] if len(edges) == limit else None

    async def followers(self, user_id: int, *, cursor: int | None, limit: int) -> Page:
        return await self._users(repo.followers, user_id, cursor=cursor, limit=limit)

    async def following(self, user_id: int, *, cursor: int | None, limit: int) -> Page:
        return await self._users(repo.follows, user_id, cursor=cursor, limit=limit)

    async def _users(self, table: Any, user_id: int, *, cursor: int | None, limit: int) -> Page:
        await self.accounts.get_user(user_id)
        limit = page_limit(limit)
        async with self.db.read(shard_of(user_id)) as conn:
            edges = await repo.list_edges(conn, table, user_id, before=cursor, limit=limit)
        items = [orjson.loads(await self.accounts.user_json(other)) for other, _ in edges]
        return Page(items, next_cursor([edge_id for _, edge_id in edges], limit))

    # --- likes, comments, shares ---------------------------------------------------------

    async def like(self, user_id: int, video_id: int) -> bool:
        """Like a video once; idempotent. True if this call added the like."""
        owner_id = await self.videos.owner_of(video_id)  # NotFound for no video
        return await self._like_writes.submit(LikeChange(user_id, video_id, owner_id, True))

    async def unlike(self, user_id: int, video_id: int) -> bool:
        """Take a like back; idempotent. True if this call removed it."""
        owner_id = await self.videos.owner_of(video_id)
        return await self._like_writes.submit(LikeChange(user_id, video_id, owner_id, False))

    async def _write_likes(self, changes: list[LikeChange]) -> list[bool]:
        """Group commit of concurrent likes and unlikes: one transaction per database."""
        applied = [False] * len(changes)
        by_engine: dict[Any, list[int]] = defaultdict(list)
        for index, change in enumerate(changes):
            by_engine[self.db.engine_for_shard(shard_of(change.user_id))].append(index)
        for engine, indexes in by_engine.items():
            async with self.db.begin(engine) as conn:
                events = []
                for run in _runs(indexes, changes):
                    for index in await _apply_like_run(conn, [changes[i] for i in run], run):
                        applied[index] = True
                        events.append(_like_event(changes[index]))
                await record_events(conn, INTERACTION, events)
        if any(applied):
            self.on_commit()
            await self._restamp(c.user_id for c, done in zip(changes, applied, strict=True) if done)
        return applied

    async def liked_among(self, user_id: int, video_ids: list[int]) -> set[int]:
        """Which of these videos the user likes (the `viewer.liked` of a page)."""
        async with self.db.read(shard_of(user_id)) as conn:
            return await repo.edges_among(conn, repo.likes, user_id, video_ids)

    async def comment(self, user_id: int, video_id: int, *, text: str) -> dict[str, Any]:
        """Post a comment; the video's creator may have blocked the author."""
        video = await self.videos.get(video_id)
        body = clean_comment(text)
        if await self.blocked_between(video.owner_id, user_id):
            raise Blocked("you cannot comment on this user's videos")
        comment = Comment(new_id(shard_of(video_id)), video_id, user_id, body, time.time())
        async with self.db.transaction(shard_of(video_id)) as conn:
            await repo.insert_comment(conn, comment)
            event = social_event(
                COMMENTED,
                user_id,
                video_id=video_id,
                comment_id=comment.id,
                owner_id=video.owner_id,
            )
            await record_event(conn, INTERACTION, event)
        self.on_commit()
        return await self._comment_view(comment)

    async def delete_comment(self, user_id: int, video_id: int, comment_id: int) -> None:
        """Delete a comment: its author or the video's creator may."""
        video = await self.videos.get(video_id)
        async with self.db.transaction(shard_of(video_id)) as conn:
            comment = await repo.get_comment(conn, comment_id)
            if comment is None or comment.video_id != video_id:
                raise NotFound(f"video {video_id} has no comment {comment_id}")
            if user_id not in (comment.author_id, video.owner_id):
                raise Forbidden("only the comment's author or the video's creator can delete it")
            await repo.delete_comment(conn, comment_id)
            event = social_event(COMMENT_DELETED, user_id, video_id=video_id, comment_id=comment_id)
            await record_event(conn, INTERACTION, event)
        self.on_commit()

    async def comments(self, video_id: int, *, cursor: int | None, limit: int) -> Page:
        """A video's comments, newest first."""
        await self.videos.get(video_id)
        limit = page_limit(limit)
        async with self.db.read(shard_of(video_id)) as conn:
            found = await repo.list_comments(conn, video_id, before=cursor, limit=limit)
        items = [await self._comment_view(comment) for comment in found]
        return Page(items, next_cursor([comment.id for comment in found], limit))

    async def share(self, user_id: int, video_id: int) -> int:
        """Record a share; returns its id (the share link carries it)."""
        video = await self.videos.get(video_id)
        share_id = new_id(shard_of(user_id))
        async with self.db.transaction(shard_of(user_id)) as conn:
            await repo.insert_share(
                conn, share_id, user_id=user_id, video_id=video_id, now=time.time()
            )
            event = social_event(SHARED, user_id, video_id=video_id, owner_id=video.owner_id)
            await record_event(conn, INTERACTION, event)
        self.on_commit()
        return share_id

    # --- counts --------------------------------------------------------------------------

    async def counts(self, entity_id: int) -> dict[str, int]:
        """The counters of a video or user (eventually consistent; see consumers.py)."""
        key = counts_key(entity_id)
        cached = await self.cache.get(key)
        if cached is not None:
            return dict(orjson.loads(cached))
        async with self.db.read(shard_of(entity_id)) as conn:
            found = (await repo.get_counters(conn, [entity_id]))[entity_id]
        await self.cache.set(key, orjson.dumps(found), ttl=COUNTS_CACHE_TTL)
        return found

    async def video_counts(self, video_id: int) -> dict[str, int]:
        found = await self.counts(video_id)
        return _video_counts(found)

    async def video_counts_many(self, video_ids: list[int]) -> dict[int, dict[str, int]]:
        """`video_counts` of a page of videos: one cache read for all, SQL for the misses
        (one query per database)."""
        return await self._counts_from(
            video_ids, await self.cache.get_many([counts_key(v) for v in video_ids])
        )

    async def _counts_from(
        self, video_ids: list[int], cached: Sequence[bytes | None]
    ) -> dict[int, dict[str, int]]:
        found = {v: orjson.loads(raw) for v, raw in zip(video_ids, cached, strict=True) if raw}
        missing = [video_id for video_id in video_ids if video_id not in found]
        for engine, ids in self.db.by_engine(missing, int).items():
            async with engine.connect() as conn:
                loaded = await repo.get_counters(conn, ids)
            await self.cache.set_many(
                {counts_key(v): orjson.dumps(c) for v, c in loaded.items()}, ttl=COUNTS_CACHE_TTL
            )
            found.update(loaded)
        return {v: _video_counts(found.get(v, {})) for v in video_ids}

    async def _counts_json_from(
        self, video_ids: list[int], cached: Sequence[bytes | None]
    ) -> dict[int, bytes]:
        """`_counts_from`, each video's counts encoded (decoded and encoded again only when
        its cached bytes change)."""
        found, missing = {}, []
        for video_id, raw in zip(video_ids, cached, strict=True):
            if raw is None:
                missing.append(video_id)
            else:
                found[video_id] = self._counts_json.decoded(video_id, raw, _video_counts_json)
        if missing:
            loaded = await self._counts_from(missing, [None] * len(missing))
            found |= {video_id: orjson.dumps(counts) for video_id, counts in loaded.items()}
        return found

    async def user_counts(self, user_id: int) -> dict[str, int]:
        found = await self.counts(user_id)
        return {name: found.get(name, 0) for name in ("followers", "following", "videos", "likes")}

    # --- helpers -------------------------------------------------------------------------

    async def _add(
        self, table: Any, owner: int, other: int, now: float, *, event: str = "", **extra: int
    ) -> bool:
        async with self.db.transaction(shard_of(owner)) as conn:
            added = await repo.add_edge(
                conn, table, owner, other, edge_id=new_id(shard_of(owner)), now=now
            )
            if added and event:
                await record_event(conn, _topic(event), _edge_event(event, owner, other, extra))
        if added and event:
            self.on_commit()
            await self._restamp([owner])
        return added

    async def _remove(
        self, table: Any, owner: int, other: int, *, event: str = "", **extra: int
    ) -> bool:
        async with self.db.transaction(shard_of(owner)) as conn:
            removed = await repo.remove_edge(conn, table, owner, other)
            if removed and event:
                await record_event(conn, _topic(event), _edge_event(event, owner, other, extra))
        if removed and event:
            self.on_commit()
            await self._restamp([owner])
        return removed

    async def _comment_view(self, comment: Comment) -> dict[str, Any]:
        author = orjson.loads(await self.accounts.user_json(comment.author_id))
        return {
            "id": str(comment.id),
            "video_id": str(comment.video_id),
            "text": comment.text,
            "author": {k: author[k] for k in ("id", "username", "display_name")},
            "created_at": comment.created_at,
        }


class LikeChange(NamedTuple):
    """One like (`liked`) or unlike waiting for the next group commit."""

    user_id: int
    video_id: int
    owner_id: int
    liked: bool


def _runs(indexes: list[int], changes: list[LikeChange]) -> list[list[int]]:
    """Split a batch into runs of likes and runs of unlikes, keeping order (a like then an
    unlike of the same video must apply in that order)."""
    runs: list[list[int]] = []
    for index in indexes:
        if runs and changes[runs[-1][0]].liked == changes[index].liked:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


async def _apply_like_run(
    conn: AsyncConnection, run: list[LikeChange], indexes: list[int]
) -> list[int]:
    """Apply a run of likes (or of unlikes); the indexes of the changes that took effect
    (the first of repeats within the run)."""
    pairs = [(change.user_id, change.video_id) for change in run]
    if run[0].liked:
        done = await repo.add_edges(conn, repo.likes, pairs, now=time.time())
    else:
        done = await repo.remove_edges(conn, repo.likes, pairs)
    applied = []
    for index, pair in zip(indexes, pairs, strict=True):
        if pair in done:
            done.discard(pair)
            applied.append(index)
    return applied


def _like_event(change: LikeChange) -> Any:
    kind = LIKED if change.liked else UNLIKED
    return social_event(kind, change.user_id, video_id=change.video_id, owner_id=change.owner_id)


def _topic(event: str) -> str:
    return INTERACTION if event in (LIKED, UNLIKED) else GRAPH


def _edge_event(event: str, owner: int, other: int, extra: dict[str, int]) -> Any:
    target = "video_id" if event in (LIKED, UNLIKED) else "user_id"
    return social_event(event, owner, **{target: other}, **extra)


def _video_counts(counters: dict[str, int]) -> dict[str, int]:
    """The API's `counts` of a video from its stored counters (absent ones are 0)."""
    return {name: counters.get(name, 0) for name in VIDEO_COUNTERS}


def _video_counts_json(cached: bytes) -> bytes:
    return orjson.dumps(_video_counts(orjson.loads(cached)))


def _decode_state(source: tuple[bytes | None, bytes | None]) -> ViewerState:
    raw, stamp = source
    return ViewerState.decode(raw, stamp=stamp)
