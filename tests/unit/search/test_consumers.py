"""The replica's feeder: events in, index changes out, in order and idempotently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from flick.accounts.events import ProfileUpdated, UserSignedUp
from flick.accounts.model import User
from flick.ingest.events import TOPIC as VIDEO
from flick.ingest.events import VideoDeleted, VideoFailed, VideoReady
from flick.platform.bus import Event, Message
from flick.platform.errors import NotFound
from flick.search.consumers import IndexFeeder
from flick.search.index import SearchIndex


class FakeAccounts:
    def __init__(self) -> None:
        self.users: dict[int, User] = {}

    def add(self, user_id: int, username: str, display_name: str) -> None:
        self.users[user_id] = User(user_id, username, display_name, "", "", 0.0)

    async def get_user(self, user_id: int) -> User:
        if user_id not in self.users:
            raise NotFound("no such user")
        return self.users[user_id]

    async def user_json(self, user_id: int) -> bytes:
        user = await self.get_user(user_id)
        return orjson.dumps({"id": str(user.id), "username": user.username})


def messages(*events: Event) -> list[Message]:
    return [Message(VIDEO, 0, n, event) for n, event in enumerate(events)]


def feeder(tmp_path: Path) -> tuple[IndexFeeder, FakeAccounts]:
    accounts = FakeAccounts()
    accounts.add(1, "ana", "Ana")
    return IndexFeeder(SearchIndex(tmp_path / "ix"), accounts), accounts  # type: ignore[arg-type]


async def test_ready_then_deleted_in_one_batch_and_again(tmp_path: Path) -> None:
    feed, _ = feeder(tmp_path)
    ready = VideoReady(7, 1, "hello #world", ["world"], 3.0, 100.0).to_event()
    deleted = VideoDeleted(7, 1).to_event()
    await feed.on_videos(messages(ready))
    assert [hit.video_id for hit in feed.index.search_videos("ana")] == [7]  # the creator
    await feed.on_videos(messages(ready, deleted))
    assert feed.index.search_videos("world") == []
    await feed.on_videos(messages(ready, deleted, ready))  # redelivered: still one
    assert [hit.video_id for hit in feed.index.search_videos("world")] == [7]
    assert feed.index.hashtag_count("world") == 1


async def test_other_video_events_are_ignored(tmp_path: Path) -> None:
    feed, _ = feeder(tmp_path)
    await feed.on_videos(messages(VideoFailed(7, 1, "broken").to_event()))
    assert len(feed.index.videos) == 0


async def test_users_are_indexed_as_they_are_now(tmp_path: Path) -> None:
    feed, accounts = feeder(tmp_path)
    accounts.add(2, "bob", "Bob")
    events: list[Any] = [UserSignedUp(2, "bob"), ProfileUpdated(2, "Roberto", "")]
    accounts.add(2, "bob", "Roberto")  # the row has the latest name by the time we read it
    await feed.on_users(messages(*(e.to_event() for e in events)))
    assert [hit.user_id for hit in feed.index.search_users("roberto")] == [2]
    del accounts.users[2]
    await feed.on_users(messages(UserSignedUp(2, "bob").to_event()))
    assert feed.index.search_users("bob") == []
