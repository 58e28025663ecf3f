"""Events the accounts domain publishes, on the `user` topic, keyed by user id."""

from __future__ import annotations

from dataclasses import dataclass

from flick.platform.bus import Event

TOPIC = "user"


@dataclass(frozen=True, slots=True)
class UserSignedUp:
    user_id: int
    username: str

    def to_event(self) -> Event:
        return Event(
            type="accounts.user_signed_up",
            key=self.user_id,
            payload={"user_id": str(self.user_id), "username": self.username},
        )


@dataclass(frozen=True, slots=True)
class ProfileUpdated:
    user_id: int
    display_name: str
    bio: str

    def to_event(self) -> Event:
        return Event(
            type="accounts.profile_updated",
            key=self.user_id,
            payload={
                "user_id": str(self.user_id),
                "display_name": self.display_name,
                "bio": self.bio,
            },
        )
