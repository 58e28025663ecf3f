"""This process's subscribers by channel prefix: the embedded caches (memory.py, and the
shared file cache's channels.py) hand each published message to them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator


class Listeners:
    """`listen` iterations waiting in this process, each with the prefix it asked for."""

    def __init__(self) -> None:
        self._waiting: list[tuple[str, asyncio.Queue[tuple[str, bytes]]]] = []

    def deliver(self, channel: str, message: bytes) -> None:
        """Queue the message for every listener whose prefix the channel starts with."""
        for prefix, queue in self._waiting:
            if channel.startswith(prefix):
                queue.put_nowait((channel, message))

    async def listen(self, channel_prefix: str) -> AsyncIterator[tuple[str, bytes]]:
        """(channel, message) delivered from the first iteration on, until it is closed."""
        queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        entry = (channel_prefix, queue)
        self._waiting.append(entry)
        try:
            while True:
                yield await queue.get()
        finally:
            self._waiting.remove(entry)
