"""The transcode worker: consumes `video.uploaded`, turns an upload into HLS renditions.

One job per asset (content hash), run by the `video.uploaded` event of the upload the asset
was created from; other videos sharing the asset are only settled. A job is idempotent:
killed anywhere, its redelivery starts again from a clean local directory and overwrites the
same blob keys (`assets/<sha>/media/...`), after clearing what a killed attempt left there,
so one set of renditions remains. Steps:

1. bytes: the stored original, else the upload's parts assembled into a local file; the
   original is kept (a later pass, the HEVC one included, reads it) and the parts dropped;
2. probe (untrusted input: child process, whitelists, limits) -> `failed` with a reason;
3. one-decode H.264 ladder + thumbnail + keyframes -> blobs -> master playlist -> `ready`;
4. the 720p HEVC pass -> blobs -> master playlist rewritten with it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flick import media
from flick.ingest import repository as repo
from flick.ingest.events import TOPIC, UPLOADED
from flick.ingest.model import MEDIA_TYPES, Asset, VideoStatus, asset_prefix, media_key
from flick.ingest.service import Videos
from flick.ingest.uploads import Uploads
from flick.media.audio import loudness_db
from flick.platform.blobs import BlobStore
from flick.platform.bus import Bus, Message
from flick.platform.bus.consumer import run_consumer
from flick.platform.periodic import run_every
from flick.platform.settings import Settings
from flick.platform.sql import DIRECTORY_SHARD, Database

log = logging.getLogger(__name__)

GROUP = "ingest.transcode"
PROGRESS_EVERY_S = 0.5  # how often a job writes its percentage
TRUNCATED_RATIO = 0.9  # output shorter than this share of the probed length: the file is cut
HEVC_PENDING, HEVC_DONE, HEVC_SKIPPED, HEVC_FAILED = "pending", "done", "skipped", "failed"


class TranscodeWorker:
    """Runs transcode jobs; `transcode_concurrency` at a time per process."""

    def __init__(
        self,
        *,
        db: Database,
        blobs: BlobStore,
        videos: Videos,
        uploads: Uploads,
        settings: Settings,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.videos = videos
        self.uploads = uploads
        self.settings = settings
        self.work_root = settings.data_dir.resolve() / "work"
        self.jobs = asyncio.Semaphore(settings.transcode_concurrency)
        self.transcodes = 0  # jobs that ran ffmpeg (tests check dedup ran none)

    async def handle(self, messages: Sequence[Message]) -> None:
        """Bus handler: every `video.uploaded` in the batch, in order."""
        for message in messages:
            if message.event.type == UPLOADED:
                await self.process(message.event.payload)

    async def process(self, payload: dict[str, Any]) -> None:
        """Make the asset of one uploaded video, unless done or someone else's job."""
        sha256 = payload["asset"]
        asset = await self.videos.asset(sha256)
        if asset is None:
            return  # every video sharing it was deleted meanwhile
        if asset.source_upload_id == int(payload["upload_id"]):
            async with self.jobs:
                await self._run_job(asset)
        await self.videos.settle_asset(sha256)

    async def _run_job(self, asset: Asset) -> None:
        hevc_left = asset.media.get("hevc") == HEVC_PENDING
        if asset.status is not VideoStatus.PROCESSING and not hevc_left:
            return
        work = self.work_root / asset.sha256
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            await self._job_steps(asset, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            await self._drop_if_deleted(asset.sha256)

    async def _job_steps(self, asset: Asset, work: Path) -> None:
        source = work / "source"
        if not await self._fetch_source(asset, source):
            return
        if asset.status is VideoStatus.PROCESSING:
            info = await self._probe(asset, source)
            if info is None or not await self._h264(asset, source, work / "out", info):
                return
            asset = await self.videos.asset(asset.sha256) or asset
            await self.videos.settle_asset(asset.sha256)  # ready now, before the HEVC pass
        await self._hevc(asset, source, work / "out")

    # --- step 1: the bytes ---------------------------------------------------------------

    async def _fetch_source(self, asset: Asset, path: Path) -> bool:
        if asset.original_key:
            with path.open("wb") as out:
                async for data in self.blobs.stream(asset.original_key, chunk_size=1 << 20):
                    out.write(data)
            return True
        if await self.uploads.assemble(asset.source_upload_id, path) == 0:
            await self._fail(asset.sha256, "the uploaded bytes are gone; upload the file again")
            return False
        return True

    async def _keep_original(self, asset: Asset, source: Path) -> None:
        key = f"{asset_prefix(asset.sha256)}original"
        await self.blobs.put_file(key, source)
        await self._update(asset.sha256, original_key=key)
        await self.uploads.remove(asset.source_upload_id)

    # --- step 2: the probe ---------------------------------------------------------------

    async def _probe(self, asset: Asset, source: Path) -> media.MediaInfo | None:
        s = self.settings
        limits = media.ProbeLimits(
            max_duration_s=s.video_max_duration_s,
            max_frame_pixels=s.video_max_frame_pixels,
            cpu_s=s.probe_cpu_s,
            memory_bytes=s.probe_memory_mb << 20,
            wall_s=s.probe_wall_s,
        )
        try:
            info = await media.probe(source, limits)
        except media.MediaRejected as rejected:
            await self._fail(asset.sha256, rejected.reason)
            return None
        if not asset.original_key:
            await self._keep_original(asset, source)
        return info

    # --- step 3: the H.264 ladder --------------------------------------------------------

    async def _h264(self, asset: Asset, source: Path, out: Path, info: media.MediaInfo) -> bool:
        self.transcodes += 1
        try:
            ladder = await media.transcode_h264(
                source,
                out,
                info,
                on_progress=self._progress_writer(asset.sha256),
                limits=self._limits(),
                segment_s=self.settings.hls_segment_s,
            )
        except media.TranscodeFailed as error:
            await self._fail(asset.sha256, f"the video could not be converted: {error}")
            return False
        if ladder.duration_s < TRUNCATED_RATIO * info.duration_s - 1.0:
            reason = (
                f"the file is truncated or corrupt: only {ladder.duration_s:.1f} s of its "
                f"{info.duration_s:.1f} s could be decoded"
            )
            await self._fail(asset.sha256, reason)
            return False
        await self.blobs.delete_prefix(f"{asset_prefix(asset.sha256)}media/")  # a killed try's
        await self._store_tree(asset.sha256, out)
        await self._publish_master(asset.sha256, ladder.renditions)
        hevc = HEVC_PENDING if self.settings.transcode_hevc else HEVC_SKIPPED
        # Loudness for the recommender's content features, from our own smallest rendition.
        loudness = await asyncio.to_thread(loudness_db, out / ladder.renditions[0].name)
        await self._update(
            asset.sha256,
            status=VideoStatus.READY,
            progress=1.0,
            media=_media_record(info, ladder, hevc=hevc, loudness=loudness),
        )
        return True

    def _limits(self) -> media.TranscodeLimits:
        return media.TranscodeLimits(memory_bytes=self.settings.transcode_memory_mb << 20)

    def _progress_writer(self, sha256: str) -> media.ProgressCallback:
        last = [0.0]

        async def write(fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                await self._update(sha256, progress=min(fraction, 0.99))

        return write

    # --- step 4: the HEVC pass -----------------------------------------------------------

    async def _hevc(self, asset: Asset, source: Path, out: Path) -> None:
        if asset.media.get("hevc") != HEVC_PENDING:
            return
        info = media.MediaInfo(**asset.media["source"])
        try:
            rendition = await media.transcode_hevc(
                source, out, info, limits=self._limits(), segment_s=self.settings.hls_segment_s
            )
        except media.TranscodeFailed as error:
            log.warning("HEVC pass of %s failed (H.264 stays): %s", asset.sha256, error)
            await self._set_hevc(asset, HEVC_FAILED, None)
            return
        if rendition is not None:
            await self._store_tree(asset.sha256, out, only=rendition.name)
        await self._set_hevc(asset, HEVC_DONE if rendition else HEVC_SKIPPED, rendition)

    async def _set_hevc(self, asset: Asset, state: str, rendition: media.Rendition | None) -> None:
        record = dict(asset.media, hevc=state)
        if rendition is not None:
            record["renditions"] = [*record["renditions"], _rendition_record(rendition)]
            await self._publish_master(asset.sha256, [_rendition(r) for r in record["renditions"]])
        await self._update(asset.sha256, media=record)

    # --- storing and bookkeeping ---------------------------------------------------------

    async def _store_tree(self, sha256: str, out: Path, *, only: str = "") -> None:
        """Upload every file below `out` (or its subdirectory `only`), keyed by the path
        relative to `out`; playlists after the segments they name."""
        files = sorted(p for p in (out / only).rglob("*") if p.is_file())
        files.sort(key=lambda p: p.suffix == ".m3u8")  # stable: playlists last
        for path in files:
            key = media_key(sha256, path.relative_to(out).as_posix())
            content_type = MEDIA_TYPES.get(path.suffix[1:], "application/octet-stream")
            await self.blobs.put_file(key, path, content_type=content_type)

    async def _publish_master(self, sha256: str, renditions: list[media.Rendition]) -> None:
        playlist = media.master_playlist(renditions).encode()
        key = media_key(sha256, "master.m3u8")
        await self.blobs.put(key, playlist, content_type=MEDIA_TYPES["m3u8"])

    async def _fail(self, sha256: str, reason: str) -> None:
        log.info("asset %s failed: %s", sha256, reason)
        asset = await self.videos.asset(sha256)
        await self._update(sha256, status=VideoStatus.FAILED, error=reason)
        await self.blobs.delete_prefix(asset_prefix(sha256))
        if asset is not None:
            await self.uploads.remove(asset.source_upload_id)

    async def _update(self, sha256: str, **values: Any) -> None:
        async with self.db.transaction(DIRECTORY_SHARD) as conn:
            await repo.update_asset(conn, sha256, updated_at=time.time(), **values)

    async def _drop_if_deleted(self, sha256: str) -> None:
        """Every video was deleted while the job ran: remove what it stored."""
        if await self.videos.asset(sha256) is None:
            await self.blobs.delete_prefix(asset_prefix(sha256))


def _media_record(
    info: media.MediaInfo, ladder: media.Ladder, *, hevc: str, loudness: float | None
) -> dict[str, Any]:
    return {
        "duration_s": round(ladder.duration_s or info.duration_s, 3),
        "width": info.width,
        "height": info.height,
        "has_audio": info.has_audio,
        "thumbnail": ladder.thumbnail,
        "keyframes": ladder.keyframes,
        "loudness_db": loudness,
        "renditions": [_rendition_record(r) for r in ladder.renditions],
        "source": asdict(info),
        "hevc": hevc,
    }


def _rendition_record(rendition: media.Rendition) -> dict[str, Any]:
    codec = "hevc" if rendition.codecs.startswith(("hvc1", "hev1")) else "h264"
    return {**asdict(rendition), "codec": codec}


def _rendition(record: dict[str, Any]) -> media.Rendition:
    fields = {k: v for k, v in record.items() if k != "codec"}
    return media.Rendition(**fields)


async def run_transcoder(worker: TranscodeWorker, bus: Bus, stop: asyncio.Event) -> None:
    """Consume `video.uploaded` until `stop` is set."""
    await run_consumer(
        bus,
        TOPIC,
        group=GROUP,
        handler=worker.handle,
        stop=stop,
        max_attempts=worker.settings.bus_max_attempts,
        batch_size=10,  # jobs are long; a small batch keeps redelivery after a crash small
    )


async def run_upload_sweeper(uploads: Uploads, stop: asyncio.Event, *, every_s: float) -> None:
    """Delete expired uploads every `every_s` seconds until `stop` is set."""

    async def sweep() -> None:
        removed = await uploads.sweep_expired()
        if removed:
            log.info("deleted %d expired uploads", removed)

    await run_every(every_s, stop, sweep, what="sweeping expired uploads")
