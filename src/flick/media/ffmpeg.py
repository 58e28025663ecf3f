"""Find ffmpeg and run it under limits, reporting progress.

Every run is `ffmpeg -hide_banner -nostdin -loglevel error -progress pipe:1 ...` in a child
process under `sandbox.run_limited`: stderr carries only errors (its first lines become the
failure message), stdout carries the `key=value` progress blocks, of which `out_time_us` is read.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence

import imageio_ffmpeg

from flick.media import ProgressCallback, TranscodeLimits
from flick.media.sandbox import ChildFailed, LineCallback, ProcessLimits, run_limited

FFMPEG_ENV = "FLICK_FFMPEG"  # any ffmpeg >= 5.1 (fMP4 HLS, format_whitelist), e.g. Debian's
ERROR_LINES = 2  # ffmpeg's first lines of stderr, in a failure message: the cause
ERROR_CHARS = 400  # a message for logs and the video's `error` field, not a dump


class TranscodeFailed(Exception):
    """ffmpeg failed or hit a limit; the message says which, shortly."""


def ffmpeg_executable() -> str:
    """The ffmpeg to run: $FLICK_FFMPEG if set, else the static build inside imageio-ffmpeg."""
    return os.environ.get(FFMPEG_ENV) or imageio_ffmpeg.get_ffmpeg_exe()


def transcode_limits(limits: TranscodeLimits, *, duration_s: float) -> ProcessLimits:
    """The process limits for transcoding `duration_s` seconds of media."""
    return ProcessLimits(
        cpu_s=int(limits.cpu_s_base + limits.cpu_s_per_media_s * duration_s),
        memory_bytes=limits.memory_bytes,
        wall_s=limits.wall_s_base + limits.wall_s_per_media_s * duration_s,
    )


async def run_ffmpeg(
    args: Sequence[str],
    *,
    limits: ProcessLimits,
    duration_s: float,
    on_progress: ProgressCallback | None = None,
) -> None:
    """Run ffmpeg with `args` (inputs, filters, outputs); raise TranscodeFailed on failure.
    `duration_s` is the media length that `out_time_us` counts towards."""
    argv = [ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    argv += ["-progress", "pipe:1", "-nostats", *args]
    try:
        await run_limited(argv, limits=limits, on_line=_progress_reader(duration_s, on_progress))
    except ChildFailed as failure:
        raise TranscodeFailed(_describe(failure)) from failure


def _progress_reader(duration_s: float, on_progress: ProgressCallback | None) -> LineCallback:
    reported = 0.0  # ffmpeg's out_time can step back a little between outputs; we never do

    async def read(line: str) -> None:
        nonlocal reported
        fraction = _fraction(line, duration_s)
        if on_progress is None or fraction is None or fraction <= reported:
            return
        reported = fraction
        result = on_progress(fraction)
        if inspect.isawaitable(result):
            await result

    return read


def _fraction(line: str, duration_s: float) -> float | None:
    key, _, value = line.strip().partition("=")
    if key == "progress" and value == "end":
        return 1.0
    if key != "out_time_us" or not value.lstrip("-").isdigit() or duration_s <= 0:
        return None  # "N/A" before the first frame is out
    return min(1.0, max(0.0, int(value) / 1e6 / duration_s))


def _describe(failure: ChildFailed) -> str:
    if failure.limit is not None:
        return f"ffmpeg {failure}"
    lines = [line for line in failure.stderr.splitlines() if line.strip()]
    detail = "; ".join(lines[:ERROR_LINES])[:ERROR_CHARS]
    return f"ffmpeg {failure}: {detail}" if detail else f"ffmpeg {failure}"
