"""Events the social domain publishes, keyed by the acting user's id (DESIGN.md section 5):
`graph` for follows and blocks, `interaction` for likes, comments and shares."""

from __future__ import annotations

from typing import Any

from flick.platform.bus import Event
from flick.platform.ids import new_id, shard_of

GRAPH = "graph"
INTERACTION = "interaction"
FOLLOWED = "social.user_followed"
UNFOLLOWED = "social.user_unfollowed"
BLOCKED = "social.user_blocked"
LIKED = "social.video_liked"
UNLIKED = "social.video_unliked"
COMMENTED = "social.comment_posted"
COMMENT_DELETED = "social.comment_deleted"
SHARED = "social.video_shared"


def social_event(kind: str, actor_id: int, **fields: int | str | float) -> Event:
    """An event by `actor_id`; ids in the payload are strings, as in the API. `version`, a
    time-ordered id drawn when the action happened, lets counters keep the latest state of
    each like or follow whatever order the events arrive in."""
    payload: dict[str, Any] = {"actor_id": str(actor_id), "version": new_id(shard_of(actor_id))}
    payload.update({k: str(v) if k.endswith("_id") else v for k, v in fields.items()})
    return Event(type=kind, key=actor_id, payload=payload)
