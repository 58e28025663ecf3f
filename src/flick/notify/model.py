"""Notifications: entities and rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

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


def grouped_actors(actors: list[int], newest: int) -> list[int]:
    """The newest actor first, without repeats, at most ACTORS_KEPT."""
    return [newest, *(a for a in actors if a != newest)][:ACTORS_KEPT]
