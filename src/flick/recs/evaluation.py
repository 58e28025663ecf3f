"""Offline evaluation: a temporal split, Recall@K and NDCG@K, and two baselines.

Split: each user's interactions in time order; the first 80% train, the last 20% test (the
model never sees a test interaction, nor anything after the user's cutoff). The relevant set is
the test positives the user had not met in train; the candidates are every catalog video the
user did not meet in train. The request's context is the first test interaction's.

Metrics (mean over test users): Recall@K = hits in the top K / number relevant; NDCG@K with
binary gains, normalised by the ideal ranking of min(K, relevant) hits.

Baselines, in the same run on the same split: popularity (train positives per video) and
item-kNN (cosine between videos' train-positive user sets, each video's 100 nearest kept; a
user's score for a video is the sum of its similarities to the user's train positives).

The two towers' popularity weight is chosen per run on a validation split cut from the train
part the same way (`choose_popularity_weight`); the test part chooses nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from flick.recs.data import Catalog, InteractionDataset, Interactions, Sequences, StaticDataset
from flick.recs.features import text_embedder
from flick.recs.model import ModelConfig, ServingModel, UserInputs
from flick.recs.movielens import MovieLens
from flick.recs.simulation import World, WorldConfig
from flick.recs.training import Progress, TrainConfig, embed_catalog, train

K = 20
TEST_SHARE = 0.2  # of each user's interactions, the latest
KNN_NEIGHBOURS = 100  # RecBole's ItemKNN default
METHODS = ("two_tower", "popularity", "item_knn")
Scores = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Split:
    """Each user's earlier interactions (train) and later ones (test)."""

    train: Interactions
    test: Interactions


@dataclass(frozen=True)
class TestUsers:
    """Who is tested: train-seen catalog rows (excluded) and relevant rows per user."""

    user_id: np.ndarray
    seen: list[np.ndarray]
    relevant: list[np.ndarray]
    context: Interactions  # one row per user: the first test interaction


def temporal_split(log: Interactions, *, test_share: float = TEST_SHARE) -> Split:
    """Per user, the latest `test_share` of interactions (at least one) are test."""
    order = np.lexsort((log.timestamp, log.user_id))
    log = log.take(order)
    first = np.r_[True, log.user_id[1:] != log.user_id[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(log)), 0))
    sizes = np.diff(np.r_[np.flatnonzero(first), len(log)])
    size = np.repeat(sizes, sizes)
    cut = start + np.floor(size * (1 - test_share)).astype(np.int64)
    is_test = np.arange(len(log)) >= np.minimum(cut, start + size - 1)
    return Split(train=log.take(~is_test), test=log.take(is_test))


def users_under_test(
    split: Split, catalog: Catalog, *, max_users: int | None = None, seed: int = 0
) -> TestUsers:
    """Users with a train interaction and a new relevant video in test."""
    train_rows, test_rows = catalog.rows(split.train.video_id), catalog.rows(split.test.video_id)
    seen = _grouped(split.train.user_id, train_rows)
    wanted = _grouped(split.test.user_id[split.test.positive], test_rows[split.test.positive])
    users, kept_seen, relevant = [], [], []
    for user, rows in wanted.items():
        fresh = np.setdiff1d(rows, seen.get(user, np.empty(0, np.int64)))
        if user in seen and len(fresh):
            users.append(user)
            kept_seen.append(seen[user])
            relevant.append(fresh)
    pick = np.arange(len(users))
    if max_users is not None and max_users < len(users):
        pick = np.sort(np.random.default_rng(seed).choice(len(users), max_users, replace=False))
    user_id = np.array(users, dtype=np.int64)[pick]
    first = np.searchsorted(split.test.user_id, user_id)  # split.test is sorted by user, time
    return TestUsers(
        user_id, [kept_seen[i] for i in pick], [relevant[i] for i in pick], split.test.take(first)
    )


def _grouped(users: np.ndarray, rows: np.ndarray) -> dict[int, np.ndarray]:
    order = np.argsort(users, kind="stable")
    users, rows = users[order], rows[order]
    bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
    return {int(users[a]): np.unique(rows[a:b]) for a, b in itertools.pairwise(bounds)}


def top_k(scores: np.ndarray, seen: list[np.ndarray], *, k: int = K) -> np.ndarray:
    """Per row, the k best columns (best first), never a seen one while unseen ones are
    left; with k columns or fewer (a tiny world), every column, best first."""
    scores = scores.astype(np.float32, copy=True)
    for row, columns in enumerate(seen):
        scores[row, columns] = -np.inf
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def recall_at_k(ranked: np.ndarray, relevant: list[np.ndarray]) -> float:
    """Mean over users of hits in the ranked list / number of relevant items."""
    return float(
        np.mean(
            [np.isin(row, rel).sum() / len(rel) for row, rel in zip(ranked, relevant, strict=True)]
        )
    )


def ndcg_at_k(ranked: np.ndarray, relevant: list[np.ndarray]) -> float:
    """Mean over users of DCG / ideal DCG, binary gains, discount log2(rank + 1)."""
    discount = 1.0 / np.log2(np.arange(2, ranked.shape[1] + 2))
    values = []
    for row, rel in zip(ranked, relevant, strict=True):
        dcg = (np.isin(row, rel) * discount).sum()
        values.append(dcg / discount[: min(len(rel), len(row))].sum())
    return float(np.mean(values))


def popularity_scores(train: Interactions, catalog: Catalog, users: TestUsers) -> np.ndarray:
    """Every user gets the catalog ranked by train positives."""
    counts = positive_counts(train, catalog)
    return np.tile(counts.astype(np.float32), (len(users.user_id), 1))


def item_knn_scores(
    train: Interactions, catalog: Catalog, users: TestUsers, *, neighbours: int = KNN_NEIGHBOURS
) -> np.ndarray:
    """Sum of cosine similarities to each user's train positives (top `neighbours` kept)."""
    positives = train.take(train.positive)
    user_index = {int(u): i for i, u in enumerate(np.unique(positives.user_id))}
    matrix = np.zeros((len(user_index), len(catalog)), dtype=np.float32)
    matrix[[user_index[int(u)] for u in positives.user_id], catalog.rows(positives.video_id)] = 1
    co = matrix.T @ matrix
    norms = np.sqrt(np.diag(co))
    similarity = co / np.maximum(np.outer(norms, norms), 1e-9)
    np.fill_diagonal(similarity, 0.0)
    if neighbours < len(catalog):
        cutoff = -np.partition(-similarity, neighbours - 1, axis=1)[:, neighbours - 1 : neighbours]
        similarity = np.where(similarity >= cutoff, similarity, 0.0)
    rows = np.array([user_index.get(int(u), -1) for u in users.user_id])
    history = np.where(rows[:, None] >= 0, matrix[np.maximum(rows, 0)], 0.0)
    return history @ similarity.T


def two_tower_scores(
    serving: ServingModel, train: Interactions, catalog: Catalog, users: TestUsers
) -> np.ndarray:
    """User vectors (latest train history, the test request's context) against every video,
    plus the model's popularity offset (train positives per video)."""
    return _dot_scores(serving, train, catalog, users) + serving.popularity_offset(
        positive_counts(train, catalog)
    )


def positive_counts(log: Interactions, catalog: Catalog) -> np.ndarray:
    """Positives per catalog row."""
    return np.bincount(catalog.rows(log.video_id[log.positive]), minlength=len(catalog))


def _dot_scores(
    serving: ServingModel, train: Interactions, catalog: Catalog, users: TestUsers
) -> np.ndarray:
    seq = Sequences.build(train, catalog)
    ctx = users.context
    inputs = UserInputs.for_requests(
        seq,
        catalog,
        users.user_id,
        length=serving.config.history,
        timestamp=ctx.timestamp,
        device=ctx.device,
        locale=ctx.locale,
    )
    return serving.user_embeddings(inputs) @ embed_catalog(serving, catalog).T


POPULARITY_GRID = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class Evaluation:
    """Test scores of every method, and the popularity weight validation chose."""

    scores: Scores
    popularity_weight: float
    validation: dict[float, dict[str, float]]  # weight -> validation metrics of the towers


def choose_popularity_weight(
    dataset: InteractionDataset,
    *,
    train_config: TrainConfig | None = None,
    model_config: ModelConfig | None = None,
    grid: Sequence[float] = POPULARITY_GRID,
    k: int = K,
    progress: Callable[[Progress], None] | None = None,
) -> tuple[float, dict[float, dict[str, float]]]:
    """The popularity weight (ModelConfig.popularity_weight) with the best NDCG@k on a
    validation split carved from `dataset` alone: each user's latest TEST_SHARE of it is held
    out, the towers train on the rest, and every weight of `grid` ranks the held-out part."""
    catalog = dataset.catalog()
    inner = temporal_split(dataset.interactions())
    users = users_under_test(inner, catalog)
    model = train(
        StaticDataset(dataset.name, inner.train, catalog),
        train_config,
        model_config=model_config,
        progress=progress,
    ).model
    serving = ServingModel(model)
    dots = _dot_scores(serving, inner.train, catalog, users)
    log_counts = np.log1p(positive_counts(inner.train, catalog)).astype(np.float32)
    table = {}
    for weight in grid:
        scores = dots + weight * model.config.temperature * log_counts[None, :]
        table[weight] = _metrics(top_k(scores, users.seen, k=k), users.relevant, k)
    best = max(grid, key=lambda weight: (table[weight][f"ndcg@{k}"], -weight))
    return best, table


def evaluate(
    dataset: InteractionDataset,
    *,
    train_config: TrainConfig | None = None,
    model_config: ModelConfig | None = None,
    max_users: int | None = None,
    k: int = K,
    popularity_grid: Sequence[float] = POPULARITY_GRID,
    progress: Callable[[Progress], None] | None = None,
) -> Evaluation:
    """Choose the popularity weight on a validation split of the train part (when the grid
    has more than one), train the two towers on the whole train part, score all three
    methods on the test part."""
    catalog = dataset.catalog()
    split = temporal_split(dataset.interactions())
    users = users_under_test(split, catalog, max_users=max_users)
    train_part = StaticDataset(dataset.name, split.train, catalog)
    model_config = model_config or ModelConfig()
    weight = model_config.popularity_weight
    validation: dict[float, dict[str, float]] = {}
    if len(popularity_grid) > 1:
        weight, validation = choose_popularity_weight(
            train_part,
            train_config=train_config,
            model_config=model_config,
            grid=popularity_grid,
            k=k,
            progress=progress,
        )
    trained = train(
        train_part,
        train_config,
        model_config=replace(model_config, popularity_weight=weight),
        progress=progress,
    )
    scorers: dict[str, Callable[[], np.ndarray]] = {
        "two_tower": lambda: two_tower_scores(
            ServingModel(trained.model), split.train, catalog, users
        ),
        "popularity": lambda: popularity_scores(split.train, catalog, users),
        "item_knn": lambda: item_knn_scores(split.train, catalog, users),
    }
    results = {
        method: _metrics(top_k(scorers[method](), users.seen, k=k), users.relevant, k)
        for method in METHODS
    }
    return Evaluation(results, weight, validation)


def _metrics(ranked: np.ndarray, relevant: list[np.ndarray], k: int) -> dict[str, float]:
    return {f"recall@{k}": recall_at_k(ranked, relevant), f"ndcg@{k}": ndcg_at_k(ranked, relevant)}


DATASETS = ("movielens-100k", "simulated")
QUICK_EPOCHS = 1


@dataclass(frozen=True)
class Plan:
    """How a dataset's two towers are trained for evaluation."""

    train: TrainConfig
    model: ModelConfig


# Chosen on validation splits cut from the train part (docs/recommendation.md). The simulated
# world trains with the defaults of TrainConfig and ModelConfig, which `flick train` uses too.
# MovieLens differs in three ways: no id dropout (it has no cold items to serve; dropout cost
# ~0.01 Recall@20 there), recency-weighted history (a film rated 10 ratings ago counts half:
# +0.01 NDCG@20 on validation; on the simulated world, whose logged sessions come in no order
# of taste, it cost 0.01), and smaller id tables (1,682 films). The popularity weight is
# chosen by every run on its own validation split (evaluate).
TUNED = {
    "movielens-100k": Plan(
        TrainConfig(),
        ModelConfig(
            user_buckets=2**16, video_buckets=2**16, id_dropout=0.0, recency_half_life=10.0
        ),
    ),
    "simulated": Plan(TrainConfig(), ModelConfig()),
}


def plan(
    name: str,
    *,
    quick: bool = False,
    epochs: int | None = None,
    threads: int | None = None,
    seed: int = 0,
) -> Plan:
    """The tuned plan for a dataset, with overrides (`seed`: training's)."""
    tuned = TUNED[name]
    epochs = epochs or (QUICK_EPOCHS if quick else tuned.train.epochs)
    return replace(tuned, train=replace(tuned.train, epochs=epochs, threads=threads, seed=seed))


QUICK_WORLD = WorldConfig(users=300, creators=30, videos=600, sessions_per_user=6)
QUICK_MODEL = ModelConfig(
    user_buckets=2**12, video_buckets=2**12, creator_buckets=2**10, tag_buckets=2**10, hidden=64
)


def evaluate_named(
    name: str,
    *,
    quick: bool = False,
    epochs: int | None = None,
    threads: int | None = None,
    text: str = "hashed-ngrams",
    max_users: int | None = None,
    seed: int = 0,
    progress: Callable[[Progress], None] | None = None,
) -> Evaluation:
    """`evaluate` on "movielens-100k" or "simulated" with its tuned plan (`quick`: tiny);
    `seed` seeds training (initial weights, batch order) in both the validation and the final
    run; the split and the data stay the same."""
    encoder = text_embedder(text)
    chosen = plan(name, quick=quick, epochs=epochs, threads=threads, seed=seed)
    model_config = replace(QUICK_MODEL if quick else chosen.model, text_encoder=encoder.name)
    if name == "movielens-100k":
        dataset: InteractionDataset = MovieLens.bundled(text=encoder)
    else:
        dataset = World(QUICK_WORLD if quick else WorldConfig()).dataset(text=encoder)
    return evaluate(
        dataset,
        train_config=chosen.train,
        model_config=model_config,
        max_users=max_users,
        progress=progress,
    )
