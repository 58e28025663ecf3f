"""Watch events over HTTP, in process: what is stored, what is refused or clamped, and that
hostile reports (huge durations, replays of one watch, other people's ids, unknown videos)
never skew the real-time signals."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from flick.bootstrap import Container
from flick.platform.bus import Event, Message, decode_event
from flick.recs.consumers import REFRESH_EVERY_S, SignalAggregator, run_signals
from flick.recs.events import WATCH, WATCHED

from .conftest import auth, ready_video, signup, user_id

URL = "/api/v1/events/watch"


@pytest.fixture
async def viewer(client: httpx.AsyncClient) -> str:
    return await signup(client, "viewer")


@pytest.fixture
async def video(client: httpx.AsyncClient, services: Container) -> int:
    creator = await user_id(client, await signup(client, "creator"))
    return await ready_video(services, creator, duration_s=10.0)


async def watched(services: Container) -> list[Event]:
    from sqlalchemy import select

    from flick.platform.outbox import outbox

    async with services.db.engines[0].connect() as conn:
        rows = await conn.execute(select(outbox.c.event).order_by(outbox.c.seq))
        return [e for e in (decode_event(row[0]) for row in rows) if e.type == WATCHED]


async def count_signals(services: Container) -> None:
    """What the `recs.signals` consumer does with the recorded watches."""
    messages = [Message(WATCH, 0, n, e) for n, e in enumerate(await watched(services))]
    await SignalAggregator(services.signals)._handle(messages)


async def post(client: httpx.AsyncClient, token: str, *events: dict[str, object]) -> httpx.Response:
    return await client.post(URL, json={"events": list(events)}, headers=auth(token))


async def test_watches_are_stored_clamped_and_published(
    client: httpx.AsyncClient, services: Container, viewer: str, video: int
) -> None:
    future = time.time() + 7 * 86_400
    answer = await post(
        client,
        viewer,
        {"video_id": str(video), "watched_ms": 9_500, "completed": True},
        {"video_id": str(video), "watched_ms": 10**7, "replays": 2, "ts": future},
        {"video_id": "999", "watched_ms": 1_000},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 2, "dropped": 1}
    first, second = [e.payload for e in await watched(services)]
    assert first["completed"] and first["counted"]
    assert second["watched_ms"] == 30_000  # 10 s video, 2 replays: at most 30 s
    assert not second["counted"]  # the same video again in the same half hour
    recent = await services.watches.recent(await user_id(client, viewer))
    assert [w.video_id for w in recent] == [video, video]
    assert all(w.ts <= time.time() for w in recent)  # the future date was not believed


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ({"video_id": "1", "watched_ms": -5}, "greater than or equal to 0"),
        ({"video_id": "1", "watched_ms": 10**12}, "less than or equal to"),
        ({"video_id": "1", "watched_ms": 5, "user_id": "42"}, "user_id"),
        ({"video_id": "x'; DROP", "watched_ms": 5}, "video_id"),
    ],
)
async def test_malformed_reports_are_refused_with_a_reason(
    client: httpx.AsyncClient, viewer: str, event: dict[str, object], says: str
) -> None:
    answer = await post(client, viewer, event)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert says in answer.text


async def test_a_flood_is_refused_and_anonymous_reports_are_not_taken(
    client: httpx.AsyncClient, viewer: str, video: int
) -> None:
    flood = [{"video_id": str(video), "watched_ms": 1}] * 101
    assert (await post(client, viewer, *flood)).status_code == 422
    anonymous = await client.post(URL, json={"events": [{"video_id": "1", "watched_ms": 1}]})
    assert anonymous.status_code == 401


async def test_replaying_one_watch_counts_one_view(
    client: httpx.AsyncClient, services: Container, viewer: str, video: int
) -> None:
    for _ in range(20):
        report = {"video_id": str(video), "watched_ms": 10_000, "completed": True}
        assert (await post(client, viewer, report)).status_code == 202
    await count_signals(services)
    [signals] = (await services.signals.videos([video])).values()
    assert (signals.views_1h, signals.completions_1h) == (1, 1)
    assert len(await services.watches.recent(await user_id(client, viewer))) == 20


async def test_signals_follow_completions_skips_and_likes(
    client: httpx.AsyncClient, services: Container, video: int
) -> None:
    tokens = [await signup(client, f"fan{n}") for n in range(4)]
    for n, token in enumerate(tokens):
        watched_ms = 10_000 if n < 3 else 500  # three finish it, one swipes away
        assert await post(client, token, {"video_id": str(video), "watched_ms": watched_ms})
    await client.post(f"/api/v1/videos/{video}/like", headers=auth(tokens[0]))
    from .test_social import recorded

    likes = [e for e in await recorded(services) if e.type == "social.video_liked"]
    # read before the counting: this process remembers it, and the counting must renew it
    assert (await services.signals.videos([video]))[video].views_1h == 0
    await count_signals(services)
    await SignalAggregator(services.signals)._handle([Message("interaction", 0, 1, likes[0])])
    [signals] = (await services.signals.videos([video])).values()
    assert (signals.views_5m, signals.views_1h) == (4, 4)
    assert (signals.completions_1h, signals.skips_1h, signals.likes_1h) == (3, 1, 1)
    assert signals.trending > 0
    assert await services.signals.trending(5) == [video]
    owner = (await services.videos.get(video)).owner_id
    creator = (await services.signals.creators([owner]))[owner]
    assert (creator.views, creator.completions, creator.likes) == (4, 3, 1)


async def test_a_burst_of_batches_refreshes_summaries_once_it_is_due(
    client: httpx.AsyncClient, services: Container, video: int
) -> None:
    tokens = [await signup(client, f"burst{n}") for n in range(3)]
    for token in tokens:
        await client.post(f"/api/v1/videos/{video}/like", headers=auth(token))
    from .test_social import recorded

    likes = [e for e in await recorded(services) if e.type == "social.video_liked"]
    aggregator = SignalAggregator(services.signals)
    for offset, like in enumerate(likes):  # three batches in a row: the first refreshes
        await aggregator._handle([Message("interaction", 0, offset + 1, like)])
    [signals] = (await services.signals.videos([video])).values()
    assert signals.likes_1h == 1  # the next refresh is not due yet
    await asyncio.sleep(REFRESH_EVERY_S + 0.2)
    [signals] = (await services.signals.videos([video])).values()
    assert signals.likes_1h == 3


async def test_signals_are_visible_within_seconds_through_the_bus(
    client: httpx.AsyncClient, services: Container, viewer: str, video: int
) -> None:
    stop = asyncio.Event()
    running = [
        asyncio.create_task(services.relay.run(stop)),
        asyncio.create_task(run_signals(SignalAggregator(services.signals), services.bus, stop)),
    ]
    try:
        await post(client, viewer, {"video_id": str(video), "watched_ms": 10_000})
        for _ in range(100):
            if (await services.signals.videos([video]))[video].views_1h:
                break
            await asyncio.sleep(0.05)
        assert (await services.signals.videos([video]))[video].views_1h == 1
    finally:
        stop.set()
        await asyncio.gather(*running)


async def test_a_viewer_without_watches_is_remembered_until_the_first(
    client: httpx.AsyncClient, services: Container, viewer: str, video: int
) -> None:
    viewer_id = await user_id(client, viewer)
    assert await services.watches.recent(viewer_id) == []  # from SQL, then remembered
    assert await services.cache.get(f"watch:none:{viewer_id}") is not None
    report = {"video_id": str(video), "watched_ms": 4_000}
    assert (await post(client, viewer, report)).status_code == 202
    assert await services.cache.get(f"watch:none:{viewer_id}") is None
    await services.cache.delete(f"recent:{viewer_id}")  # evicted: SQL still knows
    assert [w.video_id for w in await services.watches.recent(viewer_id)] == [video]
