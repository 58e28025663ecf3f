"""`python -m flick.media.probe_child MAX_DURATION_S MAX_FRAME_PIXELS PATH`: the libav side of
`probe`, run in a child process under limits (see probe.py). Prints one JSON object:
`{"info": {...MediaInfo fields}}` or `{"rejected": "reason"}`.

The file is handed to libavformat as a nameless file object, so its format is detected from
its bytes alone, never from the uploader's file name (a text file named .mp4 would otherwise
be tried as MP4 and reported as damaged rather than "not a video"). Only allowlisted demuxers
may open it (`format_whitelist`, checked after probing and before the demuxer reads its
header, so a playlist is refused before it can open what it names) and nested opens may
only use local files (`protocol_whitelist`).
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any

import av
import av.logging
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from flick.media import MediaRejected
from flick.media.probe import (
    ACCEPTED_FORMATS,
    DEMUXER_ALLOWLIST,
    FORMAT_WHITELIST,
    PROTOCOL_WHITELIST,
)

FRAMES_FOR_A_VIDEO = 2  # one decodable frame is a still image; a video has a second
NOT_ALLOWED = "not on whitelist"  # libavformat's log line when format_whitelist refuses
STILL_IMAGE_DEMUXERS = ("image2", "gif", "webp")  # plus every "*_pipe" (png_pipe, jpeg_pipe)


def inspect_file(path: str, *, max_duration_s: float, max_frame_pixels: int) -> dict[str, Any]:
    """What a MediaInfo holds, for an accepted file; raises MediaRejected otherwise."""
    with _open(path) as container:
        stream = _video_stream(container)
        width, height = _checked_size(stream, max_frame_pixels)
        duration_s = _checked_duration(container, stream, max_duration_s)
        first = _first_frame(container, stream)
        rotation = int(first.rotation or 0) % 360
        if rotation in (90, 270):
            width, height = height, width
        return {
            "container": container.format.name,
            "duration_s": duration_s,
            "width": width,
            "height": height,
            "fps": float(stream.average_rate or stream.guessed_rate or 0),
            "video_codec": stream.codec_context.name,
            "has_audio": bool(container.streams.audio),
            "rotation": rotation,
        }


def _open(path: str) -> InputContainer:
    # A FileIO made from a descriptor has no name (its .name is the fd number): see above.
    raw = io.FileIO(os.open(path, os.O_RDONLY), closefd=True)
    if os.fstat(raw.fileno()).st_size == 0:
        raise MediaRejected("the file is empty")
    options = {"protocol_whitelist": PROTOCOL_WHITELIST, "format_whitelist": FORMAT_WHITELIST}
    try:
        return av.open(raw, mode="r", options=options)
    except av.FFmpegError as error:
        raw.close()
        raise MediaRejected(_open_failure(error)) from error


def _open_failure(error: av.FFmpegError) -> str:
    _level, demuxer, message = getattr(error, "log", None) or (0, "", "")
    if NOT_ALLOWED in message:
        return _refused_format(demuxer)
    if _allowlisted(demuxer):  # a video container whose header or index is broken
        return f"the video file is damaged or incomplete ({message.strip()})"
    return "the file is not a video (Flick does not recognise its format)"


def _allowlisted(demuxer: str) -> bool:
    return any(name in DEMUXER_ALLOWLIST for name in demuxer.split(","))


def _refused_format(demuxer: str) -> str:
    label = demuxer.removesuffix("_pipe").upper()
    if demuxer.endswith("_pipe") or demuxer in STILL_IMAGE_DEMUXERS:
        return f"the file is a still image ({label}), not a video"
    return f"{label} files are not accepted; upload a video ({ACCEPTED_FORMATS})"


def _video_stream(container: InputContainer) -> VideoStream:
    if container.streams.video:
        return container.streams.video[0]
    if container.streams.audio:
        raise MediaRejected("the file has sound but no picture; upload a video")
    raise MediaRejected("the file has no video in it")


def _checked_size(stream: VideoStream, max_frame_pixels: int) -> tuple[int, int]:
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise MediaRejected("the video file is damaged (its picture size is missing)")
    if width * height > max_frame_pixels:
        raise MediaRejected(
            f"the video is {width}x{height} pixels ({_megapixels(width * height)}); "
            f"the limit is {_megapixels(max_frame_pixels)}"
        )
    return width, height


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.3g} megapixels"


def _checked_duration(container: InputContainer, stream: VideoStream, limit_s: float) -> float:
    duration_s = _duration_s(container, stream)
    if duration_s is None or duration_s <= 0:
        raise MediaRejected("the video's length cannot be read; the file may be damaged")
    if duration_s > limit_s:
        raise MediaRejected(
            f"the video is {_minutes(duration_s)} long; the limit is {_minutes(limit_s)}"
        )
    return duration_s


def _duration_s(container: InputContainer, stream: VideoStream) -> float | None:
    if container.duration is not None:
        return container.duration / av.time_base
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    minutes, rest = divmod(whole, 60)
    if minutes == 0:
        return f"{seconds:.1f} s" if seconds < 10 else f"{whole} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def _first_frame(container: InputContainer, stream: VideoStream) -> VideoFrame:
    stream.codec_context.thread_count = 1  # predictable CPU and memory under the limits
    frames: list[VideoFrame] = []
    try:
        for frame in container.decode(stream):
            frames.append(frame)
            if len(frames) == FRAMES_FOR_A_VIDEO:
                return frames[0]
    except av.FFmpegError as error:
        raise MediaRejected(f"the video file is damaged ({error.strerror})") from error
    if frames:
        raise MediaRejected("the file is a single still image, not a video")
    raise MediaRejected("the video file is damaged (no picture in it can be decoded)")


def main(argv: list[str]) -> None:
    """Inspect argv[3] and print the outcome as JSON on stdout."""
    max_duration_s, max_frame_pixels, path = float(argv[1]), int(argv[2]), argv[3]
    av.logging.set_level(av.logging.ERROR)  # errors carry their log line only when logging
    try:
        info = inspect_file(path, max_duration_s=max_duration_s, max_frame_pixels=max_frame_pixels)
        outcome: dict[str, Any] = {"info": info}
    except MediaRejected as rejected:
        outcome = {"rejected": rejected.reason}
    print(json.dumps(outcome))


if __name__ == "__main__":
    main(sys.argv)
