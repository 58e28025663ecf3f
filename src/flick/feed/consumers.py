"""The Following feed's fan-out (group `feed.fanout`): reacts to `video` and `graph`.

`video.ready`: the creator's post list and record are updated (a creator not known to the
cache is first loaded from SQL); if the policy pushes the
creator (by their follower count, an eventually consistent counter), the post goes into the
inboxes of their active followers, read in pages; inactive ones are skipped and rebuilt when
they come back (following.py). `video.deleted`: out of the post list and of active inboxes.
`social.user_followed`: the followee's pushed posts merge into the new follower's inbox;
`social.user_unfollowed`: their posts leave it; `social.user_blocked`: both ways.

Every step is idempotent (sorted-set adds and removes, a record that only moves up), so a
redelivered event changes nothing; reads filter whatever a late event has not cleaned yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from flick.feed.model import Policy, is_pushed
from flick.feed.store import POSTS_CAP, AuthorStore, InboxStore
from flick.ingest.events import DELETED as VIDEO_DELETED
from flick.ingest.events import READY as VIDEO_READY
from flick.ingest.events import TOPIC as VIDEO
from flick.ingest.service import Videos
from flick.platform.bus import Bus, Event, Message
from flick.platform.bus.consumer import merged_batches, run_consumer
from flick.platform.cache import Cache
from flick.social.events import BLOCKED, FOLLOWED, GRAPH, UNFOLLOWED
from flick.social.service import Social

GROUP = "feed.fanout"
FOLLOWER_PAGE = 1_000  # followers read per query; also one server-side push batch on Redis


class FanOut:
    """Applies `video` and `graph` events to inboxes and creators' post lists."""

    def __init__(
        self, cache: Cache, social: Social, videos: Videos, *, policy: Policy, threshold: int
    ) -> None:
        self.inboxes = InboxStore(cache)
        self.authors = AuthorStore(cache)
        self.social = social
        self.videos = videos
        self.policy: Policy = policy
        self.threshold = threshold
        self._batches = merged_batches(self._handle)

    async def handle(self, messages: Sequence[Message]) -> None:
        """Apply a batch; batches of several partitions that arrive together are merged."""
        await self._batches.submit(messages)

    async def _handle(self, messages: Sequence[Message]) -> None:
        # In order: one creator's or follower's events share a partition and keep theirs.
        for message in messages:
            await self.apply(message.event)

    async def apply(self, event: Event) -> None:
        """React to one event (others are ignored)."""
        p = event.payload
        if event.type == VIDEO_READY:
            await self.posted(int(p["owner_id"]), int(p["video_id"]))
        elif event.type == VIDEO_DELETED:
            await self.deleted(int(p["owner_id"]), int(p["video_id"]))
        elif event.type == FOLLOWED:
            await self.followed(int(p["actor_id"]), int(p["user_id"]))
        elif event.type == UNFOLLOWED:
            await self.unfollowed(int(p["actor_id"]), int(p["user_id"]))
        elif event.type == BLOCKED:
            await self.unfollowed(int(p["actor_id"]), int(p["user_id"]))
            await self.unfollowed(int(p["user_id"]), int(p["actor_id"]))

    async def pushes(self, creator_id: int) -> bool:
        """Whether the policy pushes this creator's posts now."""
        followers = (await self.social.user_counts(creator_id))["followers"]
        return is_pushed(self.policy, followers, threshold=self.threshold)

    async def posted(self, creator_id: int, video_id: int) -> None:
        """A new post: recorded first (a rebuild running meanwhile then finds it), then pushed
        to active followers if the policy says so."""
        pushed = await self.pushes(creator_id)
        if (await self.authors.authors([creator_id]))[creator_id] is None:
            await self._load(creator_id, but=video_id)
        await self.authors.posted(creator_id, video_id, pushed=pushed)
        if pushed:
            async for followers in self._active_followers(creator_id):
                await self.inboxes.push(followers, video_id)

    async def _load(self, creator_id: int, *, but: int) -> None:
        """Know a creator before recording a post: their earlier posts from SQL, as pulled
        (whether they were pushed is not known here any more)."""
        earlier = await self.videos.recent_ready_ids(creator_id, limit=POSTS_CAP)
        await self.authors.load(creator_id, [video_id for video_id in earlier if video_id != but])

    async def deleted(self, creator_id: int, video_id: int) -> None:
        await self.authors.deleted(creator_id, video_id)
        async for followers in self._active_followers(creator_id):
            await self.inboxes.unpush(followers, video_id)

    async def followed(self, follower_id: int, followee_id: int) -> None:
        """Merge the followee's pushed posts (those above their `pulled_until`; the rest are
        read at request time) into an active follower's inbox."""
        if not await self.inboxes.is_active([follower_id]):
            return  # rebuilt when they return
        author = (await self.authors.authors([followee_id]))[followee_id]
        if author is None:
            return  # not known here: reads load it and treat every post as pulled
        posts = await self.authors.posts(followee_id, before=None, limit=POSTS_CAP)
        await self.inboxes.merge(follower_id, [v for v in posts if v > author.pulled_until])

    async def unfollowed(self, follower_id: int, followee_id: int) -> None:
        """Take the followee's posts out of the follower's inbox (reads also drop any older
        ones left there, by creator)."""
        posts = await self.authors.posts(followee_id, before=None, limit=POSTS_CAP)
        if posts:
            await self.inboxes.unmerge(follower_id, posts)

    async def _active_followers(self, creator_id: int) -> AsyncIterator[list[int]]:
        """The creator's followers who read their feed lately, a page at a time."""
        cursor: int | None = None
        while True:
            page, cursor = await self.social.follower_ids(
                creator_id, cursor=cursor, limit=FOLLOWER_PAGE
            )
            active = await self.inboxes.is_active(page) if page else set()
            if active:
                yield sorted(active)
            if cursor is None:
                return


async def run_fanout(fanout: FanOut, bus: Bus, stop: asyncio.Event) -> None:
    """Consume `video` and `graph` until `stop` is set."""
    await asyncio.gather(
        *(
            run_consumer(bus, topic, group=GROUP, handler=fanout.handle, stop=stop)
            for topic in (VIDEO, GRAPH)
        )
    )
