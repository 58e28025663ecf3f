"""Transcoding ladder: Flick's one decode against one ffmpeg process per rendition.

    .venv/bin/python -m bench.ladder [--seconds 15] [--repeats 3]

The source is a synthetic 1080x1920 30 fps clip: a continuous zoom into the Mandelbrot set
(fine detail everywhere, every pixel moving), H.264 at CRF 18 (~20 Mb/s, a phone's bit rate),
with a 440 Hz tone as AAC. Each repeat runs, one after the other:

- Flick: `transcode_h264` (every H.264 rung, thumbnail and keyframes from one decode: the
  video is `ready`), then `transcode_hevc` (the 720p HEVC rung from the 720p H.264 one: the
  full ladder), then, for comparison only, the HEVC pass again from the source;
- PeerTube's way: one ffmpeg process per rendition (360p, 720p, 1080p H.264, 720p HEVC), each
  decoding and scaling the source, with the same encoder settings (`per_rendition_args`), no
  stills.

Reports medians of wall time and CPU seconds (the children's user + system time), realtime
factors (media seconds / wall seconds), and the SSIM ("All": Y, U and V weighted by plane
size; both videos' timestamps restarted at 0; bicubic scaling) of each of Flick's renditions
against the source, both ways: the source scaled down to the rendition (encoding loss) and the
rendition scaled up to 1080x1920 (what a full-size screen shows; adds the scaling loss).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from flick.media import MediaInfo, Rung, ffmpeg_executable, plan_ladder, probe
from flick.media.clips import make_clip
from flick.media.ffmpeg import run_ffmpeg, transcode_limits
from flick.media.hls import average_bandwidth, peak_bandwidth, read_media_playlist
from flick.media.ladder import (
    DEFAULT_TRANSCODE_LIMITS,
    hevc_rung,
    per_rendition_args,
    transcode_h264,
    transcode_hevc,
)

RESULTS = Path("var/bench/ladder.json")
WIDTH, HEIGHT, FPS = 1080, 1920, 30
SOURCE_CRF = 18  # ~20 Mb/s for this content: what phones record 1080p at
READY_GOAL_S = 12.0
RATIO_GOAL = 1.25
SSIM_GOAL = 0.95
SSIM_LINE = re.compile(r"\[ssim@(up|down) @ [^\]]+\] SSIM .*All:([0-9.]+)")

Timed = dict[str, float]


def cpu_s() -> float:
    """CPU seconds of every child reaped so far (ffmpeg runs in children)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def timed(step: Callable[[], Awaitable[object]]) -> Timed:
    """Wall and CPU seconds of one step."""
    wall, cpu = time.perf_counter(), cpu_s()
    await step()
    return {"wall_s": time.perf_counter() - wall, "cpu_s": cpu_s() - cpu}


async def flick_once(source: Path, out: Path, info: MediaInfo) -> dict[str, Timed]:
    """One decode for the H.264 rungs, then the HEVC pass from the 720p rung (and from the
    source, for comparison, into a separate directory)."""
    ready = await timed(lambda: transcode_h264(source, out, info))
    hevc = await timed(lambda: transcode_hevc(source, out, info))
    elsewhere = out / "hevc-from-source"
    from_source = await timed(lambda: transcode_hevc(source, elsewhere, info, from_h264=False))
    full = {key: ready[key] + hevc[key] for key in ready}
    return {"ready": ready, "hevc": hevc, "full": full, "hevc_from_source": from_source}


async def per_rendition_once(source: Path, out: Path, info: MediaInfo) -> dict[str, Timed]:
    """Each rendition from its own decode of the source, one process after the other."""
    results: dict[str, Timed] = {}
    limits = transcode_limits(DEFAULT_TRANSCODE_LIMITS, duration_s=info.duration_s)
    for rung in ladder_rungs(info):
        (out / rung.name).mkdir(parents=True, exist_ok=True)
        args = per_rendition_args(source, out, info, rung)
        run = functools.partial(run_ffmpeg, args, limits=limits, duration_s=info.duration_s)
        results[rung.name] = await timed(run)
    results["h264"] = total([results[rung.name] for rung in plan_ladder(info)])
    results["full"] = total([results[rung.name] for rung in ladder_rungs(info)])
    return results


def total(steps: list[Timed]) -> Timed:
    """Steps run one after the other: their times added."""
    return {key: sum(step[key] for step in steps) for key in steps[0]}


def ladder_rungs(info: MediaInfo) -> list[Rung]:
    """The H.264 rungs and the HEVC one."""
    hevc = hevc_rung(info)
    return plan_ladder(info) + ([hevc] if hevc else [])


def medians(runs: list[dict[str, Timed]]) -> dict[str, Timed]:
    """Per step and measure, the median over runs."""
    return {
        step: {key: statistics.median(run[step][key] for run in runs) for key in runs[0][step]}
        for step in runs[0]
    }


async def ssim(source: Path, rendition_dir: Path, width: int, height: int) -> dict[str, float]:
    """SSIM (All) of a rendition against the source, scaled each way, in one ffmpeg run."""
    playlist = read_media_playlist(rendition_dir / "index.m3u8")
    parts = [rendition_dir / "init.mp4", *(segment.path for segment in playlist.segments)]
    # Each video from 0: ffmpeg starts an input at its earliest stream, the audio's priming
    # included, which would pair frames one apart.
    graph = (
        "[0:v]setpts=PTS-STARTPTS,split[r1][r2];[1:v]setpts=PTS-STARTPTS,split[s1][s2];"
        f"[r1]scale={WIDTH}:{HEIGHT}:flags=bicubic[up];[up][s1]ssim@up[o1];"
        f"[s2]scale={width}:{height}:flags=bicubic[down];[r2][down]ssim@down[o2]"
    )
    args = [ffmpeg_executable(), "-hide_banner", "-nostdin", "-nostats"]
    args += ["-protocol_whitelist", "concat,file", "-f", "mov"]
    args += ["-i", "concat:" + "|".join(map(str, parts)), "-i", str(source)]
    args += ["-filter_complex", graph, "-map", "[o1]", "-f", "null", "-"]
    args += ["-map", "[o2]", "-f", "null", "-"]
    proc = await asyncio.create_subprocess_exec(*args, stderr=asyncio.subprocess.PIPE)
    _, stderr = await proc.communicate()
    return {way: float(value) for way, value in SSIM_LINE.findall(stderr.decode())}


def rendition_row(name: str, rendition_dir: Path, scores: dict[str, float]) -> dict[str, Any]:
    """Bit rates and SSIM of one rendition."""
    playlist = read_media_playlist(rendition_dir / "index.m3u8")
    return {
        "rendition": name,
        "average_kbps": average_bandwidth(playlist) / 1000,
        "peak_kbps": peak_bandwidth(playlist) / 1000,
        "ssim_down": scores.get("down", 0.0),
        "ssim_up": scores.get("up", 0.0),
    }


async def quality(source: Path, out: Path, info: MediaInfo) -> list[dict[str, Any]]:
    """One row per rendition Flick made in the last run."""
    rows = []
    hevc = hevc_rung(info)
    targets = [(rung.name, out / rung.name, rung) for rung in plan_ladder(info)]
    if hevc is not None:
        targets.append((f"{hevc.name} (from 720p H.264)", out / hevc.name, hevc))
        from_source = out / "hevc-from-source" / hevc.name
        targets.append((f"{hevc.name} (from the source)", from_source, hevc))
    for name, directory, rung in targets:
        scores = await ssim(source, directory, rung.width, rung.height)
        rows.append(rendition_row(name, directory, scores))
    return rows


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Make the source, run both ways `repeats` times, then measure quality."""
    with tempfile.TemporaryDirectory(prefix="flick-ladder-") as scratch:
        root = Path(scratch)
        print(f"making a {args.seconds:g} s {WIDTH}x{HEIGHT} source ...", flush=True)
        source = await make_clip(
            root / "source.mp4", seconds=args.seconds, width=WIDTH, height=HEIGHT, fps=FPS,
            pattern="mandelbrot", crf=SOURCE_CRF,
        )  # fmt: skip
        info = await probe(source)
        flick, baseline = [], []
        for run in range(args.repeats):
            flick.append(await flick_once(source, root / "flick", info))
            baseline.append(await per_rendition_once(source, root / "per-rendition", info))
            print(f"run {run + 1}/{args.repeats}: {summary(flick[-1], baseline[-1])}", flush=True)
        rows = await quality(source, root / "flick", info)
    return {
        "source": source_facts(info),
        "flick_runs": flick,
        "per_rendition_runs": baseline,
        "flick": medians(flick),
        "per_rendition": medians(baseline),
        "quality": rows,
    }


def source_facts(info: MediaInfo) -> dict[str, Any]:
    """What the probe said about the source."""
    return {
        "container": info.container,
        "duration_s": info.duration_s,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
    }


def summary(flick: dict[str, Timed], baseline: dict[str, Timed]) -> str:
    """One run in a line."""
    return (
        f"ready {flick['ready']['wall_s']:.1f} s, full ladder {flick['full']['wall_s']:.1f} s; "
        f"per rendition {baseline['full']['wall_s']:.1f} s"
    )


def report(results: dict[str, Any], seconds: float, repeats: int) -> str:
    """The markdown tables and the goals."""
    flick, baseline = results["flick"], results["per_rendition"]
    ratio = baseline["full"]["wall_s"] / flick["full"]["wall_s"]
    cpu_ratio = baseline["full"]["cpu_s"] / flick["full"]["cpu_s"]
    return "\n".join(
        [
            *timing_table(flick, baseline, seconds, repeats),
            "",
            f"Full ladder, per rendition / Flick: **{ratio:.2f}x** wall, {cpu_ratio:.2f}x CPU.",
            "",
            *quality_table(results["quality"]),
            "",
            *goals(flick, ratio, results["quality"]),
        ]
    )


def timing_table(
    flick: dict[str, Timed], baseline: dict[str, Timed], seconds: float, repeats: int
) -> list[str]:
    """Wall, CPU and realtime factor of every step."""
    steps = [
        ("Flick: H.264 rungs + stills, one decode (`ready`)", flick["ready"]),
        ("Flick: HEVC pass from the 720p H.264 rung", flick["hevc"]),
        ("**Flick: full ladder**", flick["full"]),
        ("(Flick: HEVC pass from the source instead)", flick["hevc_from_source"]),
    ]
    totals = {"h264": "the three H.264 rungs", "full": "**full ladder**"}
    steps += [(f"per rendition: {totals.get(name, name)}", step) for name, step in baseline.items()]
    lines = [f"| step (median of {repeats}) | wall s | CPU s | realtime |", "|---|---|---|---|"]
    for name, step in steps:
        factor = seconds / step["wall_s"]
        lines.append(f"| {name} | {step['wall_s']:.2f} | {step['cpu_s']:.1f} | {factor:.2f}x |")
    return lines


def quality_table(rows: list[dict[str, Any]]) -> list[str]:
    """Bit rates and SSIM of every rendition."""
    lines = [
        "| rendition | avg kb/s | peak kb/s | SSIM, source scaled down | SSIM, scaled up |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['rendition']} | {row['average_kbps']:,.0f} | {row['peak_kbps']:,.0f} | "
            f"{row['ssim_down']:.4f} | {row['ssim_up']:.4f} |"
        )
    return lines


def goals(flick: dict[str, Timed], ratio: float, rows: list[dict[str, Any]]) -> list[str]:
    """Each goal of the issue, met or missed."""
    ready = flick["ready"]["wall_s"]
    checked = [row for row in rows if "from the source" not in row["rendition"]]
    high = [row for row in checked if not row["rendition"].startswith("360p")]
    worst_down = min(row["ssim_down"] for row in high)
    worst_up = min(row["ssim_up"] for row in high)
    return [
        f"- `ready` in {ready:.1f} s (goal <= {READY_GOAL_S:g} s): {met(ready <= READY_GOAL_S)}",
        f"- full ladder {ratio:.2f}x faster (goal >= {RATIO_GOAL}x): {met(ratio >= RATIO_GOAL)}",
        f"- SSIM of 720p and up >= {SSIM_GOAL}: lowest {worst_down:.4f} with the source scaled "
        f"down ({met(worst_down >= SSIM_GOAL)}), {worst_up:.4f} scaled up "
        f"({met(worst_up >= SSIM_GOAL)})",
    ]


def met(ok: bool) -> str:
    """How a goal reads in the report."""
    return "met" if ok else "**missed**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print()
    print(report(results, args.seconds, args.repeats))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"results": results, "args": vars(args)}, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
