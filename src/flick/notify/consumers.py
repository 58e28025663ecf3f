"""Turns social and video events into stored notifications (group `notify.store`).

Likes of one video fold into one unread notification ("Ana and 12 others liked your
video"); `video.ready` notifies every follower of the creator, in pages. Delivery is at least
once; `Notifications.notify` drops a repeat per event and recipient."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from flick.ingest.events import READY
from flick.ingest.events import TOPIC as VIDEO
from flick.notify.service import Notifications
from flick.platform.bus import Bus, Event, Message
from flick.platform.bus.consumer import run_consumer
from flick.social.events import COMMENTED, FOLLOWED, GRAPH, INTERACTION, LIKED

GROUP = "notify.store"
FAN_OUT_PAGE = 500  # followers read per query when a creator posts


class Notifier:
    def __init__(self, notifications: Notifications) -> None:
        self.notifications = notifications

    async def handle(self, messages: Sequence[Message]) -> None:
        for message in messages:
            await self.handle_event(message.event)

    async def handle_event(self, event: Event) -> None:
        p, notify = event.payload, self.notifications.notify
        if event.type == LIKED:
            video = int(p["video_id"])
            await notify(
                int(p["owner_id"]),
                kind="like",
                subject_id=video,
                actor_id=int(p["actor_id"]),
                event_id=event.id,
                group_key=f"like:{video}",
            )
        elif event.type == COMMENTED:
            await notify(
                int(p["owner_id"]),
                kind="comment",
                subject_id=int(p["video_id"]),
                actor_id=int(p["actor_id"]),
                event_id=event.id,
            )
        elif event.type == FOLLOWED:
            actor = int(p["actor_id"])
            await notify(
                int(p["user_id"]),
                kind="follow",
                subject_id=actor,
                actor_id=actor,
                event_id=event.id,
            )
        elif event.type == READY:
            await self._followers_of_creator(event)

    async def _followers_of_creator(self, event: Event) -> None:
        creator, video = int(event.payload["owner_id"]), int(event.payload["video_id"])
        cursor: int | None = None
        while True:
            page, cursor = await self.notifications.social.follower_ids(
                creator, cursor=cursor, limit=FAN_OUT_PAGE
            )
            for follower in page:
                await self.notifications.notify(
                    follower, kind="post", subject_id=video, actor_id=creator, event_id=event.id
                )
            if cursor is None:
                return


async def run_notifier(notifier: Notifier, bus: Bus, stop: asyncio.Event) -> None:
    """Consume the three topics until `stop` is set."""
    await asyncio.gather(
        *(
            run_consumer(bus, topic, group=GROUP, handler=notifier.handle, stop=stop)
            for topic in (INTERACTION, GRAPH, VIDEO)
        )
    )
