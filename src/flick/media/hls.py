"""HLS text: read what ffmpeg's hls muxer wrote, describe renditions, write the master playlist.

A media playlist is read only for its segments (URI and EXTINF duration): the bit rates and
the output duration come from the files it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flick.media import Rendition

PEAK_WINDOW = (0.5, 1.5)  # RFC 8216bis 4.4.6.2: peak over spans of 0.5-1.5 target durations


@dataclass(frozen=True, slots=True)
class Segment:
    """One media segment: its file and EXTINF duration."""

    path: Path
    duration_s: float


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    """The parts of a media playlist that bit rates are computed from."""

    target_duration_s: float
    segments: list[Segment]

    @property
    def duration_s(self) -> float:
        """The sum of the segments' EXTINF durations."""
        return sum(segment.duration_s for segment in self.segments)


def read_media_playlist(path: Path) -> MediaPlaylist:
    """Parse the media playlist at `path` (segment URIs are relative to its directory)."""
    target, duration, segments = 0.0, 0.0, []
    for line in path.read_text().splitlines():
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.partition(":")[2])
        elif line.startswith("#EXTINF:"):
            duration = float(line.partition(":")[2].partition(",")[0])
        elif line and not line.startswith("#"):
            segments.append(Segment(path.parent / line, duration))
    return MediaPlaylist(target_duration_s=target, segments=segments)


def peak_bandwidth(playlist: MediaPlaylist) -> int:
    """HLS BANDWIDTH: the highest bit rate over contiguous segments spanning 0.5-1.5 target
    durations (the whole playlist when it is shorter than that)."""
    sizes = [segment.path.stat().st_size for segment in playlist.segments]
    low, high = (bound * playlist.target_duration_s for bound in PEAK_WINDOW)
    peak = 0.0
    for first in range(len(sizes)):
        size, duration = 0, 0.0
        for index in range(first, len(sizes)):
            size, duration = size + sizes[index], duration + playlist.segments[index].duration_s
            if duration > high:
                break
            if duration >= low:
                peak = max(peak, size * 8 / duration)
    return round(peak) or average_bandwidth(playlist)


def average_bandwidth(playlist: MediaPlaylist) -> int:
    """HLS AVERAGE-BANDWIDTH: every segment's bits over the playlist's duration."""
    bits = 8 * sum(segment.path.stat().st_size for segment in playlist.segments)
    return round(bits / playlist.duration_s) if playlist.duration_s > 0 else 0


def master_playlist(renditions: list[Rendition]) -> str:
    """The master playlist: H.264 renditions first, then the rest (HEVC), each group by
    bandwidth; a player without HEVC skips the hvc1 entries by their CODECS."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rendition in sorted(renditions, key=_order):
        lines.append(_stream_inf(rendition))
        lines.append(rendition.playlist)
    return "\n".join(lines) + "\n"


def _order(rendition: Rendition) -> tuple[bool, int]:
    return (not rendition.codecs.startswith("avc1"), rendition.bandwidth)


def _stream_inf(rendition: Rendition) -> str:
    return (
        f"#EXT-X-STREAM-INF:BANDWIDTH={rendition.bandwidth},"
        f"AVERAGE-BANDWIDTH={rendition.average_bandwidth},"
        f'CODECS="{rendition.codecs}",RESOLUTION={rendition.width}x{rendition.height},'
        f"FRAME-RATE={rendition.frame_rate:.3f}"
    )
