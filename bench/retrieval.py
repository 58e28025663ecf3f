"""Retrieval: one user vector, then the top 200 of 1,000,000 video vectors, as serving does it.

    .venv/bin/python -m bench.retrieval [--videos 1000000] [--queries 1000] [--threads 2]

The video vectors are 64-d, L2-normalised, drawn from a Gaussian mixture of 1,000 clusters
(real embeddings cluster by topic; uniform random vectors would flatter nothing and mislead).
Each query runs alone (batch of one, like a feed request): the user tower of a ServingModel
(untrained weights, default config: 2^18-bucket tables) over a 50-video history, then the
VectorIndex search (HNSW above 100,000 vectors). Reports p50/p99 of each part and of the whole,
recall@100 against exact search (a flat scan) on the same queries, the HNSW build time, and the
training throughput (examples/s) of the two towers on the simulated world. Recall is measured
on two kinds of query: the untrained tower's vectors (directions unrelated to the data, the
hard case for a graph index) and taste queries (mixes of 1-3 videos' vectors, where a trained
user tower puts a user).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch

from flick.recs.features import FEATURE_DIM, HashedTextEmbedder
from flick.recs.index import EF_CONSTRUCTION, EF_SEARCH, HNSW_M, VectorIndex
from flick.recs.model import HISTORY, ModelConfig, ServingModel, TwoTower, UserInputs
from flick.recs.simulation import World, WorldConfig
from flick.recs.training import TrainConfig, train

RESULTS = Path("var/bench/retrieval.json")
DIM = 64
CLUSTERS = 1000
CLUSTER_SPREAD = 0.35  # per-axis noise around a unit centre: clusters overlap at the edges
TOP = 200
RECALL_AT = 100
P99_GOAL_MS = 2.0
RECALL_GOAL = 0.95


def clustered_vectors(n: int, *, seed: int) -> np.ndarray:
    """n unit vectors from a mixture of CLUSTERS Gaussians (Zipf-sized clusters)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLUSTERS, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sizes = 1.0 / np.arange(1, CLUSTERS + 1) ** 0.7
    labels = rng.choice(CLUSTERS, n, p=sizes / sizes.sum())
    noise = rng.normal(scale=CLUSTER_SPREAD / np.sqrt(DIM), size=(n, DIM)).astype(np.float32)
    vectors = centres[labels] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def taste_queries(vectors: np.ndarray, count: int, *, seed: int) -> np.ndarray:
    """Unit vectors mixing 1-3 random videos' vectors, plus a little noise."""
    rng = np.random.default_rng(seed)
    queries = np.zeros((count, DIM), dtype=np.float32)
    for row in range(count):
        queries[row] = vectors[rng.choice(len(vectors), rng.integers(1, 4))].sum(axis=0)
    queries += rng.normal(scale=0.02, size=queries.shape).astype(np.float32)
    return queries / np.linalg.norm(queries, axis=1, keepdims=True)


def user_requests(count: int, *, seed: int) -> list[UserInputs]:
    """One UserInputs per query: a random user with a 50-video history."""
    rng = np.random.default_rng(seed)
    requests = []
    for _ in range(count):
        history = rng.integers(1, 10**9, (1, HISTORY))
        requests.append(
            UserInputs(
                user_id=rng.integers(1, 10**9, 1),
                history_video_id=history,
                history_weight=rng.random((1, HISTORY), dtype=np.float32),
                history_row=np.arange(HISTORY)[None, :],
                history_features=rng.random((HISTORY, FEATURE_DIM), dtype=np.float32),
                hour=rng.integers(0, 24, 1),
                weekday=rng.integers(0, 7, 1),
                device=rng.integers(1, 4, 1),
                locale=rng.integers(1, 9, 1),
            )
        )
    return requests


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(samples_s)
    return {
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


def serve_queries(
    serving: ServingModel, index: VectorIndex, requests: list[UserInputs]
) -> tuple[np.ndarray, np.ndarray, dict[str, dict[str, float]]]:
    """Run each request alone; the user vectors, the top ids, and latencies."""
    user_s, search_s, total_s, vectors, found = [], [], [], [], []
    for request in requests:
        start = time.perf_counter()
        vector = serving.user_embeddings(request)
        middle = time.perf_counter()
        ids, _ = index.search(vector, TOP)
        end = time.perf_counter()
        user_s.append(middle - start)
        search_s.append(end - middle)
        total_s.append(end - start)
        vectors.append(vector[0])
        found.append(ids[0])
    latencies = {
        "user_tower": percentiles(user_s),
        "search": percentiles(search_s),
        "total": percentiles(total_s),
    }
    return np.stack(vectors), np.stack(found), latencies


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact top RECALL_AT found in the approximate top RECALL_AT."""
    hits = [
        len(np.intersect1d(a[:RECALL_AT], b[:RECALL_AT])) for a, b in zip(found, exact, strict=True)
    ]
    return float(np.mean(hits)) / RECALL_AT


def training_throughput(threads: int) -> dict[str, Any]:
    """examples/s of two epochs on the default simulated world."""
    dataset = World(WorldConfig()).dataset(text=HashedTextEmbedder())
    result = train(dataset, TrainConfig(epochs=2, threads=threads))
    return {
        key: result.metrics[key]
        for key in ("examples", "epochs", "seconds", "examples_per_s", "threads")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ef-search", type=int, default=EF_SEARCH)
    parser.add_argument("--ef-construction", type=int, default=EF_CONSTRUCTION)
    parser.add_argument("--m", type=int, default=HNSW_M)
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"machine_threads": args.threads}
    print(f"generating {args.videos:,} clustered vectors ...", flush=True)
    vectors = clustered_vectors(args.videos, seed=1)
    ids = np.arange(args.videos, dtype=np.int64) * 1_000_003 + 17  # arbitrary 64-bit ids
    index = VectorIndex(
        DIM, hnsw_m=args.m, ef_construction=args.ef_construction, ef_search=args.ef_search
    )
    start = time.perf_counter()
    index.rebuild(ids, vectors)
    results["build_s"] = time.perf_counter() - start
    results["index"] = {
        "kind": index.kind,
        "m": index.hnsw_m,
        "ef_construction": index.ef_construction,
        "ef_search": index.ef_search,
    }
    print(f"{index.kind} index built in {results['build_s']:.1f} s", flush=True)
    serving = ServingModel(TwoTower(ModelConfig()))
    requests = user_requests(args.queries, seed=2)
    serve_queries(serving, index, requests[:50])  # warm caches and torch's first-call paths
    users, found, latencies = serve_queries(serving, index, requests)
    # An untrained tower's vectors point anywhere; a trained one's sit near what the user
    # watched: taste queries are mixes of 1-3 videos' vectors, the recall that serving sees.
    taste = taste_queries(vectors, args.queries, seed=3)
    search_taste = [index.search(q, TOP)[0][0] for q in taste]
    exact = faiss.IndexFlatIP(DIM)
    exact.add(vectors)
    _, exact_users = exact.search(users, RECALL_AT)
    _, exact_taste = exact.search(taste, RECALL_AT)
    results["latency"] = latencies
    results["recall@100_user_queries"] = recall(found, ids[exact_users])
    results["recall@100_taste_queries"] = recall(np.stack(search_taste), ids[exact_taste])
    print("training throughput on the simulated world ...", flush=True)
    results["training"] = training_throughput(args.threads)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"results": results, "args": vars(args)}, indent=2))
    print_table(results)


def print_table(results: dict[str, Any]) -> None:
    """The figures, with the goals."""
    index, latency, training = results["index"], results["latency"], results["training"]
    rows = [
        (
            "index",
            "{kind} M={m} efConstruction={ef_construction} efSearch={ef_search}".format(**index),
        ),
        ("build", f"{results['build_s']:.1f} s"),
        ("user tower", _latency(latency["user_tower"])),
        ("search top-200", _latency(latency["search"])),
        ("user + search", f"{_latency(latency['total'])} (goal: p99 <= {P99_GOAL_MS} ms)"),
        ("recall@100, untrained tower", f"{results['recall@100_user_queries']:.4f}"),
        ("recall@100, taste queries", f"{results['recall@100_taste_queries']:.4f}"),
        (
            "training",
            f"{training['examples_per_s']:,.0f} examples/s, {training['threads']} threads",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"(goal: recall@100 >= {RECALL_GOAL})")


def _latency(figures: dict[str, float]) -> str:
    return f"p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms"


if __name__ == "__main__":
    main()
