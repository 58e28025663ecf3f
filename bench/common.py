"""What several benchmarks share: the environment of a `flick serve` under load, wrk's
latency figures, and py-spy profiles of the server."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from pathlib import Path

LIFTED = "1000000"  # rate limits are not under test in the benchmarks
RATE_LIMITS = ("RATE_PER_ADDRESS", "BURST_PER_ADDRESS", "RATE_PER_USER", "BURST_PER_USER")


def server_env(data_dir: Path) -> dict[str, str]:
    """`flick serve` settings for a benchmark: its data under `data_dir`, rate limits lifted,
    cheap password hashing (sign-ups are set-up, not what is measured), quiet logs."""
    return {
        "FLICK_DATA_DIR": str(data_dir),
        "FLICK_PASSWORD_TIME_COST": "1",
        "FLICK_PASSWORD_MEMORY_KIB": "1024",
        "FLICK_RATE_AUTH_ATTEMPTS": LIFTED,
        "FLICK_BURST_AUTH_ATTEMPTS": LIFTED,
        "FLICK_LOG_LEVEL": "WARNING",
        **{f"FLICK_{name}": LIFTED for name in RATE_LIMITS},
    }


def latency_ms(out: str, label: str) -> float:
    """A percentile of wrk's `--latency` table (e.g. "99%") in milliseconds."""
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def start_profile(pid: int, path: Path, seconds: int) -> subprocess.Popen[bytes] | None:
    """py-spy (in the venv, from the dev extra) sampling process `pid` and its children for
    `seconds`, only threads holding the GIL (what Python computes, not what waits), into
    `path` as collapsed stacks; None when py-spy is not installed."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [str(spy), "record", "--subprocesses", "--gil", "-r", "200", "-d", str(seconds)]
    command += ["-f", "raw", "-o", str(path), "-p", str(pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    """How many samples (seconds), and their p50 and p99 in milliseconds."""
    ordered = sorted(samples)
    return {
        "samples": len(ordered),
        "p50": 1000 * statistics.median(ordered),
        "p99": 1000 * ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))],
    }
