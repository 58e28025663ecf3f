"""Seeding a demo world through the platform's own services, as users would make it: accounts
sign up, creators upload clips (tus's `Uploads`) and publish them (`Videos.publish`), the
real transcode worker makes the HLS ladder, viewers follow, watch (`Watches`), like, comment
and share (`Social`), and the two towers train on the watch logs as `flick train` does.

The outbox relay and every worker (transcodes, counters, notifications, signals, fan-out)
run in this process while it seeds, as they do inside `flick serve`. Phases skip what the
manifest says is done, so an interrupted seeding resumes and a finished one is reused.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from flick.accounts.model import UsernameTaken
from flick.bootstrap import Container, bootstrap, checkpoints_dir, run_workers
from flick.demo.clips import make_demo_clip
from flick.demo.manifest import Manifest
from flick.demo.world import (
    DEMO_PASSWORD,
    LIKE_FROM,
    VideoPlan,
    Viewer,
    Watching,
    World,
    WorldSize,
    follows_of,
    plan_world,
    watchings_of,
)
from flick.ingest.model import VideoStatus, clean_caption
from flick.platform.settings import Settings
from flick.recs.service import WatchReport

if TYPE_CHECKING:
    from flick.recs.data import InteractionDataset
    from flick.recs.training import Progress as TrainingStep

SIGNUP_JOBS = 4  # argon2 hashes run in threads; a few at once keep both cores busy
VIEWER_JOBS = 8  # viewers acting at once: their likes meet in one group commit
POLL_S = 1.0  # how often the waits look at the stores
FAILED_CHECK_EVERY = 10  # polls: failures are rare, and looked for one video at a time
SETTLE_TIMEOUT_S = 180.0  # counters lagging longer than this are reported, not awaited
CHUNK = 1 << 20  # upload body pieces
# The demo accounts' password is printed for anyone to use, so a costly hash protects nothing
# and ~300 of them took minutes: argon2id's cheapest cost. A login verifies with the hash's
# own parameters and then rehashes at the configured cost (Accounts.login).
DEMO_PASSWORD_COST = {"password_time_cost": 1, "password_memory_kib": 1024}


@dataclass(frozen=True)
class Training:
    """How to train the recommender at the end: `flick train`'s way, with more and smaller
    steps. TrainConfig's tuned 10 epochs of 512 are for large logs; the demo's ~1,600
    positives make 3 steps an epoch, too few to learn anyone's taste (measured on the
    default world: 20 % of a viewer's top 20 retrieved videos were of their themes, against
    54 % after 40 epochs of 128; 11 % by chance)."""

    epochs: int | None = 40  # None: TrainConfig's default
    batch_size: int = 128  # in-batch negatives: 127 per positive
    threads: int | None = None
    popularity_weight: float | None = None  # None: chosen on a validation split
    text: str = "auto"
    small: bool = False  # tiny embedding tables: for tests


@dataclass
class Summary:
    """What the demo world holds, and how long making it took."""

    data_dir: Path
    reused: bool
    seconds: float
    creators: int = 0
    viewers: int = 0
    videos: int = 0
    ready: int = 0
    failed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    checkpoint: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def manifest_path(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "demo" / "manifest.json"


def default_clips_dir(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "demo" / "clips"


async def seed_world(
    settings: Settings,
    size: WorldSize,
    *,
    training: Training = Training(),
    console: Console | None = None,
    clips_dir: Path | None = None,
) -> Summary:
    """Make the demo world in `settings`' backends, or reuse the one made before."""
    started = time.perf_counter()
    manifest = Manifest.load(manifest_path(settings), size)
    if manifest.complete:
        return _summary(manifest, settings, reused=True, started=started)
    services = await bootstrap(settings.model_copy(update=DEMO_PASSWORD_COST))
    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console or Console(stderr=True)) as progress:
            seeder = Seeder(services, plan_world(manifest.size), manifest, progress=progress)
            await seeder.run(clips_dir or default_clips_dir(settings), training)
        if clips_dir is None:  # the worker keeps each original: the cache is spent (~1 MB a clip)
            await asyncio.to_thread(shutil.rmtree, default_clips_dir(settings), True)
        summary = _summary(manifest, settings, reused=False, started=started)
        summary.counts = await seeder.counts()
        return summary
    finally:
        await services.close()


def _summary(manifest: Manifest, settings: Settings, *, reused: bool, started: float) -> Summary:
    size = manifest.size
    return Summary(
        data_dir=settings.data_dir.resolve(),
        reused=reused,
        seconds=time.perf_counter() - started,
        creators=size.creators,
        viewers=size.viewers,
        videos=len(manifest.videos),
        checkpoint=manifest.checkpoint,
        timings=dict(manifest.timings),
    )


class Seeder:
    """One seeding run over a container's services."""

    def __init__(
        self, services: Container, world: World, manifest: Manifest, *, progress: Progress
    ) -> None:
        self.s = services
        self.world = world
        self.manifest = manifest
        self.progress = progress
        self.resuming = bool(manifest.users)
        self.ready: set[int] = set()  # plan indexes of ready videos
        self.failed: set[int] = set()

    async def run(self, clips_dir: Path, training: Training) -> None:
        """Every phase not done yet, the services' workers running behind them."""
        stop = asyncio.Event()
        background = asyncio.ensure_future(
            asyncio.gather(self.s.relay.run(stop), run_workers(self.s, stop))
        )
        phases = asyncio.ensure_future(self._phases(clips_dir))
        both: list[asyncio.Future[Any]] = [phases, background]
        try:
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
            if not phases.done():  # a worker crashed: the waits would wait for ever
                raise RuntimeError("the platform's workers stopped") from background.exception()
            phases.result()
        except BaseException:
            for task in (phases, background):
                task.cancel()  # a transcode killed here is redelivered on the next run
            await asyncio.gather(*both, return_exceptions=True)
            raise
        stop.set()
        await background
        if self.manifest.checkpoint is None:
            await self._phase("training", lambda: self.train(training))
        self.manifest.complete = True
        self.manifest.save()

    async def _phases(self, clips_dir: Path) -> None:
        await self._phase("accounts", self.accounts)
        await self._phase("videos", lambda: self.videos(clips_dir))
        await self._phase("follows", self.follows)
        await self._phase("watching", self.watching)
        await self._phase("hevc", self.hevc)
        await self._phase("counters", self.settle)

    async def _phase(self, name: str, step: Callable[[], Awaitable[None]]) -> None:
        started, first_task = time.perf_counter(), len(self.progress.task_ids)
        await step()
        for task in self.progress.task_ids[first_task:]:
            self.progress.stop_task(task)  # its clock stops with its phase
        took = time.perf_counter() - started
        self.manifest.timings[name] = round(self.manifest.timings.get(name, 0.0) + took, 2)
        self.manifest.save()

    # --- accounts ----------------------------------------------------------------------

    async def accounts(self) -> None:
        """Sign up every creator and viewer (and the demo viewer); creators get a bio."""
        people = [(c.username, c.display_name, c.bio) for c in self.world.creators]
        people += [(v.username, v.display_name, "") for v in self.world.viewers]
        todo = [p for p in people if p[0] not in self.manifest.users]
        task = self._task("accounts", len(people), done=len(people) - len(todo))
        jobs = asyncio.Semaphore(SIGNUP_JOBS)

        async def one(username: str, display_name: str, bio: str) -> None:
            async with jobs:
                user_id = await self._account(username, display_name, bio)
            self.manifest.users[username] = user_id
            self.progress.advance(task)
            if len(self.manifest.users) % 25 == 0:
                self.manifest.save()

        await asyncio.gather(*(one(*person) for person in todo))

    async def _account(self, username: str, display_name: str, bio: str) -> int:
        accounts = self.s.accounts
        try:
            signed = await accounts.signup(
                username, password=DEMO_PASSWORD, display_name=display_name
            )
        except UsernameTaken:  # made by an interrupted run before it saved the manifest
            signed = await accounts.login(username, password=DEMO_PASSWORD)
        if bio and signed.user.bio != bio:
            await accounts.update_profile(signed.user.id, bio=bio)
        return signed.user.id

    # --- videos --------------------------------------------------------------------------

    async def videos(self, clips_dir: Path) -> None:
        """Make, upload and publish every clip while the worker transcodes them; return when
        every video is ready (or failed)."""
        plans = self.world.videos
        uploaded = self._task("clips made and uploaded", len(plans), done=len(self.manifest.videos))
        tracker = asyncio.ensure_future(
            self._track_ready(self._task("transcoded to HLS", len(plans)))
        )
        try:
            for plan in plans:
                if plan.index not in self.manifest.videos:
                    video_id = await self._published(plan) or await self._publish(plan, clips_dir)
                    self.manifest.videos[plan.index] = video_id
                    self.manifest.save()
                    self.progress.advance(uploaded)
            await tracker
        finally:
            tracker.cancel()

    async def _publish(self, plan: VideoPlan, clips_dir: Path) -> int:
        path = await make_demo_clip(plan.clip, clips_dir)
        user_id = self._user(self.world.creator_of(plan).username)
        metadata = {"filename": f"{plan.theme}-{plan.index:03d}.mp4", "caption": plan.caption}
        upload = await self.s.uploads.create(user_id, length=path.stat().st_size, metadata=metadata)
        await self.s.uploads.append(upload.id, user_id=user_id, offset=0, body=_pieces(path))
        video = await self.s.videos.publish(user_id, upload_id=upload.id, caption=plan.caption)
        return video.id

    async def _published(self, plan: VideoPlan) -> int | None:
        """The video of this plan if an interrupted run published it but did not note it."""
        if not self.resuming:
            return None
        creator = self._user(self.world.creator_of(plan).username)
        caption, known = clean_caption(plan.caption), set(self.manifest.videos.values())
        cursor = None
        while True:
            page = await self.s.videos.of_creator(
                creator, viewer_id=creator, cursor=cursor, limit=100
            )
            for item in page.items:
                if item["caption"] == caption and int(item["id"]) not in known:
                    return int(item["id"])
            if page.next_cursor is None:
                return None
            cursor = int(page.next_cursor)

    async def _track_ready(self, task: TaskID) -> None:
        total, polls = len(self.world.videos), 0
        while len(self.ready) + len(self.failed) < total:
            waiting = {
                video_id: index
                for index, video_id in self.manifest.videos.items()
                if index not in self.ready and index not in self.failed
            }
            # One query per database for all of them (cheap enough to poll often).
            self.ready.update(
                waiting.pop(v) for v in await self.s.videos.ready_cards(list(waiting))
            )
            polls += 1
            if polls % FAILED_CHECK_EVERY == 0:
                for video_id, index in waiting.items():
                    if (await self.s.videos.get(video_id)).status is VideoStatus.FAILED:
                        self.failed.add(index)
            self.progress.update(task, completed=len(self.ready) + len(self.failed))
            await asyncio.sleep(POLL_S)

    async def hevc(self) -> None:
        """Wait for the HEVC pass (after the H.264 ladder, in the same transcode job)."""
        if not self.s.settings.transcode_hevc:
            return
        left = {(await self.s.videos.get(self.manifest.videos[i])).asset for i in self.ready}
        total = len(left)
        task = self._task("HEVC renditions", total)
        while left:
            for sha256 in list(left):
                asset = await self.s.videos.asset(sha256)
                if asset is None or asset.media.get("hevc") != "pending":
                    left.discard(sha256)
            self.progress.update(task, completed=total - len(left))
            await asyncio.sleep(POLL_S)

    # --- viewers -------------------------------------------------------------------------

    async def follows(self) -> None:
        """Every viewer follows a few creators: popular ones, and ones of their taste."""
        if self.manifest.follows_done:
            return
        task = self._task("follows", len(self.world.viewers))
        for viewer in self.world.viewers:
            user_id = self._user(viewer.username)
            for creator in follows_of(self.world, viewer):
                await self.s.social.follow(user_id, self._creator_id(creator))
            self.progress.advance(task)
        self.manifest.follows_done = True

    async def watching(self) -> None:
        """Every viewer's watches, likes, comments and shares (a few viewers at once)."""
        viewers = self.world.viewers
        task = self._task("watches and interactions", len(viewers), done=len(self.manifest.watched))
        jobs = asyncio.Semaphore(VIEWER_JOBS)

        async def one(viewer: Viewer) -> None:
            async with jobs:
                await self._watch(viewer)
            self.manifest.watched.add(viewer.index)
            self.manifest.save()
            self.progress.advance(task)

        await asyncio.gather(*(one(v) for v in viewers if v.index not in self.manifest.watched))

    async def _watch(self, viewer: Viewer) -> None:
        user_id, now = self._user(viewer.username), time.time()
        done = [w for w in self._watchings(viewer) if w.video in self.ready]
        reports = [_report(self.manifest.videos[w.video], w, self.world, now) for w in done]
        if reports:
            await self.s.watches.record(user_id, reports)
        for w in done:
            video_id = self.manifest.videos[w.video]
            if w.liked:
                await self.s.social.like(user_id, video_id)
            if w.comment:
                await self.s.social.comment(user_id, video_id, text=w.comment)
            if w.shared:
                await self.s.social.share(user_id, video_id)

    def _watchings(self, viewer: Viewer) -> list[Watching]:
        return watchings_of(self.world, viewer, followed=follows_of(self.world, viewer))

    async def settle(self) -> None:
        """Wait until the counters show every follow, like, comment and share (they are
        eventually consistent: the counter worker folds the events in)."""
        expected = self._expected_counts()
        task = self._task("counters caught up", sum(expected.values()))
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            seen = await self.counts()
            done = sum(min(seen.get(k, 0), n) for k, n in expected.items())
            self.progress.update(task, completed=done)
            if done >= sum(expected.values()):
                return
            await asyncio.sleep(POLL_S)
        self.progress.console.print(f"[yellow]counters still lagging[/]: {seen} of {expected}")

    def _expected_counts(self) -> dict[str, int]:
        expected = {"likes": 0, "comments": 0, "shares": 0, "followers": 0}
        for viewer in self.world.viewers:
            expected["followers"] += len(follows_of(self.world, viewer))
            for w in self._watchings(viewer):
                if w.video in self.ready:
                    expected["likes"] += w.liked
                    expected["comments"] += w.comment is not None
                    expected["shares"] += w.shared
        return expected

    async def counts(self) -> dict[str, int]:
        """The platform's counters summed over the world's videos and creators."""
        totals = {"likes": 0, "comments": 0, "shares": 0, "followers": 0}
        videos = list(self.manifest.videos.values())
        for counts in (await self.s.social.video_counts_many(videos)).values():
            for name in ("likes", "comments", "shares"):
                totals[name] += counts[name]
        for creator in self.world.creators:
            user = self._user(creator.username)
            totals["followers"] += (await self.s.social.user_counts(user))["followers"]
        return totals | {"videos": len(videos)}

    # --- training ------------------------------------------------------------------------

    async def train(self, training: Training) -> None:
        """The two towers on the watch logs, written where serving looks (`flick train`)."""
        from flick.recs.features import text_embedder
        from flick.recs.platform_data import platform_dataset

        encoder = text_embedder(training.text)
        dataset = await platform_dataset(self.s.db, self.s.videos, text=encoder, blobs=self.s.blobs)
        task = self._task("training the recommender", None)
        checkpoint = await asyncio.to_thread(
            _train, dataset, training, self.s.settings, encoder.name, self._step(task)
        )
        self.manifest.checkpoint = checkpoint

    def _step(self, task: TaskID) -> Callable[[TrainingStep], None]:
        def update(step: TrainingStep) -> None:
            done = (step.epoch - 1) * step.steps + step.step
            self.progress.update(task, total=step.steps * step.epochs, completed=done)

        return update

    # --- helpers -------------------------------------------------------------------------

    def _task(self, description: str, total: int | None, *, done: int = 0) -> TaskID:
        return self.progress.add_task(description, total=total, completed=done)

    def _user(self, username: str) -> int:
        return self.manifest.users[username]

    def _creator_id(self, index: int) -> int:
        return self._user(self.world.creators[index].username)


def _report(video_id: int, w: Watching, world: World, now: float) -> WatchReport:
    duration_ms = round(world.size.seconds * 1000)
    return WatchReport(
        video_id,
        watched_ms=round(w.ratio * duration_ms),
        completed=w.ratio >= LIKE_FROM,
        replays=int(w.ratio) if w.ratio >= 1 else 0,
        ts=now - w.ago_s,
    )


async def _pieces(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while piece := await asyncio.to_thread(file.read, CHUNK):
            yield piece


def _train(
    dataset: InteractionDataset,
    training: Training,
    settings: Settings,
    encoder: str,
    progress: Callable[[TrainingStep], None],
) -> str:
    """`flick train --source platform`: the popularity weight chosen on a validation split
    (unless given), then the towers trained on every watch, written as the next version."""
    from flick.recs.evaluation import choose_popularity_weight, temporal_split
    from flick.recs.model import ModelConfig
    from flick.recs.training import TrainConfig, train

    config = TrainConfig(
        threads=training.threads, batch_size=training.batch_size, **_epochs(training)
    )
    model_config = ModelConfig(text_encoder=encoder, **_small(training))
    weight = training.popularity_weight
    if weight is None and not temporal_split(dataset.interactions()).test.positive.any():
        weight = 0.0  # a world too small to hold out a validation split
    if weight is None:
        weight, _ = choose_popularity_weight(
            dataset, train_config=config, model_config=model_config, progress=progress
        )
    model_config = replace(model_config, popularity_weight=weight)
    result = train(
        dataset,
        config,
        model_config=model_config,
        checkpoint_dir=checkpoints_dir(settings),
        progress=progress,
    )
    assert result.checkpoint is not None
    return result.checkpoint.name


def _epochs(training: Training) -> dict[str, Any]:
    return {"epochs": training.epochs} if training.epochs else {}


def _small(training: Training) -> dict[str, Any]:
    if not training.small:
        return {}
    return {
        "user_buckets": 2**10,
        "video_buckets": 2**10,
        "creator_buckets": 2**8,
        "tag_buckets": 2**8,
        "hidden": 64,
    }
