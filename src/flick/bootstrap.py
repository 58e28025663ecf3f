"""The one place that imports adapters: builds every port from settings and wires services.

Each backend is picked by the scheme of its URL, so the same code runs as one process on a
laptop (SQLite, in-process cache, SQLite log, a directory) or as many on a cluster
(PostgreSQL shards, Redis, NATS JetStream, S3).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from flick.accounts.passwords import PasswordHasher
from flick.accounts.service import Accounts
from flick.feed.consumers import FanOut, run_fanout
from flick.feed.following import FollowingFeed
from flick.feed.foryou import ForYou, Mix
from flick.gateway.ratelimit import RateLimiter
from flick.ingest.consumers import TranscodeWorker, run_transcoder, run_upload_sweeper
from flick.ingest.service import Videos
from flick.ingest.uploads import Uploads
from flick.notify.consumers import Notifier, run_notifier
from flick.notify.live import LiveHub
from flick.notify.service import Notifications
from flick.platform.blobs import BlobStore
from flick.platform.bus import Bus
from flick.platform.cache import Cache
from flick.platform.collector import settle_for_serving
from flick.platform.outbox import OutboxRelay
from flick.platform.settings import Settings
from flick.platform.sql import Database, database_from_settings
from flick.recs.consumers import SignalAggregator, run_exploration, run_signals
from flick.recs.exploration import Exploration
from flick.recs.service import Watches
from flick.recs.signals import Signals
from flick.search.consumers import run_search_replica
from flick.search.service import Search
from flick.social.consumers import CounterAggregator, run_counters
from flick.social.service import Social

if TYPE_CHECKING:
    from flick.recs.retrieval import Retrieval

log = logging.getLogger(__name__)


@dataclass
class Container:
    """Every port and service of one Flick process."""

    settings: Settings
    db: Database
    cache: Cache
    bus: Bus
    blobs: BlobStore
    relay: OutboxRelay
    accounts: Accounts
    uploads: Uploads
    videos: Videos
    social: Social
    notifications: Notifications
    watches: Watches
    signals: Signals
    exploration: Exploration
    live: LiveHub
    limiter: RateLimiter
    # The two-tower serving replica (imports torch): made by the processes that serve feeds,
    # at startup, with `start_retrieval`.
    retrieval: Retrieval | None = field(default=None)
    following: FollowingFeed = field(init=False)
    foryou: ForYou = field(init=False)
    # Queries only while `run_search` holds this process's index replica (else 503).
    search: Search = field(init=False)
    closed: bool = field(default=False)

    async def close(self) -> None:
        """Release every connection, file and pool."""
        if self.closed:
            return
        self.closed = True
        await self.social.close()
        await self.relay.close()
        for port in (self.bus, self.cache, self.blobs):
            await port.close()
        await self.db.close()


async def build_cache(url: str, *, prefix: str = "", data_dir: Path | None = None) -> Cache:
    """The cache adapter named by `url` (`lmdb://` keeps its file under `data_dir`)."""
    if url.startswith("lmdb://"):
        from flick.platform.cache.shared import SharedFileCache

        return SharedFileCache.from_url(url, data_dir=data_dir or Path("var/flick"), prefix=prefix)
    if url.startswith("memory://"):
        from flick.platform.cache.memory import MemoryCache

        return MemoryCache.from_url(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from flick.platform.cache.redis import RedisCache

        return RedisCache.from_url(url, prefix=prefix)
    raise ValueError(f"FLICK_CACHE_URL {url!r}: use lmdb://, memory:// or redis://host:port/db")


async def build_bus(url: str, *, partitions: int, namespace: str = "flick") -> Bus:
    """The bus adapter named by `url`."""
    if url.startswith("local://"):
        from flick.platform.bus.local import LocalBus

        return LocalBus.from_url(url, partitions=partitions)
    if url.startswith(("nats://", "tls://")):
        from flick.platform.bus.nats import NatsBus

        return await NatsBus.connect(url, partitions=partitions, namespace=namespace)
    raise ValueError(f"FLICK_BUS_URL {url!r}: use local:///dir or nats://host:port")


async def build_blobs(url: str) -> BlobStore:
    """The blob store adapter named by `url`."""
    if url.startswith("file://"):
        from flick.platform.blobs.local import LocalBlobStore

        return LocalBlobStore.from_url(url)
    if url.startswith("s3://"):
        from flick.platform.blobs.s3 import S3BlobStore

        store = S3BlobStore.from_url(url)
        await store.ensure_bucket()
        return store
    raise ValueError(f"FLICK_BLOB_URL {url!r}: use file:///dir or s3://bucket?endpoint=...")


def build_database(settings: Settings) -> Database:
    """The SQL port over the configured shard map."""
    return database_from_settings(
        settings.resolved_db_url, settings.db_shards, pool_size=settings.db_pool_size
    )


async def bootstrap(settings: Settings) -> Container:
    """Connect every backend and wire the services."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = build_database(settings)
    cache = await build_cache(
        settings.cache_url, prefix=settings.cache_prefix, data_dir=settings.data_dir
    )
    bus = await build_bus(
        settings.resolved_bus_url,
        partitions=settings.bus_partitions,
        namespace=settings.bus_namespace,
    )
    blobs = await build_blobs(settings.resolved_blob_url)
    relay = OutboxRelay(db, bus, poll_interval=settings.relay_poll_s)
    hasher = PasswordHasher(
        time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib
    )
    accounts = Accounts(
        db, cache, hasher, session_ttl_s=settings.session_ttl_s, on_commit=relay.notify
    )
    uploads = Uploads(
        db,
        blobs,
        max_bytes=settings.upload_max_bytes,
        expiry_s=settings.upload_expiry_s,
        part_bytes=settings.upload_part_bytes,
    )
    videos = Videos(db, cache, blobs, uploads, accounts, on_commit=relay.notify)
    social = Social(db, cache, accounts, videos, on_commit=relay.notify)
    notifications = Notifications(db, cache, accounts, social)
    _warn_if_embedded(settings)
    container = Container(
        settings=settings,
        db=db,
        cache=cache,
        bus=bus,
        blobs=blobs,
        relay=relay,
        accounts=accounts,
        uploads=uploads,
        videos=videos,
        social=social,
        notifications=notifications,
        watches=Watches(db, cache, videos, on_commit=relay.notify),
        signals=Signals(cache),
        exploration=Exploration(cache),
        live=LiveHub(cache),
        limiter=RateLimiter(cache, settings),
    )
    container.following = FollowingFeed(cache, social, videos)
    container.foryou = ForYou(
        cache,
        videos=videos,
        social=social,
        watches=container.watches,
        signals=container.signals,
        exploration=container.exploration,
        retrieval=lambda: container.retrieval,
        following=container.following.newest,
        list_ttl_s=settings.foryou_cache_s,
        mix=Mix.parse(settings.foryou_mix),
    )
    container.search = Search(accounts, videos, social)
    return container


def checkpoints_dir(settings: Settings) -> Path:
    """Where `flick train` writes model versions and serving reads the newest."""
    return settings.data_dir / "recs" / "checkpoints"


async def run_retrieval(services: Container, stop: asyncio.Event) -> None:
    """Hold this process's index replica, fed by the bus, until `stop` is set."""
    from flick.gateway.metrics import INDEX_METRICS
    from flick.recs.retrieval import Retrieval, run_index_replica, serve_on_one_thread

    serve_on_one_thread()
    services.retrieval = await asyncio.to_thread(Retrieval, checkpoints_dir(services.settings))
    INDEX_METRICS.serving = services.retrieval
    # Everything loaded so far (torch, the model, SQLAlchemy's tables) lives as long as the
    # process: out of the collector's way, so a full collection scans only what requests make
    # (it walked ~1M objects here, a pause that showed in feeds' p99); and young collections
    # far apart, so requests in flight are not promoted into full collections.
    settle_for_serving(services.settings.gc_young_threshold)
    await run_index_replica(services.retrieval, services.bus, stop, blobs=services.blobs)


async def run_search(services: Container, stop: asyncio.Event) -> None:
    """Hold this process's search index replica, fed by the bus, until `stop` is set."""
    await run_search_replica(
        services.search, services.accounts, services.bus, stop, data_dir=services.settings.data_dir
    )


def fan_out(services: Container) -> FanOut:
    """The Following feed's fan-out consumer under the configured policy."""
    s = services.settings
    return FanOut(
        services.cache,
        services.social,
        services.videos,
        policy=s.feed_policy,
        threshold=s.feed_push_threshold,
    )


def transcode_worker(services: Container) -> TranscodeWorker:
    """The transcode worker over a container's ports."""
    return TranscodeWorker(
        db=services.db,
        blobs=services.blobs,
        videos=services.videos,
        uploads=services.uploads,
        settings=services.settings,
    )


async def run_workers(services: Container, stop: asyncio.Event) -> None:
    """The worker role: transcode jobs, counter aggregation, stored notifications, real-time
    recommendation signals, exploration, the Following feed's fan-out and the expired-upload
    sweep, until `stop` is set."""
    worker = transcode_worker(services)
    every = services.settings.worker_sweep_s
    counters = CounterAggregator(services.db, services.cache)
    await asyncio.gather(
        run_transcoder(worker, services.bus, stop),
        run_counters(counters, services.bus, stop),
        run_notifier(Notifier(services.notifications), services.bus, stop),
        run_signals(SignalAggregator(services.signals), services.bus, stop),
        run_exploration(services.exploration, services.signals, services.bus, stop),
        run_fanout(fan_out(services), services.bus, stop),
        run_upload_sweeper(services.uploads, stop, every_s=every),
    )


def _warn_if_embedded(settings: Settings) -> None:
    embedded = [
        name
        for name, url in (
            ("SQL", settings.resolved_db_url),
            ("cache", settings.cache_url),
            ("bus", settings.resolved_bus_url),
            ("blobs", settings.resolved_blob_url),
        )
        if url.startswith(("sqlite:", "memory:", "local:", "file:"))
    ]
    if embedded:
        log.info(
            "embedded backends for %s: fine for one process on one machine; point the "
            "FLICK_*_URL settings at PostgreSQL/Redis/NATS/S3 to run several",
            ", ".join(embedded),
        )
