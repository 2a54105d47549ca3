"""Writing a cut's objects to the archive bucket.

Keys and bytes are deterministic per cut, so a replay overwrites an object with the very same
bytes: nothing to compare, no conditional write needed (the bucket is versioned; identical
versions are harmless and expire with the noncurrent-version rule).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client


class ObjectStore:
    def __init__(self, client: S3Client, bucket: str, *, concurrency: int = 8) -> None:
        self._s3 = client
        self.bucket = bucket
        self._concurrency = concurrency

    async def put(self, key: str, body: bytes) -> None:
        await self._s3.put_object(Bucket=self.bucket, Key=key, Body=body,
                                  ContentType="application/x-ndjson")

    async def put_all(self, objects: Mapping[str, bytes],
                      after_each: Callable[[], None] | None = None) -> None:
        """Put every object, ``concurrency`` at a time, in key order; ``after_each`` runs
        after each object is durable (the crash points of the tests hang here)."""
        keys = sorted(objects)
        sem = asyncio.Semaphore(self._concurrency)

        async def one(key: str) -> None:
            async with sem:
                await self.put(key, objects[key])
                if after_each is not None:
                    after_each()

        async with asyncio.TaskGroup() as tg:
            for key in keys:
                tg.create_task(one(key))
