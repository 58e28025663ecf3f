"""The demo world's plan: who the creators are, what each video looks and sounds like, what
each viewer secretly likes, and how much of a video a viewer watches. No I/O.

Everything follows from a seed, and each creator, video and viewer from its own index (a
random generator seeded by seed and index), so a re-run plans the same world and seeding
can resume where it stopped.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from flick.demo.clips import SCENES, ClipSpec
from flick.demo.themes import (
    BIOS,
    FIRST_NAMES,
    GENERIC_COMMENTS,
    GENERIC_TAGS,
    HANDLE_WORDS,
    LAST_INITIALS,
    THEMES,
    Theme,
)

VIDEOS_PER_CREATOR = 6  # on average; popular creators post more
CREATOR_SKEW = 1.1  # Zipf exponent of creator popularity: a few stars, a long tail
POSTING_SKEW = 0.6  # popular creators post more, less steeply than they are followed
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "flick-demo"  # printed at the end; the demo world is for one laptop
DEMO_THEMES = ("cats", "music", "travel")  # the demo viewer's taste: a For You to recognise
DEMO_APPETITE = 25  # videos the demo viewer has watched: a history to personalise from
LIKE_FROM = 0.9  # watched this share (or more): may like it
LIKE_CHANCE = 0.45
COMMENT_CHANCE = 0.12  # of the liked ones
SHARE_CHANCE = 0.08  # of the liked ones
HISTORY_SPAN_S = 20 * 3600  # watches are dated over the last 20 hours (the API takes a day)


@dataclass(frozen=True)
class WorldSize:
    """How big a world to make (`flick demo --videos N --viewers M`)."""

    videos: int = 200
    viewers: int = 300
    seed: int = 7
    width: int = 720  # 720x1280 portrait: the ladder makes 360p and 720p (and 720p HEVC)
    height: int = 1280
    fps: int = 24
    seconds: float = 3.0

    @property
    def creators(self) -> int:
        return max(2, min(self.videos, round(self.videos / VIDEOS_PER_CREATOR)))


@dataclass(frozen=True)
class Creator:
    index: int
    username: str
    display_name: str
    bio: str
    themes: tuple[str, ...]  # main theme first
    popularity: float  # relative chance of being followed and shown
    quality: float  # 0..1: how watchable their videos are, whatever the topic


@dataclass(frozen=True)
class VideoPlan:
    index: int
    creator: int  # Creator.index
    theme: str
    caption: str
    clip: ClipSpec


@dataclass(frozen=True)
class Viewer:
    index: int
    username: str
    display_name: str
    taste: dict[str, float] = field(hash=False)  # theme -> weight, summing to 1 (hidden)
    appetite: int = 30  # videos watched
    follows: int = 4  # creators followed


@dataclass(frozen=True)
class World:
    size: WorldSize
    creators: list[Creator]
    videos: list[VideoPlan]
    viewers: list[Viewer]  # the demo viewer is last

    def creator_of(self, video: VideoPlan) -> Creator:
        return self.creators[video.creator]


def plan_world(size: WorldSize) -> World:
    """The whole plan of a world of this size."""
    creators = [_creator(size.seed, i) for i in range(size.creators)]
    videos = [_video(size, i, creators) for i in range(size.videos)]
    viewers = [_viewer(size.seed, i) for i in range(size.viewers)]
    return World(size, creators, videos, [*viewers, demo_viewer(size)])


def demo_viewer(size: WorldSize) -> Viewer:
    """The account printed at the end: likes cats, music and travel, and has watched at
    most half the videos, so For You has unseen ones to offer."""
    taste = {name: 1 / len(DEMO_THEMES) for name in DEMO_THEMES}
    appetite = max(1, min(DEMO_APPETITE, size.videos // 2))
    return Viewer(-1, DEMO_USERNAME, "Demo Viewer", taste, appetite=appetite, follows=3)


def watch_ratio(viewer: Viewer, video: VideoPlan, creator: Creator, rng: random.Random) -> float:
    """How much of the video the viewer watches (above 1: replays): rises steeply with their
    hidden taste for its theme, a little with the creator's quality, plus noise."""
    affinity = viewer.taste.get(video.theme, 0.0) / max(viewer.taste.values())
    score = 3.2 * affinity + 1.0 * creator.quality - 2.2 + rng.gauss(0, 0.5)
    return max(0.04, min(2.5, 1.35 / (1 + math.exp(-2 * score))))


# --- creators, videos, viewers ----------------------------------------------------------


def _rng(seed: int, kind: str, index: int) -> random.Random:
    return random.Random(f"{seed}:{kind}:{index}")


def _creator(seed: int, index: int) -> Creator:
    rng = _rng(seed, "creator", index)
    main = THEMES[(index * 7 + seed) % len(THEMES)]  # every theme before any repeats
    other = rng.choice([t for t in THEMES if t is not main])
    first = FIRST_NAMES[(index * 11 + seed) % len(FIRST_NAMES)]
    word = rng.choice(HANDLE_WORDS[main.name])
    username = f"{first.lower()}.{word}" + (f"{index}" if index >= len(FIRST_NAMES) else "")
    display = f"{first} {rng.choice(LAST_INITIALS)}. | {_label(main.name)}"
    bio = rng.choice(BIOS).format(theme=_label(main.name))
    if rng.random() < 0.5:
        bio += f" Also: #{other.tags[0]}."
    themes = (main.name, other.name) if rng.random() < 0.6 else (main.name,)
    popularity = 1 / (index + 1) ** CREATOR_SKEW
    return Creator(index, username, display, bio, themes, popularity, rng.uniform(0.2, 1.0))


def _video(size: WorldSize, index: int, creators: list[Creator]) -> VideoPlan:
    rng = _rng(size.seed, "video", index)
    creator = creators[index] if index < len(creators) else _poster(creators, rng)
    theme = _theme(creator.themes[0] if rng.random() < 0.75 else rng.choice(creator.themes))
    caption = _caption(theme, rng)
    clip = _clip(size, theme, creator, rng)
    return VideoPlan(index, creator.index, theme.name, caption, clip)


def _label(theme: str) -> str:
    return "DIY" if theme == "diy" else theme.title()


def _poster(creators: list[Creator], rng: random.Random) -> Creator:
    weights = [c.popularity**POSTING_SKEW for c in creators]
    return rng.choices(creators, weights=weights)[0]


def _theme(name: str) -> Theme:
    return next(theme for theme in THEMES if theme.name == name)


def _caption(theme: Theme, rng: random.Random) -> str:
    text = rng.choice(theme.captions).format(thing=rng.choice(theme.things), n=rng.randint(2, 30))
    text = text[0].upper() + text[1:]
    tags = [theme.tags[0], *rng.sample(theme.tags[1:], k=rng.randint(1, 3))]
    if rng.random() < 0.4:
        tags.append(rng.choice(GENERIC_TAGS))
    return f"{text} " + " ".join(f"#{tag}" for tag in tags)


def _clip(size: WorldSize, theme: Theme, creator: Creator, rng: random.Random) -> ClipSpec:
    scene = rng.choice(theme.scenes) if rng.random() < 0.8 else rng.choice(sorted(SCENES))
    palette = list(theme.palette)
    if rng.random() < 0.3:
        palette[1], palette[2] = palette[2], palette[1]
    low, high = theme.pitch
    return ClipSpec(
        scene=scene,
        seconds=size.seconds,
        width=size.width,
        height=size.height,
        fps=size.fps,
        colours=(palette[0], palette[1], palette[2], palette[3]),
        hue=rng.randrange(0, 360, 15),
        speed=round(rng.uniform(0.5, 2.0), 2),
        seed=rng.randrange(1, 10_000),
        tone_hz=rng.randrange(low, high + 1, 10),
        volume=round(rng.choice((0.15, 0.35, 0.5, 0.7, 0.9)), 2),
        tremolo_hz=round(rng.uniform(0.5, 6.0), 1),
        title=theme.title,
        handle=creator.username,
    )


def _viewer(seed: int, index: int) -> Viewer:
    rng = _rng(seed, "viewer", index)
    liked = rng.sample(THEMES, k=rng.choice((1, 2, 2, 3)))
    weights = [rng.uniform(0.5, 1.0) for _ in liked]
    taste = {t.name: w / sum(weights) for t, w in zip(liked, weights, strict=True)}
    first = rng.choice(FIRST_NAMES)
    username = f"{first.lower()}_{rng.choice(LAST_INITIALS).lower()}{index}"
    display = f"{first} {rng.choice(LAST_INITIALS)}."
    return Viewer(index, username, display, taste, rng.randint(15, 45), rng.randint(1, 6))


# --- what a viewer does ------------------------------------------------------------------


@dataclass(frozen=True)
class Watching:
    """One viewer's watch of one video and what they did about it."""

    video: int  # VideoPlan.index
    ratio: float
    ago_s: float  # how long ago
    liked: bool
    comment: str | None
    shared: bool


def follows_of(world: World, viewer: Viewer) -> list[int]:
    """The creators (indexes) a viewer follows: popular ones, and ones of their taste."""
    rng = _rng(world.size.seed, "follows", viewer.index)
    weights = [
        c.popularity * (0.2 + 3 * viewer.taste.get(c.themes[0], 0.0)) for c in world.creators
    ]
    chosen: set[int] = set()
    for _ in range(min(viewer.follows, len(world.creators))):
        pick = rng.choices(range(len(world.creators)), weights=weights)[0]
        chosen.add(pick)
        weights[pick] = 0.0
        if not any(weights):
            break
    return sorted(chosen)


def watchings_of(world: World, viewer: Viewer, *, followed: list[int]) -> list[Watching]:
    """What a viewer watched on a legacy feed: a mix of anything, popular creators' videos
    and followed creators' videos (a platform's early logs), with the hidden taste deciding
    how much of each they watched, and whether they liked, commented on or shared it."""
    rng = _rng(world.size.seed, "watch", viewer.index)
    n = min(viewer.appetite, len(world.videos))
    pool = {video.index: video for video in world.videos}
    picks: list[VideoPlan] = []
    while len(picks) < n and pool:
        picks.append(pool.pop(_pick(world, viewer, list(pool.values()), followed, rng).index))
    return [_watching(world, viewer, video, rng) for video in picks]


def _pick(
    world: World, viewer: Viewer, left: list[VideoPlan], followed: list[int], rng: random.Random
) -> VideoPlan:
    draw = rng.random()
    if draw < 0.25 and followed:
        mine = [v for v in left if v.creator in followed]
        if mine:
            return rng.choice(mine)
    if draw < 0.6:
        weights = [world.creators[v.creator].popularity for v in left]
        return rng.choices(left, weights=weights)[0]
    if draw < 0.8:  # the legacy feed's noisy guess at taste
        weights = [0.1 + viewer.taste.get(v.theme, 0.0) for v in left]
        return rng.choices(left, weights=weights)[0]
    return rng.choice(left)


def _watching(world: World, viewer: Viewer, video: VideoPlan, rng: random.Random) -> Watching:
    ratio = watch_ratio(viewer, video, world.creator_of(video), rng)
    liked = ratio >= LIKE_FROM and rng.random() < LIKE_CHANCE
    comment = None
    if liked and rng.random() < COMMENT_CHANCE:
        theme = _theme(video.theme)
        comment = rng.choice(theme.comments + GENERIC_COMMENTS)
    shared = liked and rng.random() < SHARE_CHANCE
    return Watching(video.index, ratio, rng.uniform(60, HISTORY_SPAN_S), liked, comment, shared)
