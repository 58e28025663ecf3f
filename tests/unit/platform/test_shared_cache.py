"""What the shared file cache adds to the port's contract (tests/contract/test_cache.py):
several processes on one file agree, messages cross processes, expired entries are swept,
and a damaged file starts afresh."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flick.platform.cache.channels import MAX_SOCKET_PATH, LocalChannels
from flick.platform.cache.shared import SharedFileCache, _sortable, _unsortable

CHILD = """
import asyncio, sys
from pathlib import Path
from flick.platform.cache.shared import SharedFileCache

async def main() -> None:
    cache = SharedFileCache(Path(sys.argv[1]))
    for _ in range(500):
        await cache.incr("shared-counter")
    await cache.zadd("inbox", {"from-child": 7.0}, cap=3)
    await cache.publish("notify:1", b"from the child")
    await cache.close()

asyncio.run(main())
"""


async def test_two_processes_share_values_counters_sets_and_messages(tmp_path: Path) -> None:
    cache = SharedFileCache(tmp_path / "cache")
    heard: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def listen() -> None:
        async for message in cache.listen("notify:"):
            heard.put_nowait(message)

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.05)  # the receiving socket is bound before the child starts
    await cache.zadd("inbox", {"a": 1.0, "b": 2.0, "c": 3.0}, cap=3)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(tmp_path / "cache")
    )
    for _ in range(500):
        await cache.incr("shared-counter")
    assert await child.wait() == 0
    assert await cache.get("shared-counter") == b"1000"  # no increment lost between them
    assert await cache.zrange("inbox") == [("from-child", 7.0), ("c", 3.0), ("b", 2.0)]
    async with asyncio.timeout(5):
        assert await heard.get() == ("notify:1", b"from the child")
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener
    await cache.close()


async def test_a_rate_limit_is_shared_by_two_handles(tmp_path: Path) -> None:
    first, second = SharedFileCache(tmp_path / "c"), SharedFileCache(tmp_path / "c")
    allowed = [
        (await (first if i % 2 else second).gcra("rl", rate=0.5, burst=4)).allowed for i in range(6)
    ]
    assert allowed == [True, True, True, True, False, False]
    await first.close()
    await second.close()


async def test_sweep_removes_what_expired_and_keeps_the_rest(tmp_path: Path) -> None:
    cache = SharedFileCache(tmp_path / "cache")
    await cache.set_many({f"short{n}": b"x" for n in range(50)}, ttl=0.05)
    await cache.incr_many({"bucket": 1}, ttl=0.05)
    await cache.set("kept", b"y", ttl=60)
    await cache.set("forever", b"z")
    await cache.set("short0", b"renewed", ttl=60)  # its old expiry must not remove it
    await asyncio.sleep(0.1)
    assert cache.sweep() == 50  # 49 short values and the bucket
    assert cache.sweep() == 0
    with cache.env.begin() as txn:
        assert txn.stat(cache._values)["entries"] == 3  # kept, forever, short0
        assert txn.stat(cache._expiring)["entries"] == 2
    assert await cache.get_many(["short0", "kept", "forever"]) == [b"renewed", b"y", b"z"]
    await cache.close()


async def test_overwriting_a_sorted_set_drops_its_members(tmp_path: Path) -> None:
    cache = SharedFileCache(tmp_path / "cache")
    await cache.zadd("s", {"a": 1.0, "b": 2.0})
    await cache.set("s", b"plain")
    await cache.zadd("other", {"c": 1.0})
    with cache.env.begin() as txn:
        assert txn.stat(cache._scores)["entries"] == 1
        assert txn.stat(cache._members)["entries"] == 1
    with pytest.raises(TypeError):
        await cache.zadd("s", {"x": 1.0})
    await cache.close()


async def test_a_damaged_file_starts_afresh(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    cache = SharedFileCache(directory)
    await cache.set("k", b"v")
    await cache.close()
    (directory / "lmdb" / "data.mdb").write_bytes(b"not an lmdb file" * 512)
    reopened = SharedFileCache(directory)
    assert await reopened.get("k") is None
    await reopened.set("k", b"new")
    assert await reopened.get("k") == b"new"
    await reopened.close()


def test_channels_in_a_deep_directory_fall_back_to_a_short_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    channels = LocalChannels(deep)
    assert len(str(channels.directory)) < MAX_SOCKET_PATH
    assert LocalChannels(deep).directory == channels.directory  # same file, same sockets
    channels.close()


async def test_a_dead_listeners_socket_is_removed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sys.argv[1])
        """
    )
    stale = tmp_path / "ch" / "99-abcdef.sock"
    stale.parent.mkdir()
    binder = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(stale))
    assert await binder.wait() == 0  # it exited: its socket file is left behind
    channels = LocalChannels(tmp_path / "ch")
    await channels.publish("notify:1", b"hello")
    assert not stale.exists()
    channels.close()


@given(st.lists(st.floats(allow_nan=False), min_size=2, max_size=30))
def test_sortable_scores_sort_as_the_numbers_do(scores: list[float]) -> None:
    assert [_unsortable(_sortable(s)) for s in scores] == scores
    assert sorted(scores, key=_sortable) == sorted(scores)
