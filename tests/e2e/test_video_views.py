"""Feed pages read videos' cards (the `video` object without counts and viewer state)
through Videos.ready_cards: from the cache, and for VIEW_MEMO_S from the process's own memo;
deletes visible at once here and within VIEW_MEMO_S in another process. hydrate splices
each viewer's counts and state into the encoded cards."""

from __future__ import annotations

import asyncio

import orjson

from flick.bootstrap import Container
from flick.feed.hydrate import hydrate, hydrate_encoded
from flick.ingest import service as ingest_service
from flick.ingest.service import Videos

from .conftest import ready_video


async def _owner(services: Container) -> int:
    signed_in = await services.accounts.signup("maker", password="hunter2hunter2")
    return int(signed_in.user.id)


async def test_a_card_is_the_video_object_without_per_viewer_fields(services: Container) -> None:
    owner = await _owner(services)
    video = await ready_video(services, owner)
    for _ in range(2):  # read through SQL, then from the memo
        card = (await services.videos.ready_cards([video, video]))[video]
        view = await services.videos.view(video)
        assert orjson.loads(card.json) == {
            key: value for key, value in view.items() if key not in ("counts", "viewer")
        }
        assert card.creator_id == owner


async def test_a_card_read_again_unchanged_is_not_rebuilt(services: Container, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ingest_service, "VIEW_MEMO_S", 0.05)
    video = await ready_video(services, await _owner(services))
    await services.videos.ready_cards([video])  # from SQL, then cached
    elsewhere = Videos(
        services.db, services.cache, services.blobs, services.uploads, services.accounts
    )
    first = (await elsewhere.ready_cards([video]))[video]  # from the cache
    await asyncio.sleep(0.1)  # the memo's second is over: the cache is read again
    assert (await elsewhere.ready_cards([video]))[video] is first


async def test_hydrated_items_splice_counts_and_viewer_state(services: Container) -> None:
    owner = await _owner(services)
    fan = int((await services.accounts.signup("fan", password="hunter2hunter2")).user.id)
    liked, other = (
        await ready_video(services, owner),
        await ready_video(services, owner, sha256="cd" * 32),
    )
    await services.social.follow(fan, owner)
    await services.social.like(fan, liked)
    await services.social.close()  # the like's group commit is written
    ids = [liked, 999, other]  # 999: no such video, left out
    for _ in range(2):  # the second time from the memos
        encoded = await hydrate_encoded(
            ids, viewer_id=fan, videos=services.videos, social=services.social
        )
        items = [orjson.loads(item) for item in encoded]
        assert [item["id"] for item in items] == [str(liked), str(other)]
        assert [item["viewer"] for item in items] == [
            {"liked": True, "following": True},
            {"liked": False, "following": True},
        ]
        assert all(
            set(item["counts"]) == {"likes", "comments", "shares", "views"} for item in items
        )
        view = await services.videos.view(other)
        assert {k: v for k, v in items[1].items() if k not in ("counts", "viewer")} == {
            k: v for k, v in view.items() if k not in ("counts", "viewer")
        }
    anonymous = await hydrate(ids, viewer_id=None, videos=services.videos, social=services.social)
    assert [item["viewer"] for item in anonymous] == [{"liked": False, "following": False}] * 2


async def test_a_delete_shows_at_once_here_and_within_the_memo_elsewhere(
    services: Container, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ingest_service, "VIEW_MEMO_S", 0.3)
    owner = await _owner(services)
    video = await ready_video(services, owner)
    # Another process: its own Videos (its own memo) on the same stores.
    s = services
    elsewhere = Videos(s.db, s.cache, s.blobs, s.uploads, s.accounts)
    assert video in await elsewhere.ready_cards([video])
    assert video in await services.videos.ready_cards([video])
    await services.videos.delete(video, user_id=owner)
    assert await services.videos.ready_cards([video]) == {}
    await asyncio.sleep(0.35)
    assert await elsewhere.ready_cards([video]) == {}


async def test_cards_of_several_creators_read_their_creators_together(services: Container) -> None:
    makers = [
        (await services.accounts.signup(f"maker{n}", password="hunter2hunter2")).user.id
        for n in range(3)
    ]
    await services.accounts.user_json(makers[0])  # one creator cached, two read from SQL
    videos = [
        await ready_video(services, maker, sha256=f"{n:02x}".ljust(64, "0"))
        for n, maker in enumerate(makers)
    ]
    assert await services.accounts.user_json_many(makers) == {
        maker: await services.accounts.user_json(maker) for maker in makers
    }
    cards = await services.videos.ready_cards(videos)
    for video, maker in zip(videos, makers, strict=True):
        assert orjson.loads(cards[video].json)["creator"]["id"] == str(maker)
