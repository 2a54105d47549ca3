"""Where the compactor reads and writes: the archive bucket, or a local directory.

Both keep the archive's keys; ``publish`` replaces an object whole, so a reader sees the old
lake day or the new one, never a part: S3 makes an object visible only when its PutObject or
CompleteMultipartUpload succeeds (an upload that fails is aborted, the old object stays); a
directory gets the file under a hidden temporary name, then an atomic rename.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

MULTIPART_PART = 64 * 1024 * 1024  # above this a lake object goes up in parts of this size


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int


class LakeStore(Protocol):
    root: str  # the archive root the query layer is given: s3://bucket/prefix/ or a directory

    def url(self, key: str) -> str:
        """What DuckDB reads the object by."""
        ...

    async def list(self, prefix: str) -> list[ObjectInfo]: ...

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, body: bytes) -> None: ...

    async def publish(self, key: str, path: Path) -> None:
        """Replace the object ``key`` with the local file ``path``, whole."""
        ...


class S3Store:
    def __init__(self, client: S3Client, bucket: str, archive_prefix: str = "") -> None:
        self._s3 = client
        self.bucket = bucket
        self.root = f"s3://{bucket}/{archive_prefix}"

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    async def list(self, prefix: str) -> list[ObjectInfo]:
        out: list[ObjectInfo] = []
        async for page in self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix):
            out.extend(ObjectInfo(o["Key"], o["Size"]) for o in page.get("Contents", ()))
        return out

    async def get(self, key: str) -> bytes | None:
        try:
            resp = await self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        async with resp["Body"] as body:
            return await body.read()

    async def put(self, key: str, body: bytes) -> None:
        await self._s3.put_object(Bucket=self.bucket, Key=key, Body=body,
                                  ContentType="application/json")

    async def publish(self, key: str, path: Path) -> None:
        size = (await asyncio.to_thread(path.stat)).st_size
        if size <= MULTIPART_PART:
            body = await asyncio.to_thread(path.read_bytes)
            await self._s3.put_object(Bucket=self.bucket, Key=key, Body=body,
                                      ContentType="application/vnd.apache.parquet")
            return
        upload = await self._s3.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType="application/vnd.apache.parquet")
        upload_id = upload["UploadId"]
        try:
            parts = []
            with path.open("rb") as f:
                number = 1
                while chunk := await asyncio.to_thread(f.read, MULTIPART_PART):
                    part = await self._s3.upload_part(Bucket=self.bucket, Key=key, Body=chunk,
                                                      PartNumber=number, UploadId=upload_id)
                    parts.append({"PartNumber": number, "ETag": part["ETag"]})
                    number += 1
            await self._s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": parts})  # type: ignore[typeddict-item]
        except BaseException:
            await asyncio.shield(self._s3.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id))
            raise


class LocalStore:
    """An archive in a local directory (benchmarks, tests, a laptop): keys are relative paths."""

    def __init__(self, directory: str | Path) -> None:
        self._dir = Path(directory).resolve()
        self.root = str(self._dir) + "/"

    def url(self, key: str) -> str:
        return str(self._dir / key)

    async def list(self, prefix: str) -> list[ObjectInfo]:
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[ObjectInfo]:
        base = self._dir / prefix.rsplit("/", 1)[0] if "/" in prefix else self._dir
        out = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                path = Path(dirpath) / name
                key = path.relative_to(self._dir).as_posix()
                if key.startswith(prefix) and not name.startswith("."):
                    out.append(ObjectInfo(key, path.stat().st_size))
        return sorted(out, key=lambda o: o.key)

    async def get(self, key: str) -> bytes | None:
        try:
            return (self._dir / key).read_bytes()
        except FileNotFoundError:
            return None

    async def put(self, key: str, body: bytes) -> None:
        await asyncio.to_thread(self._write, key, lambda f: f.write(body))

    async def publish(self, key: str, path: Path) -> None:
        def copy(f: BinaryIO) -> None:
            with path.open("rb") as src:
                shutil.copyfileobj(src, f)
        await asyncio.to_thread(self._write, key, copy)

    def _write(self, key: str, fill: Callable[[BinaryIO], object]) -> None:
        dest = self._dir / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                fill(f)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
