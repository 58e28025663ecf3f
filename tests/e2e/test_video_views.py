"""Feed pages read videos' `video` objects through Videos.ready_views: from the cache, and for
VIEW_MEMO_S from the process's own memo; copies per caller, deletes visible at once here and
within VIEW_MEMO_S in another process."""

from __future__ import annotations

import asyncio

from flick.bootstrap import Container
from flick.ingest import service as ingest_service
from flick.ingest.service import Videos

from .conftest import ready_video


async def _owner(services: Container) -> int:
    signed_in = await services.accounts.signup("maker", password="hunter2hunter2")
    return int(signed_in.user.id)


async def test_each_caller_gets_its_own_copies(services: Container) -> None:
    video = await ready_video(services, await _owner(services))
    await services.videos.ready_views([video])  # read through the cache, now in the memo
    first = await services.videos.ready_views([video])
    first[video]["viewer"] = {"liked": True, "following": True}  # as hydrate sets its copy's
    first[video]["counts"] = {"likes": 99}
    again = await services.videos.ready_views([video, video])
    assert again[video]["viewer"] == {"liked": False, "following": False}
    assert again[video]["counts"]["likes"] == 0
    assert again[video]["id"] == str(video)


async def test_a_delete_shows_at_once_here_and_within_the_memo_elsewhere(
    services: Container, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ingest_service, "VIEW_MEMO_S", 0.3)
    owner = await _owner(services)
    video = await ready_video(services, owner)
    # Another process: its own Videos (its own memo) on the same stores.
    s = services
    elsewhere = Videos(s.db, s.cache, s.blobs, s.uploads, s.accounts)
    assert video in await elsewhere.ready_views([video])
    assert video in await services.videos.ready_views([video])
    await services.videos.delete(video, user_id=owner)
    assert await services.videos.ready_views([video]) == {}
    await asyncio.sleep(0.35)
    assert await elsewhere.ready_views([video]) == {}
