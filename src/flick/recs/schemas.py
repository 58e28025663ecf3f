"""Request and response shapes of the recs domain's routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_EVENTS_PER_REQUEST = 100  # a client flushes every few seconds; more is a script


class WatchIn(BaseModel):
    """One watch. The watcher is the signed-in user: a `user_id` here is refused."""

    model_config = ConfigDict(extra="forbid")

    video_id: str = Field(pattern=r"^[0-9]{1,20}$", description="the video's id")
    watched_ms: int = Field(ge=0, le=24 * 3600 * 1000, description="time watched, replays included")
    completed: bool = Field(default=False, description="the player reached the end")
    replays: int = Field(default=0, ge=0, le=1000, description="loops after the first play")
    quick_skip: bool = Field(default=False, description="swiped away within the first seconds")
    ts: float | None = Field(default=None, description="when (Unix seconds); default: now")


class WatchBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[WatchIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)


class WatchBatchOut(BaseModel):
    accepted: int = Field(description="watches stored")
    dropped: int = Field(description="watches of videos that do not exist or are not ready")
