"""Video use cases: publish an upload, read a video, delete it, settle videos when their
media is done.

Status transitions are strong (one transaction on the owner's shard, recording the event).
A video and its asset live on different shards, so publishing and settling are written to
be safe in any interleaving: whoever writes second (the publisher adding a reference or the
worker finishing the asset) sees the other's write and settles the video; the transition
`processing -> ready | failed` happens once, and only its winner records the event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, NamedTuple

import orjson

from flick.accounts.service import Accounts
from flick.ingest import repository as repo
from flick.ingest.events import TOPIC, VideoDeleted, VideoFailed, VideoReady, VideoUploaded
from flick.ingest.model import (
    Asset,
    Upload,
    Video,
    VideoStatus,
    asset_prefix,
    clean_caption,
    media_key,
    parse_hashtags,
)
from flick.ingest.uploads import Uploads
from flick.platform.batching import SingleFlight
from flick.platform.blobs import BlobStore
from flick.platform.cache import Cache
from flick.platform.errors import Conflict, Forbidden, NotFound
from flick.platform.ids import new_id, shard_of
from flick.platform.memo import DecodeMemo, ShortMemo
from flick.platform.outbox import record_event
from flick.platform.paging import Page, next_cursor, page_limit
from flick.platform.sql import DIRECTORY_SHARD, Database

log = logging.getLogger(__name__)

MEDIA_LOOKUP_TTL = 60.0  # video id -> asset for /media; a delete clears it at once
VIEW_CACHE_TTL = 120.0  # a ready video's object; bounds how late an HEVC rendition shows
OWNER_CACHE_TTL = 300.0  # video id -> creator never changes; a delete clears it at once
# Feed pages show the same videos to many viewers: each process keeps their encoded cards
# this long (a delete here drops one at once; another process's delete shows within it).
VIEW_MEMO_S = 1.0
VIEW_MEMO_MAX = 50_000  # cards (~0.5 KB each); a hundred viewers paging at once see ~20,000
PER_VIEWER_FIELDS = ("counts", "viewer")  # what a card leaves out (video_view's placeholders)


class VideoCard(NamedTuple):
    """The API's `video` object of a ready video without its counts and the viewer's state
    (PER_VIEWER_FIELDS: the social domain's, added per page), encoded once per process and
    second, so a feed page is spliced from bytes instead of built and encoded per request."""

    json: bytes  # a JSON object
    creator_id: int


class Videos:
    """Built once by bootstrap; safe to share between requests."""

    def __init__(
        self,
        db: Database,
        cache: Cache,
        blobs: BlobStore,
        uploads: Uploads,
        accounts: Accounts,
        *,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.cache = cache
        self.blobs = blobs
        self.uploads = uploads
        self.accounts = accounts
        self.on_commit = on_commit  # wakes the in-process outbox relay
        self._owner_loads: SingleFlight[int] = SingleFlight()
        self._view_memo: ShortMemo[int, VideoCard] = ShortMemo(VIEW_MEMO_MAX)
        # A card read again after its second, unchanged, is not decoded and encoded again.
        self._cards: DecodeMemo[int, bytes, VideoCard] = DecodeMemo(VIEW_MEMO_MAX)

    # --- publishing --------------------------------------------------------------------

    async def publish(self, user_id: int, *, upload_id: int, caption: str | None) -> Video:
        """Turn the caller's complete upload into a video. Content already known is ready
        (or failed) at once, sharing the earlier media; new content gets a transcode job."""
        upload = await self._publishable(upload_id, user_id=user_id)
        assert upload.sha256 is not None  # set when the last byte arrived
        text = clean_caption(caption if caption is not None else upload.metadata.get("caption", ""))
        video_id = new_id(shard_of(user_id))
        created, asset = await self._reference_asset(upload, video_id)
        try:
            video = await self._insert_video(upload, video_id, text, asset)
        except BaseException:
            await self._drop_reference(upload.sha256, video_id, created=created)
            raise
        if not created:
            await self.uploads.remove(upload.id)  # the bytes are stored already
        if video.status is VideoStatus.PROCESSING:
            await self._settle_if_done(video)
        return await self.get(video_id)

    async def _publishable(self, upload_id: int, *, user_id: int) -> Upload:
        upload = await self.uploads.get(upload_id, user_id=user_id)
        if upload.video_id is not None:
            raise Conflict(f"upload {upload_id} is already video {upload.video_id}")
        if not upload.complete:
            raise Conflict(
                f"upload {upload_id} has {upload.received} of {upload.length} bytes; "
                "finish it (tus PATCH) before publishing"
            )
        return upload

    async def _reference_asset(self, upload: Upload, video_id: int) -> tuple[bool, Asset]:
        assert upload.sha256 is not None
        async with self.db.transaction(DIRECTORY_SHARD) as conn:
            created = await repo.create_asset(
                conn, upload.sha256, source_upload_id=upload.id, now=time.time()
            )
            await repo.add_ref(conn, upload.sha256, video_id=video_id, owner_id=upload.user_id)
            asset = await repo.get_asset(conn, upload.sha256)
        assert asset is not None
        return created, asset

    async def _drop_reference(self, sha256: str, video_id: int, *, created: bool) -> None:
        async with self.db.transaction(DIRECTORY_SHARD) as conn:
            left = await repo.remove_ref(conn, sha256, video_id=video_id)
            if created and left == 0:
                await repo.delete_asset(conn, sha256)

    async def _insert_video(
        self, upload: Upload, video_id: int, caption: str, asset: Asset
    ) -> Video:
        now = time.time()
        video = Video(
            id=video_id,
            owner_id=upload.user_id,
            asset=asset.sha256,
            caption=caption,
            hashtags=parse_hashtags(caption),
            status=asset.status,
            created_at=now,
            error=asset.error,
        )
        async with self.db.transaction(shard_of(video_id)) as conn:
            if not await repo.mark_upload_published(conn, upload.id, video_id):
                raise Conflict(f"upload {upload.id} was published by another request")
            await repo.insert_video(conn, video)
            event = _event_for(video, asset, upload_id=upload.id)
            await record_event(conn, TOPIC, event.to_event())
        self.on_commit()
        return video

    # --- settling ------------------------------------------------------------------------

    async def settle_asset(self, sha256: str) -> int:
        """Move every video sharing a finished asset to its status; returns how many moved."""
        asset = await self.asset(sha256)
        if asset is None or asset.status is VideoStatus.PROCESSING:
            return 0
        async with self.db.read(DIRECTORY_SHARD) as conn:
            sharing = await repo.refs(conn, sha256)
        moved = 0
        for video_id, _owner_id in sharing:
            moved += await self._settle(video_id, asset)
        return moved

    async def _settle_if_done(self, video: Video) -> None:
        asset = await self.asset(video.asset)
        if asset is not None and asset.status is not VideoStatus.PROCESSING:
            await self._settle(video.id, asset)

    async def _settle(self, video_id: int, asset: Asset) -> int:
        now = time.time()
        async with self.db.transaction(shard_of(video_id)) as conn:
            if not await repo.settle_video(
                conn, video_id, status=asset.status, error=asset.error, now=now
            ):
                return 0
            video = await repo.get_video(conn, video_id)
            assert video is not None
            await record_event(conn, TOPIC, _event_for(video, asset).to_event())
        self.on_commit()
        return 1

    # --- reading -------------------------------------------------------------------------

    async def get(self, video_id: int) -> Video:
        """A video by id; NotFound if there is none."""
        async with self.db.read(shard_of(video_id)) as conn:
            video = await repo.get_video(conn, video_id)
        if video is None:
            raise NotFound(f"there is no video {video_id}")
        return video

    async def owner_of(self, video_id: int) -> int:
        """Who created a video (NotFound if there is none); cached, as every like asks."""
        key = owner_key(video_id)
        cached = await self.cache.get(key)
        if cached is not None:
            return int(cached)
        return await self._owner_loads.run(key, lambda: self._load_owner(video_id))

    async def _load_owner(self, video_id: int) -> int:
        owner_id = (await self.get(video_id)).owner_id
        await self.cache.set(owner_key(video_id), str(owner_id).encode(), ttl=OWNER_CACHE_TTL)
        return owner_id

    async def playback_facts(self, video_id: int) -> tuple[int, float] | None:
        """(creator id, duration in seconds) of a ready video; None for no video or one that
        is not ready. Cached: every watch event asks."""
        key = facts_key(video_id)
        cached = await self.cache.get(key)
        if cached is not None:
            owner_id, duration_s = orjson.loads(cached)
            return int(owner_id), float(duration_s)
        try:
            video = await self.get(video_id)
        except NotFound:
            return None
        asset = await self.asset(video.asset)
        if video.status is not VideoStatus.READY or asset is None:
            return None  # not cached: it may become ready any moment
        duration_s = float(asset.media.get("duration_s", 0.0))
        await self.cache.set(key, orjson.dumps([video.owner_id, duration_s]), ttl=OWNER_CACHE_TTL)
        return video.owner_id, duration_s

    async def of_creator(
        self, creator_id: int, *, viewer_id: int | None, cursor: int | None, limit: int
    ) -> Page:
        """A creator's videos as API objects, newest first: the ready ones, and to the creator
        also those processing or failed."""
        await self.accounts.get_user(creator_id)  # NotFound for nobody
        limit = page_limit(limit)
        async with self.db.read(shard_of(creator_id)) as conn:
            found = await repo.videos_of(
                conn, creator_id, before=cursor, limit=limit, ready_only=viewer_id != creator_id
            )
        items = [await self.describe(video) for video in found]
        return Page(items, next_cursor([video.id for video in found], limit))

    async def ready_videos(
        self, *, page: int = 1000
    ) -> AsyncIterator[tuple[Video, dict[str, Any]]]:
        """Every ready video with its media record (duration_s, keyframes as blob keys,
        loudness_db), database by database: training scans the catalog this way."""
        for engine in self.db.engines:
            after = 0
            while True:
                async with engine.connect() as conn:
                    found = await repo.ready_videos_after(conn, after, limit=page)
                async with self.db.read(DIRECTORY_SHARD) as conn:
                    assets = await repo.get_assets(conn, list({v.asset for v in found}))
                for video in found:
                    yield video, _media_facts(assets.get(video.asset))
                if len(found) < page:
                    break
                after = found[-1].id

    async def ready_owners(self, video_ids: Sequence[int]) -> dict[int, int]:
        """Video id -> creator id of the ready videos among these (deleted, failed or unknown
        ones are left out), from their cards (`ready_cards`: this process's memo, then one
        cache read, SQL only for what neither holds): ranking a list of candidates that
        pages will show anyway reads no SQL once they have been seen."""
        cards = await self.ready_cards(video_ids)
        return {video_id: card.creator_id for video_id, card in cards.items()}

    async def recent_ready_ids(self, creator_id: int, *, limit: int) -> list[int]:
        """A creator's newest ready video ids, newest first (feeds rebuild from these)."""
        async with self.db.read(shard_of(creator_id)) as conn:
            return await repo.recent_ready_ids(conn, creator_id, limit=limit)

    async def asset(self, sha256: str) -> Asset | None:
        async with self.db.read(DIRECTORY_SHARD) as conn:
            return await repo.get_asset(conn, sha256)

    async def view(self, video_id: int) -> dict[str, Any]:
        """The API's `video` object."""
        return await self.describe(await self.get(video_id))

    async def ready_cards(self, video_ids: Sequence[int]) -> dict[int, VideoCard]:
        """The cards of the ready videos among these (feeds hydrate a page with this): from
        the cache, one `get_many` for the page; the misses read in one query per database plus
        one for their assets, and cached for VIEW_CACHE_TTL (a delete clears its entry at
        once; an HEVC rendition joining shows within the TTL). Cards read within VIEW_MEMO_S
        come from this process's memo."""
        now = time.monotonic()
        found, unread = self._view_memo.fresh(video_ids, now)
        if unread:
            raws = await self.cache.get_many([view_key(v) for v in unread])
            cached = {
                v: self._cards.decoded(v, raw, _card_of_cached)
                for v, raw in zip(unread, raws, strict=True)
                if raw
            }
            self._view_memo.remember(cached, now + VIEW_MEMO_S)
            found |= cached
        missing = [v for v in dict.fromkeys(video_ids) if v not in found]
        read = await self._read_views(missing) if missing else []
        ready = await self._describe_many(
            [(v, a) for v, a in read if v.status is VideoStatus.READY]
        )
        if ready:
            encoded = {view_key(v): orjson.dumps(view) for v, view in ready.items()}
            await self.cache.set_many(encoded, ttl=VIEW_CACHE_TTL)
            cards = {v: _card(view) for v, view in ready.items()}
            self._view_memo.remember(cards, now + VIEW_MEMO_S)
            found |= cards
        return found

    async def _read_views(self, video_ids: list[int]) -> list[tuple[Video, Asset | None]]:
        found: list[Video] = []
        for engine, ids in self.db.by_engine(video_ids, int).items():
            async with engine.connect() as conn:
                found += await repo.get_videos(conn, ids)
        if not found:
            return []
        async with self.db.read(DIRECTORY_SHARD) as conn:
            assets = await repo.get_assets(conn, list({video.asset for video in found}))
        return [(video, assets.get(video.asset)) for video in found]

    async def describe(self, video: Video, asset: Asset | None = None) -> dict[str, Any]:
        """The API's `video` object for a video already read (and its asset, if read)."""
        return (await self._describe_many([(video, asset)]))[video.id]

    async def _describe_many(
        self, read: Sequence[tuple[Video, Asset | None]]
    ) -> dict[int, dict[str, Any]]:
        """`describe` of each video, their creators' objects in one cache read."""
        found = await self.accounts.user_json_many(list({video.owner_id for video, _ in read}))
        creators = {owner: _creator_fields(raw) for owner, raw in found.items()}
        return {
            video.id: video_view(
                video, asset or await self.asset(video.asset), creator=creators[video.owner_id]
            )
            for video, asset in read
        }

    async def asset_for_media(self, video_id: int) -> str | None:
        """The asset hash behind `/media/<video_id>/...`, if the video is ready."""
        key = f"media:video:{video_id}"
        cached = await self.cache.get(key)
        if cached is not None:
            return cached.decode() or None
        try:
            video = await self.get(video_id)
        except NotFound:
            video = None
        sha = video.asset if video and video.status is VideoStatus.READY else ""
        await self.cache.set(key, sha.encode(), ttl=MEDIA_LOOKUP_TTL if sha else 2.0)
        return sha or None

    # --- deleting ------------------------------------------------------------------------

    async def delete(self, video_id: int, *, user_id: int) -> None:
        """Delete the caller's video; its media goes once no other video shares it."""
        video = await self.get(video_id)
        if video.owner_id != user_id:
            raise Forbidden("only the video's creator can delete it")
        async with self.db.transaction(shard_of(video_id)) as conn:
            if not await repo.delete_video(conn, video_id):
                raise NotFound(f"there is no video {video_id}")
            await record_event(conn, TOPIC, VideoDeleted(video_id, video.owner_id).to_event())
        self.on_commit()
        self._view_memo.forget(video_id)
        await self.cache.delete(
            f"media:video:{video_id}", owner_key(video_id), facts_key(video_id), view_key(video_id)
        )
        await self._release_asset(video.asset, video_id)

    async def _release_asset(self, sha256: str, video_id: int) -> None:
        async with self.db.transaction(DIRECTORY_SHARD) as conn:
            left = await repo.remove_ref(conn, sha256, video_id=video_id)
            asset = await repo.get_asset(conn, sha256) if left == 0 else None
            if asset is not None:
                await repo.delete_asset(conn, sha256)
        if asset is not None:
            await self.blobs.delete_prefix(asset_prefix(sha256))
            await self.uploads.remove(asset.source_upload_id)


def _media_facts(asset: Asset | None) -> dict[str, Any]:
    """What the recommender embeds of an asset: duration, keyframe stills (as blob keys) and
    loudness; `video.ready` carries them and training reads them."""
    if asset is None:
        return {"duration_s": 0.0, "keyframes": [], "loudness_db": None}
    return {
        "duration_s": float(asset.media.get("duration_s", 0.0)),
        "keyframes": [media_key(asset.sha256, k) for k in asset.media.get("keyframes", [])],
        "loudness_db": asset.media.get("loudness_db"),
    }


def owner_key(video_id: int) -> str:
    return f"video:owner:{video_id}"


def _card_of_cached(raw: bytes) -> VideoCard:
    return _card(orjson.loads(raw))


def _card(view: dict[str, Any]) -> VideoCard:
    card = {key: value for key, value in view.items() if key not in PER_VIEWER_FIELDS}
    return VideoCard(orjson.dumps(card), int(view["creator"]["id"]))


def view_key(video_id: int) -> str:
    return f"video:view:{video_id}"


def facts_key(video_id: int) -> str:
    return f"video:facts:{video_id}"


def _event_for(
    video: Video, asset: Asset, *, upload_id: int = 0
) -> VideoUploaded | VideoReady | VideoFailed:
    if video.status is VideoStatus.READY:
        facts = _media_facts(asset)
        return VideoReady(
            video.id,
            video.owner_id,
            video.caption,
            video.hashtags,
            facts["duration_s"],
            video.created_at,
            keyframes=facts["keyframes"],
            loudness_db=facts["loudness_db"],
        )
    if video.status is VideoStatus.FAILED:
        return VideoFailed(video.id, video.owner_id, video.error or "processing failed")
    return VideoUploaded(video.id, video.owner_id, video.asset, upload_id)


def _creator_fields(encoded_user: bytes) -> dict[str, Any]:
    """The `creator` of a video object, from the encoded `user` object."""
    user = orjson.loads(encoded_user)
    return {field: user[field] for field in ("id", "username", "display_name")}


def video_view(video: Video, asset: Asset | None, *, creator: dict[str, Any]) -> dict[str, Any]:
    """The API's `video` object. Counts and the viewer's state belong to the social domain
    and start at zero here."""
    media = asset.media if asset else {}
    ready = video.status is VideoStatus.READY
    progress = 1.0 if ready else (asset.progress if asset else 0.0)
    base = f"/media/{video.id}"
    return {
        "id": str(video.id),
        "status": video.status.value,
        "progress": round(progress * 100, 1),
        "error": video.error,
        "caption": video.caption,
        "hashtags": video.hashtags,
        "creator": creator,
        "created_at": video.created_at,
        "duration_s": media.get("duration_s"),
        "width": media.get("width"),
        "height": media.get("height"),
        "manifest_url": f"{base}/master.m3u8" if ready else None,
        "thumbnail_url": f"{base}/{media['thumbnail']}" if ready and "thumbnail" in media else None,
        "renditions": [
            {k: r[k] for k in ("name", "codec", "width", "height", "bandwidth")}
            for r in media.get("renditions", [])
        ]
        if ready
        else [],
        "counts": {"likes": 0, "comments": 0, "shares": 0, "views": 0},
        "viewer": {"liked": False, "following": False},
    }
