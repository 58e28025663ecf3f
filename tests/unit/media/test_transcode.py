"""The ladder on tiny real clips: what ffmpeg wrote, and that it plays."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, replace
from pathlib import Path

import av
import pytest

from flick.media import (
    Ladder,
    MediaInfo,
    Rendition,
    TranscodeFailed,
    master_playlist,
    probe,
    transcode_h264,
    transcode_hevc,
)
from flick.media.clips import make_clip
from flick.media.hls import read_media_playlist

from .helpers import (
    cancel_and_check_its_child_is_gone,
    cut_in_half,
    playlist_naming,
    secret_fifo,
    watch,
)

SEGMENT_S = 2.0


@dataclass
class Done:
    """One clip transcoded: where to, what was reported."""

    out: Path
    info: MediaInfo
    ladder: Ladder
    hevc: Rendition | None
    progress: list[float]


def _transcode(source: Path, out: Path) -> Done:
    async def run() -> Done:
        info = await probe(source)
        progress: list[float] = []
        ladder = await transcode_h264(source, out, info, on_progress=progress.append)
        hevc = await transcode_hevc(source, out, info)
        return Done(out, info, ladder, hevc, progress)

    return asyncio.run(run())


@pytest.fixture(scope="module")
def hd(hd_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Done:
    """The 720x1280 clip through both passes (about 3 s on 2 cores)."""
    out = tmp_path_factory.mktemp("hd")
    (out / "720p").mkdir()
    (out / "720p" / "seg_00042.m4s").write_bytes(b"left by a killed attempt")
    return _transcode(hd_clip, out)


def frames(rendition_dir: Path, segment: int = 0) -> list[av.VideoFrame]:
    """Decode init.mp4 + one media segment: together they are a fragmented MP4."""
    data = (rendition_dir / "init.mp4").read_bytes()
    data += (rendition_dir / f"seg_{segment:05d}.m4s").read_bytes()
    with av.open(io.BytesIO(data)) as container:
        return list(container.decode(video=0))


def test_every_rung_is_an_hls_rendition(hd: Done) -> None:
    assert [r.name for r in hd.ladder.renditions] == ["360p", "720p"]
    for rendition in hd.ladder.renditions:
        playlist = read_media_playlist(hd.out / rendition.playlist)
        assert (hd.out / rendition.name / "init.mp4").is_file()
        durations = [segment.duration_s for segment in playlist.segments]
        assert durations == pytest.approx([SEGMENT_S, 1.0], abs=0.01)  # 3 s at 2 s each
        assert rendition.average_bandwidth < rendition.bandwidth < 2 * 8 * 10**6
    assert hd.ladder.duration_s == pytest.approx(3.0, abs=0.05)
    assert not (hd.out / "720p" / "seg_00042.m4s").exists()


def test_codecs_and_levels_are_exact(hd: Done) -> None:
    codecs = [r.codecs for r in hd.ladder.renditions]
    assert codecs == ["avc1.64001e,mp4a.40.2", "avc1.64001f,mp4a.40.2"]  # High 3.0 and 3.1


def test_segments_decode_at_the_rung_size_starting_on_a_keyframe(hd: Done) -> None:
    for rendition in hd.ladder.renditions:
        for segment in (0, 1):
            decoded = frames(hd.out / rendition.name, segment)
            assert decoded[0].key_frame
            assert (decoded[0].width, decoded[0].height) == (rendition.width, rendition.height)
        assert len(frames(hd.out / rendition.name)) == 30  # 2 s at 15 fps


def test_thumbnail_and_keyframes_are_small_jpegs(hd: Done) -> None:
    assert hd.ladder.thumbnail == "thumb.jpg"
    assert hd.ladder.keyframes == ["keyframes/kf_000.jpg", "keyframes/kf_001.jpg"]
    for name, size in [("thumb.jpg", (720, 1280)), ("keyframes/kf_000.jpg", (224, 398))]:
        assert (hd.out / name).read_bytes()[:3] == b"\xff\xd8\xff"
        with av.open(str(hd.out / name)) as image:
            frame = next(image.decode(video=0))
            assert (frame.width, frame.height) == size


def test_progress_is_reported_up_to_one(hd: Done) -> None:
    assert hd.progress and hd.progress[-1] == 1.0
    assert hd.progress == sorted(hd.progress)


def test_hevc_rendition(hd: Done) -> None:
    assert hd.hevc is not None
    assert (hd.hevc.name, hd.hevc.width, hd.hevc.height) == ("720p-hevc", 720, 1280)
    assert hd.hevc.codecs == "hvc1.1.6.L93.90,mp4a.40.2"  # Main, level 3.1, as x265 wrote it
    decoded = frames(hd.out / "720p-hevc")
    assert len(decoded) == 30 and decoded[0].key_frame
    with av.open(str(hd.out / "720p-hevc" / "init.mp4")) as init:
        assert init.streams.video[0].codec_context.codec_tag == "hvc1"
    text = master_playlist([*hd.ladder.renditions, hd.hevc])
    assert text.count("#EXT-X-STREAM-INF:") == 3
    assert text.rstrip().endswith("720p-hevc/index.m3u8")


async def test_hevc_from_the_source(hd_clip: Path, tmp_path: Path) -> None:
    info = await probe(hd_clip)
    hevc = await transcode_hevc(hd_clip, tmp_path, info, from_h264=False)
    assert hevc is not None and hevc.codecs.startswith("hvc1.")
    assert len(frames(tmp_path / "720p-hevc", 1)) == 15


async def test_a_truncated_source_gives_a_shorter_output(tmp_path: Path) -> None:
    # The index is at the start, so the probe accepts the first half; the caller compares
    # Ladder.duration_s with the probe's duration to refuse it.
    whole = await make_clip(
        tmp_path / "whole.mp4", seconds=4, width=240, height=426, fps=15, moov_at_end=False
    )
    cut = cut_in_half(whole, tmp_path / "cut.mp4")
    info = await probe(cut)
    ladder = await transcode_h264(cut, tmp_path / "out", info)
    assert info.duration_s == pytest.approx(4.0, abs=0.1)
    assert ladder.duration_s < 3.0


async def test_a_small_silent_source(silent_clip: Path, tmp_path: Path) -> None:
    info = await probe(silent_clip)
    ladder = await transcode_h264(silent_clip, tmp_path, info)
    (only,) = ladder.renditions
    assert (only.name, only.width, only.height) == ("240p", 240, 426)
    assert only.codecs == "avc1.64001e"  # no mp4a: video only
    with av.open(str(tmp_path / "240p" / "init.mp4")) as init:
        assert not init.streams.audio
    assert await transcode_hevc(silent_clip, tmp_path, info) is None


async def test_a_rotated_source_is_encoded_upright(rotated_clip: Path, tmp_path: Path) -> None:
    info = await probe(rotated_clip)
    ladder = await transcode_h264(rotated_clip, tmp_path, info)
    assert (ladder.renditions[0].width, ladder.renditions[0].height) == (240, 426)
    decoded = frames(tmp_path / "240p")
    assert (decoded[0].width, decoded[0].height, decoded[0].rotation) == (240, 426, 0)


async def test_cancelling_a_transcode_kills_ffmpeg(hd_clip: Path, tmp_path: Path) -> None:
    info = await probe(hd_clip)
    task = asyncio.create_task(transcode_h264(hd_clip, tmp_path, info))
    await cancel_and_check_its_child_is_gone(task)


async def test_the_transcoder_refuses_a_playlist_too(tiny_clip: Path, tmp_path: Path) -> None:
    # Defence in depth: were a playlist to reach the transcoder, -format_whitelist refuses
    # it before the hls demuxer opens what it names.
    fifo = secret_fifo(tmp_path)
    playlist = playlist_naming(fifo, tmp_path / "playlist.m3u8")
    info = replace(await probe(tiny_clip), container="hls")
    task = asyncio.create_task(transcode_h264(playlist, tmp_path / "out", info))
    assert not await watch(fifo, task)
    with pytest.raises(TranscodeFailed, match="not on whitelist"):
        task.result()
