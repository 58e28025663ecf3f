"""Response shapes of the search API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from flick.accounts.schemas import UserOut
from flick.ingest.schemas import VideoOut


class HashtagOut(BaseModel):
    tag: str = Field(description="without '#', lower-cased")
    videos: int = Field(description="how many searchable videos carry it")


class SearchPage(BaseModel):
    items: list[VideoOut] | list[UserOut] | list[HashtagOut] = Field(
        description="`video` objects, `user` objects or hashtags, as `type` asks"
    )
    next_cursor: str | None
