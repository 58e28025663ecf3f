"""Tiny synthetic clips, made once per test session (a few tenths of a second each)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from flick.media.clips import make_clip

CLIP_S = 3.0  # a 2 s segment and a short one
TINY = {"width": 240, "height": 426, "fps": 15}  # portrait, under 360p: a single rung


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory the session's clips are written to."""
    return tmp_path_factory.mktemp("clips")


def _made(path: Path, **options: Any) -> Path:
    if not path.exists():
        asyncio.run(make_clip(path, **options))
    return path


@pytest.fixture(scope="session")
def tiny_clip(clips: Path) -> Path:
    """3 s of 240x426 at 15 fps with a 440 Hz tone, index (moov) at the end."""
    return _made(clips / "tiny.mp4", seconds=CLIP_S, **TINY)


@pytest.fixture(scope="session")
def silent_clip(clips: Path) -> Path:
    """3 s of 240x426 at 15 fps, no audio track."""
    return _made(clips / "silent.mp4", seconds=CLIP_S, audio=False, pattern="gradients", **TINY)


@pytest.fixture(scope="session")
def rotated_clip(clips: Path) -> Path:
    """Landscape 426x240 frames with a 90° display matrix: shown as 240x426, as phones do."""
    return _made(
        clips / "rotated.mp4", seconds=CLIP_S, width=426, height=240, fps=15, display_rotation=90
    )


@pytest.fixture(scope="session")
def hd_clip(clips: Path) -> Path:
    """3 s of 720x1280 at 15 fps: enough for the 360p and 720p rungs and the HEVC rung."""
    return _made(clips / "hd.mp4", seconds=CLIP_S, width=720, height=1280, fps=15)
