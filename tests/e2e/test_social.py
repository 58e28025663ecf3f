"""Follows, blocks, likes, comments and shares over HTTP, in process: idempotence, lists with
cursors, the events each action records, and who may do what (BOLA)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from flick.bootstrap import Container
from flick.ingest.events import VideoReady
from flick.platform.bus import Event
from flick.social.consumers import CounterAggregator, run_counters

from .conftest import auth, ready_video, signup, user_id


class People:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, int] = {}

    async def add(self, *names: str) -> None:
        for name in names:
            self.tokens[name] = await signup(self.client, name)
            self.ids[name] = await user_id(self.client, self.tokens[name])

    async def call(self, who: str, method: str, path: str, **kwargs: object) -> httpx.Response:
        return await self.client.request(method, path, headers=auth(self.tokens[who]), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def people(client: httpx.AsyncClient) -> People:
    crowd = People(client)
    await crowd.add("ana", "bob", "cid")
    return crowd


async def recorded(services: Container) -> list[Event]:
    """Events the outbox holds, in order (the relay is not running in these tests)."""
    from sqlalchemy import select

    from flick.platform.bus import decode_event
    from flick.platform.outbox import outbox

    async with services.db.engines[0].connect() as conn:
        rows = await conn.execute(select(outbox.c.event).order_by(outbox.c.seq))
        return [decode_event(row[0]) for row in rows]


async def test_follow_is_idempotent_and_listed_newest_first(
    people: People, services: Container
) -> None:
    ana = people.ids["ana"]
    for who in ("bob", "cid", "bob"):  # bob twice: one edge, one event
        response = await people.call(who, "POST", f"/api/v1/users/{ana}/follow")
        assert response.status_code == 204
    followers = (await people.call("ana", "GET", f"/api/v1/users/{ana}/followers")).json()
    assert [u["username"] for u in followers["items"]] == ["cid", "bob"]
    assert followers["next_cursor"] is None
    first = (await people.call("ana", "GET", f"/api/v1/users/{ana}/followers?limit=1")).json()
    assert [u["username"] for u in first["items"]] == ["cid"]
    cursor = first["next_cursor"]
    second = await people.call(
        "ana", "GET", f"/api/v1/users/{ana}/followers?limit=1&cursor={cursor}"
    )
    assert [u["username"] for u in second.json()["items"]] == ["bob"]
    following = await people.call("bob", "GET", f"/api/v1/users/{people.ids['bob']}/following")
    assert [u["username"] for u in following.json()["items"]] == ["ana"]
    follows = [e for e in await recorded(services) if e.type == "social.user_followed"]
    assert len(follows) == 2 and follows[0].key == people.ids["bob"]

    profile = (await people.call("bob", "GET", "/api/v1/users/ana")).json()
    assert profile["viewer"] == {"following": True}

    await people.call("bob", "DELETE", f"/api/v1/users/{ana}/follow")
    await people.call("bob", "DELETE", f"/api/v1/users/{ana}/follow")  # idempotent
    followers = (await people.call("ana", "GET", f"/api/v1/users/{ana}/followers")).json()
    assert [u["username"] for u in followers["items"]] == ["cid"]
    profile = (await people.call("bob", "GET", "/api/v1/users/ana")).json()
    assert profile["viewer"] == {"following": False}
    assert "viewer" not in (await people.client.get("/api/v1/users/ana")).json()  # anonymous


async def test_follow_refusals(people: People) -> None:
    ana = people.ids["ana"]
    assert (await people.call("ana", "POST", f"/api/v1/users/{ana}/follow")).status_code == 409
    missing = await people.call("ana", "POST", "/api/v1/users/12345/follow")
    assert missing.status_code == 404
    anonymous = await people.client.post(f"/api/v1/users/{ana}/follow")
    assert anonymous.status_code == 401
    bad_cursor = await people.call("ana", "GET", f"/api/v1/users/{ana}/followers?cursor=x")
    assert bad_cursor.status_code == 422


async def test_blocking_ends_follows_and_stops_follows_and_comments(
    people: People, services: Container
) -> None:
    ana, bob = people.ids["ana"], people.ids["bob"]
    video = await ready_video(services, ana)
    await people.call("bob", "POST", f"/api/v1/users/{ana}/follow")
    await people.call("ana", "POST", f"/api/v1/users/{bob}/follow")
    assert (await people.call("ana", "POST", f"/api/v1/users/{bob}/block")).status_code == 204
    for user in (ana, bob):
        for kind in ("followers", "following"):
            listed = await people.call("ana", "GET", f"/api/v1/users/{user}/{kind}")
            assert listed.json()["items"] == [], (user, kind)
    refused = await people.call("bob", "POST", f"/api/v1/users/{ana}/follow")
    assert refused.status_code == 403
    comment = await people.call(
        "bob", "POST", f"/api/v1/videos/{video}/comments", json={"text": "hi"}
    )
    assert comment.status_code == 403
    await people.call("ana", "DELETE", f"/api/v1/users/{bob}/block")
    assert (await people.call("bob", "POST", f"/api/v1/users/{ana}/follow")).status_code == 204


async def test_likes_are_idempotent(people: People, services: Container) -> None:
    video = await ready_video(services, people.ids["ana"])
    for _ in range(3):
        assert (await people.call("bob", "POST", f"/api/v1/videos/{video}/like")).status_code == 204
    await people.call("bob", "DELETE", f"/api/v1/videos/{video}/like")
    await people.call("bob", "DELETE", f"/api/v1/videos/{video}/like")
    kinds = [e.type for e in await recorded(services) if e.type.startswith("social.video_")]
    assert kinds == ["social.video_liked", "social.video_unliked"]
    assert await services.social.liked_among(people.ids["bob"], [video]) == set()
    missing = await people.call("bob", "POST", "/api/v1/videos/999/like")
    assert missing.status_code == 404


async def test_concurrent_likes_share_group_commits_and_keep_each_callers_order(
    people: People, services: Container
) -> None:
    videos = [await ready_video(services, people.ids["ana"], sha256=f"{n:064x}") for n in range(8)]
    writes = services.social._like_writes
    before = writes.flushes

    async def like_then_unlike(who: str, video: int) -> None:
        await people.call(who, "POST", f"/api/v1/videos/{video}/like")
        if video % 2:
            await people.call(who, "DELETE", f"/api/v1/videos/{video}/like")

    await asyncio.gather(*(like_then_unlike(who, v) for who in ("bob", "cid") for v in videos))
    requests = 2 * (len(videos) + sum(v % 2 for v in videos))
    assert writes.flushes - before < requests  # some requests shared a transaction
    for who in ("bob", "cid"):
        liked = await services.social.liked_among(people.ids[who], videos)
        assert liked == {v for v in videos if not v % 2}
    events = [e for e in await recorded(services) if e.type.startswith("social.video_")]
    assert len(events) == requests  # each like and unlike took effect once


async def test_the_edge_like_route_answers_problems_like_the_rest(people: People) -> None:
    anonymous = await people.client.post("/api/v1/videos/1/like")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    for path in ("/api/v1/videos/abc/like", "/api/v1/videos/1/2/like"):
        answer = await people.call("bob", "POST", path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"
    assert "abc" in (await people.call("bob", "POST", "/api/v1/videos/abc/like")).json()["detail"]


async def test_comments_are_text_listed_newest_first(people: People, services: Container) -> None:
    video = await ready_video(services, people.ids["ana"])
    texts = ["first", "<script>alert(1)</script>", "third\nline"]
    for text in texts:
        posted = await people.call(
            "bob", "POST", f"/api/v1/videos/{video}/comments", json={"text": text}
        )
        assert posted.status_code == 201
        assert posted.json()["text"] == text  # stored and returned as text, unescaped
        assert posted.json()["author"]["username"] == "bob"
    page = (await people.client.get(f"/api/v1/videos/{video}/comments?limit=2")).json()
    assert [c["text"] for c in page["items"]] == texts[::-1][:2]
    rest = await people.client.get(
        f"/api/v1/videos/{video}/comments?limit=2&cursor={page['next_cursor']}"
    )
    assert [c["text"] for c in rest.json()["items"]] == ["first"]
    for bad in ("", "   ", "x" * 1001, "bell\x07"):
        refused = await people.call(
            "bob", "POST", f"/api/v1/videos/{video}/comments", json={"text": bad}
        )
        assert refused.status_code == 422, bad


async def test_only_author_or_creator_deletes_a_comment(
    people: People, services: Container
) -> None:
    video = await ready_video(services, people.ids["ana"])

    async def post(who: str) -> str:
        response = await people.call(
            who, "POST", f"/api/v1/videos/{video}/comments", json={"text": f"by {who}"}
        )
        return str(response.json()["id"])

    by_bob, by_cid = await post("bob"), await post("cid")
    url = f"/api/v1/videos/{video}/comments"
    assert (await people.call("cid", "DELETE", f"{url}/{by_bob}")).status_code == 403
    assert (await people.call("bob", "DELETE", f"{url}/{by_bob}")).status_code == 204
    assert (await people.call("ana", "DELETE", f"{url}/{by_cid}")).status_code == 204  # creator
    assert (await people.call("ana", "DELETE", f"{url}/{by_cid}")).status_code == 404
    assert (await people.client.get(url)).json()["items"] == []


async def test_a_share_is_recorded_and_returns_a_link(people: People, services: Container) -> None:
    video = await ready_video(services, people.ids["ana"])
    shared = await people.call("bob", "POST", f"/api/v1/videos/{video}/share")
    assert shared.status_code == 201
    assert shared.json()["url"].startswith(f"http://flick.test/v/{video}?share=")
    events = [e for e in await recorded(services) if e.type == "social.video_shared"]
    assert isinstance(events[0].payload.pop("version"), int)
    assert events[0].payload == {
        "actor_id": str(people.ids["bob"]),
        "video_id": str(video),
        "owner_id": str(people.ids["ana"]),
    }


async def test_counts_follow_the_events_through_the_bus(
    people: People, services: Container
) -> None:
    ana, video = people.ids["ana"], await ready_video(services, people.ids["ana"])
    stop = asyncio.Event()
    aggregator = CounterAggregator(services.db, services.cache)
    tasks = [
        asyncio.create_task(services.relay.run(stop)),
        asyncio.create_task(run_counters(aggregator, services.bus, stop)),
    ]
    try:
        for who in ("bob", "cid"):
            await people.call(who, "POST", f"/api/v1/videos/{video}/like")
            await people.call(who, "POST", f"/api/v1/users/{ana}/follow")
            await people.call(who, "POST", f"/api/v1/videos/{video}/comments", json={"text": "x"})
        await people.call("cid", "DELETE", f"/api/v1/videos/{video}/like")
        await people.call("bob", "POST", f"/api/v1/videos/{video}/share")
        ready = VideoReady(video, ana, "", [], 1.0, 0.0).to_event()
        await services.bus.publish("video", [ready, ready])  # a redelivery counts once
        wanted = (
            {"likes": 1, "comments": 2, "shares": 1, "views": 0},
            {"followers": 2, "following": 0, "videos": 1, "likes": 1},
        )
        seen: tuple[object, object] = ({}, {})
        async with asyncio.timeout(10):
            while seen != wanted:  # eventually consistent: poll until the aggregator caught up
                await asyncio.sleep(0.05)
                seen = (
                    (await people.client.get(f"/api/v1/videos/{video}")).json()["counts"],
                    (await people.client.get("/api/v1/users/ana")).json()["counts"],
                )
        me = (await people.call("bob", "GET", "/api/v1/me")).json()
        assert me["counts"]["following"] == 1
        await services.cache.delete(f"counts:{video}")  # one from SQL, one from the cache
        other = await ready_video(services, people.ids["ana"], sha256="e" * 64)
        many = await services.social.video_counts_many([video, other])
        assert many == {video: wanted[0], other: dict.fromkeys(wanted[0], 0)}
        assert await services.social.video_counts_many([video]) == {video: wanted[0]}
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_the_video_says_whether_the_viewer_likes_it_and_follows_its_creator(
    people: People, services: Container
) -> None:
    video = await ready_video(services, people.ids["ana"])
    url = f"/api/v1/videos/{video}"
    assert (await people.call("bob", "GET", url)).json()["viewer"] == {
        "liked": False,
        "following": False,
    }
    await people.call("bob", "POST", f"{url}/like")
    await people.call("bob", "POST", f"/api/v1/users/{people.ids['ana']}/follow")
    assert (await people.call("bob", "GET", url)).json()["viewer"] == {
        "liked": True,
        "following": True,
    }
    assert (await people.call("cid", "GET", url)).json()["viewer"]["liked"] is False
    anonymous = await people.client.get(url)
    assert anonymous.json()["viewer"] == {"liked": False, "following": False}
    forged = await people.client.get(url, headers={"Authorization": "Bearer nonsense"})
    assert forged.status_code == 401


async def test_a_creators_videos_newest_first_processing_ones_only_to_the_creator(
    people: People, services: Container
) -> None:
    from flick.ingest import repository as ingest_repo
    from flick.ingest.model import Video, VideoStatus
    from flick.platform.ids import new_id, shard_of

    ana = people.ids["ana"]
    ready = [await ready_video(services, ana, sha256=f"{n:064x}") for n in range(3)]
    pending = Video(new_id(shard_of(ana)), ana, "cd" * 32, "", [], VideoStatus.PROCESSING, 0.0)
    async with services.db.transaction(shard_of(ana)) as conn:
        await ingest_repo.insert_video(conn, pending)
    await people.call("bob", "POST", f"/api/v1/videos/{ready[0]}/like")
    url = f"/api/v1/users/{ana}/videos"

    first = (await people.call("bob", "GET", url, params={"limit": 2})).json()
    assert [v["id"] for v in first["items"]] == [str(ready[2]), str(ready[1])]
    rest = await people.call("bob", "GET", url, params={"cursor": first["next_cursor"]})
    [oldest] = rest.json()["items"]
    assert oldest["id"] == str(ready[0]) and oldest["viewer"]["liked"] is True
    assert rest.json()["next_cursor"] is None
    own = (await people.call("ana", "GET", url)).json()["items"]
    assert [v["id"] for v in own] == [str(pending.id), *(str(v) for v in reversed(ready))]
    assert own[0]["status"] == "processing"
    assert (await people.call("bob", "GET", "/api/v1/users/12345/videos")).status_code == 404
