"""Events the ingest domain publishes on the `video` topic, keyed by the owner's user id.

Wire names follow DESIGN.md section 1: `video.uploaded` (a transcode job), `video.ready`
(feeds, search, recs, notifications), `video.failed`, `video.deleted`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flick.platform.bus import Event

TOPIC = "video"
UPLOADED = "video.uploaded"
READY = "video.ready"
FAILED = "video.failed"
DELETED = "video.deleted"


@dataclass(frozen=True, slots=True)
class VideoUploaded:
    """A video was published from a complete upload; its asset may need transcoding."""

    video_id: int
    owner_id: int
    asset: str
    upload_id: int

    def to_event(self) -> Event:
        return Event(
            type=UPLOADED,
            key=self.owner_id,
            payload={
                "video_id": str(self.video_id),
                "owner_id": str(self.owner_id),
                "asset": self.asset,
                "upload_id": str(self.upload_id),
            },
        )


@dataclass(frozen=True, slots=True)
class VideoReady:
    """A video can be played: its H.264 renditions exist."""

    video_id: int
    owner_id: int
    caption: str
    hashtags: list[str]
    duration_s: float
    created_at: float
    keyframes: list[str] = field(default_factory=list)  # blob keys of the keyframe stills
    loudness_db: float | None = None  # RMS dBFS of the audio; None without audio

    def to_event(self) -> Event:
        return Event(
            type=READY,
            key=self.owner_id,
            payload={
                "video_id": str(self.video_id),
                "owner_id": str(self.owner_id),
                "caption": self.caption,
                "hashtags": self.hashtags,
                "duration_s": self.duration_s,
                "created_at": self.created_at,
                "keyframes": self.keyframes,
                "loudness_db": self.loudness_db,
            },
        )


@dataclass(frozen=True, slots=True)
class VideoFailed:
    """A video could not be processed; `reason` is for the person who uploaded it."""

    video_id: int
    owner_id: int
    reason: str

    def to_event(self) -> Event:
        return Event(
            type=FAILED,
            key=self.owner_id,
            payload={
                "video_id": str(self.video_id),
                "owner_id": str(self.owner_id),
                "reason": self.reason,
            },
        )


@dataclass(frozen=True, slots=True)
class VideoDeleted:
    """A video was deleted by its owner: feeds, search and recs drop it."""

    video_id: int
    owner_id: int

    def to_event(self) -> Event:
        return Event(
            type=DELETED,
            key=self.owner_id,
            payload={"video_id": str(self.video_id), "owner_id": str(self.owner_id)},
        )
