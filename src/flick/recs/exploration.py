"""Exploration: every new video gets an impression budget in For You, whoever its creator.

The article's trajectory: a new video is shown to a small test audience, and how that audience
watches it in the first ~30 minutes decides whether it is pushed to a bigger pool. Here:

- `admit` (on `video.ready`): the video enters stage "test" with `INITIAL_BUDGET` impressions.
- `candidates` (per For You assembly): videos with budget left, freshest first, a promoted video
  counting as admitted `PROMOTED_HEADSTART_S` after its promotion; one video per creator.
- `record_impressions` (when a page is served): spends budget; at 0 the video stops being shown.
- `review` (a worker, every ~60 s): a test video whose window has passed, or which has had
  `MIN_TEST_VIEWS` views, is compared with its cohort (videos admitted in the same hour): a
  smoothed completion rate above the cohort's median promotes it to `PROMOTED_BUDGET`; below, its
  budget halves at each review until it falls under `DECAY_FLOOR` and the video retires. A
  promoted video is reviewed again `SECOND_REVIEW_S` later: promoted again or retired.

State, all in the cache (port methods only, so the embedded and the Redis adapter both work):

| key | what |
|---|---|
| `explore:pool` | sorted set: every video admitted in the last `POOL_KEEP_S` (score: ready_at) |
| `explore:live` | sorted set: videos with budget left (score: the candidate priority) |
| `explore:video:<id>` | JSON record: creator, stage, ready_at, since, reviewed_at, promotions |
| `explore:budget:<id>` | integer counter: impressions left (deleted when spent) |
| `explore:admitted:<id>` | set by `admit` and `remove`: a redelivered `video.ready` does nothing |

Retired videos stay in `explore:pool` (stage "retired") until they age out, so a cohort keeps its
weak members: otherwise only the survivors would set the bar.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from time import monotonic
from typing import Literal

import orjson

from flick.platform.cache import Cache
from flick.recs.entities import PRIOR_COMPLETION, SignalsReader, VideoSignals

INITIAL_BUDGET = 200  # the test audience: enough views to tell a completion rate from the prior
PROMOTED_BUDGET = 2_000  # the bigger pool: ten test audiences, still small next to retrieval
TEST_WINDOW_S = 30 * 60.0  # the article's "first 30 minutes" decide the trajectory
MIN_TEST_VIEWS = 100  # a video this watched is judged before its window ends (5 x PRIOR_VIEWS)
SECOND_REVIEW_S = 2 * 3600.0  # a promoted video spends its budget in about this long
MAX_PROMOTIONS = 3  # after that the main recommender has plenty of signal: exploration is done
DECAY_FLOOR = 20  # fewer impressions left than this cannot move a completion rate: retire
DECAY_SPACING_S = 30.0  # at most one halving per 30 s: a rerun or a second worker adds none
COHORT_BUCKET_S = 3600.0  # a cohort = the videos admitted in the same clock hour
MIN_COHORT = 5  # a median of fewer videos is noise: compare with the platform prior instead
PROMOTED_HEADSTART_S = TEST_WINDOW_S  # a promotion outranks the next half hour of new videos
POOL_KEEP_S = TEST_WINDOW_S + MAX_PROMOTIONS * SECOND_REVIEW_S + 3600.0  # the last review + 1 h
MAX_POOL = 20_000  # caps the review's read; ~8 h of uploads at 2,500 an hour
MAX_SCAN = 500  # most live videos one candidates() call considers
SNAPSHOT_TTL_S = 1.0  # how long a process reuses its read of the live videos
RECORD_TTL_S = POOL_KEEP_S + 3600.0  # records outlive their pool membership, never by much
CLAIM_TTL_S = 7 * 86400.0  # longer than the bus keeps a redeliverable video.ready

POOL = "explore:pool"
LIVE = "explore:live"

Stage = Literal["test", "promoted", "retired"]


@dataclass(frozen=True, slots=True)
class Record:
    """One video's exploration state (the JSON under `explore:video:<id>`)."""

    creator: int
    stage: Stage
    ready_at: float
    since: float  # when the current stage began
    reviewed_at: float = 0.0  # the last review that changed the budget
    promotions: int = 0


@dataclass(frozen=True, slots=True)
class ReviewResult:
    """What one review did, for logs and tests."""

    promoted: int = 0
    decayed: int = 0
    retired: int = 0
    expired: int = 0  # aged out of the pool (older than POOL_KEEP_S)


@dataclass(frozen=True, slots=True)
class _Verdict:
    video_id: int
    record: Record
    budget: int  # the budget to set (a delta against the one read is what is written)
    kind: Literal["promoted", "decayed", "retired"]


class Exploration:
    """The exploration pool of fresh videos, kept in the cache."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        # The live videos with budget left, in priority order, as this process last read
        # them (monotonic time of the read): For You asks on every assembly, so one read per
        # SNAPSHOT_TTL_S serves them all. Changes made here drop it at once; another
        # process's show within SNAPSHOT_TTL_S, and a budget spent to zero elsewhere may be
        # offered that much longer (bounded overspend).
        self._snapshot: tuple[float, list[tuple[int, Record]]] | None = None

    async def admit(self, video_id: int, *, creator_id: int, ready_at: float) -> None:
        """Enter a newly ready video in stage "test" with INITIAL_BUDGET; a redelivered event
        (or any later call for the same video) changes nothing."""
        if await self.cache.get(_claim_key(video_id)) is not None:
            return
        record = Record(creator=creator_id, stage="test", ready_at=ready_at, since=ready_at)
        await self.cache.set(_budget_key(video_id), b"%d" % INITIAL_BUDGET, ttl=RECORD_TTL_S)
        await self.cache.set(_record_key(video_id), _encode(record), ttl=RECORD_TTL_S)
        await self.cache.zadd(LIVE, {str(video_id): _priority(record)}, cap=MAX_POOL)
        await self.cache.zadd(POOL, {str(video_id): ready_at}, cap=MAX_POOL)
        # Claimed last: a crash above leaves no claim, so the redelivered event admits in full
        # (two deliveries at once write the same initial state).
        await self.cache.set(_claim_key(video_id), b"1", ttl=CLAIM_TTL_S)
        self._snapshot = None

    async def remove(self, video_id: int) -> None:
        """Forget a video (deleted, or aged out); it is never admitted again."""
        await self.cache.set(_claim_key(video_id), b"1", ttl=CLAIM_TTL_S)
        await self._forget([video_id])

    async def candidates(
        self, count: int, *, now: float, exclude: Collection[int] = ()
    ) -> list[int]:
        """Up to `count` videos with budget left, one per creator, minus `exclude`.

        Order: the `explore:live` priority, highest first: a test video's ready_at, a promoted
        video's promotion time + PROMOTED_HEADSTART_S (it has earned more reach than an untested
        one, yet new videos overtake it half an hour later); ties by video id. A video whose
        ready_at lies after `now` (another process's clock ahead) waits. The live entries
        come from this process's snapshot (`_live`), at most one read per SNAPSHOT_TTL_S.
        """
        if count <= 0:
            return []
        excluded = set(exclude)
        picked: list[int] = []
        creators: set[int] = set()
        for video_id, record in await self._live():
            if video_id in excluded or record.ready_at > now:
                continue
            if record.creator not in creators:
                creators.add(record.creator)
                picked.append(video_id)
                if len(picked) == count:
                    break
        return picked

    async def record_impressions(self, video_ids: Sequence[int]) -> None:
        """Spend one impression per id shown (an id listed twice spends two); ids not in
        exploration are ignored. At 0 the video stops being a candidate. One cache call
        (`spend_many`), plus one when a budget runs out."""
        shown = Counter(video_ids)
        left = await self.cache.spend_many({_budget_key(v): n for v, n in shown.items()})
        spent = [str(v) for v, value in zip(shown, left, strict=True) if value == 0]
        if spent:
            await self.cache.zrem(LIVE, *spent)
            self._snapshot = None

    async def review(self, signals: SignalsReader, *, now: float) -> ReviewResult:
        """Promote, decay or retire the videos that are due (see the module docstring); drop
        those older than POOL_KEEP_S. Running it twice at the same `now` changes nothing more."""
        pool = await self.cache.zrange(POOL, limit=MAX_POOL)
        expired = [int(m) for m, ready_at in pool if ready_at < now - POOL_KEEP_S]
        ids = [int(m) for m, ready_at in pool if ready_at >= now - POOL_KEEP_S]
        states = await self._read(ids)
        lost = [v for v in ids if states[v][0] is None]  # the record expired or was evicted
        await self._forget(expired + lost)
        kept = {v: (r, b) for v, (r, b) in states.items() if r is not None}
        seen = await signals.videos(list(kept))
        medians = _cohort_medians({v: r for v, (r, _) in kept.items()}, seen)
        verdicts = [
            verdict
            for v, (record, budget) in kept.items()
            if (verdict := _judge(v, record, budget, _signals(seen, v), medians, now=now))
        ]
        await self._apply(verdicts, {v: b for v, (_, b) in kept.items()})
        kinds = Counter(verdict.kind for verdict in verdicts)
        return ReviewResult(
            promoted=kinds["promoted"],
            decayed=kinds["decayed"],
            retired=kinds["retired"],
            expired=len(expired),
        )

    # --- internals -------------------------------------------------------------------------

    async def _live(self) -> list[tuple[int, Record]]:
        """(video, record) of up to MAX_SCAN live videos with budget left, highest priority
        first (ties by id): the snapshot while it is fresh, else two cache reads."""
        if self._snapshot is not None and monotonic() - self._snapshot[0] < SNAPSHOT_TTL_S:
            return self._snapshot[1]
        read_at = monotonic()
        live = await self.cache.zrange(LIVE, limit=MAX_SCAN)
        ids = [video_id for _, video_id in sorted((-score, int(m)) for m, score in live)]
        found = []
        for video_id, (record, budget) in (await self._read(ids)).items():  # in `ids` order
            if record is not None and budget > 0:
                found.append((video_id, record))
        self._snapshot = (read_at, found)
        return found

    async def _read(self, ids: Sequence[int]) -> dict[int, tuple[Record | None, int]]:
        """Each video's record and budget, in one round trip."""
        keys = [key for v in ids for key in (_record_key(v), _budget_key(v))]
        raw = await self.cache.get_many(keys)
        return {
            v: (_decode(raw[2 * i]), max(0, int(raw[2 * i + 1] or 0))) for i, v in enumerate(ids)
        }

    async def _forget(self, ids: Iterable[int]) -> None:
        self._snapshot = None
        members = [str(v) for v in ids]
        if not members:
            return
        await self.cache.zrem(LIVE, *members)
        await self.cache.zrem(POOL, *members)
        await self.cache.delete(*(key for m in members for key in _keys(int(m))))

    async def _apply(self, verdicts: Sequence[_Verdict], budgets: Mapping[int, int]) -> None:
        """Write the verdicts: records, budget deltas (concurrent spending is kept), live set."""
        if not verdicts:
            return
        records = {_record_key(x.video_id): _encode(x.record) for x in verdicts}
        await self.cache.set_many(records, ttl=RECORD_TTL_S)
        for x in verdicts:
            if x.kind != "retired":  # with a TTL: a key deleted meanwhile must not linger
                delta = x.budget - budgets[x.video_id]
                await self.cache.incr(_budget_key(x.video_id), delta, ttl=RECORD_TTL_S)
        retired = [x.video_id for x in verdicts if x.kind == "retired"]
        await self.cache.delete(*(_budget_key(v) for v in retired))
        await self.cache.zrem(LIVE, *(str(v) for v in retired))
        promoted = {str(x.video_id): _priority(x.record) for x in verdicts if x.kind == "promoted"}
        await self.cache.zadd(LIVE, promoted, cap=MAX_POOL)
        self._snapshot = None


def _judge(
    video_id: int,
    record: Record,
    budget: int,
    seen: VideoSignals,
    medians: Mapping[int, float],
    *,
    now: float,
) -> _Verdict | None:
    """The verdict on one video, or None when it is not due."""
    if not _due(record, seen, now=now):
        return None
    beats = seen.completion_rate > medians.get(_bucket(record.ready_at), PRIOR_COMPLETION)
    if beats and record.promotions < MAX_PROMOTIONS:
        promoted = replace(
            record, stage="promoted", since=now, reviewed_at=now, promotions=record.promotions + 1
        )
        return _Verdict(video_id, promoted, PROMOTED_BUDGET, "promoted")
    if record.stage == "test" and not beats and budget // 2 >= DECAY_FLOOR:
        return _Verdict(video_id, replace(record, reviewed_at=now), budget // 2, "decayed")
    retired = replace(record, stage="retired", since=now, reviewed_at=now)
    return _Verdict(video_id, retired, 0, "retired")


def _due(record: Record, seen: VideoSignals, *, now: float) -> bool:
    if now - record.reviewed_at < DECAY_SPACING_S:
        return False
    if record.stage == "test":
        return now >= record.ready_at + TEST_WINDOW_S or seen.views_1h >= MIN_TEST_VIEWS
    return record.stage == "promoted" and now >= record.since + SECOND_REVIEW_S


def _cohort_medians(
    records: Mapping[int, Record], seen: Mapping[int, VideoSignals]
) -> dict[int, float]:
    """Per hour bucket, the median smoothed completion rate of its videos with at least
    MIN_TEST_VIEWS views; buckets with fewer than MIN_COHORT such videos are left out."""
    rates: defaultdict[int, list[float]] = defaultdict(list)
    for video_id, record in records.items():
        signals = _signals(seen, video_id)
        if signals.views_1h >= MIN_TEST_VIEWS:
            rates[_bucket(record.ready_at)].append(signals.completion_rate)
    return {b: statistics.median(r) for b, r in rates.items() if len(r) >= MIN_COHORT}


def _priority(record: Record) -> float:
    if record.stage == "promoted":
        return record.since + PROMOTED_HEADSTART_S
    return record.ready_at


def _signals(seen: Mapping[int, VideoSignals], video_id: int) -> VideoSignals:
    return seen.get(video_id) or VideoSignals(video_id)


def _bucket(ready_at: float) -> int:
    return int(ready_at // COHORT_BUCKET_S)


def _encode(record: Record) -> bytes:
    return orjson.dumps(asdict(record))


def _decode(raw: bytes | None) -> Record | None:
    return None if raw is None else Record(**orjson.loads(raw))


def _record_key(video_id: int) -> str:
    return f"explore:video:{video_id}"


def _budget_key(video_id: int) -> str:
    return f"explore:budget:{video_id}"


def _claim_key(video_id: int) -> str:
    return f"explore:admitted:{video_id}"


def _keys(video_id: int) -> tuple[str, str]:
    return _record_key(video_id), _budget_key(video_id)
