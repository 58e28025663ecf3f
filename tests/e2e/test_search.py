"""Search over HTTP on the embedded backends, with this process's replica fed by the real
(local) bus: the outbox relay publishes sign-ups, profile changes and deletes; a video's
`video.ready` is published as the transcoder's commit would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from flick.bootstrap import Container, run_search
from flick.cli import main as cli
from flick.ingest import repository as ingest_repo
from flick.ingest.events import TOPIC as VIDEO
from flick.ingest.events import VideoReady
from flick.ingest.model import Video, VideoStatus, parse_hashtags
from flick.platform.ids import new_id, shard_of
from flick.platform.sql import DIRECTORY_SHARD
from flick.search.consumers import run_search_replica
from flick.search.index import SearchIndex
from flick.search.model import QUERY_MAX_CHARS
from flick.search.service import Search, rebuild

from .test_social import People

FRESH_WITHIN_S = 2.0  # the bound from `video.ready` to findable


@pytest.fixture
async def world(services: Container, client: httpx.AsyncClient) -> AsyncIterator[People]:
    """The relay and this process's search replica running; ana, bob and cid signed up."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(services.relay.run(stop)),
        asyncio.create_task(run_search(services, stop)),
    ]
    await within(FRESH_WITHIN_S, _replica_held(services))
    people = People(client)
    await people.add("ana", "bob", "cid")
    yield people
    stop.set()
    await asyncio.gather(*tasks)


async def post(services: Container, owner: int, caption: str) -> int:
    """A ready video with this caption in SQL, and its `video.ready` on the bus."""
    video = Video(
        new_id(shard_of(owner)),
        owner,
        f"{new_id(0):064x}",
        caption,
        parse_hashtags(caption),
        VideoStatus.READY,
        time.time(),
    )
    async with services.db.transaction(DIRECTORY_SHARD) as conn:
        await ingest_repo.create_asset(conn, video.asset, source_upload_id=1, now=time.time())
        media = {"duration_s": 5.0}
        await ingest_repo.update_asset(conn, video.asset, status=VideoStatus.READY, media=media)
        await ingest_repo.add_ref(conn, video.asset, video_id=video.id, owner_id=owner)
    async with services.db.transaction(shard_of(video.id)) as conn:
        await ingest_repo.insert_video(conn, video)
    ready = VideoReady(video.id, owner, caption, video.hashtags, 5.0, video.created_at)
    await services.bus.publish(VIDEO, [ready.to_event()])
    return video.id


async def search(
    client: httpx.AsyncClient, q: str, kind: str = "videos", token: str | None = None, **params: str
) -> list[dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.get(
        "/api/v1/search", params={"q": q, "type": kind, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


async def within(seconds: float, check: Callable[[], Awaitable[bool]]) -> float:
    """Seconds until `check` holds; fails after `seconds`."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def ids(items: list[dict[str, object]]) -> list[int]:
    return [int(str(item["id"])) for item in items]


async def test_a_new_video_is_findable_by_hashtag_within_2_s_of_ready(
    services: Container, client: httpx.AsyncClient, world: People
) -> None:
    video = await post(services, world.ids["ana"], "sunrise over the bay #goldenhour")

    async def found() -> bool:
        return video in ids(await search(client, "#goldenhour"))

    assert await within(FRESH_WITHIN_S, found) < FRESH_WITHIN_S
    [item] = await search(client, "#goldenhour")
    assert item["caption"] == "sunrise over the bay #goldenhour"
    assert item["creator"]["username"] == "ana"  # type: ignore[index]
    tags = await search(client, "#golden", "hashtags")
    assert tags == [{"tag": "goldenhour", "videos": 1}]


async def test_a_deleted_video_is_not_found(
    services: Container, client: httpx.AsyncClient, world: People
) -> None:
    video = await post(services, world.ids["bob"], "my shed build #woodwork")
    await within(FRESH_WITHIN_S, lambda: _has(client, "woodwork", video))
    deleted = await world.call("bob", "DELETE", f"/api/v1/videos/{video}")
    assert deleted.status_code == 204, deleted.text

    async def gone_from_the_index() -> bool:
        index = services.search.index
        assert index is not None
        return not index.search_videos("woodwork") and not index.hashtags("wood", limit=5)

    await within(FRESH_WITHIN_S, gone_from_the_index)
    assert await search(client, "#woodwork") == []
    assert await search(client, "wood", "hashtags") == []


async def test_a_typo_in_a_handle_still_finds_the_user(
    client: httpx.AsyncClient, world: People
) -> None:
    await world.add("marguerite_b")
    user = world.ids["marguerite_b"]

    async def indexed() -> bool:
        return user in ids(await search(client, "marguerite_b", "users"))

    await within(FRESH_WITHIN_S, indexed)
    for typed in ("margeurite_b", "marguerit_b", "marguerite__b", "@Marguerite_B", "margu"):
        assert ids(await search(client, typed, "users"))[:1] == [user], typed
    [found] = [u for u in await search(client, "marguerite", "users") if u["id"] == str(user)]
    assert found["counts"] == {"followers": 0, "following": 0, "videos": 0, "likes": 0}
    assert "viewer" not in found  # anonymous
    followed = await world.call("ana", "POST", f"/api/v1/users/{user}/follow")
    assert followed.status_code == 204, followed.text
    [seen] = await search(client, "marguerite_b", "users", world.tokens["ana"])
    assert seen["viewer"] == {"following": True}


async def test_display_names_in_any_script_and_emoji(
    services: Container, client: httpx.AsyncClient, world: People
) -> None:
    patched = await world.call("cid", "PATCH", "/api/v1/me", json={"display_name": "東京の猫 🐱"})
    assert patched.status_code == 200, patched.text
    video = await post(services, world.ids["cid"], "夜の東京タワー 🗼🔥 #東京 #nightwalk")
    await within(FRESH_WITHIN_S, lambda: _has(client, "東京", video))
    for q in ("タワー", "🔥", "#東京", "東京 タワー", "nightw"):
        assert ids(await search(client, q)) == [video], q

    async def renamed() -> bool:
        return ids(await search(client, "東京の猫", "users"))[:1] == [world.ids["cid"]]

    await within(FRESH_WITHIN_S, renamed)
    assert ids(await search(client, "🐱", "users")) == [world.ids["cid"]]
    assert ids(await search(client, "東京の猫")) == [video]  # by the creator's name


async def test_blocks_hide_both_ways(
    services: Container, client: httpx.AsyncClient, world: People
) -> None:
    anas = await post(services, world.ids["ana"], "ana cooks #pasta")
    bobs = await post(services, world.ids["bob"], "bob cooks #pasta")
    await within(FRESH_WITHIN_S, lambda: _has(client, "pasta", anas, bobs))
    await within(FRESH_WITHIN_S, lambda: _has(client, "bob", world.ids["bob"], kind="users"))
    blocked = await world.call("ana", "POST", f"/api/v1/users/{world.ids['bob']}/block")
    assert blocked.status_code == 204, blocked.text
    tokens = world.tokens
    assert ids(await search(client, "#pasta", token=tokens["ana"])) == [anas]
    assert ids(await search(client, "#pasta", token=tokens["bob"])) == [bobs]
    assert set(ids(await search(client, "#pasta", token=tokens["cid"]))) == {anas, bobs}
    assert set(ids(await search(client, "#pasta"))) == {anas, bobs}  # anonymous
    assert world.ids["bob"] not in ids(await search(client, "bob", "users", tokens["ana"]))


async def test_pages_follow_the_cursor_without_repeats(
    services: Container, client: httpx.AsyncClient, world: People
) -> None:
    posted = {await post(services, world.ids["ana"], f"take {n} #outtakes") for n in range(5)}
    await within(FRESH_WITHIN_S, lambda: _has(client, "outtakes", *posted))
    seen: list[int] = []
    cursor = ""
    for _ in range(5):
        response = await client.get(
            "/api/v1/search", params={"q": "#outtakes", "limit": "2", "cursor": cursor}
        )
        page = response.json()
        seen += ids(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(posted)


@pytest.mark.parametrize("kind", ["videos", "users", "hashtags"])
async def test_hostile_queries_answer_results_or_a_clear_400(
    services: Container, client: httpx.AsyncClient, world: People, kind: str
) -> None:
    video = await post(services, world.ids["ana"], "late night #dance")
    await within(FRESH_WITHIN_S, lambda: _has(client, "dance", video))
    hostile = [
        'dance" OR 1=1 --',
        "title:dance AND (",
        "*:*",
        "dance~2^10",
        "[* TO *]",
        "\\\\",
        "#",
        "@",
        "dance\u202e\u200b\ufeff",
        "\U0001f600" * 50,
        "a" * QUERY_MAX_CHARS,
        " ".join(["dance"] * 60),
    ]
    for q in hostile:
        response = await client.get("/api/v1/search", params={"q": q, "type": kind})
        assert response.status_code in (200, 400), (q, response.text)
    for raw in ("%ED%A0%80", "%FF%FE%00", "%25%00%0A%0D"):  # a lone surrogate, not UTF-8
        response = await client.get(f"/api/v1/search?type={kind}&q={raw}")
        assert response.status_code in (200, 400), (raw, response.text)
    for q in ("a" * (QUERY_MAX_CHARS + 1), "", "\x00\x01\x7f", "   "):
        response = await client.get("/api/v1/search", params={"q": q, "type": kind})
        assert response.status_code == 400, (q, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"].startswith("q ")
    if kind == "videos":  # control characters are stripped, not fatal
        assert ids(await search(client, "\x00da\x07nce\x1b")) == []  # split, not joined
        assert ids(await search(client, "\x00dance\x07")) == [video]
    bad_cursor = await client.get("/api/v1/search", params={"q": "x", "cursor": "99999"})
    assert bad_cursor.status_code == 422


async def test_a_process_without_a_replica_says_so(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/search", params={"q": "anything"})
    assert response.status_code == 503
    assert "search" in response.json()["detail"]


async def test_every_replica_consumes_the_bus_and_holds_the_same_index(
    services: Container, world: People
) -> None:
    other = Search(services.accounts, services.videos, services.social)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_search_replica(
            other, services.accounts, services.bus, stop, data_dir=services.settings.data_dir
        )
    )
    video = await post(services, world.ids["bob"], "two replicas #mirror")
    try:

        async def both() -> bool:
            indexes = [services.search.index, other.index]
            return all(
                i is not None and i.search_videos("mirror") and len(i.users) == 3 for i in indexes
            )

        await within(FRESH_WITHIN_S, both)
        assert other.index is not None and services.search.index is not None
        assert other.index.root != services.search.index.root
        assert [h.video_id for h in other.index.search_videos("mirror")] == [video]
    finally:
        stop.set()
        await task
    assert other.index is None


async def test_reindex_rebuilds_the_base_that_replicas_start_from(
    services: Container, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    people = People(client)
    await people.add("dora")
    await post(services, people.ids["dora"], "from sql only #rebuilt")
    done: dict[str, int] = {}
    counted = await rebuild(
        tmp_path / "search",
        accounts=services.accounts,
        videos=services.videos,
        progress=done.__setitem__,
    )
    assert counted == (1, 1) and done == {"users": 1, "videos": 1}
    replica = SearchIndex.replica(tmp_path / "search")
    try:
        assert len(replica.search_videos("rebuilt")) == 1
        assert [hit.user_id for hit in replica.search_users("dora")] == [people.ids["dora"]]
    finally:
        replica.close(delete=True)
    assert sorted(p.name for p in (tmp_path / "search").iterdir()) == ["base"]


def test_the_reindex_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["search", "reindex", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "indexed 0 users and 0 videos" in result.output
    assert (tmp_path / "search" / "base" / "videos" / "meta.json").exists()


def _replica_held(services: Container) -> Callable[[], Awaitable[bool]]:
    async def held() -> bool:
        return services.search.index is not None

    return held


async def _has(client: httpx.AsyncClient, q: str, *wanted: int, kind: str = "videos") -> bool:
    return set(wanted) <= set(ids(await search(client, q, kind)))
