"""Request metrics kept in plain dicts and exported to Prometheus when scraped, the garbage
collector's pauses, and the state of this process's For You index replica.

prometheus_client's own metric objects take a lock and walk their buckets on every
observation, several microseconds on a path that is ~15 µs in all; counting into dicts costs
a fraction of that, and a collector turns them into the same exposition at scrape time.
One event loop per process touches them, so no lock is needed.
"""

from __future__ import annotations

import gc
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import (
    REGISTRY,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from flick.recs.retrieval import Retrieval  # imports torch: only where feeds are served

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
PAUSE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
GENERATIONS = (0, 1, 2)


class RequestMetrics(Collector):
    """HTTP request counts by method, route and status; latency histograms by route."""

    def __init__(self) -> None:
        self.counts: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = {}
        self.sums: defaultdict[str, float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        self.counts[(method, route, status)] += 1
        counts = self.buckets.get(route)
        if counts is None:
            counts = self.buckets[route] = [0] * (len(BUCKETS) + 1)
        counts[bisect_left(BUCKETS, seconds)] += 1
        self.sums[route] += seconds

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        """The Prometheus families, built at scrape time."""
        requests = CounterMetricFamily(
            "flick_http_requests", "HTTP requests", labels=["method", "route", "status"]
        )
        for (method, route, status), count in list(self.counts.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "flick_http_request_seconds", "HTTP request latency", labels=["route"]
        )
        for route, counts in list(self.buckets.items()):
            latency.add_metric([route], _cumulative(BUCKETS, counts), self.sums[route])
        yield latency


class CollectorPauses(Collector):
    """How long the cyclic garbage collector stopped this process, by generation. A full
    collection stops every request in flight: pauses of 20-35 ms once a second were most of
    For You's cache-hit p99 until platform.collector tuned the thresholds."""

    def __init__(self) -> None:
        self.buckets = {g: [0] * (len(PAUSE_BUCKETS) + 1) for g in GENERATIONS}
        self.sums = dict.fromkeys(GENERATIONS, 0.0)
        self._started = 0.0

    def install(self) -> None:
        """Time this process's collections from now on (once per process)."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        # Collections never overlap (they hold the GIL from start to stop), whichever
        # thread runs them, so one start time is enough.
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds, generation = time.perf_counter() - self._started, info["generation"]
        self.buckets[generation][bisect_left(PAUSE_BUCKETS, seconds)] += 1
        self.sums[generation] += seconds

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """The histogram, built at scrape time."""
        pauses = HistogramMetricFamily(
            "flick_gc_pause_seconds",
            "pauses of the cyclic garbage collector, by generation (2: a full collection)",
            labels=["generation"],
        )
        for generation, counts in self.buckets.items():
            pauses.add_metric(
                [str(generation)], _cumulative(PAUSE_BUCKETS, counts), self.sums[generation]
            )
        yield pauses


class IndexMetrics(Collector):
    """This process's retrieval replica (`serving` points it at one): how many videos it
    can retrieve, and which checkpoint serves. An operator sees from them that `flick train`
    was picked up; the For You benchmark waits on them before it measures."""

    def __init__(self) -> None:
        self.serving: Retrieval | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges, read at scrape time (0 and no version before a replica serves)."""
        retrieval = self.serving
        model = retrieval.model if retrieval is not None else None
        videos = GaugeMetricFamily(
            "flick_recs_index_videos",
            "videos this process's For You index can retrieve (0 until a model is trained)",
        )
        videos.add_metric([], len(retrieval.index) if retrieval is not None and model else 0)
        yield videos
        serving = GaugeMetricFamily(
            "flick_recs_model", "the checkpoint version serving For You here", labels=["version"]
        )
        if model is not None:
            serving.add_metric([model.version], 1)
        yield serving


def _cumulative(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, int]]:
    """Per-bucket counts (the last one past every bound) as Prometheus's cumulative buckets."""
    cumulative, running = [], 0
    for bound, count in zip((*map(str, bounds), "+Inf"), counts, strict=True):
        running += count
        cumulative.append((bound, running))
    return cumulative


REQUEST_METRICS = RequestMetrics()
REGISTRY.register(REQUEST_METRICS)
COLLECTOR_PAUSES = CollectorPauses()
COLLECTOR_PAUSES.install()
REGISTRY.register(COLLECTOR_PAUSES)
INDEX_METRICS = IndexMetrics()
REGISTRY.register(INDEX_METRICS)
