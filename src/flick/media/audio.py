"""Loudness of a rendition's audio, for the recommender's content features. Read with PyAV
from Flick's own encode (never from the untrusted upload, which only the sandboxed probe and
ffmpeg touch)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import av
import numpy as np

from flick.media.ladder import _h264_segments

SILENCE_DB = -90.0  # what digital silence reads as (the floor of 16-bit audio is ~-96 dBFS)
MAX_SECONDS = 120.0  # a loudness estimate needs a sample of the audio, not all of it


def loudness_db(rung_dir: Path) -> float | None:
    """Mean loudness (RMS, dBFS) of a finished rendition's audio; None if it has no audio or
    cannot be read."""
    parts = _h264_segments(rung_dir)
    if not parts:
        return None
    data = b"".join(part.read_bytes() for part in parts)
    try:
        return _rms_db(io.BytesIO(data))
    except (av.error.FFmpegError, ValueError):
        return None


def _rms_db(stream: io.BytesIO) -> float | None:
    squares, samples = 0.0, 0
    with av.open(stream, mode="r", format="mp4") as container:
        if not container.streams.audio:
            return None
        audio = container.streams.audio[0]
        for frame in container.decode(audio):
            values = frame.to_ndarray().astype(np.float64)
            if values.dtype.kind == "i" or np.abs(values).max(initial=0) > 1.5:
                values = values / 32768.0  # integer PCM
            squares += float(np.square(values).sum())
            samples += values.size
            if frame.time is not None and frame.time > MAX_SECONDS:
                break
    if samples == 0:
        return None
    rms = math.sqrt(squares / samples)
    return round(max(SILENCE_DB, 20 * math.log10(rms)) if rms > 0 else SILENCE_DB, 2)
