"""Search: index 1,000,000 synthetic captions, then query them as the API does.

    .venv/bin/python -m bench.search [--videos 1000000] [--users 100000] [--queries 2000]
                                     [--runs 3] [--quick]

Captions are multilingual and Zipf-distributed, as real ones are: 6-16 words drawn from a
60,000-word vocabulary (Latin with accents, Cyrillic, Greek, Arabic, Hangul words; Chinese
and Japanese runs; emoji), and 0-4 hashtags from 20,000. Indexing is measured twice: the
rebuild path (`flick search reindex`: documents added, one commit) over every caption, and
the replica path (`put_videos`: batches of 500, one commit each, as the bus consumer does)
over `--live` more. Queries mix what people type: common and rare words, two words, a
#hashtag, a prefix being typed, CJK and emoji; each is timed alone, end to end through the
index as `Search` runs it (creator lookup in the users index, the video query, re-ranking
with popularity and freshness; SQL hydration is not part of it). p50/p99 are medians over
`--runs` passes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from flick.search.index import CREATOR_MATCHES, SearchIndex, UserDoc, VideoDoc
from flick.search.model import clean_query, video_score
from flick.search.service import REBUILD_HEAP_BYTES, REBUILD_THREADS

RESULTS = Path("var/bench/search.json")
P99_GOAL_MS = 20.0
INDEXING_GOAL = 10_000.0  # documents/s
VOCABULARY = 60_000
TAGS = 20_000
BATCH = 500  # the replica's commit batch (run_consumer's batch size)
LATIN = "abcdefghijklmnoprstuvwyzéèáóñüöçß"
SCRIPTS = {  # alphabet, share of the vocabulary
    "latin": (LATIN, 0.55),
    "cyrillic": ("абвгдежзиклмнопрстуфхцчшыэюя", 0.12),
    "greek": ("αβγδεζηθικλμνξοπρστυφχψω", 0.04),
    "arabic": ("ابتثجحخدذرزسشصضطظعغفقكلمنهوي", 0.07),
    "hangul": ("가나다라마바사아자차카타파하고노도로모보소오조초코토포호", 0.07),
    "han": ("東京大阪日本人中国語愛夜猫犬花山川海空雨雪風火水木金土月星光", 0.08),
    "kana": ("あいうえおかきくけこさしすせそたちつてとアイウエオカキクケコ", 0.05),
    "emoji": ("🔥😂❤️🎉🐱🗼🌸🍜⚽🎶✨💃🤣🙏👀", 0.02),
}


def vocabulary(rng: np.random.Generator, size: int, *, lengths: tuple[int, int]) -> list[str]:
    """`size` distinct words in the scripts' shares; emoji come one per "word"."""
    words: dict[str, None] = {}
    for script, (alphabet, share) in SCRIPTS.items():
        letters = list(alphabet)
        if script == "emoji":
            words.update(dict.fromkeys(c for c in letters if c != "\ufe0f"))
            continue
        want = len(words) + int(size * share)
        while len(words) < want:
            words[script_word(letters, int(rng.integers(*lengths)), rng, script)] = None
    return list(words)


def script_word(letters: list[str], n: int, rng: np.random.Generator, script: str) -> str:
    if script in ("han", "kana"):
        n = max(2, n // 2)
    return "".join(letters[i] for i in rng.integers(0, len(letters), n))


def zipf_choice(rng: np.random.Generator, n: int, size: int, *, a: float = 1.07) -> np.ndarray:
    """Indexes into a ranked list of n, Zipf-distributed (rank 0 the most frequent)."""
    weights = 1.0 / np.arange(1, n + 1) ** a
    return rng.choice(n, size=size, p=weights / weights.sum())


def captions(count: int, *, seed: int) -> tuple[list[str], list[list[str]], list[str], list[str]]:
    """Captions, their hashtags, and the word and tag vocabularies (by rank)."""
    rng = np.random.default_rng(seed)
    words = vocabulary(rng, VOCABULARY, lengths=(3, 10))
    tags = [w.replace(" ", "") for w in vocabulary(rng, TAGS, lengths=(4, 14))]
    lengths = rng.integers(6, 17, count)
    word_ids = zipf_choice(rng, len(words), int(lengths.sum()))
    tag_counts = rng.choice([0, 1, 2, 3, 4], size=count, p=[0.2, 0.3, 0.25, 0.15, 0.1])
    tag_ids = zipf_choice(rng, len(tags), int(tag_counts.sum()), a=1.0)
    texts, hashtags = [], []
    w = t = 0
    for n, k in zip(lengths.tolist(), tag_counts.tolist(), strict=True):
        chosen = list(dict.fromkeys(tags[i] for i in tag_ids[t : t + k]))
        body = " ".join(words[i] for i in word_ids[w : w + n])
        texts.append(body + "".join(f" #{tag}" for tag in chosen))
        hashtags.append(chosen)
        w, t = w + n, t + k
    return texts, hashtags, words, tags


def query_mix(words: list[str], tags: list[str], count: int, *, seed: int) -> list[str]:
    """What people type, in these shares."""
    rng = np.random.default_rng(seed)
    latin = [w for w in words[:5000] if w[0] in LATIN]
    unspaced = [w for w in words if "\u3040" <= w[0] <= "\u9fff"]
    kinds = [
        (0.30, lambda: words[int(rng.integers(0, 100))]),  # a common word
        (0.15, lambda: words[int(rng.integers(100, len(words)))]),  # a rarer word
        (0.15, lambda: f"{latin[int(rng.integers(0, 300))]} {latin[int(rng.integers(0, 3000))]}"),
        (0.15, lambda: "#" + tags[int(zipf_choice(rng, len(tags), 1)[0])]),
        (0.15, lambda: latin[int(rng.integers(0, 2000))][: int(rng.integers(3, 6))]),  # typing
        (0.10, lambda: unspaced[int(rng.integers(0, len(unspaced)))]),  # CJK, emoji
    ]
    shares = np.array([share for share, _ in kinds])
    picks = rng.choice(len(kinds), size=count, p=shares / shares.sum())
    return [kinds[k][1]() for k in picks]


def build(root: Path, texts: list[str], hashtags: list[list[str]], users: int) -> dict[str, Any]:
    """The rebuild path over every caption; documents/s."""
    index = SearchIndex(root, heap_bytes=REBUILD_HEAP_BYTES, threads=REBUILD_THREADS)
    start, cpu = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(5)
    owners = rng.integers(1, users + 1, len(texts))
    for at in range(0, len(texts), 10_000):
        index.add_videos(
            [
                VideoDoc(at + n + 1, int(owners[at + n]), text, tags, f"user{owners[at + n]}", 0.0)
                for n, (text, tags) in enumerate(
                    zip(texts[at : at + 10_000], hashtags[at : at + 10_000], strict=True)
                )
            ]
        )
    index.videos.commit()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    index.add_users([UserDoc(u, f"user{u}", f"User {u}") for u in range(1, users + 1)])
    index.users.commit()
    index.close()
    size = sum(f.stat().st_size for f in (root / "videos").iterdir())
    return {
        "documents": len(texts),
        "seconds": elapsed,
        "docs_per_s": len(texts) / elapsed,
        "docs_per_cpu_s": len(texts) / cpu,  # every thread's CPU time: what contention hides
        "index_mb": size / 1e6,
    }


def live(root: Path, texts: list[str], hashtags: list[list[str]]) -> dict[str, Any]:
    """The replica path: batches of BATCH, one commit each, searchable after each."""
    index = SearchIndex(root)
    start = time.perf_counter()
    for at in range(0, len(texts), BATCH):
        index.put_videos(
            [
                (10**9 + at + n, VideoDoc(10**9 + at + n, 1, text, tags, "user1", 0.0))
                for n, (text, tags) in enumerate(
                    zip(texts[at : at + BATCH], hashtags[at : at + BATCH], strict=True)
                )
            ]
        )
    elapsed = time.perf_counter() - start
    index.close()
    return {"documents": len(texts), "seconds": elapsed, "docs_per_s": len(texts) / elapsed}


def run_queries(
    index: SearchIndex, queries: list[str], rng: np.random.Generator
) -> dict[str, list[float]]:
    """Seconds per query, wall and CPU (this thread: tantivy searches on the calling one),
    each alone, as Search runs it (without SQL)."""
    counts = {}
    now = time.time()
    timings: dict[str, list[float]] = {"wall": [], "cpu": []}
    for raw in queries:
        start, cpu = time.perf_counter(), time.thread_time()
        text = clean_query(raw)
        creators = [
            h.user_id for h in index.search_users(text, partial=False, limit=CREATOR_MATCHES)
        ]
        hits = index.search_videos(text, creators=creators)
        for hit in hits:  # popularity as the counts cache would give it
            counts.setdefault(hit.video_id, float(rng.pareto(1.2) * 10))
        sorted(
            hits,
            key=lambda h: (
                -video_score(
                    h.text_score, engagement=counts[h.video_id], age_s=now - h.video_id * 60.0
                )
            ),
        )
        timings["wall"].append(time.perf_counter() - start)
        timings["cpu"].append(time.thread_time() - cpu)
    return timings


def typed_handles(users: int, count: int, *, seed: int) -> list[str]:
    """Handles as people type them: whole, a prefix, or with one typo (a letter swapped,
    dropped or doubled)."""
    rng = np.random.default_rng(seed)
    typed = []
    for _ in range(count):
        handle = f"user{int(rng.integers(1, users + 1))}"
        at = int(rng.integers(1, len(handle) - 1))
        typed.append(
            [
                handle,
                handle[: int(rng.integers(3, len(handle) + 1))],
                handle[:at] + handle[at + 1] + handle[at] + handle[at + 2 :],
                handle[:at] + handle[at + 1 :],
                handle[:at] + handle[at] + handle[at:],
            ][int(rng.integers(0, 5))]
        )
    return typed


def time_each(queries: list[str], run: Any) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"wall": [], "cpu": []}
    for query in queries:
        start, cpu = time.perf_counter(), time.thread_time()
        run(query)
        timings["wall"].append(time.perf_counter() - start)
        timings["cpu"].append(time.thread_time() - cpu)
    return timings


def hashtag_page(index: SearchIndex, prefix: str) -> None:
    """As Search does it: candidates by prefix, exact counts for a page of 20."""
    found = index.hashtags(prefix, limit=200)
    for tag, _ in found[:20]:
        index.hashtag_count(tag)


def percentiles(timings: dict[str, list[float]]) -> dict[str, float]:
    """p50 and p99 in milliseconds, of wall time and of CPU time."""
    found = {}
    for clock, samples in timings.items():
        ordered = sorted(samples)
        found[f"{clock}_p50_ms"] = 1000 * statistics.median(ordered)
        found[f"{clock}_p99_ms"] = 1000 * ordered[math.ceil(0.99 * len(ordered)) - 1]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--live", type=int, default=50_000, help="documents for the replica path")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 captions, 1 run")
    args = parser.parse_args()
    if args.quick:
        args.videos, args.users, args.live, args.queries, args.runs = (
            100_000,
            10_000,
            10_000,
            500,
            1,
        )
    print(f"generating {args.videos + args.live:,} captions ...", flush=True)
    texts, hashtags, words, tags = captions(args.videos + args.live, seed=1)
    scratch = Path(tempfile.mkdtemp(prefix="flick-bench-search-"))
    try:
        results: dict[str, Any] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()}
        print(f"indexing {args.videos:,} (rebuild path) ...", flush=True)
        results["rebuild"] = build(
            scratch / "main", texts[: args.videos], hashtags[: args.videos], args.users
        )
        print(f"indexing {args.live:,} more (replica path) ...", flush=True)
        results["replica"] = live(scratch / "live", texts[args.videos :], hashtags[args.videos :])
        index = SearchIndex(scratch / "main")
        queries = query_mix(words, tags, args.queries, seed=3)
        run_queries(index, queries[:100], np.random.default_rng(0))  # warm the page cache
        runs = [
            percentiles(run_queries(index, queries, np.random.default_rng(run)))
            for run in range(args.runs)
        ]
        results["query"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        results["query_runs"] = runs
        handles = typed_handles(args.users, args.queries, seed=4)
        results["users_query"] = percentiles(
            time_each(handles, lambda q: index.search_users(clean_query(q)))
        )
        prefixes = [q.lstrip("#")[: 1 + n % 4] for n, q in enumerate(queries) if q[0] == "#"]
        results["hashtags_query"] = percentiles(
            time_each(prefixes * 3, lambda p: hashtag_page(index, p))
        )
        results["hits_median"] = statistics.median(
            len(index.search_videos(clean_query(q))) for q in queries[:300]
        )
        index.close()
        results["load_after"] = os.getloadavg()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"results": results, "args": vars(args)}, indent=2))
    print_table(results, args)


def print_table(results: dict[str, Any], args: argparse.Namespace) -> None:
    rebuild, replica, query = results["rebuild"], results["replica"], results["query"]
    rows = [
        (
            "indexing, rebuild path (docs/s)",
            f"{rebuild['docs_per_s']:,.0f}",
            f">= {INDEXING_GOAL:,.0f}",
        ),
        ("indexing, rebuild path (docs per CPU-second)", f"{rebuild['docs_per_cpu_s']:,.0f}", ""),
        ("indexing, replica path (docs/s)", f"{replica['docs_per_s']:,.0f}", ""),
        ("index size on disk (MB)", f"{rebuild['index_mb']:,.0f}", ""),
        ("videos query, wall: p50 / p99 (ms)", _pair(query, "wall"), f"p99 <= {P99_GOAL_MS:.0f}"),
        ("videos query, CPU: p50 / p99 (ms)", _pair(query, "cpu"), ""),
        ("users by handle, typos, wall (ms)", _pair(results["users_query"], "wall"), ""),
        ("users by handle, typos, CPU (ms)", _pair(results["users_query"], "cpu"), ""),
        ("hashtags by prefix, wall (ms)", _pair(results["hashtags_query"], "wall"), ""),
        ("hashtags by prefix, CPU (ms)", _pair(results["hashtags_query"], "cpu"), ""),
    ]
    print(f"\n{args.videos:,} captions, {args.queries:,} queries x {args.runs} runs")
    print("| figure | measured | goal |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    load = results["load_before"][0], results["load_after"][0]
    print(f"load average (1 min) before / after: {load[0]:.1f} / {load[1]:.1f}")


def _pair(figures: dict[str, float], clock: str) -> str:
    return f"{figures[f'{clock}_p50_ms']:.2f} / {figures[f'{clock}_p99_ms']:.2f}"


if __name__ == "__main__":
    main()
