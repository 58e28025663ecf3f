"""What several media tests look at: child processes, FIFOs, playlists."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

POLL_S = 0.005


def children() -> list[int]:
    """Pids of this process's children that still exist (zombies included)."""
    return children_of(os.getpid())


def children_of(parent: int) -> list[int]:
    """Pids of the children of `parent` that still exist (zombies included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def command_line(pid: int) -> bytes:
    """A process's argv, NUL-separated; empty once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


async def cancel_and_check_its_child_is_gone(task: asyncio.Task[Any]) -> None:
    """Cancel a task running ffmpeg once its child exists; the child must be dead after."""
    pid = await a_child()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert children() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def a_child(*, timeout_s: float = 10.0) -> int:
    """The pid of a child process, once one has started."""
    for _ in range(int(timeout_s / POLL_S)):
        if found := children():
            return found[0]
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"no child process started in {timeout_s} s")


def opened(fifo: Path) -> bool:
    """Whether some process has the FIFO open for reading (opening its write end without
    blocking fails with ENXIO while nobody reads)."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        return False
    return True


async def watch(fifo: Path, task: asyncio.Task[Any]) -> bool:
    """Whether the FIFO was opened while the task ran."""
    seen = False
    while not task.done():
        seen = seen or opened(fifo)
        await asyncio.sleep(POLL_S)
    return seen


def secret_fifo(directory: Path) -> Path:
    """A FIFO standing for a local file a playlist must not open: reading it would block."""
    fifo = directory / "secret.ts"  # the hls demuxer only follows media extensions
    os.mkfifo(fifo)
    return fifo


def playlist_naming(target: Path, path: Path) -> Path:
    """Write an HLS media playlist at `path` whose one segment is `target`."""
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{target}\n#EXT-X-ENDLIST\n")
    return path


def cut_in_half(path: Path, target: Path) -> Path:
    """A copy of the first half of `path`, as an interrupted upload or copy leaves it."""
    data = path.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def with_noise_for_samples(path: Path, target: Path, *, size: int = 40_000) -> Path:
    """A copy of an MP4 whose first `size` bytes of samples (after `mdat`) are random."""
    data = bytearray(path.read_bytes())
    start = data.index(b"mdat") + 4
    data[start : start + size] = os.urandom(size)
    target.write_bytes(bytes(data))
    return target


def moov_after_mdat(path: Path) -> bool:
    """Whether an MP4's index comes after its samples, as cameras write it."""
    data = path.read_bytes()
    return data.index(b"moov") > data.index(b"mdat")
