"""Feed items as the API's `video` objects: creator, counts, media URLs and the viewer's
like and follow state. The cards (everything but counts and viewer) come in one cache read
for the whole page (usually none: a second's memo per process, Videos.ready_cards), counts
and the viewer's state (Social.viewer_state, remembered per viewer) together in one more
(Social.page_facts). Items are spliced from encoded parts: a page is bytes put together,
not dicts built and encoded per request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from flick.ingest.service import Videos
from flick.social.service import Social

# The `viewer` object, encoded, by (liked, following).
VIEWER_JSON = {
    (liked, following): orjson.dumps({"liked": liked, "following": following})
    for liked in (False, True)
    for following in (False, True)
}


async def hydrate_encoded(
    video_ids: Sequence[int], *, viewer_id: int | None, videos: Videos, social: Social
) -> list[bytes]:
    """The ready videos among `video_ids`, in order, as encoded API objects (a video deleted
    since it was ranked is left out)."""
    cards = await videos.ready_cards(video_ids)
    shown = [(video_id, cards[video_id]) for video_id in video_ids if video_id in cards]
    ids = [video_id for video_id, _ in shown]
    creators = list({card.creator_id for _, card in shown})
    if viewer_id:
        (liked, following), counts = await social.page_facts(viewer_id, ids, creators)
    else:
        (liked, following) = set(), set()
        found = await social.video_counts_many(ids)
        counts = {video_id: orjson.dumps(found[video_id]) for video_id in ids}
    # A card is an encoded JSON object without counts and viewer: its closing brace makes way
    # for them.
    return [
        b"".join(
            (
                card.json[:-1],
                b',"counts":',
                counts[video_id],
                b',"viewer":',
                VIEWER_JSON[video_id in liked, card.creator_id in following],
                b"}",
            )
        )
        for video_id, card in shown
    ]


async def hydrate(
    video_ids: Sequence[int], *, viewer_id: int | None, videos: Videos, social: Social
) -> list[dict[str, Any]]:
    """`hydrate_encoded`, decoded (for responses that hold the items in a larger object)."""
    encoded = await hydrate_encoded(video_ids, viewer_id=viewer_id, videos=videos, social=social)
    return [orjson.loads(item) for item in encoded]
