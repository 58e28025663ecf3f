"""Blob store on the S3 API (AWS S3, MinIO, Garage, Ceph RGW, ...), through boto3.

URL: `s3://BUCKET?endpoint=http://127.0.0.1:9000&region=us-east-1`. Leave out `endpoint` for
AWS itself; `region` defaults to us-east-1. Credentials come from boto3's usual chain (the
`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` variables, ~/.aws, an instance role) unless the
URL carries `access_key` and `secret_key` (percent-encoded).

boto3 is synchronous, so every call runs in a worker thread; `put_file` goes up in parallel
parts of `MULTIPART_THRESHOLD` bytes once a file is larger than that. The ETag is the one S3
returns (quoted; the MD5 of the content for a single-part upload, `"<md5>-<parts>"` otherwise).
Keys go through the same `check_key` as the local adapter, so both stores accept the same keys.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from flick.platform.blobs import BlobInfo, BlobNotFound
from flick.platform.blobs.keys import check_key, check_prefix, check_range

MULTIPART_THRESHOLD = 8 << 20  # S3's minimum part is 5 MiB; 8 MiB parts are boto3's default
DELETE_BATCH = 1000  # S3's DeleteObjects limit
MISSING = {"404", "NoSuchKey", "NotFound"}
DEFAULT_REGION = "us-east-1"
MAX_POOL_CONNECTIONS = 32


class S3BlobStore:
    """BlobStore port on an S3-API bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD
        )

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        """See the module docstring for the URL form."""
        parsed = urlparse(url)
        if not parsed.netloc:
            raise ValueError(f"blob URL {url!r} names no bucket; write s3://bucket?endpoint=...")
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        client = boto3.client(
            "s3",
            endpoint_url=query.get("endpoint"),
            region_name=query.get("region", DEFAULT_REGION),
            aws_access_key_id=query.get("access_key"),
            aws_secret_access_key=query.get("secret_key"),
            config=_client_config(self_hosted="endpoint" in query),
        )
        return cls(client, parsed.netloc)

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist."""
        try:
            await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
        except ClientError as error:
            if _code(error) not in MISSING:
                raise
            await asyncio.to_thread(self.client.create_bucket, **self._create_bucket_args())

    def _create_bucket_args(self) -> dict[str, Any]:
        region = self.client.meta.region_name
        if region == DEFAULT_REGION:  # S3 rejects a LocationConstraint naming us-east-1
            return {"Bucket": self.bucket}
        return {"Bucket": self.bucket, "CreateBucketConfiguration": {"LocationConstraint": region}}

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> BlobInfo:
        """PutObject."""
        check_key(key)
        response = await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
        )
        return BlobInfo(key, len(data), response["ETag"], content_type)

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str = "application/octet-stream",
    ) -> BlobInfo:
        """Collect the chunks, then PutObject: callers bound the size (an upload part is at
        most FLICK_UPLOAD_PART_BYTES), and S3 stores nothing until the whole object is sent."""
        check_key(key)
        data = b"".join([chunk async for chunk in chunks])
        return await self.put(key, data, content_type=content_type)

    async def put_file(
        self, key: str, path: Path, *, content_type: str = "application/octet-stream"
    ) -> BlobInfo:
        """Upload a file, in parallel parts when large."""
        check_key(key)
        await asyncio.to_thread(
            self.client.upload_file,
            str(path),
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type},
            Config=self.transfer,
        )
        info = await self.stat(key)
        if info is None:  # deleted by someone else in between
            raise BlobNotFound(key)
        return info

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> bytes:
        """GetObject with a Range."""
        check_key(key)
        check_range(start, end)
        if end is not None and end <= start:
            await self._require(key)
            return b""
        response = await self._get_object(key, start, end)
        return await asyncio.to_thread(response["Body"].read)

    async def stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 1 << 16
    ) -> AsyncIterator[bytes]:
        """A range as chunks, read from the response body in a worker thread."""
        check_key(key)
        check_range(start, end)
        if end is not None and end <= start:
            await self._require(key)
            return
        body = (await self._get_object(key, start, end))["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, chunk_size):
                yield chunk
        finally:
            body.close()

    async def _require(self, key: str) -> None:
        """An empty range asks S3 nothing, but a missing blob must still say so."""
        if await self.stat(key) is None:
            raise BlobNotFound(key)

    async def _get_object(self, key: str, start: int, end: int | None) -> Any:
        extra = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            return await asyncio.to_thread(
                self.client.get_object, Bucket=self.bucket, Key=key, **extra
            )
        except ClientError as error:
            if _code(error) in MISSING:
                raise BlobNotFound(key) from None
            if _code(error) == "InvalidRange":  # start past the end: an empty range
                return {"Body": _Empty()}
            raise

    async def stat(self, key: str) -> BlobInfo | None:
        """HeadObject."""
        check_key(key)
        try:
            head = await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _code(error) in MISSING:
                return None
            raise
        return BlobInfo(key, head["ContentLength"], head["ETag"], head.get("ContentType", ""))

    async def delete(self, key: str) -> bool:
        """DeleteObject; S3 does not say whether it existed, so ask first."""
        if await self.stat(key) is None:
            return False
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)
        return True

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key under `prefix`, one DeleteObjects per listed page of 1000."""
        check_prefix(prefix)
        return await asyncio.to_thread(self._delete_prefix, prefix)

    def _delete_prefix(self, prefix: str) -> int:
        deleted = 0
        # Page by page, so a prefix of millions of segments never sits in memory at once;
        # deleting behind the listing's continuation token is safe in S3.
        for page in self._pages(prefix):
            batch = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if batch:
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
                _raise_for_errors(response, prefix, len(batch))
                deleted += len(batch)
        return deleted

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Every key under `prefix`, sorted (S3 lists in key order already)."""
        check_prefix(prefix)
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[str]:
        keys: builtins.list[str] = []
        for page in self._pages(prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return sorted(keys)

    def _pages(self, prefix: str) -> Iterator[dict[str, Any]]:
        """ListObjectsV2 pages of up to DELETE_BATCH keys (blocking: call in a thread)."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages: Iterator[dict[str, Any]] = paginator.paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": DELETE_BATCH}
        )
        return pages

    async def ping(self) -> None:
        """HeadBucket."""
        await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await asyncio.to_thread(self.client.close)


class _Empty:
    def read(self, _size: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        pass


def _raise_for_errors(response: dict[str, Any], prefix: str, asked: int) -> None:
    """DeleteObjects answers 200 even when some keys failed; it lists them instead."""
    if errors := response.get("Errors"):
        first = errors[0]
        raise OSError(
            f"S3 refused to delete {len(errors)} of {asked} blobs under {prefix!r}, "
            f"e.g. {first.get('Key')!r}: {first.get('Message')}"
        )


def _client_config(*, self_hosted: bool) -> Config:
    return Config(
        retries={"max_attempts": 3, "mode": "standard"},
        # One connection per worker thread that may call at once (to_thread's default pool
        # has up to 32); boto3's default of 10 makes the rest reconnect on every request.
        max_pool_connections=MAX_POOL_CONNECTIONS,
        # A self-hosted server is rarely reachable as BUCKET.host, the virtual-host form.
        s3={"addressing_style": "path" if self_hosted else "auto"},
        # boto3 >= 1.36 sends CRC checksums with every upload; several S3-API servers reject
        # or mishandle them, and S3 itself only needs them where it asks for them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
