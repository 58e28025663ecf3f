"""Synthetic H.264/AAC MP4 clips from ffmpeg's lavfi sources, for tests, benchmarks and the
demo world (which wants varied scenes, colours, motion and tones).

    await make_clip(path, seconds=3, width=320, height=568, pattern="mandelbrot", hue=120)
"""

from __future__ import annotations

from pathlib import Path

from flick.media.ffmpeg import run_ffmpeg
from flick.media.sandbox import ProcessLimits

# lavfi video sources by name; {w}x{h} at {fps}. All move: a still pattern would encode to
# almost nothing and tell a benchmark nothing.
PATTERNS = {
    "testsrc2": "testsrc2=size={w}x{h}:rate={fps}",  # moving shapes, a counter, colour bars
    # a zoom into the Mandelbrot set: fine detail everywhere, continuous motion. Rendered at
    # half size and scaled up: full-size rendering costs ~1 CPU-s per 1080p frame.
    "mandelbrot": "mandelbrot=size={hw}x{hh}:rate={fps},scale={w}:{h}",
    "smptebars": "smptehdbars=size={w}x{h}:rate={fps},scroll=horizontal=0.01",  # sliding bars
    "gradients": "gradients=size={w}x{h}:rate={fps}:speed=0.03:n=4",  # slowly turning colours
    "life": "life=size={hw}x{hh}:rate={fps}:mold=10:ratio=0.1:life_color=#f0c040,scale={w}:{h}",
}
CLIP_CRF = 23  # x264's default quality: a plausible upload, not a lossless master
CLIP_PRESET = "veryfast"  # test fixtures are made often; quality is not what they test
CLIP_LIMITS = ProcessLimits(cpu_s=600, memory_bytes=4 << 30, wall_s=600)


async def make_clip(
    path: Path,
    *,
    seconds: float,
    width: int,
    height: int,
    fps: int = 30,
    audio: bool = True,
    pattern: str = "testsrc2",
    tone_hz: int = 440,
    moov_at_end: bool = True,
    hue: float = 0.0,
    noise: int = 0,
    crf: int = CLIP_CRF,
    display_rotation: int = 0,
) -> Path:
    """Write a `seconds`-long H.264 (+ AAC `tone_hz` sine, if `audio`) MP4 to `path`.

    `pattern` is a key of PATTERNS; `hue` turns its colours by degrees; `noise` (0-100) adds
    film-grain-like temporal noise (texture that costs bits, as camera footage has);
    `moov_at_end` leaves the index at the end, as cameras write it (False: "faststart");
    `display_rotation` (degrees) stores the frames as they are with a display matrix, as
    phones do for portrait video, so the displayed size is rotated."""
    video = _video_source(pattern, width=width, height=height, fps=fps, hue=hue, noise=noise)
    args = ["-f", "lavfi", "-t", f"{seconds:g}", "-i", video]
    args += _tone(seconds, tone_hz) if audio else []
    args += _encode(crf, audio=audio, faststart=not moov_at_end and not display_rotation)
    plain = path.with_name(f".{path.name}.plain.mp4") if display_rotation else path
    await run_ffmpeg([*args, "-y", str(plain)], limits=CLIP_LIMITS, duration_s=seconds)
    if display_rotation:
        await _rotate(plain, path, degrees=display_rotation, faststart=not moov_at_end)
        plain.unlink()
    return path


def _video_source(
    pattern: str, *, width: int, height: int, fps: int, hue: float, noise: int
) -> str:
    size = {"w": width, "h": height, "hw": _even(width // 2), "hh": _even(height // 2)}
    video = PATTERNS[pattern].format(fps=fps, **size)
    video += f",hue=h={hue:g}" if hue else ""
    video += f",noise=alls={noise}:allf=t" if noise else ""
    return f"{video},format=yuv420p"


def _tone(seconds: float, tone_hz: int) -> list[str]:
    return [
        "-f",
        "lavfi",
        "-t",
        f"{seconds:g}",
        "-i",
        f"sine=frequency={tone_hz}:sample_rate=48000",
    ]


def _encode(crf: int, *, audio: bool, faststart: bool) -> list[str]:
    args = ["-c:v", "libx264", "-preset", CLIP_PRESET, "-crf", str(crf), "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-b:a", "128k", "-ac", "2"] if audio else []
    return args + (["-movflags", "+faststart"] if faststart else [])


async def _rotate(source: Path, target: Path, *, degrees: int, faststart: bool) -> None:
    # -display_rotation is an input option: it sets the display matrix that -c copy carries.
    args = ["-display_rotation:v", str(degrees), "-i", str(source), "-c", "copy"]
    args += ["-movflags", "+faststart"] if faststart else []
    await run_ffmpeg([*args, "-y", str(target)], limits=CLIP_LIMITS, duration_s=0)


def _even(value: int) -> int:
    return max(2, value - value % 2)
