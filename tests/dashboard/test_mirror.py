"""The DuckDB engine's local copy of the archive (dashboard.mirror) against moto: a report
fetches what its observation listed and nothing else, a refresh fetches only the new cut, a
recompacted day is fetched again, the copy starts over in a new directory when it outgrows
its bound (the old one removed once its connection closes), an object gone since the listing
is no error, and an S3 that fails is the engine unavailable (503), not a wrong answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiobotocore.session
import boto3
import pytest
from botocore.exceptions import ClientError

from dashboard.duck import ManagedDuckDB
from dashboard.engine import EngineUnavailable
from dashboard.listing import Entry, S3Listing
from dashboard.mirror import ArchiveMirror, companions
from dashboard.reports.runner import run_report
from dashboard.versions import DataVersions, Observation
from lambdalytics.hit import Hit
from tests import lake_support
from tests.dashboard import report_fixture as fx

FIRST, LAST = "2026-03-28", "2026-03-29"


class CountingS3:
    """The real client; GetObject calls counted by key, or failed with ``fail``."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.gets: list[str] = []
        self.fail: str | None = None  # an S3 error code every GetObject answers with

    async def get_object(self, **kwargs: Any) -> Any:
        self.gets.append(kwargs["Key"])
        if self.fail is not None:
            raise ClientError({"Error": {"Code": self.fail, "Message": "injected"}}, "GetObject")
        return await self._real.get_object(**kwargs)


@pytest.fixture
def archive(moto_url: str) -> fx.Archive:
    return fx.write_archive(moto_url)


@pytest.fixture
async def s3(moto_url: str) -> AsyncIterator[Any]:
    session = aiobotocore.session.get_session()
    async with session.create_client("s3", endpoint_url=moto_url, region_name="us-east-1") as c:
        yield c


def late_hit(day: int, n: int) -> Hit:
    when = dt.datetime(2026, 3, day, 11, tzinfo=dt.UTC)
    return Hit(hit_id=f"{n:032x}", received_time=when, event_time=when, property_id=fx.SHOP,
               tracking_id="G-SHOP1", protocol="ga4mp", type="pageview", event_name="page_view",
               client_id=f"mp-{n}", page_path="/late")


def land(archive: fx.Archive, hits: list[Hit], first_sequence: int) -> None:
    s3 = boto3.client("s3", endpoint_url=archive.endpoint, region_name="us-east-1")
    lake_support.archive(s3, archive.bucket, archive.prefix, hits, first_sequence=first_sequence)


class Stack:
    def __init__(self, s3: Any, archive: fx.Archive, directory: Path, **mirror: Any) -> None:
        self.counting = CountingS3(s3)
        self.mirror = ArchiveMirror(self.counting, archive.bucket, archive.prefix,
                                    directory=directory, **mirror)
        self.engines = ManagedDuckDB(archive.root, endpoint_url=archive.endpoint,
                                     region="us-east-1", mirror=self.mirror,
                                     today=lambda: LAST)
        self.versions = DataVersions(S3Listing(s3, archive.bucket, archive.prefix))

    async def observe(self) -> Observation:
        return await self.versions.observe(fx.SHOP, "events", FIRST, LAST)

    async def overview(self, seen: Observation | None = None) -> tuple[Any, ...]:
        seen = seen or await self.observe()
        engine = await self.engines.engine_for(fx.SHOP, "events", seen)
        result = await run_report(engine, "overview", fx.request())
        return tuple(result.records()[0][k] for k in ("visitors", "sessions", "pageviews"))

    def local_keys(self) -> set[str]:
        root = Path(self.mirror.root)
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_a_lake_manifest_stands_for_its_day_and_nothing_else_does() -> None:
    assert companions("lake-manifests/property=shop/date=2026-03-28.json") == (
        "lake-manifests/property=shop/date=2026-03-28.json",
        "lake/property=shop/date=2026-03-28/hits.parquet")
    for key in ("lake-manifests/property=shop/through.json",
                "hits/property=shop/type=pageview/date=2026-03-28/a.json.gz",
                "filtered/property=shop/date=2026-03-28/b.json.gz"):
        assert companions(key) == (key,)


async def test_a_report_fetches_what_it_reads_and_a_refresh_only_the_new_cut(
        s3: Any, archive: fx.Archive, tmp_path: Path) -> None:
    stack = Stack(s3, archive, tmp_path / "copy")
    seen = await stack.observe()
    assert seen.objects, "the observation lists the landing objects of the two days"
    assert await stack.overview(seen) == (4, 7, 12)
    listed = {e.key for e in seen.objects}
    assert stack.local_keys() == listed  # what the report reads, nothing else of the archive
    assert sorted(stack.counting.gets) == sorted(archive.prefix + k for k in listed)
    # the same observation again, and a new one of the same objects: nothing fetched
    assert await stack.overview(seen) == (4, 7, 12)
    assert await stack.overview() == (4, 7, 12)
    assert len(stack.counting.gets) == len(listed)
    # one cut lands on the 29th: that object alone is fetched, and counted
    land(archive, [late_hit(29, 9_001)], 90_000)
    assert await stack.overview() == (5, 8, 13)
    assert len(stack.counting.gets) == len(listed) + 1
    stack.engines.close()
    # a directory the settings name is kept, its copies removed; a new start clears one left
    assert (tmp_path / "copy").is_dir()
    assert not any((tmp_path / "copy").iterdir())
    (tmp_path / "copy" / "g0").mkdir()
    (tmp_path / "copy" / "g0" / "stale.parquet").write_bytes(b"old")
    again = Stack(s3, archive, tmp_path / "copy")
    assert again.local_keys() == set()
    again.engines.close()


async def test_a_recompacted_day_is_fetched_again(s3: Any, archive: fx.Archive,
                                                   tmp_path: Path) -> None:
    stack = Stack(s3, archive, tmp_path / "copy")
    lake_support.compact(archive.endpoint, archive.bucket, archive.prefix,
                         dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    assert await stack.overview() == (4, 7, 12)
    parquet = "lake/property=shop/date=2026-03-28/hits.parquet"
    assert parquet in stack.local_keys()
    assert not any(k.startswith("hits/") for k in stack.local_keys())  # the lake answers
    # a late hit for the 28th, then the day compacted again: a new manifest, a new object
    land(archive, [late_hit(28, 9_002)], 90_000)
    assert await stack.overview() == (4, 7, 12)  # landing of a compacted day is not read
    lake_support.compact(archive.endpoint, archive.bucket, archive.prefix,
                         dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    before = stack.counting.gets.count(archive.prefix + parquet)
    assert await stack.overview() == (5, 8, 13)
    assert stack.counting.gets.count(archive.prefix + parquet) == before + 1
    stack.engines.close()


async def test_the_copy_starts_over_when_it_outgrows_its_bound(s3: Any, archive: fx.Archive,
                                                               tmp_path: Path) -> None:
    stack = Stack(s3, archive, tmp_path / "copy", max_bytes=1)
    assert await stack.overview() == (4, 7, 12)
    first_root = stack.mirror.root
    assert stack.mirror.bytes > 1
    land(archive, [late_hit(29, 9_003)], 90_000)
    assert await stack.overview() == (5, 8, 13)  # every object fetched again, in a new copy
    assert stack.mirror.root != first_root
    # its connection had no query running: closed, and the old copy removed with it
    assert not Path(first_root).exists()  # noqa: ASYNC240
    assert stack.engines.rebuilds == 2
    stack.engines.close()


async def test_an_object_gone_since_the_listing_is_no_error(s3: Any, archive: fx.Archive,
                                                            tmp_path: Path) -> None:
    stack = Stack(s3, archive, tmp_path / "copy")
    gone = Entry("hits/property=shop/type=pageview/date=2026-03-29/gone.json.gz", "x:1")
    await stack.mirror.ensure([gone])
    assert gone.key not in stack.local_keys()
    # not remembered as copied: asked again, it is looked for again
    await stack.mirror.ensure([gone])
    assert stack.counting.gets == [archive.prefix + gone.key] * 2


async def test_an_archive_that_fails_is_the_engine_unavailable(s3: Any, archive: fx.Archive,
                                                               tmp_path: Path) -> None:
    stack = Stack(s3, archive, tmp_path / "copy")
    stack.counting.fail = "SlowDown"
    with pytest.raises(EngineUnavailable, match="cannot copy the archive"):
        await stack.overview()
    assert stack.local_keys() == set()  # nothing half-written is left for DuckDB to read
    stack.counting.fail = None
    assert await stack.overview() == (4, 7, 12)
    stack.engines.close()
