"""Stored notifications through the bus: likes grouped while unread, comments, follows, a
followed creator's new video; none about oneself or from a blocked user; each user reads
only their own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from flick.bootstrap import Container
from flick.ingest.events import TOPIC as VIDEO
from flick.ingest.events import VideoReady
from flick.notify.consumers import Notifier, run_notifier

from .conftest import auth, ready_video
from .test_social import People


@pytest.fixture
async def people(client: httpx.AsyncClient, services: Container) -> AsyncIterator[People]:
    crowd = People(client)
    await crowd.add("ana", "bob", "cid", "dee", "eve")
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(services.relay.run(stop)),
        asyncio.create_task(run_notifier(Notifier(services.notifications), services.bus, stop)),
    ]
    yield crowd
    stop.set()
    await asyncio.gather(*tasks)


async def texts_of(people: People, who: str, *, until: Callable[[list[str]], bool]) -> list[str]:
    """The user's notification texts, newest first, once `until` holds of them: events of
    different users travel in different partitions, so they arrive in any order."""
    texts: list[str] = []
    try:
        async with asyncio.timeout(10):
            while True:  # polling: the test only sees the HTTP side
                texts = await _texts(people, who)
                if until(texts):
                    break
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"{who}'s notifications never matched; last seen: {texts}")
    return texts


async def _texts(people: People, who: str) -> list[str]:
    response = await people.call(who, "GET", "/api/v1/notifications")
    return [item["text"] for item in response.json()["items"]]


def exactly(*wanted: str) -> Callable[[list[str]], bool]:
    return lambda texts: sorted(texts) == sorted(wanted)


async def test_likes_group_and_reading_starts_a_new_group(
    people: People, services: Container
) -> None:
    video = await ready_video(services, people.ids["ana"])
    for who in ("bob", "cid", "dee", "ana"):  # ana's own like notifies nobody
        await people.call(who, "POST", f"/api/v1/videos/{video}/like")
    await people.call("bob", "POST", f"/api/v1/videos/{video}/comments", json={"text": "wow"})
    await people.call("cid", "POST", f"/api/v1/users/{people.ids['ana']}/follow")
    grouped = {f"{who} and 2 others liked your video" for who in ("bob", "cid", "dee")}
    texts = await texts_of(
        people, "ana", until=lambda texts: len(texts) == 3 and bool(grouped & set(texts))
    )
    assert {"cid started following you", "bob commented on your video"} < set(texts)
    unread = await people.call("ana", "GET", "/api/v1/notifications/unread")
    assert unread.json() == {"count": 3}
    assert (await people.call("ana", "POST", "/api/v1/notifications/read")).status_code == 204
    assert (await people.call("ana", "GET", "/api/v1/notifications/unread")).json()["count"] == 0
    await people.call("eve", "POST", f"/api/v1/videos/{video}/like")
    texts = await texts_of(people, "ana", until=lambda texts: len(texts) == 4)
    assert texts[0] == "eve liked your video"  # a fresh group after reading
    assert await _texts(people, "bob") == []  # bob sees none of ana's


async def test_blocked_users_do_not_notify(people: People, services: Container) -> None:
    video = await ready_video(services, people.ids["ana"])
    await people.call("ana", "POST", f"/api/v1/users/{people.ids['eve']}/block")
    await people.call("eve", "POST", f"/api/v1/videos/{video}/like")
    await people.call("bob", "POST", f"/api/v1/videos/{video}/like")
    await texts_of(people, "ana", until=exactly("bob liked your video"))
    await asyncio.sleep(0.3)  # eve's like had as long: it left nothing
    assert await _texts(people, "ana") == ["bob liked your video"]


async def test_followers_hear_of_a_new_video(people: People, services: Container) -> None:
    ana = people.ids["ana"]
    for who in ("bob", "cid"):
        await people.call(who, "POST", f"/api/v1/users/{ana}/follow")
    video = await ready_video(services, ana)
    ready = VideoReady(video, ana, "new!", [], 3.0, time.time()).to_event()
    await services.bus.publish(VIDEO, [ready, ready])  # delivered twice: noticed once
    for who in ("bob", "cid"):
        await texts_of(people, who, until=exactly("ana posted a new video"))
    await asyncio.sleep(0.3)
    assert await _texts(people, "bob") == ["ana posted a new video"]
    anonymous = await people.client.get("/api/v1/notifications", headers=auth("x.y"))
    assert anonymous.status_code == 401
