"""`flick train`, `flick simulate` and `flick recs eval`.

torch, FAISS and the rest load inside the commands, so other `flick` commands start as fast as
before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flick.platform.settings import load_settings

if TYPE_CHECKING:
    from flick.platform.settings import Settings
    from flick.recs.data import InteractionDataset
    from flick.recs.features import TextEmbedder
    from flick.recs.model import ModelConfig
    from flick.recs.simulation import World
    from flick.recs.training import Progress as TrainingProgress
    from flick.recs.training import TrainConfig

console = Console(stderr=True, soft_wrap=True)
SIMULATE_GOAL = 1.5  # issue 5: the two-tower feed's mean watch ratio over popularity's
TEXT_CHOICES = ("auto", "hashed-ngrams", "all-MiniLM-L6-v2")
DATASET_CHOICES = ("movielens-100k", "simulated")
WORLD_USERS, WORLD_VIDEOS, WORLD_SEED = 3000, 6000, 7  # simulation.WorldConfig's defaults
VIDEOS_PER_CREATOR = 20


@contextmanager
def training_bar(label: str) -> Iterator[Callable[[TrainingProgress], None]]:
    """A rich progress bar fed by training's progress callback."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None, status="")

        def update(step: TrainingProgress) -> None:
            done = (step.epoch - 1) * step.steps + step.step
            status = f"epoch {step.epoch}/{step.epochs} loss {step.loss:.3f}"
            bar.update(task, total=step.steps * step.epochs, completed=done, status=status)

        yield update


def common_options(function: Callable[..., None]) -> Callable[..., None]:
    """--threads, --epochs, and the simulated world's --users, --videos, --seed."""
    for option in (
        click.option("--threads", type=int, default=None, help="torch CPU threads [all cores]"),
        click.option("--epochs", type=int, default=None, help="training epochs [tuned default]"),
        click.option("--users", type=int, default=WORLD_USERS, show_default=True),
        click.option("--videos", type=int, default=WORLD_VIDEOS, show_default=True),
        click.option("--seed", type=int, default=WORLD_SEED, show_default=True),
    ):
        function = option(function)
    return function


async def _platform_dataset(settings: Settings, encoder: TextEmbedder) -> InteractionDataset:
    from flick.bootstrap import bootstrap
    from flick.recs.platform_data import platform_dataset

    services = await bootstrap(settings)
    try:
        with console.status("reading the watch logs and the video catalog"):
            dataset = await platform_dataset(
                services.db, services.videos, text=encoder, blobs=services.blobs
            )
    finally:
        await services.close()
    log = dataset.interactions()
    console.print(f"{len(log):,} watches of {len(dataset.catalog()):,} videos")
    return dataset


def _world(users: int, videos: int, seed: int) -> World:
    from flick.recs.simulation import World, WorldConfig

    creators = max(1, videos // VIDEOS_PER_CREATOR)
    return World(WorldConfig(users=users, videos=videos, creators=creators, seed=seed))


def _train_config(epochs: int | None, threads: int | None) -> TrainConfig:
    from flick.recs.training import TrainConfig

    return TrainConfig(threads=threads, **({"epochs": epochs} if epochs else {}))


def _with_popularity_weight(
    dataset: InteractionDataset,
    config: TrainConfig,
    model_config: ModelConfig,
    weight: float | None,
) -> ModelConfig:
    """`model_config` with this popularity weight, or with the one a validation split of
    `dataset` chooses (evaluation.choose_popularity_weight) when it is None."""
    from flick.recs.evaluation import K, choose_popularity_weight

    if weight is None:
        with training_bar("choosing the popularity weight on a validation split") as progress:
            weight, table = choose_popularity_weight(
                dataset, train_config=config, model_config=model_config, progress=progress
            )
        ndcg = ", ".join(f"{w}: {figures[f'ndcg@{K}']:.4f}" for w, figures in table.items())
        console.print(f"popularity weight {weight} (validation NDCG@{K}: {ndcg})")
    return replace(model_config, popularity_weight=weight)


@click.command()
@click.option(
    "--source",
    type=click.Choice(("platform", "simulated")),
    default="platform",
    show_default=True,
    help="this instance's watch logs, or a simulated world",
)
@click.option(
    "--checkpoints",
    type=click.Path(path_type=Path),
    default=None,
    help="directory of versioned checkpoints [<data dir>/recs/checkpoints, where serving looks]",
)
@click.option("--text", type=click.Choice(TEXT_CHOICES), default="auto", show_default=True)
@click.option(
    "--popularity-weight",
    type=float,
    default=None,
    help="serving's popularity offset weight [chosen on a validation split of the logs]",
)
@common_options
def train(
    source: str,
    checkpoints: Path | None,
    text: str,
    popularity_weight: float | None,
    **options: Any,
) -> None:
    """Train the two towers on this instance's watch logs (or a simulated world); write the
    next checkpoint version, which serving picks up within a minute, without a restart.

    The settings are those `flick recs eval` uses for the simulated world
    (evaluation.TUNED); the popularity weight is chosen the same way, on a validation split
    (each user's latest 20 %), before the model trains on all the logs."""
    from flick.bootstrap import checkpoints_dir
    from flick.recs.features import text_embedder
    from flick.recs.model import ModelConfig
    from flick.recs.training import LATEST
    from flick.recs.training import train as run_training

    settings = load_settings()
    checkpoints = checkpoints or checkpoints_dir(settings)
    encoder = text_embedder(text)
    if source == "platform":
        dataset = asyncio.run(_platform_dataset(settings, encoder))
        if len(dataset.interactions()) == 0:
            raise click.ClickException(
                "no watches recorded yet: train on a simulated world with --source simulated"
            )
    else:
        world = _world(options["users"], options["videos"], options["seed"])
        dataset = world.dataset(text=encoder)
    config = _train_config(options["epochs"], options["threads"])
    model_config = ModelConfig(text_encoder=encoder.name)
    model_config = _with_popularity_weight(dataset, config, model_config, popularity_weight)
    with training_bar(f"training on {dataset.name}") as progress:
        result = run_training(
            dataset,
            config,
            model_config=model_config,
            checkpoint_dir=checkpoints,
            progress=progress,
        )
    metrics = result.metrics
    console.print(
        f"checkpoint written to {result.checkpoint} ({checkpoints / LATEST} names it); "
        f"{metrics['examples_per_s']:,.0f} examples/s on {metrics['threads']} threads"
    )


@click.command()
@click.option(
    "--sessions",
    type=int,
    default=2000,
    show_default=True,
    help="feed requests after the logged days, the same for both policies",
)
@click.option(
    "--popularity-weight",
    type=float,
    default=None,
    help="the two-tower feed's popularity offset weight [chosen on a validation split]",
)
@common_options
def simulate(sessions: int, popularity_weight: float | None, **options: Any) -> None:
    """Show a simulated world, then compare a popularity feed and the two-tower feed."""
    from flick.recs.features import text_embedder
    from flick.recs.model import ModelConfig, ServingModel
    from flick.recs.policies import popularity_policy, two_tower_policy
    from flick.recs.training import train as run_training

    world = _world(options["users"], options["videos"], options["seed"])
    dataset = world.dataset(text=text_embedder("hashed-ngrams"))
    log, catalog = dataset.interactions(), dataset.catalog()
    _print_mapping("simulated world", world.stats(log))
    config = _train_config(options["epochs"], options["threads"])
    model_config = _with_popularity_weight(dataset, config, ModelConfig(), popularity_weight)
    with training_bar("training on the logs") as progress:
        result = run_training(dataset, config, model_config=model_config, progress=progress)
    requests = world.requests(sessions)
    serving = ServingModel(result.model)
    popular = world.mean_watch_ratio(popularity_policy(log, catalog), requests)
    towers = world.mean_watch_ratio(two_tower_policy(serving, log, catalog), requests)
    figures = {
        "popularity": popular,
        "two_tower": towers,
        "two_tower / popularity": towers / popular,
    }
    _print_mapping(f"mean watch ratio, {sessions} sessions of 10 videos", figures)
    verdict = "meets" if towers >= SIMULATE_GOAL * popular else "MISSES"
    console.print(f"{verdict} the goal: two_tower >= {SIMULATE_GOAL}x popularity")


@click.group()
def recs() -> None:
    """Recommendation: offline evaluation."""


@recs.command(name="eval")
@click.option("--json", "as_json", is_flag=True, help="print only the results, as JSON")
@click.option("--quick", is_flag=True, help="a tiny world, small tables, one epoch: for tests")
@click.option("--dataset", "datasets", multiple=True, type=click.Choice(DATASET_CHOICES))
@click.option("--max-users", type=int, default=None, help="test at most this many users")
@click.option("--epochs", type=int, default=None, help="training epochs [tuned per dataset]")
@click.option("--text", type=click.Choice(TEXT_CHOICES), default="hashed-ngrams", show_default=True)
@click.option("--threads", type=int, default=None, help="torch CPU threads [all cores]")
@click.option("--train-seed", type=int, default=0, show_default=True, help="training's seed")
def evaluate_command(
    as_json: bool,
    quick: bool,
    datasets: tuple[str, ...],
    max_users: int | None,
    epochs: int | None,
    text: str,
    threads: int | None,
    train_seed: int,
) -> None:
    """Recall@20 and NDCG@20 of the two towers, popularity and item-kNN (temporal split)."""
    from flick.recs.evaluation import evaluate_named

    results, weights = {}, {}
    for name in datasets or DATASET_CHOICES:
        with training_bar(f"{name}: training") as progress:
            evaluation = evaluate_named(
                name,
                quick=quick,
                epochs=epochs,
                threads=threads,
                text=text,
                max_users=max_users,
                seed=train_seed,
                progress=progress,
            )
        results[name], weights[name] = evaluation.scores, evaluation.popularity_weight
    if as_json:
        click.echo(json.dumps(results))
    else:
        _print_results(results)
        chosen = ", ".join(f"{name} {weight}" for name, weight in weights.items())
        Console().print(f"two_tower popularity weight, chosen on validation: {chosen}")


def _print_results(results: dict[str, dict[str, dict[str, float]]]) -> None:
    table = Table(title="temporal split: each user's latest 20% held out")
    for column in ("dataset", "method", "recall@20", "ndcg@20"):
        table.add_column(column)
    for dataset, methods in results.items():
        for method, scores in methods.items():
            table.add_row(dataset, method, f"{scores['recall@20']:.4f}", f"{scores['ndcg@20']:.4f}")
    Console().print(table)


def _print_mapping(title: str, values: dict[str, float]) -> None:
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in values.items():
        table.add_row(key, f"{value:,.0f}" if float(value).is_integer() else f"{value:.4f}")
    Console().print(table)
