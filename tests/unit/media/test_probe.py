from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flick.media import MediaInfo, MediaRejected, ProbeLimits, ffmpeg_executable, probe

from .helpers import (
    cut_in_half,
    moov_after_mdat,
    opened,
    playlist_naming,
    secret_fifo,
    watch,
    with_noise_for_samples,
)


async def rejected(path: Path, limits: ProbeLimits | None = None) -> str:
    with pytest.raises(MediaRejected) as caught:
        await probe(path, limits or ProbeLimits())
    return caught.value.reason


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_executable(), "-v", "error", "-y", *args], check=True)


async def test_a_clip_is_described(tiny_clip: Path) -> None:
    info = await probe(tiny_clip)
    assert info == MediaInfo(
        container="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=pytest.approx(3.0, abs=0.1),
        width=240,
        height=426,
        fps=15.0,
        video_codec="h264",
        has_audio=True,
        rotation=0,
    )


async def test_a_clip_without_sound(silent_clip: Path) -> None:
    assert (await probe(silent_clip)).has_audio is False


async def test_rotation_gives_the_displayed_size(rotated_clip: Path) -> None:
    info = await probe(rotated_clip)  # 426x240 frames stored, shown turned by 90°
    assert (info.width, info.height, info.rotation) == (240, 426, 90)


async def test_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").touch()
    assert await rejected(tmp_path / "empty.mp4") == "the file is empty"


async def test_text_named_mp4_is_not_a_video(tmp_path: Path) -> None:
    # Detection goes by the bytes: the .mp4 name does not get it tried (and failed) as MP4.
    (tmp_path / "notes.mp4").write_text("these are not moving pictures\n" * 20)
    assert "not a video" in await rejected(tmp_path / "notes.mp4")


@pytest.mark.parametrize("kind", ["png", "jpg"])
async def test_an_image_renamed_mp4_is_a_still_image(tmp_path: Path, kind: str) -> None:
    image = tmp_path / f"photo.{kind}"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", str(image))
    image.rename(tmp_path / "photo.mp4")
    assert "still image" in await rejected(tmp_path / "photo.mp4")


async def test_a_single_frame_mp4_is_a_still_image(tmp_path: Path, tiny_clip: Path) -> None:
    one = tmp_path / "one.mp4"
    ffmpeg("-i", str(tiny_clip), "-frames:v", "1", "-an", "-c", "copy", str(one))
    assert "single still image" in await rejected(one)


async def test_sound_only(tmp_path: Path, tiny_clip: Path) -> None:
    sound = tmp_path / "sound.mp4"
    ffmpeg("-i", str(tiny_clip), "-vn", "-c", "copy", str(sound))
    assert "no picture" in await rejected(sound)


async def test_an_mp4_cut_in_half(tmp_path: Path, tiny_clip: Path) -> None:
    assert moov_after_mdat(tiny_clip)  # so half the file has no index
    half = cut_in_half(tiny_clip, tmp_path / "half.mp4")
    assert "damaged or incomplete" in await rejected(half)


async def test_garbage_behind_a_valid_header(tmp_path: Path, tiny_clip: Path) -> None:
    noisy = with_noise_for_samples(tiny_clip, tmp_path / "noise.mp4")
    assert "damaged" in await rejected(noisy)


async def test_too_long(tiny_clip: Path) -> None:
    reason = await rejected(tiny_clip, ProbeLimits(max_duration_s=2))
    assert reason == "the video is 3.0 s long; the limit is 2.0 s"


async def test_too_many_pixels(tiny_clip: Path) -> None:
    reason = await rejected(tiny_clip, ProbeLimits(max_frame_pixels=320 * 240))
    assert reason.startswith("the video is 240x426 pixels (0.102 megapixels); the limit is")


async def test_wall_clock_limit(tiny_clip: Path) -> None:
    reason = await rejected(tiny_clip, ProbeLimits(wall_s=0.01))
    assert reason.startswith("checking the file took longer than 0.01 s")


async def test_memory_limit(tiny_clip: Path) -> None:
    reason = await rejected(tiny_clip, ProbeLimits(memory_bytes=64 << 20))
    assert reason.startswith("checking the file needed more than 64 MiB of memory")


@pytest.mark.parametrize("name", ["playlist.m3u8", "playlist.mp4"])
async def test_a_playlist_is_refused_before_it_opens_what_it_names(
    tmp_path: Path, name: str
) -> None:
    fifo = secret_fifo(tmp_path)
    playlist = playlist_naming(fifo, tmp_path / name)
    started = time.monotonic()
    task = asyncio.create_task(rejected(playlist))
    assert not await watch(fifo, task)
    assert "not a video" in task.result()
    assert time.monotonic() - started < 5  # did not hang on the FIFO until the wall limit


def test_the_fifo_check_sees_libav_following_a_playlist(tmp_path: Path) -> None:
    # The control for the test above: without the whitelists, libav opens the named file.
    fifo = secret_fifo(tmp_path)
    playlist = playlist_naming(fifo, tmp_path / "playlist.m3u8")
    code = f"import av; av.open({str(playlist)!r})"
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    try:
        # One look that succeeds is the answer: it opens and closes the write end, so the
        # child reads an empty file and may close the FIFO before a second look.
        deadline, seen = time.monotonic() + 30, False
        while not seen and time.monotonic() < deadline:
            seen = opened(fifo)
            time.sleep(0.01)
        assert seen
    finally:
        child.kill()
        child.wait()


async def test_a_playlist_of_a_valid_local_video_is_not_media(
    tmp_path: Path, tiny_clip: Path
) -> None:
    local = shutil.copy(tiny_clip, tmp_path / "local.mp4")
    playlist = playlist_naming(Path(local), tmp_path / "playlist.m3u8")
    assert "not a video" in await rejected(playlist)
