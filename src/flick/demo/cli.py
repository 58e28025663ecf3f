"""`flick demo`: seed the demo world unless it exists, then say where it is and how to sign in.
(The command's options live in flick.cli with the others; this is what it runs.)"""

from __future__ import annotations

import asyncio
import logging
import os

from rich.console import Console

from flick.demo.seed import Summary, seed_world
from flick.demo.world import DEMO_PASSWORD, DEMO_USERNAME, WorldSize
from flick.platform.settings import Settings

console = Console(stderr=True, soft_wrap=True)
CONCURRENCY_ENV = "FLICK_TRANSCODE_CONCURRENCY"
LOG_LEVEL_ENV = "FLICK_LOG_LEVEL"
HEVC_ENV = "FLICK_TRANSCODE_HEVC"


def run_demo(settings: Settings, *, videos: int, viewers: int, seed: int, address: str) -> Summary:
    """Seed (or reuse) the demo world in `settings`' backends and print how to use it."""
    if CONCURRENCY_ENV not in os.environ and "transcode_concurrency" not in _file_keys(settings):
        # One transcode per core: ffmpeg's serial parts (probe, muxing) leave a core idle
        # that a second job fills.
        settings = settings.model_copy(update={"transcode_concurrency": os.cpu_count() or 1})
    if HEVC_ENV not in os.environ and "transcode_hevc" not in _file_keys(settings):
        # The HEVC pass costs about as much CPU as the whole H.264 ladder (docs/demo.md): the
        # seeded clips skip it so the world fits in 10 minutes on 2 cores; videos uploaded
        # later, while the demo is served, get it as everywhere else.
        settings = settings.model_copy(update={"transcode_hevc": False})
    size = WorldSize(videos=videos, viewers=viewers, seed=seed)
    if LOG_LEVEL_ENV not in os.environ:
        logging.getLogger().setLevel(logging.WARNING)  # the progress bars say what happens
    summary = asyncio.run(seed_world(settings, size, console=console))
    print_summary(summary, address=address)
    if (summary.videos, summary.viewers) != (videos, viewers):
        console.print(
            f"(this data dir's world has {summary.videos} videos and {summary.viewers} viewers; "
            "another size needs another --data-dir)"
        )
    return summary


def print_summary(summary: Summary, *, address: str) -> None:
    """Where the world is, what it holds, and the demo login."""
    if summary.reused:
        console.print(f"reusing the demo world in {summary.data_dir} ({summary.seconds:.1f} s)")
    else:
        console.print(
            f"made the demo world in {summary.data_dir} in {summary.seconds:.0f} s: "
            f"{summary.creators} creators, {summary.videos} videos, {summary.viewers} viewers; "
            + ", ".join(f"{n:,} {what}" for what, n in summary.counts.items())
        )
    console.print(f"Flick: [bold]{address}[/]  (API docs: {address}/docs)")
    console.print(
        f"demo login: username [bold]{DEMO_USERNAME}[/], password [bold]{DEMO_PASSWORD}[/] "
        "(every demo account, creators included, has that password)"
    )


def _file_keys(settings: Settings) -> set[str]:
    # A TOML file can set it too (FLICK_CONFIG_FILE); then it is the operator's choice.
    if settings.config_file is None and not os.environ.get("FLICK_CONFIG_FILE"):
        return set()
    import tomllib

    path = os.environ.get("FLICK_CONFIG_FILE") or str(settings.config_file)
    with open(path, "rb") as file:
        return set(tomllib.load(file).get("flick", {}))
