"""The transcoding ladder: one ffmpeg process decodes the source once and encodes every H.264
rung, the thumbnail and the keyframe stills; a second pass adds the 720p HEVC rendition,
re-encoding the 720p H.264 one rather than decoding the source again.

The filter graph splits the decoded frames once and scales in a cascade (1080p, 720p from
it, 360p from that); each rung is an HLS output with fMP4 segments. Keyframes are fixed every
`segment_s` seconds (keyint = min-keyint, no scene cuts, closed GOPs), so every segment is
`segment_s` long, starts with a keyframe and is aligned across rungs: a player switches rungs
at any segment boundary.
"""

from __future__ import annotations

import asyncio
import shutil
from fractions import Fraction
from pathlib import Path

from flick.media import (
    Ladder,
    MediaInfo,
    ProgressCallback,
    Rendition,
    Rung,
    TranscodeFailed,
    TranscodeLimits,
)
from flick.media.codec_strings import codecs_of
from flick.media.ffmpeg import run_ffmpeg, transcode_limits
from flick.media.hls import average_bandwidth, peak_bandwidth, read_media_playlist
from flick.media.probe import FORMAT_WHITELIST, PROTOCOL_WHITELIST

# (short side, H.264 maxrate kbps at <= 30 fps): Apple's HLS authoring spec puts 360p at
# 0.7-1, 720p at 3 and 1080p at 5-6 Mb/s; short-form video is watched on phones, in portrait.
H264_RUNGS = ((360, 800), (720, 2800), (1080, 5000))
HEVC_SHORT_SIDE = 720
HEVC_KBPS = 1800  # ~65 % of H.264's 2800: HEVC needs 30-40 % fewer bits for the same quality
HIGH_FPS_FACTOR = 1.5  # above 30 fps: twice the frames cost ~1.5x the bits
MAX_FPS = 60  # 120/240 fps slow-motion sources are played at 60
DEFAULT_FPS = 30  # when the source's rate is unknown (variable, or not in the header)
SMALL_RUNG_MIN_KBPS = 200  # a sub-360p source's single rung: 800 kbps scaled by area, floored

# Encoder settings, chosen with bench/ladder.py (docs/benchmarks.md) on 2 cores: the H.264
# rungs should be ready within 12 s for 15 s of 1080x1920, and 720p and up keep SSIM >= 0.95.
# x264 veryfast, made cheaper where it costs the least quality at these capped rates: the
# cheapest motion search (me=dia, subme=1, as superfast has), a 5-frame lookahead, fixed
# B-frame placement and no weighted prediction. ~25 % less CPU than plain veryfast for
# 0.001-0.002 less SSIM. It keeps veryfast's macroblock tree: superfast, without it, peaked
# ~35 % higher over a segment for the same quality.
X264_PRESET = "veryfast"
X264_TUNING = "me=dia:subme=1:rc-lookahead=5:b-adapt=0:weightp=0"
X264_CRF = 21  # capped CRF: constant quality, with the maxrate bounding the peaks
# x265 slower than superfast gains little at a capped 1.8 Mb/s and costs ~40 % more CPU.
X265_PRESET = "superfast"
X265_CRF = 24  # x265's CRF scale sits ~3 above x264's for similar quality
BUFSIZE_FACTOR = 1  # VBV buffer of 1 s at maxrate: a 2 s segment peaks at ~1.2x maxrate
AUDIO = ["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000"]  # stereo AAC-LC
# The frames already come at a constant rate (the graph's fps filter, or the H.264
# rendition); ffmpeg's own constant-rate logic would duplicate the first frame when the
# audio's priming makes the input start before the video, shifting every frame by one.
KEEP_TIMING = ["-fps_mode", "passthrough"]

THUMB_AT_S = 1.0  # past a fade-in, before most cuts
THUMB_MAX_SHORT_SIDE = 720  # sharp on a phone's feed card, ~100 KB
KEYFRAME_SHORT_SIDE = 224  # what the recommender's image statistics are computed at
KEYFRAME_EVERY_S = 2.5
MAX_KEYFRAMES = 8  # a longer video's stills are spread over it
THUMB_QSCALE = "3"  # mjpeg's scale, 2 (best) to 31: ~libjpeg quality 90 for the feed card
KEYFRAME_QSCALE = "4"  # statistics need no more; ~10 KB a still

DEFAULT_TRANSCODE_LIMITS = TranscodeLimits()

# H.264 levels (level_idc, max macroblocks/s, max macroblocks per frame), Table A-1.
H264_LEVELS = (
    (30, 40500, 1620),
    (31, 108000, 3600),
    (32, 216000, 5120),
    (40, 245760, 8192),
    (42, 522240, 8704),
    (50, 589824, 22080),
    (51, 983040, 36864),
    (52, 2073600, 36864),
)


def plan_ladder(info: MediaInfo) -> list[Rung]:
    """The H.264 rungs for a source: 360p, 720p, 1080p by the short side (so portrait video
    gets 1080x1920), never upscaled; a source under 360p gets one rung at its own size."""
    short = min(info.width, info.height)
    factor = HIGH_FPS_FACTOR if output_fps(info) > DEFAULT_FPS else 1.0
    rungs = [
        _rung(info, side, round(kbps * factor), "h264")
        for side, kbps in H264_RUNGS
        if side <= short
    ]
    return rungs or [_native_rung(info, factor)]


def hevc_rung(info: MediaInfo) -> Rung | None:
    """The 720p HEVC rung, or None when the source is smaller than 720p."""
    if min(info.width, info.height) < HEVC_SHORT_SIDE:
        return None
    factor = HIGH_FPS_FACTOR if output_fps(info) > DEFAULT_FPS else 1.0
    return _rung(info, HEVC_SHORT_SIDE, round(HEVC_KBPS * factor), "hevc", suffix="-hevc")


def output_fps(info: MediaInfo) -> Fraction:
    """The constant frame rate of the renditions: the source's, at most MAX_FPS."""
    fps = info.fps if info.fps > 0 else DEFAULT_FPS
    return Fraction(min(fps, MAX_FPS)).limit_denominator(1001)  # 29.97 is 30000/1001


def _rung(info: MediaInfo, side: int, kbps: int, codec: str, *, suffix: str = "") -> Rung:
    width, height = scaled_size(info, short_side=side)
    return Rung(name=f"{side}p{suffix}", codec=codec, width=width, height=height, video_kbps=kbps)


def _native_rung(info: MediaInfo, factor: float) -> Rung:
    width, height = _even(info.width), _even(info.height)
    area = width * height / (360 * 640)
    kbps = max(SMALL_RUNG_MIN_KBPS, round(H264_RUNGS[0][1] * area * factor))
    name = f"{min(width, height)}p"
    return Rung(name=name, codec="h264", width=width, height=height, video_kbps=kbps)


def scaled_size(info: MediaInfo, *, short_side: int) -> tuple[int, int]:
    """The source's display size scaled so its short side is `short_side`, both even."""
    short, long = sorted((info.width, info.height))
    long_side = _even(round(long * short_side / short))
    if info.width <= info.height:
        return _even(short_side), long_side
    return long_side, _even(short_side)


def _even(value: float) -> int:
    return max(2, int(value) - int(value) % 2)


async def transcode_h264(
    source: Path,
    out_dir: Path,
    info: MediaInfo,
    *,
    on_progress: ProgressCallback | None = None,
    limits: TranscodeLimits = DEFAULT_TRANSCODE_LIMITS,
    segment_s: float = 2.0,
) -> Ladder:
    """Every H.264 rung, thumb.jpg and keyframes/ from one decode of `source` (which `probe`
    accepted as `info`) into `out_dir`, replacing what an earlier attempt left there."""
    rungs = plan_ladder(info)
    await asyncio.to_thread(_clear_h264, out_dir, rungs)
    args = _input(source, info) + _h264_graph(info, rungs)
    for index, rung in enumerate(rungs):
        args += ["-map", f"[r{index}]", *_h264_output(rung, info, out_dir, segment_s=segment_s)]
    args += _stills_outputs(info, out_dir)
    await _run(args, info, limits, on_progress)
    return await asyncio.to_thread(_ladder, rungs, out_dir, info)


async def transcode_hevc(
    source: Path,
    out_dir: Path,
    info: MediaInfo,
    *,
    on_progress: ProgressCallback | None = None,
    limits: TranscodeLimits = DEFAULT_TRANSCODE_LIMITS,
    segment_s: float = 2.0,
    from_h264: bool = True,
) -> Rendition | None:
    """The 720p HEVC rendition into `out_dir/720p-hevc/` (a second pass, after the H.264 rungs
    are published); None when the source is smaller than 720p.

    With `from_h264` (the default) it re-encodes the 720p H.264 rendition that
    `transcode_h264` left in out_dir, copying its audio: decoding those 720p frames costs a
    third of decoding and scaling the source again, for ~0.004 less SSIM against the source
    (docs/benchmarks.md). Without it, or when that rendition is missing, it decodes the
    source."""
    rung = hevc_rung(info)
    if rung is None:
        return None
    await asyncio.to_thread(_clear, out_dir, [rung.name])
    h264 = out_dir / f"{HEVC_SHORT_SIDE}p"
    segments = await asyncio.to_thread(_h264_segments, h264) if from_h264 else []
    args = _rendition_input(segments) if segments else _single_rung_input(source, info, rung)
    args += _hevc_output(rung, info, out_dir, segment_s=segment_s, copy_audio=bool(segments))
    await _run(args, info, limits, on_progress)
    return await asyncio.to_thread(_rendition, rung, out_dir, info)


def per_rendition_args(
    source: Path, out_dir: Path, info: MediaInfo, rung: Rung, *, segment_s: float = 2.0
) -> list[str]:
    """ffmpeg arguments that encode one rung from its own decode of the source, with the same
    encoder settings: the one-process-per-rendition baseline that bench/ladder.py measures."""
    args = _single_rung_input(source, info, rung)
    if rung.codec == "hevc":
        return args + _hevc_output(rung, info, out_dir, segment_s=segment_s, copy_audio=False)
    return args + _h264_output(rung, info, out_dir, segment_s=segment_s)


async def _run(
    args: list[str],
    info: MediaInfo,
    limits: TranscodeLimits,
    on_progress: ProgressCallback | None,
) -> None:
    await run_ffmpeg(
        args,
        limits=transcode_limits(limits, duration_s=info.duration_s),
        duration_s=info.duration_s,
        on_progress=on_progress,
    )


def _h264_segments(rung_dir: Path) -> list[Path]:
    """The init and media segments of a finished rendition, in order; [] when unusable."""
    playlist = rung_dir / "index.m3u8"
    if not playlist.is_file() or "|" in str(rung_dir):  # "|" separates concat: URLs
        return []
    segments = [segment.path for segment in read_media_playlist(playlist).segments]
    return [rung_dir / "init.mp4", *segments] if segments else []


def _rendition_input(segments: list[Path]) -> list[str]:
    # Init + media segments, byte-concatenated, are one fragmented MP4. Only our own files:
    # the concat protocol is allowed here, never on an upload.
    url = "concat:" + "|".join(str(path) for path in segments)
    return ["-protocol_whitelist", "concat,file", "-f", "mov", "-i", url, "-map", "0:v:0"]


def _single_rung_input(source: Path, info: MediaInfo, rung: Rung) -> list[str]:
    scale = f"[0:v]fps={output_fps(info)},scale={rung.width}:{rung.height},format=yuv420p"
    return [*_input(source, info), "-filter_complex", f"{scale},setsar=1[r0]", "-map", "[r0]"]


def _clear(out_dir: Path, names: list[str]) -> None:
    """Empty the directories `names` (made if missing), so that nothing a killed earlier
    attempt wrote survives into this one's output."""
    for name in names:
        shutil.rmtree(out_dir / name, ignore_errors=True)
        (out_dir / name).mkdir(parents=True)  # neither hls nor image2 makes directories


def _clear_h264(out_dir: Path, rungs: list[Rung]) -> None:
    _clear(out_dir, [rung.name for rung in rungs] + ["keyframes"])
    (out_dir / "thumb.jpg").unlink(missing_ok=True)


def _input(source: Path, info: MediaInfo) -> list[str]:
    # -f names the demuxer the probe accepted, so ffmpeg does not guess again from the name;
    # the whitelists refuse anything else and keep nested opens local.
    demuxer = info.container.split(",")[0]
    return [
        *("-protocol_whitelist", PROTOCOL_WHITELIST, "-format_whitelist", FORMAT_WHITELIST),
        *("-f", demuxer, "-i", str(source)),
    ]


def _h264_graph(info: MediaInfo, rungs: list[Rung]) -> list[str]:
    """Decode once, split for the rungs and the stills, scale each rung from the one above."""
    chains = [f"[0:v]fps={output_fps(info)},split=3[ladder][thumb][kf]"]
    above = "ladder"
    for index, rung in reversed(list(enumerate(rungs))):
        scaled = f"[{above}]scale={rung.width}:{rung.height},format=yuv420p,setsar=1"
        has_below = index > 0
        chains.append(
            f"{scaled},split=2[r{index}][s{index}]" if has_below else f"{scaled}[r{index}]"
        )
        above = f"s{index}"
    chains += _stills_chains(info)
    return ["-filter_complex", ";".join(chains)]


def _stills_chains(info: MediaInfo) -> list[str]:
    thumb_w, thumb_h = scaled_size(
        info, short_side=min(THUMB_MAX_SHORT_SIDE, info.width, info.height)
    )
    kf_w, kf_h = scaled_size(info, short_side=KEYFRAME_SHORT_SIDE)
    thumb_at = min(THUMB_AT_S, info.duration_s / 2)
    every = max(KEYFRAME_EVERY_S, info.duration_s / MAX_KEYFRAMES)
    return [
        f"[thumb]select='gte(t,{thumb_at:.3f})',scale={thumb_w}:{thumb_h}[thumb_out]",
        f"[kf]select='isnan(prev_selected_t)+gte(t-prev_selected_t,{every:.3f})',"
        f"scale={kf_w}:{kf_h}[kf_out]",
    ]


def _stills_outputs(info: MediaInfo, out_dir: Path) -> list[str]:
    return [
        *("-map", "[thumb_out]", "-frames:v", "1", "-update", "1", "-q:v", THUMB_QSCALE),
        str(out_dir / "thumb.jpg"),
        *("-map", "[kf_out]", "-frames:v", str(MAX_KEYFRAMES), *KEEP_TIMING),
        *("-start_number", "0", "-q:v", KEYFRAME_QSCALE),
        str(out_dir / "keyframes" / "kf_%03d.jpg"),
    ]


def _h264_output(rung: Rung, info: MediaInfo, out_dir: Path, *, segment_s: float) -> list[str]:
    gop = _gop(info, segment_s)
    video = [
        *KEEP_TIMING,
        *("-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF)),
        *("-profile:v", "high", "-level:v", _h264_level(rung, info)),
        *("-x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:{X264_TUNING}"),
    ]
    return video + _rate(rung) + _audio(info) + _hls(out_dir / rung.name, segment_s)


def _hevc_output(
    rung: Rung, info: MediaInfo, out_dir: Path, *, segment_s: float, copy_audio: bool
) -> list[str]:
    gop = _gop(info, segment_s)
    video = [
        *KEEP_TIMING,
        *("-c:v", "libx265", "-preset", X265_PRESET, "-crf", str(X265_CRF)),
        *("-profile:v", "main", "-tag:v", "hvc1"),  # hvc1: parameter sets in init.mp4 (Apple)
        *("-x265-params", f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:log-level=error"),
    ]
    audio = ["-map", "0:a:0", "-c:a", "copy"] if copy_audio and info.has_audio else _audio(info)
    return video + _rate(rung) + audio + _hls(out_dir / rung.name, segment_s)


def _gop(info: MediaInfo, segment_s: float) -> int:
    return max(1, round(output_fps(info) * Fraction(segment_s)))


def _rate(rung: Rung) -> list[str]:
    return ["-maxrate", f"{rung.video_kbps}k", "-bufsize", f"{rung.video_kbps * BUFSIZE_FACTOR}k"]


def _audio(info: MediaInfo) -> list[str]:
    return ["-map", "0:a:0", *AUDIO] if info.has_audio else []


def _hls(rung_dir: Path, segment_s: float) -> list[str]:
    return [
        *("-f", "hls", "-hls_time", f"{segment_s:g}", "-hls_playlist_type", "vod"),
        *("-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4"),
        *("-hls_flags", "independent_segments"),
        *("-hls_segment_filename", str(rung_dir / "seg_%05d.m4s"), str(rung_dir / "index.m3u8")),
    ]


def _h264_level(rung: Rung, info: MediaInfo) -> str:
    """The lowest level whose frame size and macroblock rate fit the rung (so CODECS is
    exact and every device that decodes the level plays it)."""
    per_frame = -(-rung.width // 16) * -(-rung.height // 16)
    per_second = per_frame * float(output_fps(info))
    for level, max_per_second, max_per_frame in H264_LEVELS:
        if per_frame <= max_per_frame and per_second <= max_per_second:
            return f"{level // 10}.{level % 10}"
    return "5.2"


def _ladder(rungs: list[Rung], out_dir: Path, info: MediaInfo) -> Ladder:
    renditions = [_rendition(rung, out_dir, info) for rung in rungs]
    return Ladder(
        renditions=renditions,
        thumbnail=_produced(out_dir / "thumb.jpg", out_dir),
        keyframes=sorted(_relative(p, out_dir) for p in (out_dir / "keyframes").glob("*.jpg")),
        duration_s=read_media_playlist(out_dir / renditions[0].playlist).duration_s,
    )


def _rendition(rung: Rung, out_dir: Path, info: MediaInfo) -> Rendition:
    path = out_dir / rung.name / "index.m3u8"
    playlist = read_media_playlist(path) if path.is_file() else None
    if playlist is None or not playlist.segments:
        raise TranscodeFailed(f"ffmpeg wrote no segments for {rung.name}")
    return Rendition(
        name=rung.name,
        codecs=codecs_of(out_dir / rung.name / "init.mp4"),
        width=rung.width,
        height=rung.height,
        bandwidth=peak_bandwidth(playlist),
        average_bandwidth=average_bandwidth(playlist),
        playlist=f"{rung.name}/index.m3u8",
        frame_rate=float(output_fps(info)),
    )


def _produced(path: Path, out_dir: Path) -> str:
    if not path.is_file():
        raise TranscodeFailed(f"ffmpeg wrote no {path.name}")
    return _relative(path, out_dir)


def _relative(path: Path, out_dir: Path) -> str:
    return path.relative_to(out_dir).as_posix()
