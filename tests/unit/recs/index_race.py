"""A program, not a test module: `python -m tests.unit.recs.index_race DIR` applies video
events from several worker threads at once (as the index replica does, one bus partition
each) while searching from the event loop and swapping in a newer checkpoint, then prints
whether the index holds exactly the videos the replica knows. Run in a subprocess by
test_retrieval.py, because an unguarded FAISS index crashes the whole process (a double free
or a segfault), which must fail that test rather than kill the test run."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import torch

from flick.ingest.events import VideoDeleted, VideoReady
from flick.recs.model import TwoTower
from flick.recs.retrieval import Retrieval, apply_video_event
from flick.recs.training import write_checkpoint
from tests.unit.recs.conftest import TINY_MODEL

LANES, EVENTS_EACH, SEARCHES = 8, 200, 1_500


async def events(retrieval: Retrieval, lane: int) -> None:
    for n in range(EVENTS_EACH):
        video = lane * 10_000 + n + 1
        event = VideoReady(video, 7, f"clip {n}", ["race"], 9.0, 0.0).to_event()
        await apply_video_event(retrieval, event)
        if n % 3 == 2:  # every third video is deleted again
            await apply_video_event(retrieval, VideoDeleted(video, 7).to_event())


async def searches(retrieval: Retrieval) -> None:
    for _ in range(SEARCHES):
        retrieval.candidates(5, [], k=50)
        await asyncio.sleep(0)


async def reload(retrieval: Retrieval, directory: Path) -> None:
    await asyncio.sleep(0.2)  # while events are still arriving
    torch.manual_seed(1)
    write_checkpoint(TwoTower(TINY_MODEL).eval(), directory, metrics={})
    assert await asyncio.to_thread(retrieval.maybe_reload)


async def main(directory: Path) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    write_checkpoint(TwoTower(TINY_MODEL).eval(), directory, metrics={})
    retrieval = Retrieval(directory)
    lanes = [events(retrieval, lane) for lane in range(LANES)]
    await asyncio.gather(*lanes, searches(retrieval), reload(retrieval, directory))
    held, vectors = retrieval.index.items()
    expected = {lane * 10_000 + n + 1 for lane in range(LANES) for n in range(EVENTS_EACH)}
    expected -= {video for video in expected if video % 10_000 % 3 == 0}
    same = set(held.tolist()) == set(retrieval.videos) == expected
    # every vector held is the newer model's (an event embedded across the swap is redone)
    now_embedded = retrieval._embed(held.tolist())
    current = bool(np.allclose(vectors, now_embedded, atol=1e-5))
    print(f"held={len(held)} same={same} current={current}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
