"""Flick processes for tests that need a real server (tus clients, restarts, kill tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

FLICK = str(Path(sys.executable).parent / "flick")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FlickProcess:
    """One `flick serve --role ROLE` child with its output in a log file."""

    def __init__(
        self,
        role: str,
        *,
        env: dict[str, str],
        log: Path,
        port: int = 0,
        args: tuple[str, ...] = (),
    ) -> None:
        self.role, self.env, self.log_path, self.args = role, env, log, args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> FlickProcess:
        command = [FLICK, "serve", "--role", self.role, "--port", str(self.port), *self.args]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                command,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaches its children
            )
        return self

    def wait_ready(self, timeout: float = 60) -> FlickProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"{self.role} on {self.url} did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash or the OOM killer would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
