"""One suite for the blob store port, on a local directory and on the S3 API.

The S3 side runs against moto's S3 server (moto[server], a real HTTP S3 API), started on a
free 127.0.0.1 port by this module: no AWS account or network is involved.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from flick.platform.blobs import BlobNotFound, BlobStore
from flick.platform.blobs.local import LocalBlobStore
from flick.platform.blobs.s3 import MULTIPART_THRESHOLD, S3BlobStore


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(params=["local", "s3"])
async def store(request, tmp_path: Path) -> AsyncIterator[BlobStore]:  # type: ignore[no-untyped-def]
    if request.param == "local":
        blobs: BlobStore = LocalBlobStore(tmp_path / "blobs")
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        s3 = S3BlobStore.from_url(f"s3://b{uuid.uuid4().hex[:12]}?endpoint={endpoint}")
        await s3.ensure_bucket()
        blobs = s3
    yield blobs
    await blobs.close()


async def test_put_get_ranges_and_stat(store: BlobStore) -> None:
    info = await store.put(
        "media/1/master.m3u8", b"#EXTM3U\n", content_type="application/vnd.apple.mpegurl"
    )
    assert info.size == 8 and info.etag.startswith('"')
    assert await store.get("media/1/master.m3u8") == b"#EXTM3U\n"
    assert await store.get("media/1/master.m3u8", start=1, end=4) == b"EXT"
    assert await store.get("media/1/master.m3u8", start=6) == b"U\n"
    stat = await store.stat("media/1/master.m3u8")
    assert stat is not None
    assert (stat.size, stat.etag, stat.content_type) == (
        8,
        info.etag,
        "application/vnd.apple.mpegurl",
    )


async def test_etag_changes_with_content(store: BlobStore) -> None:
    first = await store.put("a/b", b"one")
    same = await store.put("a/b", b"one")
    second = await store.put("a/b", b"two")
    assert first.etag == same.etag != second.etag
    assert await store.get("a/b") == b"two"


async def test_stream_yields_the_requested_range(store: BlobStore) -> None:
    data = bytes(range(256)) * 100
    await store.put("seg/0.m4s", data, content_type="video/iso.segment")
    chunks = [c async for c in store.stream("seg/0.m4s", start=10, end=5010, chunk_size=1000)]
    assert b"".join(chunks) == data[10:5010]
    assert max(len(c) for c in chunks) <= 1000
    assert b"".join([c async for c in store.stream("seg/0.m4s")]) == data


async def test_missing_keys(store: BlobStore) -> None:
    assert await store.stat("nope/x") is None
    with pytest.raises(BlobNotFound):
        await store.get("nope/x")
    with pytest.raises(BlobNotFound):
        _ = [c async for c in store.stream("nope/x")]
    assert await store.delete("nope/x") is False


async def test_delete_list_and_delete_prefix(store: BlobStore) -> None:
    for key in ("v/2/b", "v/1/b", "v/1/a", "w/1"):
        await store.put(key, key.encode())
    assert await store.list("v/") == ["v/1/a", "v/1/b", "v/2/b"]
    assert await store.list("v/1") == ["v/1/a", "v/1/b"]
    assert await store.list() == ["v/1/a", "v/1/b", "v/2/b", "w/1"]
    assert await store.delete("v/2/b") is True
    assert await store.delete_prefix("v/1/") == 2
    assert await store.list() == ["w/1"]


async def test_put_file_of_several_parts(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    data = os.urandom(MULTIPART_THRESHOLD + (1 << 20))  # above the multipart threshold
    source.write_bytes(data)
    info = await store.put_file("uploads/big.bin", source, content_type="video/mp4")
    assert info.size == len(data)
    assert await store.get("uploads/big.bin", start=len(data) - 5) == data[-5:]
    stat = await store.stat("uploads/big.bin")
    assert stat is not None and stat.content_type == "video/mp4"


@pytest.mark.parametrize(
    "bad", ["../x", "/abs", "a//b", "a/../b", "a\\b", "a/\x00", "", "x" * 1025, ".meta/x"]
)
async def test_unsafe_keys_are_refused(store: BlobStore, bad: str) -> None:
    with pytest.raises(ValueError):
        await store.put(bad, b"x")
