"""Request and response shapes of the accounts API. Strict: a number where a string belongs
is an error, not silently converted; unknown fields are refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SignupIn(_Strict):
    username: StrictStr = Field(max_length=64, examples=["ana"])
    password: StrictStr = Field(max_length=1024, examples=["correct horse battery"])
    display_name: StrictStr = Field("", max_length=200, examples=["Ana"])


class LoginIn(_Strict):
    username: StrictStr = Field(max_length=64)
    password: StrictStr = Field(max_length=1024)


class ProfilePatch(_Strict):
    display_name: StrictStr | None = Field(None, max_length=200)
    bio: StrictStr | None = Field(None, max_length=2000)


class UserCounts(BaseModel):
    followers: int
    following: int
    videos: int
    likes: int


class UserViewer(BaseModel):
    following: bool = Field(description="whether the signed-in viewer follows this user")


class UserOut(BaseModel):
    id: str = Field(description="64-bit id as a string (it overflows JavaScript numbers)")
    username: str
    display_name: str
    bio: str
    created_at: float
    counts: UserCounts
    viewer: UserViewer | None = Field(
        default=None, description="GET /users/{username} with a bearer token only"
    )


class SignedInOut(BaseModel):
    token: str = Field(description="bearer token; send as `Authorization: Bearer <token>`")
    user: UserOut
