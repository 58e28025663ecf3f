"""Run a child process under CPU-time, memory and wall-clock limits.

The limits are set in the child, between fork and exec, by a tiny Python trampoline that
calls `setrlimit` and then execs the real program (same pid, so the process group we kill is
the program's). `preexec_fn` would do the same without the extra interpreter start (~20 ms),
but CPython documents it as unsafe in a process with threads, and the ingest worker has them.

The child gets its own session (process group). On wall-clock timeout, on cancellation of the
awaiting task, or on any error while waiting, the whole group is SIGKILLed and reaped before
the exception propagates: a cancelled worker never leaves a transcoder running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

# Run by `python -I -S -c` (no site, no environment: ~20 ms) with CPU seconds, bytes, the
# parent's pid and the program's argv. The CPU limit's soft and hard values are equal, so the
# kernel sends SIGKILL at once: ffmpeg catches SIGXCPU and would finish its outputs
# "normally", leaving a truncated rendition that looks complete. No core dumps. The
# parent-death signal takes the child down with a worker that is itself killed outright
# (SIGKILL, the OOM killer), which has no chance to kill it; it survives exec, and is checked
# against a parent that died before it was set.
_TRAMPOLINE = """
import ctypes, os, resource, sys
cpu, memory, parent, argv = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
libc = ctypes.CDLL(None)
if hasattr(libc, "prctl"):
    libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL (Linux)
if os.getppid() != parent:
    sys.exit("the parent died before its child started")
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
os.execvp(argv[0], argv)
"""
# The first lines of stderr say what went wrong (ffmpeg at -loglevel error prints the cause,
# then what failed because of it); the last ones how it ended (a signal, a MemoryError).
STDERR_HEAD_LINES = 5
STDERR_TAIL_LINES = 20
MEMORY_ERROR_MARKS = (  # what ffmpeg, x264/x265, Python and the dynamic loader say on ENOMEM
    "Cannot allocate memory",
    "pthread_create",  # a thread's stack is address space too
    "MemoryError",
    "std::bad_alloc",
    "malloc",
    "failed to map segment",
)

# glibc reserves 64 MiB of address space per malloc arena, up to 8 per core: ffmpeg's ~30
# threads reserved ~1.8 GiB for ~0.5 GiB resident. Two arenas halve that, so RLIMIT_AS
# limits what is used rather than what is reserved.
CHILD_ENV = {"MALLOC_ARENA_MAX": "2"}

LineCallback = Callable[[str], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class ProcessLimits:
    """What one child may cost: whole CPU seconds, bytes of address space, wall seconds."""

    cpu_s: int
    memory_bytes: int
    wall_s: float


class ChildFailed(Exception):
    """The child exited unsuccessfully (`limit` is None) or was stopped by a limit."""

    def __init__(self, message: str, *, limit: str | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.limit = limit
        self.stderr = stderr


@dataclass(frozen=True, slots=True)
class Completed:
    """A child that exited with status 0."""

    stdout: str
    stderr: str


async def run_limited(
    argv: Sequence[str], *, limits: ProcessLimits, on_line: LineCallback | None = None
) -> Completed:
    """Run argv (argv[0] a path) under `limits`; stdout lines go to `on_line` if given,
    else are returned. Raises ChildFailed on a non-zero exit or a limit."""
    proc = await asyncio.create_subprocess_exec(
        *_trampolined(argv, limits),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, **CHILD_ENV},
    )
    stdout: list[str] = []
    stderr = _Stderr()
    try:
        async with asyncio.timeout(limits.wall_s):
            await asyncio.gather(
                _read_lines(proc.stdout, on_line or stdout.append),
                _read_lines(proc.stderr, stderr.append),
                proc.wait(),
            )
    except TimeoutError:
        await _kill(proc)
        raise ChildFailed(
            f"took longer than {limits.wall_s:g} s", limit="wall", stderr=stderr.text()
        ) from None
    except BaseException:
        await _kill(proc)
        raise
    _check_exit(proc.returncode, limits, stderr.text())
    return Completed(stdout="".join(stdout), stderr=stderr.text())


def _trampolined(argv: Sequence[str], limits: ProcessLimits) -> list[str]:
    limit_args = [str(max(1, int(limits.cpu_s))), str(limits.memory_bytes), str(os.getpid())]
    return [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, *limit_args, *argv]


async def _read_lines(stream: asyncio.StreamReader | None, sink: LineCallback) -> None:
    assert stream is not None
    async for raw in stream:
        result = sink(raw.decode("utf-8", "replace"))
        if result is not None:
            await result


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the child's whole process group and reap it, even while being cancelled."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await asyncio.shield(proc.wait())  # a second cancel leaves the reaping to the loop


def _check_exit(returncode: int | None, limits: ProcessLimits, stderr: str) -> None:
    if returncode == 0:
        return
    # Our own kills raised already; a SIGKILL here is the CPU limit's (or, rarely, the OOM
    # killer's, which RLIMIT_AS is there to pre-empt).
    if returncode in (-signal.SIGKILL, -signal.SIGXCPU):
        message = f"took more than {limits.cpu_s:g} s of CPU time"
        raise ChildFailed(message, limit="cpu", stderr=stderr)
    if any(mark in stderr for mark in MEMORY_ERROR_MARKS):
        message = f"needed more than {limits.memory_bytes >> 20} MiB of memory"
        raise ChildFailed(message, limit="memory", stderr=stderr)
    raise ChildFailed(f"exited with status {returncode}", stderr=stderr)


class _Stderr:
    """The first and the last lines of a child's stderr."""

    def __init__(self) -> None:
        self.head: list[str] = []
        self.tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    def append(self, line: str) -> None:
        if len(self.head) < STDERR_HEAD_LINES:
            self.head.append(line)
        else:
            self.tail.append(line)

    def text(self) -> str:
        return "".join([*self.head, *self.tail]).strip()
