"""Feed policies for the simulator: what a user is shown, given the logs so far."""

from __future__ import annotations

import numpy as np

from flick.recs.data import Catalog, Interactions, Sequences
from flick.recs.evaluation import positive_counts, top_k
from flick.recs.model import ServingModel, UserInputs
from flick.recs.simulation import Policy, Requests
from flick.recs.training import embed_catalog


def popularity_policy(log: Interactions, catalog: Catalog) -> Policy:
    """The most-liked-and-completed videos of the logs, minus what the user has seen."""
    counts = np.bincount(catalog.rows(log.video_id[log.positive]), minlength=len(catalog))
    seen = _seen(log, catalog)

    def feed(requests: Requests, k: int) -> np.ndarray:
        scores = np.tile(counts.astype(np.float32), (len(requests.user_id), 1))
        return catalog.video_id[top_k(scores, _for(seen, requests), k=k)]

    return feed


def two_tower_policy(serving: ServingModel, log: Interactions, catalog: Catalog) -> Policy:
    """The videos nearest the user's vector (latest history, the request's context), plus the
    model's popularity offset (positives per video in the logs)."""
    seq = Sequences.build(log, catalog)
    videos = embed_catalog(serving, catalog)
    offset = serving.popularity_offset(positive_counts(log, catalog))
    seen = _seen(log, catalog)

    def feed(requests: Requests, k: int) -> np.ndarray:
        inputs = UserInputs.for_requests(
            seq,
            catalog,
            requests.user_id,
            length=serving.config.history,
            timestamp=requests.timestamp,
            device=requests.device,
            locale=requests.locale,
        )
        scores = serving.user_embeddings(inputs) @ videos.T + offset[None, :]
        return catalog.video_id[top_k(scores, _for(seen, requests), k=k)]

    return feed


def _seen(log: Interactions, catalog: Catalog) -> dict[int, np.ndarray]:
    rows = catalog.rows(log.video_id)
    order = np.argsort(log.user_id, kind="stable")
    users, rows = log.user_id[order], rows[order]
    cuts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    return {
        int(users[a]): rows[a:b] for a, b in zip(cuts, np.r_[cuts[1:], len(users)], strict=True)
    }


def _for(seen: dict[int, np.ndarray], requests: Requests) -> list[np.ndarray]:
    empty = np.zeros(0, dtype=np.int64)
    return [seen.get(int(user), empty) for user in requests.user_id]
