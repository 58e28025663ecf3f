"""The demo world's clips: short portrait H.264/AAC MP4s made by ffmpeg from lavfi sources,
each a scene (cellular automata, fractals, gradients, plasma, moving shapes, zooms...) in
its theme's colours, a title and the creator's handle drawn over it, and a tone with a
tremolo at its own pitch and loudness.

A clip's file name is the hash of its spec, so a clip is made once per spec and a re-run (or
another data dir pointed at the same clip cache) reuses it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from flick.media.ffmpeg import run_ffmpeg
from flick.media.sandbox import ProcessLimits

# Each scene renders at a fraction of the frame and is scaled up: the look survives (blocky
# cells, smooth gradients) and rendering a 720x1280 frame of geq or mandelbrot costs ~10x
# less. {W}x{H} is the frame, {w4}x{h4} a quarter of it, {w8}x{h8} an eighth.
SCENES = {
    "life": (
        "life=s={w8}x{h8}:r={fps}:seed={seed}:ratio=0.15:mold=6:life_color={c2}:"
        "death_color={c0}:mold_color={c1},scale={W}:{H}:flags=neighbor"
    ),
    "automaton": (
        "cellauto=s={w4}x{h4}:r={fps}:rule={rule}:random_fill_ratio=0.4:seed={seed}:scroll=1,"
        "format=rgb24,colorchannelmixer=rr={r2}:gg={g2}:bb={b2},scale={W}:{H}:flags=neighbor"
    ),
    "fractal": (
        "mandelbrot=s={w4}x{h4}:r={fps}:maxiter=96:start_scale={zstart}:end_scale=0.05:"
        "end_pts={zoom_pts},"
        "hue=h={hue},scale={W}:{H}"
    ),
    "gradient": (
        "gradients=s={w4}x{h4}:r={fps}:c0={c0}:c1={c1}:c2={c2}:c3={c3}:n=4:"
        "speed={gspeed}:type={gtype}:seed={seed},scale={W}:{H}"
    ),
    "plasma": (
        "nullsrc=s={w8}x{h8}:r={fps},format=gbrp,"
        "geq=r='128+127*sin(X/{px}+T*{pt})':g='128+127*sin(Y/{py}+T*{pt}*1.3)':"
        "b='128+127*sin((X+Y)/{pxy}+T*{pt}*0.7)',hue=h={hue},scale={W}:{H}:flags=bicubic"
    ),
    "shapes": (
        "color=c={c0}:s={W}x{H}:r={fps},"
        "drawbox=x='{W}/2-120+{ax}*sin({sp}*t)':y='{H}*0.25+{ay}*cos({sp}*t*0.7)':w=240:h=240:"
        "color={c1}:t=fill,"
        "drawbox=x='{W}/2-80+{ay}*cos({sp}*t*1.3)':y='{H}*0.55+{ax}*sin({sp}*t)':w=160:h=160:"
        "color={c2}:t=fill,"
        "drawbox=x='{W}*0.2+{ax}*sin({sp}*t*2)':y='{H}*0.75':w={W}*0.6:h=24:color={c3}:t=fill"
    ),
    "carpet": (
        "sierpinski=s={w4}x{h4}:r={fps}:seed={seed}:jump={jump}:type={stype},"
        "format=rgb24,colorchannelmixer=rr={r2}:gg={g2}:bb={b2},scale={W}:{H}:flags=neighbor"
    ),
    "bars": "testsrc2=s={w2}x{h2}:r={fps},hue=h={hue}:s=1.4,scale={W}:{H}",
    "spectrum": (
        "colorspectrum=s={w4}x{h4}:r={fps}:type=all,scroll=horizontal={scroll},"
        "hue=H='{hue_rad}+{sp}*t',scale={W}:{H}"
    ),
    "zoom": (
        "gradients=s={w4}x{h4}:r={fps}:c0={c0}:c1={c1}:c2={c2}:c3={c3}:n=4:speed=0.01:"
        "type=spiral:seed={seed},zoompan=z='1+{zrate}*on':x='iw/2-iw/zoom/2':"
        "y='ih/2-ih/zoom/2':d=1:s={W}x{H}:fps={fps}"
    ),
}
SOURCE_PRESET = "ultrafast"  # the clips are uploads, not masters: cheap to make, still sharp
SOURCE_CRF = 20
CLIP_LIMITS = ProcessLimits(cpu_s=300, memory_bytes=2 << 30, wall_s=300)
# Fonts looked for to draw the title; without one the clip has no text, only its scene.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
    "/Library/Fonts/Arial.ttf",
)


@dataclass(frozen=True)
class ClipSpec:
    """Everything a clip is made from; equal specs make equal clips."""

    scene: str
    seconds: float
    width: int
    height: int
    fps: int
    colours: tuple[str, str, str, str]  # "#rrggbb", darkest first
    hue: int  # degrees the scene's own colours turn
    speed: float  # 0.5 (calm) to 2 (busy)
    seed: int
    tone_hz: int
    volume: float  # 0.1 (quiet) to 0.9 (loud)
    tremolo_hz: float
    title: str
    handle: str

    def key(self) -> str:
        """The clip's cache name: a hash of the spec."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]


async def make_demo_clip(spec: ClipSpec, directory: Path) -> Path:
    """The clip of `spec` in `directory`, made now unless it is there already."""
    path = directory / f"{spec.key()}.mp4"
    if path.is_file():
        return path
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial.mp4")
    args = ["-f", "lavfi", "-i", video_graph(spec), "-f", "lavfi", "-i", audio_source(spec)]
    args += ["-t", f"{spec.seconds:g}", "-map", "0:v", "-map", "1:a"]
    args += ["-c:v", "libx264", "-preset", SOURCE_PRESET, "-crf", str(SOURCE_CRF)]
    args += ["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-ac", "2"]
    args += ["-movflags", "+faststart", "-y", str(partial)]
    try:
        await run_ffmpeg(args, limits=CLIP_LIMITS, duration_s=spec.seconds)
        partial.replace(path)  # whole or not at all: a killed run leaves no half clip
    finally:
        partial.unlink(missing_ok=True)
    return path


def video_graph(spec: ClipSpec) -> str:
    """The lavfi graph of the clip's picture: its scene, then the text over it."""
    graph = SCENES[spec.scene].format(**_scene_values(spec))
    font = font_file()
    if font:
        graph += "," + _title(spec, font)
    return f"{graph},format=yuv420p"


def audio_source(spec: ClipSpec) -> str:
    """A tone at the clip's pitch with a tremolo, and a quieter fifth above it."""
    v, f, m = spec.volume, spec.tone_hz, spec.tremolo_hz
    expr = f"{v:.2f}*sin(2*PI*{f}*t)*(0.7+0.3*sin(2*PI*{m:.2f}*t))+{v / 4:.2f}*sin(3*PI*{f}*t)"
    return f"aevalsrc=exprs='{expr}':s=48000:d={spec.seconds:g}"


@cache
def font_file() -> str | None:
    """A bold sans-serif font on this machine (fontconfig's pick first), or None."""
    if shutil.which("fc-match"):
        try:
            found = subprocess.run(
                ["fc-match", "-f", "%{file}", "sans:bold"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            found = ""
        if found.endswith((".ttf", ".otf")) and Path(found).is_file():
            return found
    return next((path for path in FONT_CANDIDATES if Path(path).is_file()), None)


def _title(spec: ClipSpec, font: str) -> str:
    big, small = spec.height // 9, spec.height // 30
    title = (
        f"drawtext=fontfile='{font}':expansion=none:text='{_safe(spec.title)}':"
        f"fontsize={big}:fontcolor={spec.colours[3]}:borderw=6:bordercolor={spec.colours[0]}:"
        f"x=(w-text_w)/2:y=h*0.38+h*0.05*sin({spec.speed:.2f}*t*2)"
    )
    handle = (
        f"drawtext=fontfile='{font}':expansion=none:text='@{_safe(spec.handle)}':"
        f"fontsize={small}:fontcolor=white:borderw=3:bordercolor=black@0.6:x=w*0.06:y=h*0.86"
    )
    return f"{title},{handle}"


def _safe(text: str) -> str:
    # Quoted filter values cannot hold a quote; backslashes and colons would need escaping.
    return "".join(ch for ch in text if ch not in "'\\:%")


def _scene_values(spec: ClipSpec) -> dict[str, object]:
    w, h, s = spec.width, spec.height, spec.speed
    rgb = [_rgb(colour) for colour in spec.colours]
    rule = (30, 90, 110, 150, 105, 73)[spec.seed % 6]
    return {
        "W": w,
        "H": h,
        **{f"w{d}": _even(w // d) for d in (2, 4, 8)},
        **{f"h{d}": _even(h // d) for d in (2, 4, 8)},
        "fps": spec.fps,
        "seed": spec.seed,
        "hue": spec.hue,
        "hue_rad": f"{spec.hue * 3.14159 / 180:.3f}",
        **{f"c{i}": colour.replace("#", "0x") for i, colour in enumerate(spec.colours)},
        **{f"{c}2": f"{v / 255:.3f}" for c, v in zip("rgb", rgb[2], strict=True)},
        "rule": rule,
        "zstart": 1.5 + spec.seed % 3,
        "zoom_pts": f"{8 / s:.2f}",
        "gspeed": f"{0.02 * s:.3f}",
        "gtype": ("linear", "radial", "circular", "spiral", "square")[spec.seed % 5],
        "px": 6 + spec.seed % 7,
        "py": 5 + spec.seed % 9,
        "pxy": 9 + spec.seed % 11,
        "pt": f"{1.5 * s:.2f}",
        "sp": f"{1.6 * s:.2f}",
        "ax": round(w * 0.3),
        "ay": round(h * 0.12),
        "jump": 60 + spec.seed % 40,
        "stype": ("carpet", "triangle")[spec.seed % 2],
        "scroll": f"{0.004 * s:.4f}",
        "zrate": f"{0.004 * s:.4f}",
    }


def _rgb(colour: str) -> tuple[int, int, int]:
    value = int(colour.lstrip("#"), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


def _even(value: int) -> int:
    return max(2, value - value % 2)
