"""Request and response shapes of the social API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from flick.accounts.schemas import UserOut


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: StrictStr = Field(max_length=4000, description="plain text, shown as text")


class CommentAuthor(BaseModel):
    id: str
    username: str
    display_name: str


class CommentOut(BaseModel):
    id: str
    video_id: str
    text: str
    author: CommentAuthor
    created_at: float


class CommentPage(BaseModel):
    items: list[CommentOut]
    next_cursor: str | None


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


class ShareOut(BaseModel):
    url: str = Field(description="a link to the video that carries the share id")
