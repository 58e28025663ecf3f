"""Request and response shapes of the videos API (the tus routes speak headers, not JSON)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    upload_id: StrictStr = Field(
        max_length=40, pattern=r"^[0-9]+$", description="the id at the end of the tus Location"
    )
    caption: StrictStr | None = Field(
        None, max_length=4000, description="default: the upload's `caption` metadata"
    )


class Creator(BaseModel):
    id: str
    username: str
    display_name: str


class RenditionOut(BaseModel):
    name: str
    codec: str
    width: int
    height: int
    bandwidth: int


class VideoCounts(BaseModel):
    likes: int
    comments: int
    shares: int
    views: int


class ViewerState(BaseModel):
    liked: bool
    following: bool


class VideoOut(BaseModel):
    id: str
    status: str = Field(description="processing | ready | failed")
    progress: float = Field(description="percent of the H.264 ladder done")
    error: str | None
    caption: str
    hashtags: list[str]
    creator: Creator
    created_at: float
    duration_s: float | None
    width: int | None
    height: int | None
    manifest_url: str | None
    thumbnail_url: str | None
    renditions: list[RenditionOut]
    counts: VideoCounts
    viewer: ViewerState


class VideoPage(BaseModel):
    items: list[VideoOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")
