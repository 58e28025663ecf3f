"""Notifications: entities and rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

ACTORS_KEPT = 3  # "Ana, Bo and 12 others liked your video": names shown, the rest counted


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    user_id: int
    kind: str  # "follow" | "like" | "comment" | "post"
    subject_id: int  # the video (like, comment, post) or the follower (follow)
    actor_ids: list[int]  # newest first, at most ACTORS_KEPT
    actor_count: int
    read: bool
    created_at: float
    updated_at: float


class Delivery(NamedTuple):
    """One event's notification for one recipient, before it is stored. Deliveries with the
    same `group_key` fold into one notification while it is unread."""

    user_id: int
    kind: str
    subject_id: int
    actor_id: int
    event_id: str
    group_key: str | None = None

    @property
    def once_key(self) -> str:
        """Stored once per event and recipient, however often the event is delivered."""
        return f"{self.event_id}:{self.user_id}"

    @property
    def fold_key(self) -> tuple[int, str, int, str]:
        """Deliveries with equal keys become one notification."""
        return (self.user_id, self.kind, self.subject_id, self.group_key or self.once_key)


class Pending(NamedTuple):
    """A notification about to be stored: new, or folded into its group's unread one."""

    id: int
    user_id: int
    kind: str
    subject_id: int
    group_key: str | None
    actor_ids: list[int]  # oldest first


def grouped_actors(actors: list[int], newest: int) -> list[int]:
    """The newest actor first, without repeats, at most ACTORS_KEPT."""
    return [newest, *(a for a in actors if a != newest)][:ACTORS_KEPT]
