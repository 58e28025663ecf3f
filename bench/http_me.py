"""Authenticated GET /api/v1/me on the embedded backends under 64 connections, next to a bare
ASGI endpoint served by the same Granian process, measured with wrk in the same run.

    .venv/bin/python -m bench.http_me [--seconds 5] [--rounds 7] [--connections 64]

wrk and the server share the machine's cores, as they would on a one-box deployment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import latency_ms
from flick.gateway.edge import Edge

RESULTS = Path("var/bench/http_me.json")


def app() -> Any:
    """Granian factory: the real Flick app behind a raw ASGI `/bare` route."""
    from flick.gateway.app import create_app

    flick_app: Edge = create_app(run_relay=True)

    async def bare_or_flick(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/bare":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"ok":true}'})
            return
        await flick_app(scope, receive, send)

    return bare_or_flick


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FLICK_DATA_DIR": str(data_dir),
        # The limits are not under test here: lift them so wrk measures the request path.
        "FLICK_RATE_PER_ADDRESS": "1000000",
        "FLICK_BURST_PER_ADDRESS": "1000000",
        "FLICK_RATE_PER_USER": "1000000",
        "FLICK_BURST_PER_USER": "1000000",
        "FLICK_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "-m", "flick.cli", "migrate"], env=env, check=True, capture_output=True
    )
    # The same Granian settings as `flick serve`.
    code = (
        "from flick.cli import granian_server\n"
        f"granian_server('bench.http_me:app', host='127.0.0.1', port={port}).serve()"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"the server at {base} did not become ready")


def _token(base: str) -> str:
    response = httpx.post(
        f"{base}/api/v1/auth/signup", json={"username": "bench_user", "password": "bench password"}
    )
    response.raise_for_status()
    return str(response.json()["token"])


def _wrk(url: str, *, seconds: int, connections: int, headers: list[str]) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    out = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise SystemExit(f"{url}: {non_2xx.group(1)} error responses; the figures would lie")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": latency_ms(out, "50%"),
        "p99_ms": latency_ms(out, "99%"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: `./run bench` installs it (apt-get install wrk)")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        server = _start_server(port, Path(data_dir))
        try:
            _wait_ready(base)
            results = _measure(base, _token(base), args)
        finally:
            server.terminate()
            server.wait(timeout=10)
    _report(results, args)


def _measure(base: str, token: str, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    targets = {
        "bare ASGI endpoint": (f"{base}/bare", []),
        "GET /api/v1/me (authenticated)": (f"{base}/api/v1/me", [f"Authorization: Bearer {token}"]),
    }
    _wrk(
        targets["GET /api/v1/me (authenticated)"][0],
        seconds=2,
        connections=args.connections,
        headers=targets["GET /api/v1/me (authenticated)"][1],
    )  # warm-up
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for round_number in range(args.rounds):  # alternate, so drift hits both alike
        for name, (url, headers) in targets.items():
            runs[name].append(
                _wrk(url, seconds=args.seconds, connections=args.connections, headers=headers)
            )
            print(f"round {round_number + 1}/{args.rounds} {name}: {runs[name][-1]}", flush=True)
    return runs


def _report(runs: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    medians = {
        name: {
            key: statistics.median(r[key] for r in rounds) for key in ("rps", "p50_ms", "p99_ms")
        }
        for name, rounds in runs.items()
    }
    # The machine's speed drifts between rounds (a shared host), so each /me round is set
    # against the bare round run just before it, and the ratio quoted is their median.
    pairs = zip(runs["GET /api/v1/me (authenticated)"], runs["bare ASGI endpoint"], strict=True)
    ratio = statistics.median(me["rps"] / bare["rps"] for me, bare in pairs)
    print("\n| endpoint | req/s | p50 ms | p99 ms |\n|---|---|---|---|")
    for name, m in medians.items():
        print(f"| {name} | {m['rps']:,.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} |")
    print(
        f"\n/me throughput = {ratio:.0%} of the bare endpoint (median of per-round ratios) "
        f"(median of {args.rounds} rounds x {args.seconds} s, {args.connections} connections)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"medians": medians, "ratio": ratio, "runs": runs, "args": vars(args)}, indent=2)
    )


if __name__ == "__main__":
    main()
