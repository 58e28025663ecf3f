"""Planning the ladder and describing renditions: no ffmpeg here."""

from __future__ import annotations

from pathlib import Path

import pytest

from flick.media import MediaInfo, Rendition, Rung, master_playlist, plan_ladder
from flick.media.codec_strings import avc1, hvc1, mp4a
from flick.media.hls import average_bandwidth, peak_bandwidth, read_media_playlist
from flick.media.ladder import hevc_rung


def source(width: int, height: int, fps: float = 30.0) -> MediaInfo:
    return MediaInfo(
        container="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=15.0,
        width=width,
        height=height,
        fps=fps,
        video_codec="h264",
        has_audio=True,
    )


def sizes(rungs: list[Rung]) -> list[tuple[str, int, int]]:
    return [(rung.name, rung.width, rung.height) for rung in rungs]


def test_landscape_1080p() -> None:
    assert sizes(plan_ladder(source(1920, 1080))) == [
        ("360p", 640, 360),
        ("720p", 1280, 720),
        ("1080p", 1920, 1080),
    ]


def test_portrait_is_named_by_its_short_side() -> None:
    assert sizes(plan_ladder(source(1080, 1920))) == [
        ("360p", 360, 640),
        ("720p", 720, 1280),
        ("1080p", 1080, 1920),
    ]


def test_never_upscaled() -> None:
    assert sizes(plan_ladder(source(720, 1280))) == [("360p", 360, 640), ("720p", 720, 1280)]
    assert sizes(plan_ladder(source(540, 960))) == [("360p", 360, 640)]


def test_4k_stops_at_1080p() -> None:
    assert plan_ladder(source(2160, 3840))[-1].height == 1920


def test_a_small_source_gets_one_rung_at_its_own_even_size() -> None:
    (rung,) = plan_ladder(source(241, 427))
    assert (rung.name, rung.width, rung.height, rung.codec) == ("240p", 240, 426, "h264")
    assert 0 < rung.video_kbps < 800


def test_other_aspect_ratios_keep_even_sizes() -> None:
    rungs = plan_ladder(source(1080, 1350))  # 4:5, Instagram's portrait
    assert sizes(rungs) == [("360p", 360, 450), ("720p", 720, 900), ("1080p", 1080, 1350)]
    squares = plan_ladder(source(1000, 1000))
    assert sizes(squares) == [("360p", 360, 360), ("720p", 720, 720)]
    assert all(r.width % 2 == 0 and r.height % 2 == 0 for r in plan_ladder(source(999, 1777)))


def test_maxrates_grow_with_the_rung_and_the_frame_rate() -> None:
    at_30 = [rung.video_kbps for rung in plan_ladder(source(1080, 1920))]
    at_60 = [rung.video_kbps for rung in plan_ladder(source(1080, 1920, fps=60))]
    assert at_30 == sorted(at_30) and at_30[0] < 1000 < at_30[-1]
    assert [round(b / a, 2) for a, b in zip(at_30, at_60, strict=True)] == [1.5] * 3


def test_hevc_rung_only_from_720p_up() -> None:
    rung = hevc_rung(source(1080, 1920))
    assert rung is not None
    assert (rung.name, rung.codec, rung.width, rung.height) == ("720p-hevc", "hevc", 720, 1280)
    assert hevc_rung(source(540, 960)) is None


def test_codec_strings_from_configuration_records() -> None:
    assert avc1(bytes.fromhex("01640028ffe1")) == "avc1.640028"
    # x265's Main profile, level 3.1, as in a real hvcC
    assert hvc1(bytes.fromhex("0101600000009000000000005d")) == "hvc1.1.6.L93.90"
    assert hvc1(bytes.fromhex("012160000000b000000000007b")) == "hvc1.1.6.H123.B0"
    assert mp4a(bytes.fromhex("1190")) == "mp4a.40.2"


def rendition(name: str, codecs: str, bandwidth: int) -> Rendition:
    return Rendition(
        name=name,
        codecs=codecs,
        width=720,
        height=1280,
        bandwidth=bandwidth,
        average_bandwidth=bandwidth - 100,
        playlist=f"{name}/index.m3u8",
    )


def test_master_playlist_h264_first_then_by_bandwidth() -> None:
    text = master_playlist(
        [
            rendition("720p-hevc", "hvc1.1.6.L93.90,mp4a.40.2", 2_000_000),
            rendition("720p", "avc1.64001f,mp4a.40.2", 3_000_000),
            rendition("360p", "avc1.64001e,mp4a.40.2", 900_000),
        ]
    )
    lines = text.splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    assert lines[4::2] == ["360p/index.m3u8", "720p/index.m3u8", "720p-hevc/index.m3u8"]
    assert lines[5] == (
        "#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2999900,"
        'CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=720x1280,FRAME-RATE=30.000'
    )


def test_bandwidth_from_segments(tmp_path: Path) -> None:
    durations_and_sizes = [(2.0, 250_000), (2.0, 500_000), (2.0, 250_000), (0.4, 200_000)]
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2"]
    for index, (duration, size) in enumerate(durations_and_sizes):
        (tmp_path / f"s{index}.m4s").write_bytes(bytes(size))
        lines += [f"#EXTINF:{duration:.6f},", f"s{index}.m4s"]
    (tmp_path / "index.m3u8").write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))
    playlist = read_media_playlist(tmp_path / "index.m3u8")
    assert playlist.duration_s == pytest.approx(6.4)
    # the 0.4 s tail alone is shorter than half a target duration: only with its neighbour
    assert peak_bandwidth(playlist) == 2_000_000
    assert average_bandwidth(playlist) == round(1_200_000 * 8 / 6.4)
