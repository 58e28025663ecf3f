"""The media library: probe untrusted files, plan and run the transcoding ladder, package HLS.

No database, bus or blob store here: `ingest` (uploads) and later `live` call these functions
on local files and store what they produce. Every ffmpeg or libav* call runs in a child
process under CPU-time, memory and wall-clock limits, reading only local files (protocol
whitelist `file,pipe`) through allowlisted container demuxers (never hls, concat or playlists).

Public API (re-exported here):

    probe(path, limits=ProbeLimits()) -> MediaInfo          raises MediaRejected(reason)
    plan_ladder(info) -> list[Rung]                          the H.264 rungs for this source
    transcode_h264(source, out_dir, info, ...) -> Ladder     one decode, every H.264 rung
    transcode_hevc(source, out_dir, info, ...) -> Rendition | None   the 720p HEVC pass
    master_playlist(renditions) -> str                       HLS master with CODECS etc.
    ffmpeg_executable() -> str                               FLICK_FFMPEG or imageio-ffmpeg's
    DEMUXER_ALLOWLIST                                        the containers an upload may be

Transcoding raises TranscodeFailed (ffmpeg failed, or hit a CPU, memory or time limit).
`flick.media.clips.make_clip` makes synthetic clips for tests, benchmarks and demos.

Output layout under `out_dir` (paths relative to it; the master playlist is written by the
caller, who knows which renditions exist, as `master.m3u8`):

    360p/index.m3u8  360p/init.mp4  360p/seg_00000.m4s ...
    720p/...  1080p/...  720p-hevc/...
    thumb.jpg
    keyframes/kf_000.jpg ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# Called with a fraction 0.0..1.0 of the work done; may be sync or async.
ProgressCallback = Callable[[float], Awaitable[None] | None]


class MediaRejected(Exception):
    """The file is not media Flick accepts. `reason` is written for the person who uploaded
    it ("the file is not a video", "the video is 14 min long; the limit is 10 min")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProbeLimits:
    """What an accepted file may be, and what probing it may cost."""

    max_duration_s: float = 600.0
    max_frame_pixels: int = 4096 * 2304  # 4K UHD and a little more; a 16k frame is refused
    cpu_s: int = 20
    memory_bytes: int = 1 << 30
    wall_s: float = 30.0


@dataclass(frozen=True, slots=True)
class TranscodeLimits:
    """What one transcode may cost: CPU seconds scale with the clip's length."""

    cpu_s_base: float = 60.0
    cpu_s_per_media_s: float = 20.0
    memory_bytes: int = 3 << 30
    wall_s_base: float = 60.0
    wall_s_per_media_s: float = 10.0


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What probing found. width/height are as displayed (rotation applied)."""

    container: str  # the demuxer that opened it, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration_s: float
    width: int
    height: int
    fps: float
    video_codec: str  # e.g. "h264"
    has_audio: bool
    rotation: int = 0  # degrees the stored frames are rotated for display


@dataclass(frozen=True, slots=True)
class Rung:
    """One planned rendition."""

    name: str  # "360p", "720p", "1080p", "720p-hevc"
    codec: str  # "h264" | "hevc"
    width: int
    height: int
    video_kbps: int  # the encoder's maxrate


@dataclass(frozen=True, slots=True)
class Rendition:
    """One produced rendition, as the master playlist and the video resource describe it."""

    name: str
    codecs: str  # RFC 6381, e.g. "avc1.64001f,mp4a.40.2"
    width: int
    height: int
    bandwidth: int  # peak bits/s over segments (HLS BANDWIDTH)
    average_bandwidth: int  # bits/s over the whole rendition (HLS AVERAGE-BANDWIDTH)
    playlist: str  # relative to out_dir, e.g. "720p/index.m3u8"
    frame_rate: float = 30.0


@dataclass(frozen=True, slots=True)
class Ladder:
    """What `transcode_h264` produced: renditions, still images, all relative to out_dir."""

    renditions: list[Rendition]
    thumbnail: str  # "thumb.jpg"
    keyframes: list[str] = field(default_factory=list)  # "keyframes/kf_000.jpg", ...
    duration_s: float = 0.0  # of the output, checked against the probe (truncation)


# The functions, imported after the types above, which their modules import from here.
from flick.media.ffmpeg import TranscodeFailed, ffmpeg_executable  # noqa: E402
from flick.media.hls import master_playlist  # noqa: E402
from flick.media.ladder import plan_ladder, transcode_h264, transcode_hevc  # noqa: E402
from flick.media.probe import DEMUXER_ALLOWLIST, probe  # noqa: E402

__all__ = [
    "DEMUXER_ALLOWLIST",
    "Ladder",
    "MediaInfo",
    "MediaRejected",
    "ProbeLimits",
    "ProgressCallback",
    "Rendition",
    "Rung",
    "TranscodeFailed",
    "TranscodeLimits",
    "ffmpeg_executable",
    "master_playlist",
    "plan_ladder",
    "probe",
    "transcode_h264",
    "transcode_hevc",
]
