"""`./run bench [name ...]`: run the benchmarks (all by default) and print their tables.

Results land in var/bench/*.json; docs/benchmarks.md records them with the machine.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = {
    "bus": "bench.bus_throughput",
    "http": "bench.http_me",
    "ladder": "bench.ladder",
    "tus_ingest": "bench.tus_ingest",
    "likes": "bench.likes",
    "retrieval": "bench.retrieval",
    "fanout": "bench.fanout",
    "foryou": "bench.foryou",
    "foryou_inprocess": "bench.foryou_inprocess",
    "search": "bench.search",
}


def main() -> None:
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark {unknown}; choose from {', '.join(BENCHMARKS)}")
    for name in names:
        print(f"==> bench {name}", flush=True)
        subprocess.run([sys.executable, "-m", BENCHMARKS[name]], check=True)


if __name__ == "__main__":
    main()
