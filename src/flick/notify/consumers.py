"""Turns social and video events into stored notifications (group `notify.store`).

Likes of one video fold into one unread notification ("Ana and 12 others liked your
video"); `video.ready` notifies every follower of the creator, in pages. Delivery is at least
once; `Notifications.notify` drops a repeat per event and recipient."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from flick.ingest.events import READY
from flick.ingest.events import TOPIC as VIDEO
from flick.notify.model import Delivery
from flick.notify.service import Notifications
from flick.platform.bus import Bus, Event, Message
from flick.platform.bus.consumer import merged_batches, run_consumer
from flick.social.events import COMMENTED, FOLLOWED, GRAPH, INTERACTION, LIKED

GROUP = "notify.store"
FAN_OUT_PAGE = 500  # followers read per query when a creator posts


class Notifier:
    def __init__(self, notifications: Notifications) -> None:
        self.notifications = notifications
        self._batches = merged_batches(self._handle)

    async def handle(self, messages: Sequence[Message]) -> None:
        """Store a batch's notifications; batches handed over at once by several partitions
        are stored together."""
        await self._batches.submit(messages)

    async def _handle(self, messages: Sequence[Message]) -> None:
        deliveries = []
        for message in messages:
            if message.event.type == READY:
                await self._followers_of_creator(message.event)
            elif (delivery := delivery_of(message.event)) is not None:
                deliveries.append(delivery)
        await self.notifications.deliver(deliveries)

    async def _followers_of_creator(self, event: Event) -> None:
        creator, video = int(event.payload["owner_id"]), int(event.payload["video_id"])
        cursor: int | None = None
        while True:
            page, cursor = await self.notifications.social.follower_ids(
                creator, cursor=cursor, limit=FAN_OUT_PAGE
            )
            await self.notifications.deliver(
                [Delivery(follower, "post", video, creator, event.id) for follower in page]
            )
            if cursor is None:
                return


def delivery_of(event: Event) -> Delivery | None:
    """The notification a like, comment or follow stands for (None for other events)."""
    p = event.payload
    if event.type == LIKED:
        video = int(p["video_id"])
        actor = int(p["actor_id"])
        return Delivery(int(p["owner_id"]), "like", video, actor, event.id, f"like:{video}")
    if event.type == COMMENTED:
        owner, video, actor = int(p["owner_id"]), int(p["video_id"]), int(p["actor_id"])
        return Delivery(owner, "comment", video, actor, event.id)
    if event.type == FOLLOWED:
        actor = int(p["actor_id"])
        return Delivery(int(p["user_id"]), "follow", actor, actor, event.id)
    return None


async def run_notifier(notifier: Notifier, bus: Bus, stop: asyncio.Event) -> None:
    """Consume the three topics until `stop` is set."""
    await asyncio.gather(
        *(
            run_consumer(bus, topic, group=GROUP, handler=notifier.handle, stop=stop)
            for topic in (INTERACTION, GRAPH, VIDEO)
        )
    )
