"""Nearest videos by inner product (cosine, the vectors being L2-normalised), on FAISS.

Below EXACT_LIMIT vectors the index is exact: IndexFlatIP inside IndexIDMap2, which removes by
id. At 100,000 64-d vectors a flat scan is 6.4 M multiply-adds, about 1 ms for one query on one
core of this machine's class, and nothing is missed; beyond that it grows linearly, so the index
switches itself to HNSW (graph search, logarithmic, approximate: docs/benchmarks.md has its
recall). It switches back below EXACT_LIMIT / 2, so it does not flap at the threshold.

FAISS's HNSW cannot remove a vector, so the HNSW form keeps its own labels: a removed or
replaced vector stays in the graph, marked dead and filtered out at search time by a bitmap
selector, and the graph is rebuilt without the dead once they are DEAD_SHARE of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np

EXACT_LIMIT = 100_000  # see the module docstring
HNSW_M = 32  # links per node: the usual choice for 64-d; more costs memory and build time
EF_CONSTRUCTION = 64  # build-time beam: 1M builds in 76 s on 2 cores; 200 took 200 s
EF_SEARCH = 320  # query-time beam: p99 < 2 ms for top-200 of 1M, recall short of goal (bench)
DEAD_SHARE = 0.2
META = "meta.json"
INDEX_FILE = "index.faiss"
LABELS_FILE = "labels.npy"
ALIVE_FILE = "alive.npy"


class VectorIndex:
    """Video vectors by 64-bit id: upsert, remove, top-k search, save and load."""

    def __init__(
        self,
        dim: int = 64,
        *,
        exact_limit: int = EXACT_LIMIT,
        hnsw_m: int = HNSW_M,
        ef_construction: int = EF_CONSTRUCTION,
        ef_search: int = EF_SEARCH,
    ) -> None:
        self.dim = dim
        self.exact_limit = exact_limit
        self.hnsw_m, self.ef_construction, self.ef_search = hnsw_m, ef_construction, ef_search
        self._exact: Any = _flat(dim)  # faiss.IndexIDMap2 or None (faiss has no type stubs)
        self._hnsw: Any = None  # faiss.IndexHNSWFlat or None
        self._labels = np.zeros(0, dtype=np.int64)  # HNSW internal label -> id
        self._alive = np.zeros(0, dtype=bool)
        self._where: dict[int, int] = {}  # id -> HNSW internal label, live ones only

    @property
    def kind(self) -> str:
        """ "exact" or "hnsw"."""
        return "exact" if self._exact is not None else "hnsw"

    def __len__(self) -> int:
        return self._exact.ntotal if self._exact is not None else len(self._where)

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors, replacing any already held under the same ids."""
        ids, vectors = _check(ids, vectors, self.dim)
        self.remove(ids)
        if self._exact is not None:
            self._exact.add_with_ids(vectors, ids)
        else:
            self._hnsw_add(ids, vectors)
        self._maybe_switch()

    def remove(self, ids: np.ndarray) -> int:
        """Remove these ids (unknown ones are ignored); how many were removed."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if self._exact is not None:
            return int(self._exact.remove_ids(faiss.IDSelectorBatch(ids)))
        labels = [self._where.pop(int(i)) for i in ids if int(i) in self._where]
        self._alive[labels] = False
        if self._hnsw is not None and (~self._alive).sum() > DEAD_SHARE * len(self._alive):
            self.rebuild(*self.items())
        else:
            self._maybe_switch()
        return len(labels)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top k ids and scores per query ([n, dim] or [dim]); -1 and -inf pad short rows."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if self._exact is not None:
            scores, ids = self._exact.search(q, k)
        else:
            scores, ids = self._hnsw_search(q, k)
        return ids, np.where(ids >= 0, scores, -np.inf).astype(np.float32)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (id, vector) held."""
        if self._exact is not None:
            ids = faiss.vector_to_array(self._exact.id_map).astype(np.int64)
            return ids, self._exact.index.reconstruct_n(0, self._exact.ntotal)
        assert self._hnsw is not None
        live = np.flatnonzero(self._alive)
        vectors = self._hnsw.reconstruct_n(0, self._hnsw.ntotal)[live] if len(live) else None
        return self._labels[live], np.zeros(
            (0, self.dim), np.float32
        ) if vectors is None else vectors

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the whole content, choosing exact or HNSW by size."""
        ids, vectors = _check(ids, vectors, self.dim)
        self._exact, self._hnsw = None, None
        self._labels, self._alive, self._where = np.zeros(0, np.int64), np.zeros(0, bool), {}
        if len(ids) > self.exact_limit:
            self._hnsw = self._new_hnsw()
            self._hnsw_add(ids, vectors)
        else:
            self._exact = _flat(self.dim)
            self._exact.add_with_ids(vectors, ids)

    def save(self, directory: Path) -> None:
        """Write the index into `directory` (created if missing)."""
        directory.mkdir(parents=True, exist_ok=True)
        params = {
            "dim": self.dim,
            "exact_limit": self.exact_limit,
            "hnsw_m": self.hnsw_m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
        }
        (directory / META).write_text(json.dumps({"kind": self.kind, **params}))
        faiss.write_index(
            self._exact if self._exact is not None else self._hnsw, str(directory / INDEX_FILE)
        )
        if self._hnsw is not None:
            np.save(directory / LABELS_FILE, self._labels)
            np.save(directory / ALIVE_FILE, self._alive)

    @classmethod
    def load(cls, directory: Path) -> VectorIndex:
        """An index written by `save`."""
        meta = json.loads((directory / META).read_text())
        kind = meta.pop("kind")
        index = cls(**meta)
        stored = faiss.read_index(str(directory / INDEX_FILE))
        if kind == "exact":
            index._exact = stored  # read_index hands back the concrete type
            return index
        index._exact, index._hnsw = None, stored
        index._labels = np.load(directory / LABELS_FILE)
        index._alive = np.load(directory / ALIVE_FILE)
        live = np.flatnonzero(index._alive)
        index._where = dict(zip(index._labels[live].tolist(), live.tolist(), strict=True))
        return index

    def _new_hnsw(self) -> Any:
        graph = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self.ef_construction
        return graph

    def _hnsw_add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        assert self._hnsw is not None
        first = self._hnsw.ntotal
        self._hnsw.add(vectors)
        self._labels = np.concatenate([self._labels, ids])
        self._alive = np.concatenate([self._alive, np.ones(len(ids), dtype=bool)])
        self._where.update(zip(ids.tolist(), range(first, first + len(ids)), strict=True))

    def _hnsw_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert self._hnsw is not None
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(self.ef_search, k)
        if not self._alive.all():
            bits = np.packbits(self._alive, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(self._alive), faiss.swig_ptr(bits))
        scores, labels = self._hnsw.search(q, k, params=params)
        return scores, np.where(labels >= 0, self._labels[np.maximum(labels, 0)], -1)

    def _maybe_switch(self) -> None:
        too_big = self._exact is not None and self._exact.ntotal > self.exact_limit
        too_small = self._hnsw is not None and len(self._where) < self.exact_limit // 2
        if too_big or too_small:
            self.rebuild(*self.items())


def _flat(dim: int) -> Any:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _check(ids: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.ascontiguousarray(ids, dtype=np.int64).ravel()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
    if len(ids) != len(vectors) or len(np.unique(ids)) != len(ids):
        raise ValueError("need one vector per id, and distinct ids")
    return ids, vectors
