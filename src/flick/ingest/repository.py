"""Every SQL query of the ingest domain.

`uploads` and `upload_parts` live on the uploader's shard, `videos` on the owner's shard.
`media_assets` and `asset_refs` are global by content hash, so they live with logical shard 0
(DESIGN.md section 3), like the username directory: dedup is one primary-key lookup.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from flick.ingest.model import Asset, Upload, Video, VideoStatus
from flick.platform.sql import insert_or_ignore, metadata

uploads = Table(
    "uploads",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, nullable=False),
    Column("length", BigInteger, nullable=False),
    Column("received", BigInteger, nullable=False),
    Column("metadata", LargeBinary, nullable=False),  # JSON of the decoded Upload-Metadata
    Column("sha256", String(64), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("video_id", BigInteger, nullable=True),
    Index("ix_uploads_expires_at", "expires_at"),
)

upload_parts = Table(
    "upload_parts",
    metadata,
    Column("upload_id", BigInteger, primary_key=True, autoincrement=False),
    Column("offset", BigInteger, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("key", String(200), nullable=False),
)

videos = Table(
    "videos",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("owner_id", BigInteger, nullable=False),
    Column("asset", String(64), nullable=False),
    Column("caption", Text, nullable=False),
    Column("hashtags", LargeBinary, nullable=False),  # JSON list
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_videos_owner_id_id", "owner_id", "id"),
)

media_assets = Table(
    "media_assets",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("source_upload_id", BigInteger, nullable=False),
    Column("progress", Float, nullable=False),
    Column("error", Text, nullable=True),
    Column("original_key", String(200), nullable=True),
    Column("media", LargeBinary, nullable=False),  # JSON: duration, size, renditions, stills
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

asset_refs = Table(
    "asset_refs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("video_id", BigInteger, primary_key=True, autoincrement=False),
    Column("owner_id", BigInteger, nullable=False),
)


# --- uploads ---------------------------------------------------------------------------------


async def insert_upload(conn: AsyncConnection, upload: Upload) -> None:
    await conn.execute(
        insert(uploads).values(
            id=upload.id,
            user_id=upload.user_id,
            length=upload.length,
            received=upload.received,
            metadata=orjson.dumps(upload.metadata),
            sha256=upload.sha256,
            created_at=upload.created_at,
            expires_at=upload.expires_at,
        )
    )


async def get_upload(conn: AsyncConnection, upload_id: int) -> Upload | None:
    row = (await conn.execute(select(uploads).where(uploads.c.id == upload_id))).first()
    return _upload(row) if row else None


def _upload(row: Row[Any]) -> Upload:
    return Upload(
        id=row.id,
        user_id=row.user_id,
        length=row.length,
        received=row.received,
        metadata=orjson.loads(row.metadata),
        created_at=row.created_at,
        expires_at=row.expires_at,
        sha256=row.sha256,
        video_id=row.video_id,
    )


async def advance_upload(
    conn: AsyncConnection,
    upload_id: int,
    *,
    from_offset: int,
    parts: list[tuple[int, int, str]],
    sha256: str | None,
) -> bool:
    """Move the committed offset past `parts` (offset, size, key); False if another request
    moved it first (the caller's parts are then not recorded)."""
    to_offset = from_offset + sum(size for _offset, size, _key in parts)
    result = await conn.execute(
        update(uploads)
        .where(uploads.c.id == upload_id, uploads.c.received == from_offset)
        .values(received=to_offset, sha256=sha256)
    )
    if not result.rowcount:
        return False
    if parts:
        await conn.execute(
            insert(upload_parts),
            [{"upload_id": upload_id, "offset": o, "size": s, "key": k} for o, s, k in parts],
        )
    return True


async def list_parts(conn: AsyncConnection, upload_id: int) -> list[tuple[int, int, str]]:
    """Committed parts in byte order."""
    rows = await conn.execute(
        select(upload_parts.c.offset, upload_parts.c.size, upload_parts.c.key)
        .where(upload_parts.c.upload_id == upload_id)
        .order_by(upload_parts.c.offset)
    )
    return [(row.offset, row.size, row.key) for row in rows]


async def mark_upload_published(conn: AsyncConnection, upload_id: int, video_id: int) -> bool:
    """Tie a complete upload to its video, once; False if it was already published."""
    result = await conn.execute(
        update(uploads)
        .where(
            uploads.c.id == upload_id,
            uploads.c.video_id.is_(None),
            uploads.c.received == uploads.c.length,
        )
        .values(video_id=video_id)
    )
    return bool(result.rowcount)


async def delete_upload(conn: AsyncConnection, upload_id: int) -> bool:
    await conn.execute(delete(upload_parts).where(upload_parts.c.upload_id == upload_id))
    result = await conn.execute(delete(uploads).where(uploads.c.id == upload_id))
    return bool(result.rowcount)


async def expired_uploads(conn: AsyncConnection, *, now: float, limit: int) -> list[int]:
    """Uploads past their expiry that were never published."""
    rows = await conn.execute(
        select(uploads.c.id)
        .where(uploads.c.expires_at < now, uploads.c.video_id.is_(None))
        .limit(limit)
    )
    return [row.id for row in rows]


# --- videos ----------------------------------------------------------------------------------


async def insert_video(conn: AsyncConnection, video: Video) -> None:
    await conn.execute(
        insert(videos).values(
            id=video.id,
            owner_id=video.owner_id,
            asset=video.asset,
            caption=video.caption,
            hashtags=orjson.dumps(video.hashtags),
            status=video.status.value,
            error=video.error,
            created_at=video.created_at,
            updated_at=video.created_at,
        )
    )


async def get_video(conn: AsyncConnection, video_id: int) -> Video | None:
    row = (await conn.execute(select(videos).where(videos.c.id == video_id))).first()
    return None if row is None else _video(row)


async def videos_of(
    conn: AsyncConnection, owner_id: int, *, before: int | None, limit: int, ready_only: bool
) -> list[Video]:
    """A creator's videos, newest first, strictly before the `before` video id."""
    query = select(videos).where(videos.c.owner_id == owner_id)
    if ready_only:
        query = query.where(videos.c.status == VideoStatus.READY.value)
    if before is not None:
        query = query.where(videos.c.id < before)
    rows = await conn.execute(query.order_by(videos.c.id.desc()).limit(limit))
    return [_video(row) for row in rows]


async def recent_ready_ids(conn: AsyncConnection, owner_id: int, *, limit: int) -> list[int]:
    """A creator's newest ready video ids, newest first."""
    query = (
        select(videos.c.id)
        .where(videos.c.owner_id == owner_id, videos.c.status == VideoStatus.READY.value)
        .order_by(videos.c.id.desc())
        .limit(limit)
    )
    return [row.id for row in await conn.execute(query)]


async def ready_videos_after(conn: AsyncConnection, after_id: int, *, limit: int) -> list[Video]:
    """Ready videos of one database by id, after `after_id` (a catalog scan, page by page)."""
    query = (
        select(videos)
        .where(videos.c.id > after_id, videos.c.status == VideoStatus.READY.value)
        .order_by(videos.c.id)
        .limit(limit)
    )
    return [_video(row) for row in await conn.execute(query)]


def _video(row: Any) -> Video:
    return Video(
        id=row.id,
        owner_id=row.owner_id,
        asset=row.asset,
        caption=row.caption,
        hashtags=orjson.loads(row.hashtags),
        status=VideoStatus(row.status),
        created_at=row.created_at,
        error=row.error,
    )


async def settle_video(
    conn: AsyncConnection, video_id: int, *, status: VideoStatus, error: str | None, now: float
) -> bool:
    """processing -> ready | failed, once; False if it was not processing (or is gone)."""
    result = await conn.execute(
        update(videos)
        .where(videos.c.id == video_id, videos.c.status == VideoStatus.PROCESSING.value)
        .values(status=status.value, error=error, updated_at=now)
    )
    return bool(result.rowcount)


async def delete_video(conn: AsyncConnection, video_id: int) -> bool:
    result = await conn.execute(delete(videos).where(videos.c.id == video_id))
    return bool(result.rowcount)


# --- assets (shard 0) ------------------------------------------------------------------------


async def create_asset(
    conn: AsyncConnection, sha256: str, *, source_upload_id: int, now: float
) -> bool:
    """A processing asset for new content; False if the content is already known."""
    result = await conn.execute(
        insert_or_ignore(conn, media_assets)
        .values(
            sha256=sha256,
            status=VideoStatus.PROCESSING.value,
            source_upload_id=source_upload_id,
            progress=0.0,
            media=b"{}",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount)


async def get_asset(conn: AsyncConnection, sha256: str) -> Asset | None:
    row = (await conn.execute(select(media_assets).where(media_assets.c.sha256 == sha256))).first()
    return None if row is None else _asset(row)


async def get_assets(conn: AsyncConnection, shas: list[str]) -> dict[str, Asset]:
    """Several assets by content hash, in one query."""
    rows = await conn.execute(select(media_assets).where(media_assets.c.sha256.in_(shas)))
    return {row.sha256: _asset(row) for row in rows}


async def get_videos(conn: AsyncConnection, video_ids: list[int]) -> list[Video]:
    """Several videos of one database by id, in one query (absent ones left out)."""
    rows = await conn.execute(select(videos).where(videos.c.id.in_(video_ids)))
    return [_video(row) for row in rows]


def _asset(row: Any) -> Asset:
    return Asset(
        sha256=row.sha256,
        status=VideoStatus(row.status),
        source_upload_id=row.source_upload_id,
        progress=row.progress,
        error=row.error,
        original_key=row.original_key,
        media=orjson.loads(row.media),
    )


async def update_asset(conn: AsyncConnection, sha256: str, **values: Any) -> bool:
    """Set columns of an asset (`media` as a dict); False if it is gone."""
    if "media" in values:
        values["media"] = orjson.dumps(values["media"])
    if "status" in values:
        values["status"] = VideoStatus(values["status"]).value
    result = await conn.execute(
        update(media_assets).where(media_assets.c.sha256 == sha256).values(**values)
    )
    return bool(result.rowcount)


async def delete_asset(conn: AsyncConnection, sha256: str) -> None:
    await conn.execute(delete(media_assets).where(media_assets.c.sha256 == sha256))


async def add_ref(conn: AsyncConnection, sha256: str, *, video_id: int, owner_id: int) -> None:
    await conn.execute(
        insert_or_ignore(conn, asset_refs)
        .values(sha256=sha256, video_id=video_id, owner_id=owner_id)
        .on_conflict_do_nothing()
    )


async def remove_ref(conn: AsyncConnection, sha256: str, *, video_id: int) -> int:
    """Drop a video's reference; returns how many references the asset still has."""
    await conn.execute(
        delete(asset_refs).where(asset_refs.c.sha256 == sha256, asset_refs.c.video_id == video_id)
    )
    count = await conn.execute(
        select(func.count()).select_from(asset_refs).where(asset_refs.c.sha256 == sha256)
    )
    return int(count.scalar_one())


async def refs(conn: AsyncConnection, sha256: str) -> list[tuple[int, int]]:
    """(video id, owner id) of every video sharing an asset."""
    rows = await conn.execute(
        select(asset_refs.c.video_id, asset_refs.c.owner_id).where(asset_refs.c.sha256 == sha256)
    )
    return [(row.video_id, row.owner_id) for row in rows]
