"""Listing the archive: a narrow port over S3 (aiobotocore) or a local directory.

The data version of a report (:mod:`dashboard.versions`) is made of what a LIST says about
the objects the query would read: keys and ETags (sizes and modification times for a
directory). Keys are relative to the archive root, e.g. ``hits/property=p1/``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

PAGE = 1000


@dataclass(frozen=True, slots=True)
class Entry:
    key: str  # relative to the archive root
    tag: str  # changes whenever the object does: ETag and size, or size and mtime


class Listing(Protocol):
    async def prefixes(self, prefix: str) -> list[str]:
        """The "directories" right under ``prefix`` (ending in ``/``), relative keys."""
        ...

    async def objects(self, prefix: str, *, start_after: str = "",
                      stop: Callable[[str], bool] | None = None) -> list[Entry]:
        """The objects under ``prefix`` in key order, after ``start_after``; the listing ends
        at the first key for which ``stop`` is true (that key left out)."""
        ...

    async def read(self, key: str) -> bytes | None:
        """The object's bytes, None when there is none."""
        ...


class S3Listing:
    def __init__(self, client: S3Client, bucket: str, archive_prefix: str = "") -> None:
        self._s3 = client
        self.bucket = bucket
        self.prefix = archive_prefix

    @property
    def client(self) -> S3Client:
        return self._s3

    async def prefixes(self, prefix: str) -> list[str]:
        out: list[str] = []
        token: str | None = None
        while True:
            if token:
                resp = await self._s3.list_objects_v2(
                    Bucket=self.bucket, Prefix=self.prefix + prefix, Delimiter="/",
                    ContinuationToken=token)
            else:
                resp = await self._s3.list_objects_v2(
                    Bucket=self.bucket, Prefix=self.prefix + prefix, Delimiter="/")
            out += [p["Prefix"][len(self.prefix):] for p in resp.get("CommonPrefixes", [])
                    if "Prefix" in p]
            token = resp.get("NextContinuationToken")
            if not token:
                return out

    async def objects(self, prefix: str, *, start_after: str = "",
                      stop: Callable[[str], bool] | None = None) -> list[Entry]:
        out: list[Entry] = []
        token: str | None = None
        start = self.prefix + start_after if start_after else ""
        while True:
            if token:
                resp = await self._s3.list_objects_v2(
                    Bucket=self.bucket, Prefix=self.prefix + prefix, MaxKeys=PAGE,
                    ContinuationToken=token)
            else:
                resp = await self._s3.list_objects_v2(
                    Bucket=self.bucket, Prefix=self.prefix + prefix, MaxKeys=PAGE,
                    StartAfter=start)
            for obj in resp.get("Contents", []):
                key = obj.get("Key", "")[len(self.prefix):]
                if stop is not None and stop(key):
                    return out
                out.append(Entry(key, f"{obj.get('ETag', '')}:{obj.get('Size', 0)}"))
            token = resp.get("NextContinuationToken")
            if not token:
                return out

    async def read(self, key: str) -> bytes | None:
        try:
            resp = await self._s3.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self._s3.exceptions.NoSuchKey:
            return None
        async with resp["Body"] as body:
            return await body.read()


class LocalListing:
    """The same over a directory (``lambdalytics local`` without S3, tests)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    async def prefixes(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._prefixes, prefix)

    def _prefixes(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(f"{prefix}{e.name}/" for e in os.scandir(base) if e.is_dir())

    async def objects(self, prefix: str, *, start_after: str = "",
                      stop: Callable[[str], bool] | None = None) -> list[Entry]:
        return await asyncio.to_thread(self._objects, prefix, start_after, stop)

    def _objects(self, prefix: str, start_after: str,
                 stop: Callable[[str], bool] | None) -> list[Entry]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        out: list[Entry] = []
        files = sorted((p.relative_to(self.root).as_posix(), p) for p in base.rglob("*")
                       if p.is_file())
        for key, path in files:
            if key <= start_after or path.name.startswith("."):
                continue
            if stop is not None and stop(key):
                break
            st = path.stat()
            out.append(Entry(key, f"{st.st_size}:{st.st_mtime_ns}"))
        return out

    async def read(self, key: str) -> bytes | None:
        path = self.root / key
        return await asyncio.to_thread(lambda: path.read_bytes() if path.is_file() else None)
