"""Following-feed rules, no I/O: the fan-out policy, the order of a feed, the per-creator
record that says which posts were pushed.

A feed is ordered by video id, newest first: ids are snowflakes, so their order is the order
in which the videos were published, and the sorted-set score is the id's milliseconds
(exact in a float, unlike the 64-bit id), ties broken by the member, which Redis and the
memory cache compare as strings: ids of one millisecond have the same number of digits.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from flick.platform.ids import SEQUENCE_BITS, SHARD_BITS

Policy = Literal["seed", "classic"]
POLICIES: tuple[Policy, ...] = ("seed", "classic")


def score_of(video_id: int) -> float:
    """The sorted-set score of a video: milliseconds since the id epoch."""
    return float(video_id >> (SHARD_BITS + SEQUENCE_BITS))


def is_pushed(policy: Policy, followers: int, *, threshold: int) -> bool:
    """Whether a creator's new posts go into followers' inboxes (fan-out on write) rather
    than being merged at read time. `seed` (the article): accounts with many followers are
    pushed, the rest pulled. `classic` (Twitter, Mastodon): the reverse."""
    large = followers >= threshold
    return large if policy == "seed" else not large


class Author(NamedTuple):
    """What the feed knows of a creator's posts.

    `newest`: the id of their newest ready post (0 = none). `pulled_until`: the id of their
    newest post that was *not* pushed (0 = all were): every post above it sits in the inboxes
    of its (active) followers, every post at or below it may not, so a read merges the
    creator's posts up to `pulled_until`. A creator who crosses the threshold is therefore
    handled whichever way: older posts are read from their list, newer ones from inboxes,
    and a post found both ways counts once.
    """

    newest: int
    pulled_until: int

    def encode(self) -> bytes:
        return b"%d:%d" % (self.newest, self.pulled_until)

    @classmethod
    def decode(cls, raw: bytes) -> Author:
        newest, pulled_until = raw.split(b":")
        return cls(int(newest), int(pulled_until))

    def posted(self, video_id: int, *, pushed: bool) -> Author:
        """The record after a post that was (or was not) pushed."""
        pulled = self.pulled_until if pushed else max(self.pulled_until, video_id)
        return Author(max(self.newest, video_id), pulled)


def newest_first(video_ids: set[int]) -> list[int]:
    return sorted(video_ids, reverse=True)
