"""Live delivery: each API process holds its users' WebSockets and listens on the cache's
`notify:` channels, so a notification stored by any worker reaches every connection of its
user, whichever process holds it (Redis pub/sub when scaled out; in process when embedded)."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict

from starlette.websockets import WebSocket

from flick.platform.cache import Cache

log = logging.getLogger(__name__)
CHANNEL_PREFIX = "notify:"


def channel_for(user_id: int) -> str:
    return f"{CHANNEL_PREFIX}{user_id}"


class LiveHub:
    """This process's notification sockets by user."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.sockets: dict[int, set[WebSocket]] = defaultdict(set)

    def add(self, user_id: int, socket: WebSocket) -> None:
        self.sockets[user_id].add(socket)

    def remove(self, user_id: int, socket: WebSocket) -> None:
        self.sockets[user_id].discard(socket)
        if not self.sockets[user_id]:
            del self.sockets[user_id]

    async def run(self) -> None:
        """Forward published notifications to local sockets until cancelled."""
        async for channel, message in self.cache.listen(CHANNEL_PREFIX):
            user_id = int(channel.removeprefix(CHANNEL_PREFIX))
            for socket in list(self.sockets.get(user_id, ())):
                with contextlib.suppress(Exception):  # a socket closing meanwhile
                    await socket.send_text(message.decode())
