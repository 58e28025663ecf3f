"""Publish/subscribe between the processes of one machine, for the shared embedded cache.

Every process that listens binds one Unix datagram socket in a directory; a publish sends the
message to every socket found there. Delivery is fire and forget, as Redis pub/sub is: a
process that is not listening yet misses the message, and so does one whose receive buffer is
full. A socket left behind by a dead process refuses the first send and is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from flick.platform.cache.listeners import Listeners

log = logging.getLogger(__name__)

MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
RECEIVE_BUFFER_BYTES = 4 << 20  # room for bursts of notifications while the loop is busy
DATAGRAM_MAX_BYTES = 1 << 16  # a notification is a few hundred bytes
SEPARATOR = b"\x00"  # between the channel name and the message


class LocalChannels:
    """`publish` / `listen` across the processes that share `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = _short_enough(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.setblocking(False)
        self._peers: list[str] = []
        self._peers_seen = -1  # the directory's mtime when `_peers` was listed
        self._receiver: socket.socket | None = None
        self._own_path: str | None = None
        self._listeners = Listeners()
        self.dropped = 0  # messages a full receiver could not take

    async def publish(self, channel: str, message: bytes) -> None:
        """Send to every listening process (this one included)."""
        data = channel.encode() + SEPARATOR + message
        if len(data) > DATAGRAM_MAX_BYTES:
            raise ValueError(f"a published message has at most {DATAGRAM_MAX_BYTES} bytes")
        for path in self._current_peers():
            try:
                self._sender.sendto(data, path)
            except (ConnectionRefusedError, FileNotFoundError):
                self._forget(path)  # its process is gone
            except BlockingIOError:
                self.dropped += 1

    def listen(self, channel_prefix: str) -> AsyncIterator[tuple[str, bytes]]:
        """(channel, message) for every message published from now on to a channel that
        starts with `channel_prefix`, by any process sharing the directory."""
        self._ensure_receiver()
        return self._listeners.listen(channel_prefix)

    def close(self) -> None:
        """Stop receiving and remove this process's socket."""
        if self._receiver is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                asyncio.get_running_loop().remove_reader(self._receiver.fileno())
            self._receiver.close()
            self._receiver = None
        if self._own_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._own_path)
            self._own_path = None
        self._sender.close()

    # --- internals -----------------------------------------------------------------------

    def _ensure_receiver(self) -> None:
        if self._receiver is not None:
            return
        path = str(self.directory / f"{os.getpid()}-{os.urandom(3).hex()}.sock")
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        receiver.bind(path)
        receiver.setblocking(False)
        asyncio.get_running_loop().add_reader(receiver.fileno(), self._receive)
        self._receiver, self._own_path = receiver, path

    def _receive(self) -> None:
        assert self._receiver is not None
        while True:
            try:
                data = self._receiver.recv(DATAGRAM_MAX_BYTES)
            except BlockingIOError:
                return
            channel, _, message = data.partition(SEPARATOR)
            self._listeners.deliver(channel.decode(), message)

    def _current_peers(self) -> list[str]:
        """The sockets in the directory, listed again only when its mtime moved (a socket
        was bound or removed)."""
        try:
            seen = os.stat(self.directory).st_mtime_ns
        except FileNotFoundError:
            return []
        if seen != self._peers_seen:
            self._peers_seen = seen
            self._peers = [str(p) for p in self.directory.glob("*.sock")]
        return self._peers

    def _forget(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._peers_seen = -1


def _short_enough(directory: Path) -> Path:
    """`directory`, or a directory under the system's temp dir named after it when a socket
    path inside it would not fit in sun_path."""
    longest = directory.resolve() / f"{2**22}-ffffff.sock"
    if len(str(longest)) <= MAX_SOCKET_PATH:
        return directory
    digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"flick-channels-{digest}"
