"""The platform's own watch logs as an `InteractionDataset`, so `flick train --source
platform` learns from what this instance's viewers watched (the simulator and MovieLens are
the other sources)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from flick.ingest.service import Videos
from flick.platform.blobs import BlobStore
from flick.platform.sql import Database
from flick.recs import repository as repo
from flick.recs.data import MAX_TAGS, Catalog, Interactions, StaticDataset
from flick.recs.features import TextEmbedder, VideoContent, content_features_batch
from flick.recs.hashing import tag_ids
from flick.recs.retrieval import fetch_stills

POSITIVE_RATIO = 0.8  # watched most of it (or a like-worthy replay): what training predicts
PAGE = 5_000


async def platform_dataset(
    db: Database, videos: Videos, *, text: TextEmbedder, blobs: BlobStore | None = None
) -> StaticDataset:
    """Every ready video and every watch of one, read from every database; with the blob
    store, keyframe stills count in the features, as they do in serving (retrieval.py)."""
    catalog = await _catalog(videos, text=text, blobs=blobs)
    known = set(catalog.video_id.tolist())
    rows = [row for row in await _watches(db) if row.video_id in known]
    ratio = np.array([r.watched_ms / max(r.duration_ms, 1) for r in rows], dtype=np.float32)
    liked_it = [r.completed or q >= POSITIVE_RATIO for r, q in zip(rows, ratio, strict=True)]
    positive = np.array(
        [good and not r.quick_skip for r, good in zip(rows, liked_it, strict=True)], dtype=bool
    )
    zeros = np.zeros(len(rows), dtype=np.int64)  # device and locale are not reported yet
    log = Interactions(
        user_id=np.array([r.user_id for r in rows], dtype=np.int64),
        video_id=np.array([r.video_id for r in rows], dtype=np.int64),
        timestamp=np.array([r.watched_at for r in rows], dtype=np.float64),
        watch_ratio=ratio,
        positive=positive,
        device=zeros,
        locale=zeros.copy(),
    )
    return StaticDataset("platform", log, catalog)


async def _catalog(videos: Videos, *, text: TextEmbedder, blobs: BlobStore | None) -> Catalog:
    ids, creators, contents = [], [], []
    with tempfile.TemporaryDirectory(prefix="flick-train-stills-") as scratch:
        async for video, media in videos.ready_videos():
            into = Path(scratch) / str(video.id)
            into.mkdir()
            stills = await fetch_stills(blobs, media["keyframes"], into)
            ids.append(video.id)
            creators.append(video.owner_id)
            contents.append(
                VideoContent(
                    video.caption,
                    tuple(video.hashtags),
                    media["duration_s"],
                    media["loudness_db"],
                    tuple(stills),
                    video.owner_id,
                )
            )
        features = await asyncio.to_thread(content_features_batch, contents, text=text)
    tags = [tag_ids(content.hashtags, width=MAX_TAGS) for content in contents]
    return Catalog(
        video_id=np.array(ids, dtype=np.int64),
        creator_id=np.array(creators, dtype=np.int64),
        features=features,
        tags=np.stack(tags) if tags else np.zeros((0, MAX_TAGS), dtype=np.int64),
    )


async def _watches(db: Database) -> list[Any]:
    found: list[Any] = []
    for engine in db.engines:
        after = 0
        while True:
            async with engine.connect() as conn:
                page = await repo.watches_after(conn, after, limit=PAGE)
            found += page
            if len(page) < PAGE:
                break
            after = page[-1].id
    return found
