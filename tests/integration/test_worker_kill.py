"""The transcode worker killed mid-job (SIGKILL, as a crash or the OOM killer would), then
started again: the job is redelivered, the video ends ready with exactly one set of
renditions, and no ffmpeg or scratch files are left behind."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flick.media.clips import make_clip

from ..processes import FLICK, FlickProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {
        "FLICK_DATA_DIR": str(tmp_path / "data"),
        "FLICK_PASSWORD_TIME_COST": "1",
        "FLICK_PASSWORD_MEMORY_KIB": "1024",
        "FLICK_RELAY_POLL_S": "0.05",
        "FLICK_TRANSCODE_HEVC": "false",
    }
    subprocess.run([FLICK, "migrate"], env={**os.environ, **values}, check=True)
    return values


@pytest.fixture
def api(env: dict[str, str], tmp_path: Path) -> Iterator[FlickProcess]:
    processes = [
        FlickProcess("api", env=env, log=tmp_path / "api.log").start(),
        FlickProcess("relay", env=env, log=tmp_path / "relay.log").start(),
    ]
    try:
        yield processes[0].wait_ready()
    finally:
        for process in processes:
            process.stop()


def publish(url: str, data: bytes) -> str:
    signed_up = httpx.post(
        f"{url}/api/v1/auth/signup", json={"username": "ana", "password": "hunter2hunter2"}
    )
    headers = {"Authorization": f"Bearer {signed_up.json()['token']}", "Tus-Resumable": "1.0.0"}
    created = httpx.post(
        f"{url}/api/v1/uploads", headers={**headers, "Upload-Length": str(len(data))}
    )
    location = f"{url}{created.headers['location']}"
    chunk_headers = {
        **headers,
        "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream",
    }
    assert httpx.patch(location, content=data, headers=chunk_headers).status_code == 204
    body = {"upload_id": location.rsplit("/", 1)[1]}
    video = httpx.post(f"{url}/api/v1/videos", json=body, headers=headers)
    assert video.status_code == 202, video.text
    return str(video.json()["id"])


def poll(url: str, video_id: str, *, until: str, timeout: float = 180) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        video = httpx.get(f"{url}/api/v1/videos/{video_id}").json()
        if until == "started" and 0 < video["progress"] < 100:
            return dict(video)
        if until == "settled" and video["status"] != "processing":
            return dict(video)
        time.sleep(0.05)
    pytest.fail(f"video {video_id} never {until}")


def ffmpeg_processes_under(directory: Path) -> list[int]:
    """Pids of processes whose command line names `directory` (our ffmpeg children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(directory) in cmdline and "ffmpeg" in cmdline:
            found.append(int(entry.name))
    return found


def test_a_killed_worker_leaves_one_set_of_renditions(
    api: FlickProcess, env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "clip.mp4"
    asyncio.run(make_clip(source, seconds=8, width=720, height=1280, fps=30))
    data_dir = Path(env["FLICK_DATA_DIR"])
    worker = FlickProcess("worker", env=env, log=tmp_path / "worker.log").start()
    video_id = publish(api.url, source.read_bytes())

    poll(api.url, video_id, until="started")
    assert worker.proc is not None
    os.kill(worker.proc.pid, signal.SIGKILL)  # the worker alone; ffmpeg must die with it
    worker.proc.wait(timeout=15)
    deadline = time.monotonic() + 10
    while ffmpeg_processes_under(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ffmpeg_processes_under(data_dir) == [], "an ffmpeg outlived its worker"

    restarted = FlickProcess("worker", env=env, log=tmp_path / "worker.log").start()
    try:
        video = poll(api.url, video_id, until="settled")
    finally:
        restarted.stop()
    assert video["status"] == "ready", f"{video['error']}\n{restarted.log()}"
    assert [r["name"] for r in video["renditions"]] == ["360p", "720p"]  # type: ignore[union-attr]
    assert_one_set_of_renditions(data_dir)
    assert not list((data_dir / "work").glob("*")), "scratch files left behind"


def assert_one_set_of_renditions(data_dir: Path) -> None:
    """Every stored file is named by a playlist (or is a still), and every named one exists."""
    (media,) = (data_dir / "blobs" / "data" / "assets").glob("*/media")
    stored = {p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()}
    stored = {name for name in stored if not Path(name).name.startswith(".")}
    named = {"master.m3u8"}
    master = (media / "master.m3u8").read_text()
    for playlist in re.findall(r"^[^#\s].*\.m3u8$", master, flags=re.MULTILINE):
        named.add(playlist)
        rung = Path(playlist).parent
        text = (media / playlist).read_text()
        for uri in re.findall(r'URI="([^"]+)"', text) + re.findall(
            r"^[^#\s].*$", text, flags=re.MULTILINE
        ):
            named.add((rung / uri).as_posix())
    stills = {name for name in stored if name.endswith(".jpg")}
    assert stored - stills == named, f"extra: {stored - stills - named}, missing: {named - stored}"
