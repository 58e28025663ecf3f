"""Blob store on the S3 API (AWS S3, MinIO, Garage, Ceph RGW, ...), through boto3.

URL: `s3://BUCKET?endpoint=http://127.0.0.1:9000&region=us-east-1`. Credentials come from
the usual AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`) or the URL parameters
`access_key` and `secret_key`. boto3 is synchronous, so every call runs in a worker thread;
uploads above `MULTIPART_THRESHOLD` go up in parallel parts.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from flick.platform.blobs import BlobInfo, BlobNotFound
from flick.platform.blobs.keys import check_key, check_prefix

MULTIPART_THRESHOLD = 8 << 20  # S3's minimum part is 5 MiB; 8 MiB parts are boto3's default
DELETE_BATCH = 1000  # S3's DeleteObjects limit
MISSING = {"404", "NoSuchKey", "NotFound"}


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
            region_name=query.get("region", "us-east-1"),
            aws_access_key_id=query.get("access_key"),
            aws_secret_access_key=query.get("secret_key"),
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )
        return cls(client, parsed.netloc)

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist."""
        try:
            await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
        except ClientError as error:
            if _code(error) not in MISSING:
                raise
            await asyncio.to_thread(self.client.create_bucket, Bucket=self.bucket)

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> BlobInfo:
        """PutObject."""
        check_key(key)
        response = await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
        )
        return BlobInfo(key, len(data), response["ETag"], content_type)

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
        assert info is not None
        return info

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> bytes:
        """GetObject with a Range."""
        check_key(key)
        if end is not None and end <= start:
            return b""
        response = await self._get_object(key, start, end)
        return await asyncio.to_thread(response["Body"].read)

    async def stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 1 << 16
    ) -> AsyncIterator[bytes]:
        """A range as chunks, read from the response body in a worker thread."""
        check_key(key)
        if end is not None and end <= start:
            return
        body = (await self._get_object(key, start, end))["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, chunk_size):
                yield chunk
        finally:
            body.close()

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
        """Delete every key under `prefix`, 1000 at a time."""
        keys = await self.list(prefix)
        for first in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": k} for k in keys[first : first + DELETE_BATCH]]
            await asyncio.to_thread(
                self.client.delete_objects, Bucket=self.bucket, Delete={"Objects": batch}
            )
        return len(keys)

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Every key under `prefix`, sorted (S3 lists in key order already)."""
        check_prefix(prefix)
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[str]:
        keys: builtins.list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return sorted(keys)

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


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
