"""The scale-out bus on NATS JetStream.

- One stream per topic, subjects `<namespace>.<topic>.<partition>`. Stream names allow no
  dots, so a topic is escaped into the name (`video.dead` -> `flick-video_ddead`); offsets are
  stream sequence numbers, which increase within every partition.
- Committed offsets live in a JetStream key-value bucket (`<namespace>-offsets`): Kafka's
  model on JetStream storage. A new process of a group resumes right after the last commit at
  once (a durable consumer would hold fetched-but-unacked messages for its ack wait), and
  `seek` is a plain write.
- Each (group, topic, partition) reads through its own ephemeral pull consumer (no acks,
  filtered to the partition's subject) that starts after the group's position. `fetch`
  sends the JetStream pull request itself and collects the replies in a buffer: nats-py's
  `PullSubscription.fetch` costs a timer per message and tops out well below our goal.
- Publishing is pipelined: every message of a batch is in flight at once, all sharing one
  reply subject, and the call returns when every PubAck is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import nats
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from flick.platform.bus import Event, Message, decode_event, encode_event, partition_for

log = logging.getLogger(__name__)

API_TIMEOUT_S = 10.0  # JetStream API calls and PubAcks; a healthy server answers in ms
PUBLISH_WINDOW = 4096  # messages in flight at once; bounds the client's write buffer
CONSUMER_IDLE_S = 300.0  # the server deletes a partition reader this long unused
MIN_PULL_EXPIRY_S = 0.02  # shorter pull requests may expire before a loaded server answers
CONNECT_TIMEOUT_S = 3.0
REQUEST_GRACE_S = 1.0  # a pull request whose end never arrived (reconnect) is given up after
_TOPIC = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")  # subject tokens, no wildcards


class NatsBus:
    """Bus port on NATS JetStream."""

    def __init__(self, nc: Client, *, partitions: int, namespace: str) -> None:
        if not namespace.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"namespace {namespace!r} must be letters, digits, - or _")
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=API_TIMEOUT_S)
        self.partitions = partitions
        self.namespace = namespace
        self._streams: set[str] = set()
        self._offsets: KeyValue | None = None
        self._readers: dict[tuple[str, str, int], _PullReader] = {}
        self._opening = asyncio.Lock()  # two first fetches of a partition would make two readers
        self._positions: dict[tuple[str, str, int], int] = {}
        self._acks = _AckCounter(nc)

    @classmethod
    async def connect(cls, url: str, *, partitions: int, namespace: str = "flick") -> NatsBus:
        """Connect to `nats://host:port`."""
        # Subjects are built here from a checked namespace and topic (`_ensure_stream`), so
        # nats-py's per-publish regex check is skipped: it costs ~5% of publishing.
        connecting = nats.connect(
            url,
            connect_timeout=CONNECT_TIMEOUT_S,
            max_reconnect_attempts=-1,  # once connected, ride out server restarts
            skip_subject_validation=True,
            error_cb=_log_connection_error,
        )
        # nats-py retries a first connection forever too; give up and say so instead.
        nc = await asyncio.wait_for(connecting, CONNECT_TIMEOUT_S * 2)
        return cls(nc, partitions=partitions, namespace=namespace)

    # --- names ---------------------------------------------------------------------------

    def stream_name(self, topic: str) -> str:
        """`<namespace>-<topic>` with `_` -> `_u` and `.` -> `_d`: no dots, and no two topics
        share a name."""
        return f"{self.namespace}-{_escape(topic)}"

    def subject(self, topic: str, partition: int) -> str:
        """Where one partition's messages are published."""
        return f"{self.namespace}.{topic}.{partition}"

    # --- publishing ----------------------------------------------------------------------

    async def publish(self, topic: str, events: Sequence[Event]) -> None:
        """Publish a batch with many messages in flight; returns when every one is acked."""
        await self.publish_encoded(topic, [(e.key, encode_event(e)) for e in events])

    async def publish_encoded(self, topic: str, records: Sequence[tuple[int, bytes]]) -> None:
        """`publish` for (key, encoded event) pairs."""
        if not records:
            return
        await self._ensure_stream(topic)
        for start in range(0, len(records), PUBLISH_WINDOW):
            window = records[start : start + PUBLISH_WINDOW]
            subjects = [self.subject(topic, partition_for(k, self.partitions)) for k, _ in window]
            try:
                await self._acks.publish(subjects, [data for _, data in window])
            except BaseException:
                # Perhaps the stream was deleted underneath: look again on the next publish.
                self._streams.discard(self.stream_name(topic))
                raise

    async def _ensure_stream(self, topic: str) -> str:
        name = self.stream_name(topic)
        if name not in self._streams:
            if not _TOPIC.fullmatch(topic):
                raise ValueError(f"topic {topic!r} must be letters, digits, '.', '-' or '_'")
            config = StreamConfig(
                name=name, subjects=[f"{self.namespace}.{topic}.*"], storage=StorageType.FILE
            )
            try:
                await self.js.add_stream(config)
            except nats.js.errors.BadRequestError:
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
            raw = await reader.take(max_messages, timeout)
        except _ReaderGone:
            # The server dropped the consumer (idle, or restarted): start a new one where
            # the group stands; nothing past the position was handed out, so nothing is lost.
            await self._drop_reader(key)
            return []
        messages = [
            Message(topic, partition, _stream_sequence(m), decode_event(m.data)) for m in raw
        ]
        if messages:
            self._positions[key] = messages[-1].offset
        return messages

    async def _reader(self, key: tuple[str, str, int]) -> _PullReader:
        reader = self._readers.get(key)
        if reader is None:
            async with self._opening:
                return self._readers.get(key) or await self._open_reader(key)
        return reader

    async def _open_reader(self, key: tuple[str, str, int]) -> _PullReader:
        group, topic, partition = key
        stream = await self._ensure_stream(topic)
        if key not in self._positions:
            committed = await self.committed(topic, group=group, partition=partition)
            self._positions[key] = committed or 0
        config = ConsumerConfig(
            filter_subject=self.subject(topic, partition),
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self._positions[key] + 1,
            ack_policy=AckPolicy.NONE,  # progress is the group's committed offset
            inactive_threshold=CONSUMER_IDLE_S,
            mem_storage=True,
        )
        info = await self.js.add_consumer(stream, config)
        reader = await _PullReader.start(self.nc, stream=stream, consumer=info.name)
        self._readers[key] = reader
        return reader

    async def _drop_reader(self, key: tuple[str, str, int]) -> None:
        reader = self._readers.pop(key, None)
        if reader is not None:
            await reader.close(self.js)

    async def commit(self, topic: str, *, group: str, partition: int, offset: int) -> None:
        """Store the group's progress in the offsets bucket."""
        offsets = await self._offset_bucket()
        await offsets.put(_offset_key(group, topic, partition), b"%d" % offset)

    async def committed(self, topic: str, *, group: str, partition: int) -> int | None:
        """The group's last committed offset, or None."""
        offsets = await self._offset_bucket()
        try:
            entry = await offsets.get(_offset_key(group, topic, partition))
        except KeyNotFoundError:
            return None
        return int(entry.value or b"0")

    async def seek(self, topic: str, *, group: str, partition: int, offset: int) -> None:
        """Commit the position before `offset` and restart the group's reader there."""
        key = (group, topic, partition)
        await self.commit(topic, group=group, partition=partition, offset=offset - 1)
        self._positions[key] = offset - 1
        await self._drop_reader(key)

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
        for key in list(self._readers):
            await self._drop_reader(key)
        streams: list[Any] = await self.js.streams_info()
        for info in streams:
            if any(s.startswith(f"{self.namespace}.") for s in info.config.subjects or []):
                await self.js.delete_stream(info.config.name)
        with contextlib.suppress(NotFoundError, BucketNotFoundError):
            await self.js.delete_key_value(f"{self.namespace}-offsets")
        self._streams.clear()
        self._offsets = None

    async def close(self) -> None:
        """Drop readers and close the connection."""
        for key in list(self._readers):
            await self._drop_reader(key)
        await self.nc.close()


async def _log_connection_error(error: Exception) -> None:
    # nats-py logs each failed (re)connect with a traceback; one line says as much.
    log.warning("NATS connection: %s", error or type(error).__name__)


def _offset_key(group: str, topic: str, partition: int) -> str:
    # KV keys allow only [-/_=.a-zA-Z0-9]. Dots are escaped as in stream names, so group
    # "a.b" of topic "c" and group "a" of topic "b.c" (a dead-letter topic) never share a key.
    return f"{_escape(group)}.{_escape(topic)}.{partition}"


def _escape(name: str) -> str:
    return name.replace("_", "_u").replace(".", "_d")


class _AckCounter:
    """Pipelined publishing: one reply subject per batch, PubAcks counted as they arrive."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.prefix = ""
        self.batches: dict[str, _Batch] = {}
        self.ids = itertools.count()

    async def publish(self, subjects: list[str], payloads: list[bytes]) -> None:
        """Send every message, then wait for all their PubAcks; raise if any failed."""
        if not self.prefix:
            self.prefix = f"{self.nc.new_inbox()}."
            await self.nc.subscribe(f"{self.prefix}*", cb=self._on_ack)
        reply = f"{self.prefix}{next(self.ids)}"
        batch = self.batches[reply] = _Batch(len(payloads))
        try:
            for subject, payload in zip(subjects, payloads, strict=True):
                await self.nc.publish(subject, payload, reply=reply)
            await asyncio.wait_for(batch.done, API_TIMEOUT_S)
        finally:
            del self.batches[reply]
        if batch.error:
            raise RuntimeError(f"JetStream refused {batch.failed} messages: {batch.error!r}")

    async def _on_ack(self, msg: Msg) -> None:
        batch = self.batches.get(msg.subject)
        if batch is not None:
            batch.count(msg)


class _Batch:
    """Acks still awaited by one published batch."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.failed = 0
        self.error = ""
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def count(self, ack: Msg) -> None:
        """Tally one reply: a PubAck, a JSON error, or a status such as 503 no responders."""
        if ack.headers or b'"error"' in ack.data:
            self.failed += 1
            self.error = self.error or (ack.data.decode() or str(ack.headers))
        self.left -= 1
        if self.left == 0 and not self.done.done():
            self.done.set_result(None)


class _ReaderGone(Exception):
    """The server no longer has this reader's consumer."""


class _PullReader:
    """One ephemeral pull consumer: at most one pull request out, its replies buffered."""

    def __init__(self, nc: Client, *, stream: str, consumer: str) -> None:
        self.nc = nc
        self.stream = stream
        self.consumer = consumer
        self.next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.inbox = nc.new_inbox()
        self.buffer: deque[Msg] = deque()
        self.changed = asyncio.Event()
        self.requested = 0  # messages the open request may still bring; 0: none open
        self.request_ends = 0.0
        self.gone = False
        self.subscription: Subscription | None = None

    @classmethod
    async def start(cls, nc: Client, *, stream: str, consumer: str) -> _PullReader:
        """Subscribe to the reader's inbox."""
        reader = cls(nc, stream=stream, consumer=consumer)
        reader.subscription = await nc.subscribe(reader.inbox, cb=reader._on_reply)
        return reader

    async def take(self, max_messages: int, timeout: float) -> list[Msg]:
        """Up to `max_messages` messages, waiting up to `timeout` for the first."""
        # At least one round trip, so `timeout=0` still returns what the stream holds.
        deadline = time.monotonic() + max(timeout, MIN_PULL_EXPIRY_S)
        while not self.buffer:
            if self.gone:
                raise _ReaderGone
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self.changed.clear()  # before any await, so a reply arriving meanwhile counts
            if self.requested <= 0 or time.monotonic() > self.request_ends:
                await self._request(max_messages, remaining)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        # Replies of one request arrive together; one turn of the loop lets the rest land.
        await asyncio.sleep(0)
        count = min(max_messages, len(self.buffer))
        return [self.buffer.popleft() for _ in range(count)]

    async def _request(self, batch: int, expires: float) -> None:
        expires = max(expires, MIN_PULL_EXPIRY_S)
        self.requested = batch
        self.request_ends = time.monotonic() + expires + REQUEST_GRACE_S
        body = orjson.dumps({"batch": batch, "expires": int(expires * 1e9)})
        await self.nc.publish(self.next_subject, body, reply=self.inbox)

    async def _on_reply(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self.buffer.append(msg)
            self.requested -= 1
        elif status in ("404", "408", "409"):
            # The request ended: no messages, expired, or a limit hit; ask again next time.
            self.requested = 0
            self.gone = "Consumer Deleted" in (msg.headers or {}).get("Description", "")
        elif status == "503":  # no responders: the consumer is gone
            self.requested = 0
            self.gone = True
        else:  # 100: a heartbeat or flow control, nothing to do
            return
        self.changed.set()

    async def close(self, js: JetStreamContext) -> None:
        """Unsubscribe and delete the consumer (the server would drop it when idle anyway)."""
        if self.subscription is not None:
            with contextlib.suppress(Exception):
                await self.subscription.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(self.stream, self.consumer)


def _stream_sequence(msg: Msg) -> int:
    """The stream sequence from a JetStream reply subject, without nats-py's full metadata
    parse (measurable at tens of thousands of messages a second).

    v1: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
    v2: $JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>.<r>
    """
    tokens = msg.reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5])
    if len(tokens) >= 12:
        return int(tokens[7])
    return int(msg.metadata.sequence.stream)
