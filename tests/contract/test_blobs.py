"""One suite for the blob store port, on a local directory and on the S3 API.

The S3 side runs against moto's S3 server (moto[server], a real HTTP S3 API), started once per
session on a free 127.0.0.1 port: no AWS account or network is involved.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from flick.platform.blobs import BlobNotFound, BlobStore
from flick.platform.blobs.local import LocalBlobStore
from flick.platform.blobs.s3 import MULTIPART_THRESHOLD, S3BlobStore

UNSAFE_KEYS = [
    *("../x", "/abs", "a//b", "a/../b", "a/./b", "a/", "a\\b", "", ".", ".."),
    *("a/\x00", "a\nb", "a\x7fb", "a\x85b", "lone\ud800"),  # NUL, C0, DEL, C1, bad Unicode
    "x" * 1025,
    "/".join(["é" * 100] * 6),  # 605 characters, but 1205 bytes: S3 counts bytes
    "a/" + "s" * 256,  # a segment longer than a file name may be
]
# The longest key every store takes: 1024 bytes in segments of at most 255 bytes.
LONGEST_KEY = "/".join(["k" * 254] * 3 + ["é" * 127, "last"])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
async def store(  # type: ignore[no-untyped-def]
    request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[BlobStore]:
    if request.param == "local":
        blobs: BlobStore = LocalBlobStore.from_url(f"file://{tmp_path / 'blobs'}")
    else:
        # Fake credentials, for this test only: moto accepts any; the client needs some.
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        endpoint = request.getfixturevalue("s3_endpoint")
        s3 = S3BlobStore.from_url(f"s3://b{uuid.uuid4().hex[:12]}?endpoint={endpoint}")
        await s3.ensure_bucket()
        await s3.ensure_bucket()  # idempotent
        blobs = s3
    yield blobs
    await blobs.close()


async def test_put_get_ranges_and_stat(store: BlobStore) -> None:
    info = await store.put(
        "media/1/master.m3u8", b"#EXTM3U\n", content_type="application/vnd.apple.mpegurl"
    )
    assert info.size == 8 and info.etag.startswith('"') and info.etag.endswith('"')
    assert await store.get("media/1/master.m3u8") == b"#EXTM3U\n"
    assert await store.get("media/1/master.m3u8", start=1, end=4) == b"EXT"
    assert await store.get("media/1/master.m3u8", start=6) == b"U\n"
    assert await store.get("media/1/master.m3u8", start=6, end=100) == b"U\n"
    assert await store.get("media/1/master.m3u8", start=100) == b""
    assert await store.get("media/1/master.m3u8", start=3, end=3) == b""
    stat = await store.stat("media/1/master.m3u8")
    assert stat is not None
    assert (stat.size, stat.etag, stat.content_type) == (
        8,
        info.etag,
        "application/vnd.apple.mpegurl",
    )


async def test_empty_blob(store: BlobStore) -> None:
    info = await store.put("empty", b"")
    assert await store.get("empty") == b""
    assert await store.stat("empty") == info
    assert [c async for c in store.stream("empty")] == []


async def test_etag_follows_content_and_type_follows_the_last_put(store: BlobStore) -> None:
    first = await store.put("a/b", b"one", content_type="text/plain")
    same = await store.put("a/b", b"one", content_type="text/csv")
    second = await store.put("a/b", b"two")
    assert first.etag == same.etag != second.etag  # equal bytes, equal strong validator
    stat = await store.stat("a/b")
    assert stat is not None
    assert (stat.etag, stat.content_type) == (second.etag, "application/octet-stream")
    assert await store.get("a/b") == b"two"


async def test_stream_yields_the_requested_range(store: BlobStore) -> None:
    data = bytes(range(256)) * 100
    await store.put("seg/0.m4s", data, content_type="video/iso.segment")
    chunks = [c async for c in store.stream("seg/0.m4s", start=10, end=5010, chunk_size=1000)]
    assert b"".join(chunks) == data[10:5010]
    assert max(len(c) for c in chunks) <= 1000
    assert b"".join([c async for c in store.stream("seg/0.m4s")]) == data
    assert [c async for c in store.stream("seg/0.m4s", start=5, end=5)] == []


async def test_missing_keys(store: BlobStore) -> None:
    assert await store.stat("nope/x") is None
    with pytest.raises(BlobNotFound):
        await store.get("nope/x")
    with pytest.raises(BlobNotFound):
        _ = [c async for c in store.stream("nope/x")]
    assert await store.delete("nope/x") is False
    await store.put("dir/leaf", b"x")
    assert await store.stat("dir") is None  # a prefix is not a blob
    with pytest.raises(BlobNotFound):
        await store.get("dir")
    with pytest.raises(BlobNotFound):  # even when the range asked for is empty
        await store.get("nope/x", start=3, end=3)
    with pytest.raises(BlobNotFound):
        _ = [c async for c in store.stream("nope/x", start=3, end=3)]


async def test_delete_list_and_delete_prefix(store: BlobStore) -> None:
    for key in ("v/2/b", "v/1/b", "v/1/a", "w/1", "v10"):
        await store.put(key, key.encode())
    assert await store.list("v/") == ["v/1/a", "v/1/b", "v/2/b"]
    assert await store.list("v/1") == ["v/1/a", "v/1/b"]
    assert await store.list("v") == ["v/1/a", "v/1/b", "v/2/b", "v10"]
    assert await store.list() == ["v/1/a", "v/1/b", "v/2/b", "v10", "w/1"]
    assert await store.list("nothing/") == []
    assert await store.delete("v/2/b") is True
    assert await store.delete("v/2/b") is False
    assert await store.delete_prefix("v/1/") == 2
    assert await store.delete_prefix("v/1/") == 0
    assert await store.list() == ["v10", "w/1"]


async def test_a_deleted_prefix_frees_its_name(store: BlobStore) -> None:
    await store.put("clip/seg_1", b"x")
    await store.delete_prefix("clip/")
    await store.put("clip", b"now a blob")
    assert await store.list() == ["clip"]


async def test_put_file_of_several_parts(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    data = os.urandom(MULTIPART_THRESHOLD + (1 << 20))  # above the multipart threshold
    source.write_bytes(data)
    info = await store.put_file("uploads/big.bin", source, content_type="video/mp4")
    assert info.size == len(data)
    if isinstance(store, S3BlobStore):
        assert info.etag.endswith('-2"')  # S3's ETag of a two-part upload
    assert await store.get("uploads/big.bin", start=len(data) - 5) == data[-5:]
    assert await store.get("uploads/big.bin") == data
    assert await store.stat("uploads/big.bin") == info


async def test_failed_put_file_keeps_the_previous_blob(store: BlobStore, tmp_path: Path) -> None:
    before = await store.put("keep", b"old")
    with pytest.raises(OSError):
        await store.put_file("keep", tmp_path / "does-not-exist")
    assert await store.get("keep") == b"old"
    assert await store.stat("keep") == before
    assert await store.list() == ["keep"]


@pytest.mark.slow  # about 10 s on moto: a thousand and one PUTs
async def test_delete_prefix_of_more_than_one_batch(store: BlobStore) -> None:
    keys = [f"many/{i:04d}" for i in range(1001)]  # S3 deletes at most 1000 per request
    for first in range(0, len(keys), 16):
        await asyncio.gather(*(store.put(key, b"x") for key in keys[first : first + 16]))
    await store.put("manx", b"kept")
    assert await store.list("many/") == keys
    assert await store.delete_prefix("many/") == 1001
    assert await store.list() == ["manx"]


async def test_longest_key(store: BlobStore) -> None:
    assert len(LONGEST_KEY.encode()) == 1024
    await store.put(LONGEST_KEY, b"x")
    assert await store.list() == [LONGEST_KEY]
    assert await store.get(LONGEST_KEY) == b"x"


async def test_negative_ranges_are_refused(store: BlobStore) -> None:
    await store.put("r", b"0123")
    with pytest.raises(ValueError):
        await store.get("r", start=-2)
    with pytest.raises(ValueError):
        _ = [c async for c in store.stream("r", start=0, end=-1)]


@pytest.mark.parametrize("bad", [*UNSAFE_KEYS, ".tmp-x", "a/.tmp-1"])
async def test_unsafe_keys_are_refused(store: BlobStore, bad: str) -> None:
    with pytest.raises(ValueError):
        await store.put(bad, b"x")


async def test_every_operation_validates_its_key(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"x")
    with pytest.raises(ValueError):
        await store.put_file("../x", source)
    with pytest.raises(ValueError):
        await store.get("../x")
    with pytest.raises(ValueError):
        _ = [c async for c in store.stream("../x")]
    with pytest.raises(ValueError):
        await store.stat("../x")
    with pytest.raises(ValueError):
        await store.delete("../x")
    for prefix in ("../", "/", "a//"):
        with pytest.raises(ValueError):
            await store.list(prefix)
        with pytest.raises(ValueError):
            await store.delete_prefix(prefix)


async def test_ping(store: BlobStore) -> None:
    await store.ping()


# --- the local adapter only --------------------------------------------------------------


async def test_local_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError):
        await store.put("../outside", b"x")
    assert _tree(tmp_path) == ["blobs", "blobs/.meta", "blobs/data"]


async def test_local_store_refuses_a_key_that_is_also_a_prefix(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put("a", b"blob")
    await store.put("b/c", b"blob")
    with pytest.raises(ValueError, match="prefix"):
        await store.put("a/x", b"x")
    with pytest.raises(ValueError, match="prefix"):
        await store.put("b", b"x")
    assert await store.list() == ["a", "b/c"]
    assert not [name for name in _tree(tmp_path) if ".tmp-" in name]  # no temp file left


async def test_local_writes_leave_no_partial_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put("v/seg", b"x" * 1000)
    with pytest.raises(OSError):
        await store.put_file("v/seg", tmp_path / "missing")
    assert _tree(tmp_path) == [
        ".meta",
        ".meta/v",
        ".meta/v/seg",
        "data",
        "data/v",
        "data/v/seg",
    ]


async def test_local_file_replaced_behind_the_store_gets_a_fresh_etag(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    old = await store.put("clip.mp4", b"old bytes", content_type="video/x-custom")
    (tmp_path / "new").write_bytes(b"new bytes")  # same size, as after a crash between renames
    os.replace(tmp_path / "new", tmp_path / "data" / "clip.mp4")
    stat = await store.stat("clip.mp4")
    assert stat is not None
    assert stat.etag != old.etag and stat.etag.startswith('"')
    assert stat.content_type == "video/mp4"  # guessed from the name: the sidecar is stale


def _tree(root: Path) -> list[str]:
    """Every path under `root`, relative and sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


async def test_put_stream_stores_what_arrives_or_nothing(store: BlobStore) -> None:
    async def pieces(fill: int, *, fail: bool = False) -> AsyncIterator[bytes]:
        for i in range(5):
            yield bytes([fill + i]) * 300_000  # over a MiB in all: several write batches
        if fail:
            raise ConnectionError("the client went away")

    info = await store.put_stream("up/1", pieces(0), content_type="video/mp4")
    assert await store.get("up/1") == b"".join(bytes([i]) * 300_000 for i in range(5))
    assert info == await store.stat("up/1")
    assert info.size == 1_500_000 and info.etag.startswith('"') and info.etag.endswith('"')
    replaced = await store.put_stream("up/1", pieces(7))
    assert replaced.etag != info.etag  # a strong validator: new bytes, new ETag
    with pytest.raises(ConnectionError):
        await store.put_stream("up/3", pieces(0, fail=True))
    assert await store.stat("up/3") is None
    assert await store.list("up/") == ["up/1"]  # no temporary file shows
