from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flick.media import TranscodeFailed, ffmpeg_executable
from flick.media.ffmpeg import run_ffmpeg
from flick.media.sandbox import ProcessLimits

from .helpers import (
    cancel_and_check_its_child_is_gone,
    children,
    children_of,
    command_line,
)

RUNAWAY = ["-f", "lavfi", "-i", "testsrc2=size=640x360", "-f", "null", "-"]  # never ends
ROOMY = ProcessLimits(cpu_s=60, memory_bytes=2 << 30, wall_s=60)


def test_flick_ffmpeg_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLICK_FFMPEG", "/usr/bin/ffmpeg")
    assert ffmpeg_executable() == "/usr/bin/ffmpeg"
    monkeypatch.delenv("FLICK_FFMPEG")
    assert Path(ffmpeg_executable()).is_file()


async def test_progress_rises_to_one(tmp_path: Path) -> None:
    reported: list[float] = []
    args = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=2", "-f", "null", "-"]
    await run_ffmpeg(args, limits=ROOMY, duration_s=2.0, on_progress=reported.append)
    assert reported[-1] == 1.0
    assert reported == sorted(reported)


async def test_async_progress_callbacks_are_awaited() -> None:
    reported: list[float] = []

    async def report(fraction: float) -> None:
        await asyncio.sleep(0)
        reported.append(fraction)

    args = ["-f", "lavfi", "-i", "testsrc2=duration=1", "-f", "null", "-"]
    await run_ffmpeg(args, limits=ROOMY, duration_s=1.0, on_progress=report)
    assert reported[-1] == 1.0


async def test_a_failure_says_what_ffmpeg_said(tmp_path: Path) -> None:
    with pytest.raises(TranscodeFailed) as caught:
        await run_ffmpeg(["-i", str(tmp_path / "missing.mp4")], limits=ROOMY, duration_s=1)
    assert "exited with status" in str(caught.value)
    assert "No such file or directory" in str(caught.value)


async def test_cpu_limit_stops_a_runaway() -> None:
    limits = ProcessLimits(cpu_s=1, memory_bytes=2 << 30, wall_s=60)
    with pytest.raises(TranscodeFailed, match="took more than 1 s of CPU time"):
        await run_ffmpeg(RUNAWAY, limits=limits, duration_s=1)
    assert children() == []


async def test_wall_clock_limit_stops_a_runaway() -> None:
    limits = ProcessLimits(cpu_s=60, memory_bytes=2 << 30, wall_s=0.5)
    with pytest.raises(TranscodeFailed, match=r"took longer than 0.5 s"):
        await run_ffmpeg(["-re", *RUNAWAY], limits=limits, duration_s=1)
    assert children() == []


async def test_memory_limit() -> None:
    # One 4K frame is 12 MiB; x264 wants ~20 of them. (A limit too small for ffmpeg to start
    # at all ends in a SIGSEGV, reported as an exit status, not as memory.)
    uhd = ["-f", "lavfi", "-i", "testsrc2=size=3840x2160:duration=1", "-threads", "1"]
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-f", "null", "-"]
    limits = ProcessLimits(cpu_s=60, memory_bytes=256 << 20, wall_s=60)
    with pytest.raises(TranscodeFailed, match="needed more than 256 MiB of memory"):
        await run_ffmpeg(uhd + encode, limits=limits, duration_s=1)


async def test_cancelling_kills_ffmpeg() -> None:
    task = asyncio.create_task(run_ffmpeg(RUNAWAY, limits=ROOMY, duration_s=1))
    await cancel_and_check_its_child_is_gone(task)


WORKER = f"""
import asyncio
from flick.media.ffmpeg import run_ffmpeg
from flick.media.sandbox import ProcessLimits
asyncio.run(run_ffmpeg({RUNAWAY!r}, limits=ProcessLimits(60, 2 << 30, 60), duration_s=1))
"""


def running_runaway(worker: int) -> list[int]:
    """The worker's ffmpeg running RUNAWAY, once exec'd (imageio-ffmpeg runs `ffmpeg -version`
    first, and before exec the child is the trampoline)."""
    return [
        pid
        for pid in children_of(worker)
        if command_line(pid).startswith(ffmpeg_executable().encode())
        and b"testsrc2" in command_line(pid)
    ]


def test_ffmpeg_dies_with_a_worker_killed_outright() -> None:
    # SIGKILL leaves the worker no chance to kill its child: the parent-death signal does.
    worker = subprocess.Popen([sys.executable, "-c", WORKER])
    try:
        deadline = time.monotonic() + 10
        while not running_runaway(worker.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        (ffmpeg,) = running_runaway(worker.pid)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{ffmpeg}").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not Path(f"/proc/{ffmpeg}").exists()
