"""Nearest videos by inner product (cosine, the vectors being L2-normalised), on FAISS.

Below EXACT_LIMIT vectors the index is exact: IndexFlatIP inside IndexIDMap2, which removes by
id. At 100,000 64-d vectors a flat scan is 6.4 M multiply-adds, about 1 ms for one query on one
core of this machine's class, and nothing is missed; beyond that it grows linearly, so the index
switches itself to an inverted file (IVF). It switches back below EXACT_LIMIT / 2, so it does not
flap at the threshold.

IVF (IndexIVFFlat): k-means cuts the space into `nlist` cells (about 4 sqrt(n): 4,096 for 1M
vectors); a query scans the vectors of its `nprobe` nearest cells in full precision, so the
scores it returns are exact and only a neighbour in an unvisited cell can be missed. Video
embeddings cluster by topic, which is what IVF exploits: at 1M vectors, nprobe = 64 scans ~1.6 %
of them and finds ~0.98 of the exact top 100 in about half a millisecond (docs/benchmarks.md).
Unlike HNSW it removes and replaces vectors in place (a hashtable direct map keeps id -> slot).
New vectors join the cell of their nearest centroid; once the index holds RETRAIN_GROWTH times
what its centroids were trained on, it is rebuilt so the cells follow the data.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import faiss
import numpy as np

EXACT_LIMIT = 100_000  # see the module docstring
NPROBE = 64  # cells scanned per query: recall@100 ~0.98 at 1M (bench.retrieval)
CELL_FACTOR = 4  # nlist = CELL_FACTOR * sqrt(n), rounded to a power of two
MIN_POINTS_PER_CELL = 39  # k-means wants at least this many training points per centroid
TRAIN_POINTS_PER_CELL = 64  # k-means sample: 64 per centroid (262,144 for 1M) trains in ~10 s
RETRAIN_GROWTH = 4.0
META = "meta.json"
INDEX_FILE = "index.faiss"


class VectorIndex:
    """Video vectors by 64-bit id: upsert, remove, top-k search, save and load."""

    def __init__(
        self,
        dim: int = 64,
        *,
        exact_limit: int = EXACT_LIMIT,
        nprobe: int = NPROBE,
        nlist: int | None = None,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.exact_limit = exact_limit
        self.nprobe = nprobe
        self.nlist = nlist  # None: chosen from the size at each (re)build
        self.seed = seed
        self._exact: Any = _flat(dim)  # faiss.IndexIDMap2 or None (faiss has no type stubs)
        self._ivf: Any = None  # faiss.IndexIVFFlat or None
        self._trained_on = 0  # vectors held when the IVF centroids were trained

    @property
    def kind(self) -> str:
        """ "exact" or "ivf"."""
        return "exact" if self._exact is not None else "ivf"

    def __len__(self) -> int:
        return int((self._exact if self._exact is not None else self._ivf).ntotal)

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors, replacing any already held under the same ids."""
        ids, vectors = _check(ids, vectors, self.dim)
        self.remove(ids)
        (self._exact if self._exact is not None else self._ivf).add_with_ids(vectors, ids)
        self._maybe_switch()

    def remove(self, ids: np.ndarray) -> int:
        """Remove these ids (unknown ones are ignored); how many were removed."""
        ids = np.ascontiguousarray(ids, dtype=np.int64).ravel()
        if self._exact is not None:
            return int(self._exact.remove_ids(faiss.IDSelectorBatch(ids)))
        # the hashtable direct map only takes an IDSelectorArray
        removed = int(self._ivf.remove_ids(faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids))))
        self._maybe_switch()
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top k ids and scores per query ([n, dim] or [dim]); -1 and -inf pad short rows."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        scores, ids = (self._exact if self._exact is not None else self._ivf).search(q, k)
        return ids, np.where(ids >= 0, scores, -np.inf).astype(np.float32)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (id, vector) held."""
        if self._exact is not None:
            ids = faiss.vector_to_array(self._exact.id_map).astype(np.int64)
            return ids, self._exact.index.reconstruct_n(0, self._exact.ntotal)
        lists = self._ivf.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(cell), lists.list_size(cell)).copy()
            for cell in range(self._ivf.nlist)
            if lists.list_size(cell)
        ]
        ids = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        if not len(ids):
            return ids, np.zeros((0, self.dim), np.float32)
        return ids, self._ivf.reconstruct_batch(ids)

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the whole content, choosing exact or IVF by size (IVF retrains k-means)."""
        ids, vectors = _check(ids, vectors, self.dim)
        self._exact, self._ivf = None, None
        if len(ids) > self.exact_limit:
            self._ivf = self._train_ivf(vectors)
            self._ivf.add_with_ids(vectors, ids)
            self._trained_on = len(ids)
        else:
            self._exact = _flat(self.dim)
            self._exact.add_with_ids(vectors, ids)
            self._trained_on = 0

    def save(self, directory: Path) -> None:
        """Write the index into `directory` (created if missing)."""
        directory.mkdir(parents=True, exist_ok=True)
        params = {
            "dim": self.dim,
            "exact_limit": self.exact_limit,
            "nprobe": self.nprobe,
            "nlist": self.nlist,
            "seed": self.seed,
        }
        meta = {"kind": self.kind, "trained_on": self._trained_on, **params}
        (directory / META).write_text(json.dumps(meta))
        stored = self._exact if self._exact is not None else self._ivf
        faiss.write_index(stored, str(directory / INDEX_FILE))

    @classmethod
    def load(cls, directory: Path) -> VectorIndex:
        """An index written by `save`."""
        meta = json.loads((directory / META).read_text())
        kind, trained_on = meta.pop("kind"), meta.pop("trained_on", 0)
        index = cls(**meta)
        stored: Any = faiss.read_index(str(directory / INDEX_FILE))  # the concrete type
        if kind == "exact":
            index._exact = stored
        else:
            index._exact, index._ivf, index._trained_on = None, stored, trained_on
            stored.nprobe = min(index.nprobe, stored.nlist)
        return index

    def cells(self, n: int) -> int:
        """IVF cells for n vectors: `nlist` if set, else CELL_FACTOR sqrt(n) rounded to a power
        of two, at most n / MIN_POINTS_PER_CELL."""
        if self.nlist:
            return self.nlist
        wanted = 2 ** round(math.log2(max(1.0, CELL_FACTOR * math.sqrt(n))))
        return max(1, min(wanted, n // MIN_POINTS_PER_CELL))

    def _train_ivf(self, vectors: np.ndarray) -> Any:
        nlist = self.cells(len(vectors))
        ivf = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.METRIC_INNER_PRODUCT
        )
        ivf.cp.max_points_per_centroid = TRAIN_POINTS_PER_CELL
        ivf.cp.seed = self.seed
        sample = min(len(vectors), TRAIN_POINTS_PER_CELL * nlist)
        rows = np.random.default_rng(self.seed).choice(len(vectors), sample, replace=False)
        ivf.train(vectors[np.sort(rows)])
        # a hashtable id -> slot map: remove and reconstruct by id
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        ivf.nprobe = min(self.nprobe, nlist)
        return ivf

    def _maybe_switch(self) -> None:
        if self._exact is not None:
            if self._exact.ntotal > self.exact_limit:
                self.rebuild(*self.items())
            return
        size = self._ivf.ntotal
        if size < self.exact_limit // 2 or size > RETRAIN_GROWTH * self._trained_on:
            self.rebuild(*self.items())


def _flat(dim: int) -> Any:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _check(ids: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.ascontiguousarray(ids, dtype=np.int64).ravel()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
    if len(ids) != len(vectors) or len(np.unique(ids)) != len(ids):
        raise ValueError("need one vector per id, and distinct ids")
    return ids, vectors
