"""Upload ingest through tus in 5 MiB chunks (the article's size) against `flick serve` on the
embedded backends, next to the local limit measured in the same run: writing the same bytes
to a file on the same disk while hashing them with hashlib.

    .venv/bin/python -m bench.tus_ingest [--mib 256] [--rounds 3] [--chunk-mib 5]

The server stores each chunk as a part blob (written to a temp file, fsynced, renamed, with a
sidecar) and moves the upload's offset in SQLite, so the baseline is given twice: one fsync
at the end (a plain file copy) and one fsync per chunk (the same durability as the server).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from tests.processes import FlickProcess

RESULTS = Path("var/bench/tus_ingest.json")
MIB = 1 << 20


def local_write_and_hash(data: bytes, directory: Path, *, chunk: int, fsync_each: bool) -> float:
    """Seconds to write `data` to a new file in `chunk`s while hashing it."""
    path = directory / "baseline.bin"
    started = time.perf_counter()
    hasher = hashlib.sha256()
    with path.open("wb") as out:
        for at in range(0, len(data), chunk):
            piece = data[at : at + chunk]
            hasher.update(piece)
            out.write(piece)
            if fsync_each:
                out.flush()
                os.fsync(out.fileno())
        out.flush()
        os.fsync(out.fileno())
    hasher.hexdigest()
    elapsed = time.perf_counter() - started
    path.unlink()
    return elapsed


def tus_upload(url: str, headers: dict[str, str], data: bytes, *, chunk: int) -> float:
    """Seconds from creating the upload to the last chunk's 204."""
    tus = {**headers, "Tus-Resumable": "1.0.0"}
    with httpx.Client(base_url=url, timeout=120) as client:
        started = time.perf_counter()
        created = client.post("/api/v1/uploads", headers={**tus, "Upload-Length": str(len(data))})
        location = created.headers["location"]
        for at in range(0, len(data), chunk):
            response = client.patch(
                location,
                content=data[at : at + chunk],
                headers={
                    **tus,
                    "Upload-Offset": str(at),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            assert response.status_code == 204, response.text
        elapsed = time.perf_counter() - started
        client.delete(location, headers=tus)  # keep the disk from filling over rounds
    return elapsed


def run(mib: int, rounds: int, chunk_mib: int) -> dict[str, Any]:
    data = os.urandom(mib * MIB)
    chunk = chunk_mib * MIB
    with tempfile.TemporaryDirectory(dir="var") as scratch:
        directory = Path(scratch)
        env = {
            "FLICK_DATA_DIR": str(directory / "data"),
            "FLICK_UPLOAD_MAX_BYTES": str(len(data)),
            "FLICK_PASSWORD_TIME_COST": "1",
            "FLICK_PASSWORD_MEMORY_KIB": "1024",
        }
        server = FlickProcess("api", env=env, log=directory / "server.log").start().wait_ready()
        try:
            signed_up = httpx.post(
                f"{server.url}/api/v1/auth/signup", json={"username": "bench", "password": "x" * 12}
            )
            headers = {"Authorization": f"Bearer {signed_up.json()['token']}"}
            times: dict[str, list[float]] = {"tus": [], "write+hash": [], "write+hash+fsync": []}
            for _ in range(rounds):  # interleaved, so drift on a noisy machine hits all three
                # os.sync() first: each path starts without the previous one's dirty pages.
                os.sync()
                times["tus"].append(tus_upload(server.url, headers, data, chunk=chunk))
                os.sync()
                times["write+hash"].append(
                    local_write_and_hash(data, directory, chunk=chunk, fsync_each=False)
                )
                os.sync()
                times["write+hash+fsync"].append(
                    local_write_and_hash(data, directory, chunk=chunk, fsync_each=True)
                )
        finally:
            server.stop()
    rates = {name: mib / statistics.median(seconds) for name, seconds in times.items()}
    return {
        "mib": mib,
        "chunk_mib": chunk_mib,
        "rounds": rounds,
        "seconds": times,
        "mib_per_s": rates,
        "tus_vs_write_hash": rates["tus"] / rates["write+hash"],
        "tus_vs_write_hash_fsync": rates["tus"] / rates["write+hash+fsync"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk-mib", type=int, default=5)
    args = parser.parse_args()
    Path("var").mkdir(exist_ok=True)
    result = run(args.mib, args.rounds, args.chunk_mib)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"{args.mib} MiB in {args.chunk_mib} MiB chunks, median of {args.rounds} rounds")
    print("| path | MiB/s |")
    print("|---|---|")
    for name, rate in result["mib_per_s"].items():
        print(f"| {name} | {rate:.0f} |")
    print(f"tus / write+hash: {result['tus_vs_write_hash']:.0%}")
    print(f"tus / write+hash+fsync per chunk: {result['tus_vs_write_hash_fsync']:.0%}")


if __name__ == "__main__":
    main()
