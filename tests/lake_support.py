"""An archive for query tests: hits and counters written to S3 by the real archiver's processor,
compacted by the real compactor, and a DuckDB connection over it with the query layer's views
(``hits``, ``filtered``, ``lake``, ``events``).

The archiver's pure core (:func:`archiver.processor.process`) turns records into objects
exactly as a worker does, so the objects these tests read are the ones production writes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import duckdb
from aiobotocore.session import get_session

from archiver.compact import CompactionReport, Compactor
from archiver.lake_store import S3Store
from archiver.processor import DuplicateWindow, Record, process
from lambdalytics import ddl, hit, lake
from lambdalytics.records import FilteredCount, encode_counter

CUT = 50  # records per cut: several segments per day on any sizeable fixture


def archive(s3: Any, bucket: str, prefix: str, hits: Sequence[hit.Hit],
            counters: Iterable[FilteredCount] = (), *, shard: str = "shardId-000000000000",
            first_sequence: int = 1, cut: int = CUT) -> list[str]:
    """Put ``hits`` then ``counters`` through the archiver's processor as one shard's records,
    ``cut`` at a time, and write the objects it makes; returns their keys. ``first_sequence``
    lets a second call (late hits) continue the shard instead of overwriting its segments."""
    objects = process_objects(prefix, hits, counters, shard=shard,
                              first_sequence=first_sequence, cut=cut)
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return list(objects)


def process_objects(prefix: str, hits: Sequence[hit.Hit], counters: Iterable[FilteredCount] = (),
                    *, shard: str = "shardId-000000000000", first_sequence: int = 1,
                    cut: int = CUT) -> dict[str, bytes]:
    """The objects (key → body) the archiver writes for these records, as :func:`archive`."""
    data = [hit.encode(h) for h in hits] + [encode_counter(c) for c in counters]
    window = DuplicateWindow(3_600_000)
    objects: dict[str, bytes] = {}
    for start in range(0, len(data), cut):
        chunk = data[start:start + cut]
        first = first_sequence + start
        records = [Record(str(first + n), 1_700_000_000_000 + first + n, d)
                   for n, d in enumerate(chunk)]
        out = process(records, shard_id=shard, first=str(first), last=str(first + len(chunk) - 1),
                      window=window, archive_prefix=prefix)
        objects.update(sorted(out.objects.items()))
    return objects


def connect(endpoint: str, root: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads the archive at ``root`` (``s3://…`` on ``endpoint``) with
    the query layer's views: ``hits``, ``filtered``, ``lake`` and ``events`` (the lake for
    compacted days, landing for the rest; every Hit column in schema order, then ``property``
    and ``date``)."""
    conn = duckdb.connect()
    fs = ddl.register_s3(conn, endpoint_url=endpoint, region="us-east-1")
    lake.create_duckdb_views(conn, root, fs)
    return conn


def compact(endpoint: str, bucket: str, prefix: str, now: datetime) -> CompactionReport:
    """Run the real compactor over the archive as it would run at ``now`` (closed days become
    lake days); callable from sync and async tests alike."""
    async def run() -> CompactionReport:
        async with get_session().create_client(
                "s3", endpoint_url=endpoint, region_name="us-east-1",
                aws_access_key_id="testing", aws_secret_access_key="testing") as client:
            conn = duckdb.connect()
            ddl.register_s3(conn, endpoint_url=endpoint, region="us-east-1")
            return await Compactor(S3Store(client, bucket, prefix), conn,
                                   archive_prefix=prefix).run(now=now)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()
