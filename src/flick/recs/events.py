"""Events the recommendation domain publishes: watches, on the `watch` topic, keyed by the
watching user's id (DESIGN.md section 5)."""

from __future__ import annotations

from flick.platform.bus import Event

WATCH = "watch"
WATCHED = "recs.video_watched"


def watched_event(
    user_id: int,
    *,
    video_id: int,
    creator_id: int,
    watched_ms: int,
    duration_ms: int,
    completed: bool,
    replays: int,
    quick_skip: bool,
    counted: bool,
    ts: float,
) -> Event:
    """One watch, already checked and clamped. `counted` is False for a repeat of the same
    user and video within the dedupe window: it is history, but it must not move signals."""
    payload = {
        "user_id": str(user_id),
        "video_id": str(video_id),
        "creator_id": str(creator_id),
        "watched_ms": watched_ms,
        "duration_ms": duration_ms,
        "completed": completed,
        "replays": replays,
        "quick_skip": quick_skip,
        "counted": counted,
    }
    return Event(type=WATCHED, key=user_id, payload=payload, ts=ts)
