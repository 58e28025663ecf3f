"""Serving the two towers: video vectors in a FAISS index, a user vector per request from the
user's recent watches, top-k by dot product (DESIGN.md section 7).

Every process that serves For You holds a replica, fed by the bus: a video that becomes ready
is embedded from its content alone (no id embedding: nobody has watched it yet) and is
retrievable at once; a deleted one leaves. Each replica consumes `video` in a consumer group
of its own from the first offset, so it sees every video, as the article's per-node indexes
do. When `flick train` writes a newer checkpoint, `maybe_reload` swaps the model in and
re-embeds every known video with it, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import torch

from flick.ingest.events import DELETED, READY
from flick.ingest.events import TOPIC as VIDEO
from flick.platform.blobs import BlobStore
from flick.platform.bus import Bus, Event, Message
from flick.platform.bus.consumer import run_consumer
from flick.platform.periodic import run_every
from flick.recs.data import MAX_TAGS, hour_of, weekday_of
from flick.recs.features import FEATURE_DIM, VideoContent, content_features, text_embedder
from flick.recs.hashing import tag_ids
from flick.recs.index import VectorIndex
from flick.recs.model import MAX_HISTORY_WEIGHT, ServingModel, UserInputs, VideoInputs
from flick.recs.service import RecentWatch
from flick.recs.training import CheckpointWatcher

log = logging.getLogger(__name__)
RELOAD_EVERY_S = 60.0  # how often a replica looks for a newer checkpoint
HISTORY = 50  # watches pooled into the user vector (the user tower's N)
MAX_STILLS = 8  # keyframe stills read per video (the ladder makes at most 8)


def serve_on_one_thread() -> None:
    """One thread for torch and FAISS in a serving process. Serving embeds one user (and one
    new video) at a time, too little to share among threads; a pool per process (torch's
    default is a thread per core) would only oversubscribe the cores when `--workers` runs
    several API processes. One assembly at a time in one process measured the same either
    way (in-process, 19.1-19.5 against 19.6-23.3 ms a warm assembly)."""
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)


@dataclass(frozen=True, slots=True)
class KnownVideo:
    """What the replica keeps per video to (re-)embed it and to pool it into histories."""

    creator_id: int
    features: np.ndarray  # float32 [FEATURE_DIM]
    tags: np.ndarray  # int64 [MAX_TAGS]


class Retrieval:
    """One process's replica of the video index and the serving model."""

    def __init__(self, checkpoints: Path) -> None:
        self.watcher = CheckpointWatcher(checkpoints)
        self.index = VectorIndex()
        self.videos: dict[int, KnownVideo] = {}
        self._text = text_embedder(self._encoder_name())
        # FAISS indexes must not change from two threads at once, nor be searched while one
        # changes: video events are embedded in worker threads (one per bus partition, so
        # several at once) while requests search from the event loop's. The lock guards the
        # index and `videos`; embedding (the slow part) happens outside it.
        self._lock = threading.Lock()
        self._changed: set[int] | None = None  # videos touched while a reload re-embeds

    @property
    def model(self) -> ServingModel | None:
        """The serving model, None until a checkpoint exists (`flick train`)."""
        return self.watcher.current

    # --- the index -------------------------------------------------------------------------

    def add_video(
        self,
        video_id: int,
        *,
        creator_id: int,
        caption: str,
        hashtags: Sequence[str],
        duration_s: float,
        loudness_db: float | None = None,
        keyframes: Sequence[Path] = (),
    ) -> None:
        """Make a ready video retrievable from its content (keyframes: local still images)."""
        content = VideoContent(
            caption, tuple(hashtags), duration_s, loudness_db, tuple(keyframes), creator_id
        )
        known = KnownVideo(
            creator_id,
            content_features(content, text=self._text),
            tag_ids(tuple(hashtags), width=MAX_TAGS),
        )
        model = self.model
        vector = self._embed_known([video_id], [known]) if model is not None else None
        with self._lock:
            self.videos[video_id] = known
            if self._changed is not None:
                self._changed.add(video_id)
            if self.model is not model:  # a reload swapped models meanwhile: embed anew
                vector = self._embed_known([video_id], [known])
            if vector is not None:
                self.index.upsert(np.array([video_id]), vector)

    def remove_video(self, video_id: int) -> None:
        """A deleted video is no longer retrieved."""
        with self._lock:
            if self._changed is not None:
                self._changed.add(video_id)
            if self.videos.pop(video_id, None) is not None and self.model is not None:
                self.index.remove(np.array([video_id]))

    def maybe_reload(self) -> bool:
        """Swap in a newer checkpoint and re-embed every known video into a new index, which
        replaces the old one (searches go on meanwhile); whether it changed."""
        if not self.watcher.maybe_reload():
            return False
        self._text = text_embedder(self._encoder_name())
        with self._lock:
            known, self._changed = dict(self.videos), set()
        try:
            fresh = self._index_of(known)
        except BaseException:
            with self._lock:
                self._changed = None  # events stop recording what changed
            raise
        with self._lock:  # what events changed while it embedded, then the swap
            present = [video_id for video_id in self._changed if video_id in self.videos]
            gone = [video_id for video_id in self._changed if video_id not in self.videos]
            if present:  # one forward pass for them all
                fresh.upsert(np.array(present, dtype=np.int64), self._embed(present))
            fresh.remove(np.array(gone, dtype=np.int64))
            self.index, self._changed = fresh, None
        log.info("recs: serving checkpoint %s over %d videos", self.model.version, len(fresh))  # type: ignore[union-attr]
        return True

    # --- serving ---------------------------------------------------------------------------

    def candidates(
        self,
        user_id: int,
        recent: Sequence[RecentWatch],
        *,
        k: int,
        now: float | None = None,
        device: int = 0,
        locale: int = 0,
    ) -> list[tuple[int, float]]:
        """The `k` videos whose vectors best match the user's, with their scores; empty until
        a model is trained."""
        if self.model is None or len(self.index) == 0:
            return []
        inputs = self._user_inputs(
            user_id, recent, now=now or time.time(), device=device, locale=locale
        )
        vector = self.model.user_embeddings(inputs)
        with self._lock:
            ids, scores = self.index.search(vector, k)
        return [(int(v), float(s)) for v, s in zip(ids[0], scores[0], strict=True) if v >= 0]

    def _index_of(self, known: dict[int, KnownVideo]) -> VectorIndex:
        index = VectorIndex()
        if known:
            ids = list(known)
            vectors = self._embed_known(ids, [known[v] for v in ids])
            index.rebuild(np.array(ids, dtype=np.int64), vectors)
        return index

    def _embed(self, video_ids: Sequence[int]) -> np.ndarray:
        return self._embed_known(video_ids, [self.videos[v] for v in video_ids])

    def _embed_known(self, video_ids: Sequence[int], known: Sequence[KnownVideo]) -> np.ndarray:
        assert self.model is not None
        inputs = VideoInputs(
            np.array(video_ids, dtype=np.int64),
            np.array([k.creator_id for k in known], dtype=np.int64),
            np.stack([k.features for k in known]).astype(np.float32),
            np.stack([k.tags for k in known]),
        )
        # Content only: the id embeddings of a live platform's videos were never trained.
        return self.model.video_embeddings(inputs, content_only=True)

    def _user_inputs(
        self, user_id: int, recent: Sequence[RecentWatch], *, now: float, device: int, locale: int
    ) -> UserInputs:
        # Without the lock: each dict lookup is atomic, and a video removed meanwhile is
        # simply left out.
        found = ((w, self.videos.get(w.video_id)) for w in reversed(recent))
        history = [(w, known) for w, known in found if known is not None][-HISTORY:]
        pad = HISTORY - len(history)
        ids = [0] * pad + [w.video_id for w, _ in history]
        weights = [0.0] * pad + [min(w.watch_ratio, MAX_HISTORY_WEIGHT) for w, _ in history]
        features = np.stack(
            [np.zeros(FEATURE_DIM, np.float32)] + [known.features for _, known in history]
        ).astype(np.float32)
        rows = [0] * pad + list(range(1, len(history) + 1))
        at = np.array([now])
        return UserInputs(
            user_id=np.array([user_id], dtype=np.int64),
            history_video_id=np.array([ids], dtype=np.int64),
            history_weight=np.array([weights], dtype=np.float32),
            history_row=np.array([rows], dtype=np.int64),
            history_features=features,
            hour=hour_of(at),
            weekday=weekday_of(at),
            device=np.array([device], dtype=np.int64),
            locale=np.array([locale], dtype=np.int64),
        )

    def _encoder_name(self) -> str:
        return self.model.model.config.text_encoder if self.model is not None else "hashed-ngrams"


async def run_index_replica(
    retrieval: Retrieval, bus: Bus, stop: asyncio.Event, *, blobs: BlobStore | None = None
) -> None:
    """Feed this process's replica from `video` (its own consumer group, from the start) and
    look for newer checkpoints, until `stop` is set."""
    group = f"recs.index.{os.getpid()}.{os.urandom(4).hex()}"

    async def handle(messages: Sequence[Message]) -> None:
        for message in messages:
            await apply_video_event(retrieval, message.event, blobs=blobs)

    async def reload() -> None:
        # A half-written or broken checkpoint fails here and the old model keeps serving.
        await asyncio.to_thread(retrieval.maybe_reload)

    await asyncio.gather(
        run_consumer(bus, VIDEO, group=group, handler=handle, stop=stop),
        run_every(RELOAD_EVERY_S, stop, reload, what="loading the newest recs checkpoint"),
    )


async def apply_video_event(
    retrieval: Retrieval, event: Event, *, blobs: BlobStore | None = None
) -> None:
    """A ready video joins the replica (with its keyframe stills' statistics when the blob
    store is given), a deleted one leaves."""
    p = event.payload
    if event.type == DELETED:
        retrieval.remove_video(int(p["video_id"]))
    if event.type != READY:
        return
    with tempfile.TemporaryDirectory(prefix="flick-stills-") as scratch:
        stills = await fetch_stills(blobs, list(p.get("keyframes", [])), Path(scratch))
        loudness = p.get("loudness_db")
        await asyncio.to_thread(
            retrieval.add_video,
            int(p["video_id"]),
            creator_id=int(p["owner_id"]),
            caption=str(p.get("caption", "")),
            hashtags=list(p.get("hashtags", [])),
            duration_s=float(p.get("duration_s", 0.0)),
            loudness_db=None if loudness is None else float(loudness),
            keyframes=stills,
        )


async def fetch_stills(blobs: BlobStore | None, keys: list[str], into: Path) -> list[Path]:
    """The stills under these blob keys as local files (none without a blob store; a still
    that has gone is skipped)."""
    if blobs is None:
        return []
    paths = []
    for n, key in enumerate(keys[:MAX_STILLS]):
        try:
            data = await blobs.get(key)
        except Exception:  # deleted meanwhile, or the store is down: embed without it
            log.warning("recs: could not read still %s", key)
            continue
        path = into / f"{n:03d}.jpg"
        await asyncio.to_thread(path.write_bytes, data)
        paths.append(path)
    return paths
