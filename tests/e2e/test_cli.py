"""The `flick` command line as a person runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FLICK = str(Path(sys.executable).parent / "flick")


def _run(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "FLICK_DATA_DIR": str(data_dir), **env}
    return subprocess.run(
        [FLICK, *args], env=full_env, capture_output=True, text=True, timeout=120, check=False
    )


def test_doctor_names_what_is_wrong_and_how_to_fix_it(tmp_path: Path) -> None:
    before = _run("doctor", data_dir=tmp_path, FLICK_CACHE_URL="redis://127.0.0.1:1/0")
    assert before.returncode == 1
    assert "✗ cache redis://127.0.0.1:1/0" in before.stderr
    assert "fix: check FLICK_CACHE_URL" in before.stderr
    assert "run `flick migrate`" in before.stderr  # a fresh data dir has no schema yet

    migrated = _run("migrate", data_dir=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "migrated" in migrated.stderr

    after = _run("doctor", data_dir=tmp_path)
    assert after.returncode == 0, after.stderr
    assert "all backends healthy" in after.stderr


def test_unknown_backend_scheme_is_explained(tmp_path: Path) -> None:
    result = _run("doctor", data_dir=tmp_path, FLICK_BUS_URL="kafka://somewhere")
    assert result.returncode == 1
    assert "use local:///dir or nats://host:port" in result.stderr


def test_the_relay_runs_once(tmp_path: Path) -> None:
    result = _run("serve", "--role", "relay", "--workers", "2", data_dir=tmp_path)
    assert result.returncode == 2
    assert "--role relay runs once" in result.stderr
