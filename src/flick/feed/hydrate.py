"""Feed items as the API's `video` objects: creator, counts, media URLs and the viewer's
like and follow state: views in one cache read for the whole page (usually none: a second's
memo per process), counts and the viewer's state (Social.viewer_state, remembered per
viewer) together in one more (Social.page_facts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flick.ingest.service import Videos
from flick.social.service import Social


async def hydrate(
    video_ids: Sequence[int], *, viewer_id: int | None, videos: Videos, social: Social
) -> list[dict[str, Any]]:
    """The ready videos among `video_ids`, in order, as API objects (a video deleted since it
    was ranked is left out)."""
    views = await videos.ready_views(list(video_ids))
    items = [views[video_id] for video_id in video_ids if video_id in views]
    ids = [int(item["id"]) for item in items]
    creators = list({int(item["creator"]["id"]) for item in items})
    if viewer_id:
        (liked, following), counts = await social.page_facts(viewer_id, ids, creators)
    else:
        (liked, following), counts = (set(), set()), await social.video_counts_many(ids)
    for item in items:
        item["counts"] = counts[int(item["id"])]
        item["viewer"] = {
            "liked": int(item["id"]) in liked,
            "following": int(item["creator"]["id"]) in following,
        }
    return items
