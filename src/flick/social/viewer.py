"""What a viewer likes and follows, as feed pages need it (`viewer.liked`, `viewer.following`,
the whole followee list the Following feed merges, and whom each user blocks, which every
ranked list checks its creators against), remembered in the cache so that paging through a
feed does not query SQL per page.

A viewer's state changes only through their own likes, unlikes, follows, unfollows, blocks and
unblocks, and each of those, once committed, writes a fresh *stamp* for the viewer. A
remembered state carries the stamp it was read under and is used only while that stamp is
current:

- a state is tagged with the stamp read *before* its SQL reads, so any write that commits
  after a read replaces the stamp (the write stamps after its commit) and the state is dropped;
- stamps are unique values (the nanosecond clock and random bits), never a counter that an
  evicted key could restart, so an evicted stamp never matches an old state by accident; and a state
  lives at most STATE_TTL_S.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

STATE_TTL_S = 600.0
STAMP_TTL_S = 86_400.0  # far longer than a state lives, so a state never outlives its stamp
STATE_MAX_IDS = 2_000  # ids remembered per viewer (videos + creators); past it, start afresh


class ViewerFacts(NamedTuple):
    """Of the ids asked about: the videos the viewer likes and the users they follow."""

    liked: set[int]
    following: set[int]


@dataclass
class ViewerState:
    """The ids checked so far under one stamp, and which of them are liked / followed."""

    stamp: bytes | None
    videos_checked: set[int] = field(default_factory=set)
    liked: set[int] = field(default_factory=set)
    creators_checked: set[int] = field(default_factory=set)
    following: set[int] = field(default_factory=set)

    def unchecked(
        self, video_ids: Sequence[int], creator_ids: Sequence[int]
    ) -> tuple[list[int], list[int]]:
        if self.videos_checked.issuperset(video_ids) and self.creators_checked.issuperset(
            creator_ids
        ):
            return [], []  # a page of a list checked as a whole (the usual case)
        videos = [v for v in dict.fromkeys(video_ids) if v not in self.videos_checked]
        creators = [c for c in dict.fromkeys(creator_ids) if c not in self.creators_checked]
        return videos, creators

    def learn(
        self, videos: Sequence[int], liked: set[int], creators: Sequence[int], following: set[int]
    ) -> None:
        if len(self.videos_checked) + len(self.creators_checked) + len(videos) > STATE_MAX_IDS:
            self.videos_checked, self.liked = set(), set()
            self.creators_checked, self.following = set(), set()
        self.videos_checked.update(videos)
        self.liked |= liked
        self.creators_checked.update(creators)
        self.following |= following

    def facts(self, video_ids: Iterable[int], creator_ids: Iterable[int]) -> ViewerFacts:
        return ViewerFacts(
            self.liked.intersection(video_ids), self.following.intersection(creator_ids)
        )

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "stamp": _text(self.stamp),
                "videos": list(self.videos_checked),
                "liked": list(self.liked),
                "creators": list(self.creators_checked),
                "following": list(self.following),
            }
        )

    @classmethod
    def decode(cls, raw: bytes | None, *, stamp: bytes | None) -> ViewerState:
        """The remembered state if it was read under `stamp`, else an empty one."""
        if raw is not None:
            data = orjson.loads(raw)
            if data["stamp"] == _text(stamp):
                return cls(
                    stamp,
                    set(data["videos"]),
                    set(data["liked"]),
                    set(data["creators"]),
                    set(data["following"]),
                )
        return cls(stamp)


def new_stamp() -> bytes:
    """A value no earlier stamp of any viewer had."""
    return f"{time.time_ns():x}.{os.urandom(4).hex()}".encode()


class Followees(NamedTuple):
    """A user's followee ids as read (newest follow first); `complete`: all of them."""

    ids: list[int]
    complete: bool


def encode_followees(user_ids: list[int], stamp: bytes | None, complete: bool) -> bytes:
    return orjson.dumps({"stamp": _text(stamp), "ids": user_ids, "complete": complete})


def decode_followees(raw: bytes | None, *, stamp: bytes | None) -> Followees | None:
    """The remembered followee ids if they were read under `stamp`, else None."""
    data = _read_under(raw, stamp)
    return None if data is None else Followees(data["ids"], data["complete"])


def encode_blocks(user_ids: Iterable[int], stamp: bytes | None) -> bytes:
    return orjson.dumps({"stamp": _text(stamp), "ids": sorted(user_ids)})


def decode_blocks(source: tuple[bytes | None, bytes | None]) -> frozenset[int] | None:
    """From (the remembered block list, the user's stamp now): whom the user blocks, if it
    was read under that stamp, else None."""
    data = _read_under(*source)
    return None if data is None else frozenset(data["ids"])


def blocks_key(user_id: int) -> str:
    return f"soc:blocks:{user_id}"


def followees_key(user_id: int) -> str:
    return f"soc:followees:{user_id}"


def state_key(viewer_id: int) -> str:
    return f"soc:viewer:{viewer_id}"


def stamp_key(viewer_id: int) -> str:
    return f"soc:viewer-stamp:{viewer_id}"


def _read_under(raw: bytes | None, stamp: bytes | None) -> dict[str, Any] | None:
    """A remembered JSON object, if it was written under `stamp` (its "stamp" field)."""
    if raw is None:
        return None
    data: dict[str, Any] = orjson.loads(raw)
    return data if data["stamp"] == _text(stamp) else None


def _text(stamp: bytes | None) -> str | None:
    """A stamp as it is stored inside JSON."""
    return None if stamp is None else stamp.decode()
