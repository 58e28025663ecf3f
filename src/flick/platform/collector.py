"""The cyclic garbage collector of a serving process (CPython 3.11's generational one).

A collection stops every request in flight. With the default thresholds (700, 10, 10), an
API process under For You's cache-hit load (bench.foryou: 64 connections, ~11,000 pages/s)
ran a full collection about once a second, each a 17-35 ms pause: the pages' p99 was
20-25 ms at a p50 of 5 ms. Leaks were not the cause; requests were. A young collection
moves whatever is alive at that moment into an older generation, and under load that is the
objects of the requests in flight, which die a few milliseconds later, but only after they
were counted as old. Every 700 allocations, that is a young collection per few requests,
so the old generation's trigger (a quarter of it new since the last full collection)
fired every second, and each full collection walked the whole heap the feeds keep.

`settle_for_serving` runs young collections every 20,000 allocations instead
(FLICK_GC_YOUNG_THRESHOLD): about 30 times fewer, so about 30 times fewer in-flight objects
are promoted. The same bench then ran no full collection in 15 s of cache hits; the hits'
p99 fell to 8.8 ms embedded and 16.5 ms on Redis (docs/benchmarks.md, "Collector pauses").
The price is a longer young collection, which walks what is still alive of up to 20,000
new objects: none over 1 ms during the hits, but under 64 concurrent assemblies, which keep
far more alive, one every second or so of 26 ms on average (74 ms at most; Redis: 12 and
25 ms), where the queue of assemblies already waits ~0.4 s. 50,000 did as well on hits,
with young collections of 20-80 ms under assembly load. Cyclic garbage waits a little
longer to be freed. `flick_gc_pause_seconds` on /metrics shows the pauses.
"""

from __future__ import annotations

import gc

OLDER_THRESHOLDS = (10, 10)  # CPython's defaults for the middle and old generations


def settle_for_serving(young_threshold: int) -> None:
    """Once a serving process has loaded what it keeps for life (torch, the model, the
    tables): freeze that out of every later collection's walk, and collect the young
    generation every `young_threshold` allocations (the module docstring says why)."""
    gc.freeze()
    gc.set_threshold(young_threshold, *OLDER_THRESHOLDS)
