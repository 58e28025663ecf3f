"""The scale-out bus on NATS JetStream.

- One stream per topic (`<namespace>-<topic>`, dots made dashes), subjects
  `<namespace>.<topic>.<partition>`; offsets are stream sequence numbers, which increase
  within every partition.
- Committed offsets live in a JetStream key-value bucket (`<namespace>-offsets`), so a new
  process of a group resumes right after the last commit, at once (a JetStream ack-wait
  would make it wait), and `seek` is a plain write: Kafka's model on JetStream storage.
- Each (group, topic, partition) reads through an ephemeral pull consumer that starts after
  the group's position, with no acks of its own; the server drops it when idle.
- Publishing is pipelined: every message of a batch is in flight at once and the call
  returns when all their PubAcks are in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from flick.platform.bus import Event, Message, decode_event, encode_event, partition_for

CONSUMER_IDLE_S = 300.0  # the server deletes a reader this long unused
PUBLISH_TIMEOUT_S = 10.0


class NatsBus:
    """Bus port on NATS JetStream."""

    def __init__(self, nc: Client, *, partitions: int, namespace: str) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=PUBLISH_TIMEOUT_S)
        self.partitions = partitions
        self.namespace = namespace
        self._streams: set[str] = set()
        self._offsets: KeyValue | None = None
        self._readers: dict[tuple[str, str, int], JetStreamContext.PullSubscription] = {}
        self._positions: dict[tuple[str, str, int], int] = {}

    @classmethod
    async def connect(cls, url: str, *, partitions: int, namespace: str = "flick") -> NatsBus:
        """Connect to `nats://host:port`."""
        nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=-1)
        return cls(nc, partitions=partitions, namespace=namespace)

    # --- names ---------------------------------------------------------------------------

    def stream_name(self, topic: str) -> str:
        """JetStream stream names allow no dots."""
        return f"{self.namespace}-{topic}".replace(".", "-")

    def subject(self, topic: str, partition: int) -> str:
        return f"{self.namespace}.{topic}.{partition}"

    def _offset_key(self, group: str, topic: str, partition: int) -> str:
        return f"{group}.{topic}.{partition}"

    # --- publishing ----------------------------------------------------------------------

    async def publish(self, topic: str, events: Sequence[Event]) -> None:
        """Publish a batch with every message in flight at once; returns when all are acked."""
        if not events:
            return
        await self._ensure_stream(topic)
        futures = [
            await self.js.publish_async(
                self.subject(topic, partition_for(e.key, self.partitions)), encode_event(e)
            )
            for e in events
        ]
        acks = await asyncio.wait_for(asyncio.gather(*futures), PUBLISH_TIMEOUT_S)
        _ = acks  # a failed publish raised in gather: nothing is acknowledged silently

    async def _ensure_stream(self, topic: str) -> str:
        name = self.stream_name(topic)
        if name not in self._streams:
            config = StreamConfig(
                name=name, subjects=[f"{self.namespace}.{topic}.*"], storage=StorageType.FILE
            )
            try:
                await self.js.add_stream(config)
            except Exception:
                await self.js.stream_info(name)  # exists with other settings: use it as it is
            self._streams.add(name)
        return name

    # --- consuming -----------------------------------------------------------------------

    async def fetch(
        self,
        topic: str,
        *,
        group: str,
        partition: int,
        max_messages: int = 500,
        timeout: float = 1.0,
    ) -> list[Message]:
        """The next messages after the group's position, waiting up to `timeout` for one."""
        key = (group, topic, partition)
        reader = await self._reader(key)
        try:
            raw = await reader.fetch(batch=max_messages, timeout=max(timeout, 0.01))
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        messages = [
            Message(topic, partition, msg.metadata.sequence.stream, decode_event(msg.data))
            for msg in raw
        ]
        if messages:
            self._positions[key] = messages[-1].offset
        return messages

    async def _reader(self, key: tuple[str, str, int]) -> JetStreamContext.PullSubscription:
        reader = self._readers.get(key)
        if reader is not None:
            return reader
        group, topic, partition = key
        stream = await self._ensure_stream(topic)
        if key not in self._positions:
            self._positions[key] = (
                await self.committed(topic, group=group, partition=partition) or 0
            )
        start = self._positions[key] + 1
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=CONSUMER_IDLE_S,
            filter_subject=self.subject(topic, partition),
        )
        reader = await self.js.pull_subscribe(
            self.subject(topic, partition), stream=stream, config=config
        )
        self._readers[key] = reader
        return reader

    async def commit(self, topic: str, *, group: str, partition: int, offset: int) -> None:
        """Store the group's progress in the offsets bucket."""
        offsets = await self._offset_bucket()
        await offsets.put(self._offset_key(group, topic, partition), str(offset).encode())

    async def committed(self, topic: str, *, group: str, partition: int) -> int | None:
        """The group's last committed offset, or None."""
        offsets = await self._offset_bucket()
        try:
            entry = await offsets.get(self._offset_key(group, topic, partition))
        except KeyNotFoundError:
            return None
        return int(entry.value or b"0")

    async def seek(self, topic: str, *, group: str, partition: int, offset: int) -> None:
        """Restart the group's reader at `offset` and commit that position."""
        key = (group, topic, partition)
        await self.commit(topic, group=group, partition=partition, offset=offset - 1)
        self._positions[key] = offset - 1
        reader = self._readers.pop(key, None)
        if reader is not None:
            with contextlib.suppress(Exception):
                await reader.unsubscribe()

    async def _offset_bucket(self) -> KeyValue:
        if self._offsets is None:
            bucket = f"{self.namespace}-offsets"
            try:
                self._offsets = await self.js.key_value(bucket)
            except (BucketNotFoundError, NotFoundError):
                self._offsets = await self.js.create_key_value(
                    bucket=bucket, history=1, storage=StorageType.FILE
                )
        return self._offsets

    # --- lifecycle -----------------------------------------------------------------------

    async def ping(self) -> None:
        """Raise unless JetStream answers."""
        await self.js.account_info()

    async def destroy(self) -> None:
        """Delete every stream and the offsets bucket of this namespace (tests, teardown)."""
        streams: list[Any] = await self.js.streams_info()
        for info in streams:
            if info.config.name.startswith(f"{self.namespace}-"):
                await self.js.delete_stream(info.config.name)
        with contextlib.suppress(Exception):
            await self.js.delete_key_value(f"{self.namespace}-offsets")
        self._streams.clear()
        self._offsets = None

    async def close(self) -> None:
        """Drop readers and close the connection."""
        for reader in self._readers.values():
            with contextlib.suppress(Exception):
                await reader.unsubscribe()
        self._readers.clear()
        await self.nc.close()
