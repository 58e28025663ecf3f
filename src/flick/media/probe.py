"""Probe an untrusted upload: is it a video Flick accepts, and what are its dimensions?

libav* parses hostile bytes here, so it does so in a child process
(`python -m flick.media.probe_child`, PyAV) under the ProbeLimits' CPU, memory and wall-clock
limits: a crafted file can crash or stall the child, not the worker. The child opens the file
through allowlisted demuxers only, reads local files only, and decodes the first two frames
(garbage behind a valid header is caught; a single frame is a still image).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from flick.media import MediaInfo, MediaRejected, ProbeLimits
from flick.media.sandbox import ChildFailed, ProcessLimits, run_limited

# The demuxers an upload may be opened with (libavformat names; "mov" is the one demuxer for
# mov/mp4/m4a/3gp/3g2/mj2 and "matroska" the one for matroska/webm): what phones, cameras,
# screen recorders (mkv, flv from OBS) and editors export. Never hls, dash, concat, image2,
# *_pipe or other playlists and image sequences: those open further files or are not video.
DEMUXER_ALLOWLIST = ("mov", "matroska", "avi", "mpegts", "flv")
FORMAT_WHITELIST = ",".join(DEMUXER_ALLOWLIST)  # for format_whitelist / -format_whitelist
PROTOCOL_WHITELIST = "file,pipe"  # nested opens (e.g. a mov data reference) stay local
ACCEPTED_FORMATS = "MP4, MOV, WebM, MKV, AVI, MPEG-TS or FLV"  # for people, not libav
DEFAULT_PROBE_LIMITS = ProbeLimits()


async def probe(path: Path, limits: ProbeLimits = DEFAULT_PROBE_LIMITS) -> MediaInfo:
    """What the video at `path` is; raises MediaRejected with a reason for its uploader."""
    argv = [sys.executable, "-m", "flick.media.probe_child"]
    argv += [str(limits.max_duration_s), str(limits.max_frame_pixels), str(path)]
    try:
        done = await run_limited(argv, limits=_process_limits(limits))
    except ChildFailed as failure:
        raise MediaRejected(_failure_reason(failure)) from failure
    return _outcome(done.stdout)


def _process_limits(limits: ProbeLimits) -> ProcessLimits:
    return ProcessLimits(cpu_s=limits.cpu_s, memory_bytes=limits.memory_bytes, wall_s=limits.wall_s)


def _failure_reason(failure: ChildFailed) -> str:
    if failure.limit is not None:
        return f"checking the file {failure}; it is too complex or damaged"
    return "the file could not be read as a video; it may be damaged"  # libav crashed on it


def _outcome(stdout: str) -> MediaInfo:
    outcome = json.loads(stdout)
    if "rejected" in outcome:
        raise MediaRejected(outcome["rejected"])
    return MediaInfo(**outcome["info"])
