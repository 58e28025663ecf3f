"""The Following feed over the real services (SQLite, embedded cache), in process: follows and
blocks through HTTP, their events taken from the outbox and handed to the counters and the
fan-out, as the relay and bus would."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from flick.bootstrap import Container
from flick.feed.consumers import FanOut
from flick.feed.following import FollowingFeed
from flick.feed.model import POLICIES, Policy
from flick.ingest.events import TOPIC as VIDEO
from flick.ingest.events import VideoReady
from flick.platform.bus import Event, Message, decode_event
from flick.platform.cache.memory import MemoryCache
from flick.platform.outbox import outbox
from flick.social.consumers import CounterAggregator

from .conftest import ready_video
from .test_social import People


class Feeds:
    """The fan-out and feed of both policies over one world (each policy with a cache of its
    own for the feed), fed from the outbox; every read checks that both give the same pages."""

    def __init__(self, services: Container, people: People, *, threshold: int) -> None:
        self.services = services
        self.people = people
        self.fanouts: dict[Policy, FanOut] = {}
        self.feeds: dict[Policy, FollowingFeed] = {}
        for policy in POLICIES:
            cache = MemoryCache()
            self.fanouts[policy] = FanOut(
                cache, services.social, services.videos, policy=policy, threshold=threshold
            )
            self.feeds[policy] = FollowingFeed(cache, services.social, services.videos)
        self.counters = CounterAggregator(services.db, services.cache)
        self.seen_seq = 0
        self.videos = 0

    async def post(self, who: str) -> int:
        """A ready video by `who` and its `video.ready` (the transcoder's event)."""
        self.videos += 1
        owner = self.people.ids[who]
        video = await ready_video(self.services, owner, sha256=f"{self.videos:064x}")
        await self.deliver([VideoReady(video, owner, "", [], 1.0, 0.0).to_event()])
        return video

    async def drain(self) -> None:
        """Hand the outbox's new events to the counters and the fan-outs."""
        async with self.services.db.engines[0].connect() as conn:
            query = select(outbox.c.seq, outbox.c.event).where(outbox.c.seq > self.seen_seq)
            rows = list(await conn.execute(query.order_by(outbox.c.seq)))
        if rows:
            self.seen_seq = rows[-1][0]
        await self.deliver([decode_event(row[1]) for row in rows])

    async def deliver(self, events: list[Event]) -> None:
        messages = [Message(VIDEO, 0, n, event) for n, event in enumerate(events)]
        await self.counters._handle(messages)
        for fanout in self.fanouts.values():
            await fanout._handle(messages)

    async def read(self, who: str, *, limit: int = 20) -> list[int]:
        """Every page of `who`'s Following feed, the same under both policies."""
        found = [
            await self._pages(feed, self.people.ids[who], limit) for feed in self.feeds.values()
        ]
        assert found[0] == found[1], who
        return found[0]

    @staticmethod
    async def _pages(feed: FollowingFeed, viewer: int, limit: int) -> list[int]:
        seen: list[int] = []
        cursor = None
        while True:
            page, cursor = await feed.page(viewer, cursor=cursor, limit=limit)
            assert not set(page) & set(seen)
            seen += page
            if cursor is None:
                return seen

    async def inbox(self, who: str, policy: Policy = "seed") -> list[int]:
        inboxes = self.feeds[policy].inboxes
        return await inboxes.read(self.people.ids[who], before=None, limit=1000)


@pytest.fixture
async def people(client: httpx.AsyncClient) -> People:
    crowd = People(client)
    await crowd.add("ana", "bob", "cid", "dee")
    return crowd


@pytest.fixture
async def feeds(services: Container, people: People) -> Feeds:
    # Threshold 0: seed pushes everyone (its inboxes are checked), classic pulls everyone.
    return Feeds(services, people, threshold=0)


async def follow(people: People, who: str, whom: str, method: str = "POST") -> None:
    answer = await people.call(who, method, f"/api/v1/users/{people.ids[whom]}/follow")
    assert answer.status_code == 204, answer.text


async def test_a_followed_creators_video_appears_and_leaves_on_unfollow(
    feeds: Feeds, people: People
) -> None:
    await feeds.read("bob")  # bob is active
    await follow(people, "bob", "ana")
    await feeds.drain()
    video = await feeds.post("ana")
    assert await feeds.inbox("bob") == [video]
    assert await feeds.read("bob") == [video]
    assert await feeds.read("cid") == []  # not a follower
    await follow(people, "bob", "ana", "DELETE")
    await feeds.drain()
    assert await feeds.inbox("bob") == []
    assert await feeds.read("bob") == []


async def test_block_removes_videos_both_ways(feeds: Feeds, people: People) -> None:
    for who in ("ana", "bob"):
        await feeds.read(who)
    await follow(people, "bob", "ana")
    await follow(people, "ana", "bob")
    await feeds.drain()
    ana_video, bob_video = await feeds.post("ana"), await feeds.post("bob")
    assert (await feeds.read("bob"), await feeds.read("ana")) == ([ana_video], [bob_video])
    answer = await people.call("ana", "POST", f"/api/v1/users/{people.ids['bob']}/block")
    assert answer.status_code == 204
    assert (await feeds.read("bob"), await feeds.read("ana")) == ([], [])  # before the events
    await feeds.drain()
    assert (await feeds.inbox("bob"), await feeds.inbox("ana")) == ([], [])


async def test_a_deleted_video_vanishes(feeds: Feeds, people: People) -> None:
    await feeds.read("bob")
    await follow(people, "bob", "ana")
    await feeds.drain()
    kept, gone = await feeds.post("ana"), await feeds.post("ana")
    answer = await people.call("ana", "DELETE", f"/api/v1/videos/{gone}")
    assert answer.status_code == 204, answer.text
    assert await feeds.read("bob") == [kept]  # dropped at read time already
    await feeds.drain()
    assert await feeds.inbox("bob") == [kept]


async def test_pages_have_no_duplicates_and_end(feeds: Feeds, people: People) -> None:
    for whom in ("ana", "cid", "dee"):
        await follow(people, "bob", whom)
    await feeds.drain()
    posted = [await feeds.post(who) for _ in range(5) for who in ("ana", "cid", "dee")]
    pages = await feeds.read("bob", limit=4)
    assert pages == sorted(posted, reverse=True)
    feed = feeds.feeds["seed"]
    first, cursor = await feed.page(people.ids["bob"], cursor=None, limit=15)
    assert cursor == first[-1]
    assert await feed.page(people.ids["bob"], cursor=cursor, limit=15) == ([], None)


async def test_an_inactive_follower_is_skipped_then_rebuilt(feeds: Feeds, people: People) -> None:
    await feeds.read("bob")
    await follow(people, "bob", "ana")
    await follow(people, "cid", "ana")  # cid has never read: inactive
    await feeds.drain()
    video = await feeds.post("ana")
    assert (await feeds.inbox("bob"), await feeds.inbox("cid")) == ([video], [])
    assert await feeds.read("cid") == [video]
    assert await feeds.inbox("cid") == [video]  # rebuilt on the first read


async def test_seed_and_classic_give_the_same_pages(services: Container, people: People) -> None:
    # Threshold 2: ana (3 followers) is pushed under seed and pulled under classic, cid (1)
    # the other way round, so both paths run under both policies.
    feeds = Feeds(services, people, threshold=2)
    for who in people.ids:
        await feeds.read(who)
    for who, whom in [("bob", "ana"), ("cid", "ana"), ("dee", "ana"), ("bob", "cid")]:
        await follow(people, who, whom)
    await feeds.drain()
    posted = [await feeds.post(who) for _ in range(4) for who in ("ana", "cid", "dee")]
    by = {video: ("ana", "cid", "dee")[n % 3] for n, video in enumerate(posted)}
    expected = sorted((v for v in posted if by[v] in ("ana", "cid")), reverse=True)
    for limit in (1, 3, 20):
        assert await feeds.read("bob", limit=limit) == expected
    seed_inbox, classic_inbox = (
        await feeds.inbox("bob", "seed"),
        await feeds.inbox("bob", "classic"),
    )
    assert {by[v] for v in seed_inbox} == {"ana"}
    assert {by[v] for v in classic_inbox} == {"cid"}


async def test_the_services_feed_helpers(services: Container, people: People) -> None:
    ana, bob, cid = people.ids["ana"], people.ids["bob"], people.ids["cid"]
    await follow(people, "cid", "ana")
    await follow(people, "cid", "bob")
    assert await services.social.followee_ids(cid, cursor=None, limit=5) == ([bob, ana], None)
    page, cursor = await services.social.followee_ids(cid, cursor=None, limit=1)
    assert page == [bob]
    page, _ = await services.social.followee_ids(cid, cursor=cursor, limit=1)
    assert page == [ana]
    first = await ready_video(services, ana, sha256="01" * 32)
    second = await ready_video(services, ana, sha256="02" * 32)
    other = await ready_video(services, bob, sha256="03" * 32)
    assert await services.videos.recent_ready_ids(ana, limit=5) == [second, first]
    assert await services.videos.recent_ready_ids(ana, limit=1) == [second]
    owners = await services.videos.ready_owners([first, other, 12345])
    assert owners == {first: ana, other: bob}


async def test_the_following_tab_over_http_and_in_for_you(
    people: People, services: Container
) -> None:
    # The container's own feed and fan-out (the worker's), fed from the outbox.
    from flick.bootstrap import fan_out

    fanout = fan_out(services)
    await people.call("bob", "POST", f"/api/v1/users/{people.ids['ana']}/follow")
    owner = people.ids["ana"]
    video = await ready_video(services, owner, sha256="f" * 64)
    ready = VideoReady(video, owner, "", [], 1.0, 0.0).to_event()
    await fanout._handle([Message(VIDEO, 0, 1, ready)])
    answer = await people.call("bob", "GET", "/api/v1/feed/following")
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["items"]
    assert item["id"] == str(video) and item["viewer"]["following"] is True
    assert answer.json()["next_cursor"] is None
    assert video in await services.following.newest(people.ids["bob"], 10)
    foryou = await services.foryou._candidates(people.ids["bob"], set(), [], now=0.0)
    assert {(c.video_id, c.source) for c in foryou} == {(video, "following")}
