"""Compaction over moto S3: closed days become one Parquet object each, reruns replace them,
late hits are merged, duplicates dropped, and ``events`` counts every hit exactly once."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aiobotocore.session import get_session

from archiver.compact import Compactor, through_date
from archiver.lake_store import LakeStore, LocalStore, S3Store
from lambdalytics import archive_layout as layout
from lambdalytics import ddl, lake
from lambdalytics.hit import Hit, Item
from tests import lake_support

DAY1 = datetime(2026, 11, 26, tzinfo=UTC)
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)  # 26th and 27th closed, 28th open


def make_hits(start: int, n: int, day: datetime, prop: str = "p1") -> list[Hit]:
    return [Hit(hit_id=f"{prop}{i:030x}", property_id=prop, tracking_id="G-TEST1",
                protocol="gtag", type="pageview" if i % 4 else "event",
                event_name="page_view" if i % 4 else "click",
                received_time=day + timedelta(minutes=i % 1400, seconds=1),
                event_time=day + timedelta(minutes=i % 1400), client_id=f"c{i % 17}",
                page_path=f"/p/{i % 7}", custom_dimensions={"1": "x"} if i % 3 else {},
                event_params_num={"value": 1.5} if i % 4 == 0 else {},
                items=(Item(item_id=f"s{i}", price=2.5, quantity=1, params={"c": "r"}),)
                if i % 11 == 0 else ())
            for i in range(start, start + n)]


@pytest.fixture
def bucket(moto_url: str) -> Iterator[tuple[Any, str]]:
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    name = "lake-" + secrets.token_hex(6)
    s3.create_bucket(Bucket=name)
    return s3, name


@pytest.fixture
async def store(moto_url: str, bucket: tuple[Any, str]) -> AsyncIterator[S3Store]:
    async with get_session().create_client(
            "s3", endpoint_url=moto_url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing") as client:
        yield S3Store(client, bucket[1], "a/")


def duck(moto_url: str) -> tuple[duckdb.DuckDBPyConnection, Any]:
    conn = duckdb.connect()
    fs = ddl.register_s3(conn, endpoint_url=moto_url, region="us-east-1")
    return conn, fs


def events(moto_url: str, root: str, sql: str) -> list[tuple[Any, ...]]:
    conn, fs = duck(moto_url)
    lake.create_duckdb_views(conn, root, fs)
    return conn.execute(sql).fetchall()


async def test_closed_days_become_one_parquet_object_each(
        moto_url: str, bucket: tuple[Any, str], store: S3Store) -> None:
    s3, name = bucket
    day1, day2, day3 = (make_hits(0, 300, DAY1), make_hits(300, 200, DAY1 + timedelta(days=1)),
                        make_hits(500, 50, DAY1 + timedelta(days=2)))
    lake_support.archive(s3, name, "a/", day1 + day2 + day3)
    # the same hits again, as a retry the archiver's window no longer covered: duplicates
    lake_support.archive(s3, name, "a/", day1[:40], first_sequence=10_000)
    conn, _ = duck(moto_url)
    report = await Compactor(store, conn, archive_prefix="a/").run(now=NOW)

    assert [(d.date, d.rows, d.landing_rows, d.duplicates) for d in report.days] == [
        ("2026-11-26", 300, 340, 40), ("2026-11-27", 200, 200, 0)]
    assert report.through == {"p1": "2026-11-27"}
    assert report.skipped_open == 1
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=name, Prefix="a/lake/")["Contents"]}
    assert keys == {layout.lake_key("a/", "p1", "2026-11-26"), layout.lake_key("a/", "p1", "2026-11-27")}

    body = s3.get_object(Bucket=name, Key=layout.lake_key("a/", "p1", "2026-11-26"))["Body"].read()
    pf = pq.ParquetFile(pa.BufferReader(body))
    assert pf.schema_arrow == lake.arrow_schema()
    assert pf.metadata.row_group(0).column(0).compression == "ZSTD"
    times = pf.read(columns=["event_time"]).column(0).to_pylist()
    assert times == sorted(times)
    assert len(times) == 300

    root = layout.archive_root(name, "a/")
    # every hit once: closed days from the lake, the open day from landing
    assert events(moto_url, root, 'SELECT "date", count(*), count(DISTINCT hit_id) FROM events '
                                  'GROUP BY 1 ORDER BY 1') == [
        ("2026-11-26", 300, 300), ("2026-11-27", 200, 200), ("2026-11-28", 50, 50)]
    # and exactly the landing table's values, column by column
    conn2, fs2 = duck(moto_url)
    lake.create_duckdb_views(conn2, root, fs2)
    cols = ", ".join(f'"{c}"' for c in lake.event_columns())
    assert conn2.execute(f"SELECT {cols} FROM events EXCEPT SELECT {cols} FROM hits").fetchall() == []
    assert conn2.execute(f"SELECT {cols} FROM hits EXCEPT SELECT {cols} FROM events").fetchall() == []


async def test_a_rerun_changes_nothing_and_late_hits_are_merged(
        moto_url: str, bucket: tuple[Any, str], store: S3Store) -> None:
    s3, name = bucket
    lake_support.archive(s3, name, "a/", make_hits(0, 120, DAY1))
    conn, _ = duck(moto_url)
    compactor = Compactor(store, conn, archive_prefix="a/")
    await compactor.run(now=NOW)
    key = layout.lake_key("a/", "p1", "2026-11-26")
    etag = s3.head_object(Bucket=name, Key=key)["ETag"]

    again = await compactor.run(now=NOW)
    assert again.days == []
    assert again.up_to_date == 1
    assert s3.head_object(Bucket=name, Key=key)["ETag"] == etag

    # late hits for the compacted day (and one more copy of a hit already in the lake)
    late = make_hits(1000, 15, DAY1) + make_hits(0, 1, DAY1)
    lake_support.archive(s3, name, "a/", late, first_sequence=50_000)
    root = layout.archive_root(name, "a/")
    # not merged yet: the lake answers for the day, the late hits wait for the next run
    assert events(moto_url, root, "SELECT count(*) FROM events") == [(120,)]
    merged = await compactor.run(now=NOW)
    assert [(d.date, d.rows, d.previous_rows) for d in merged.days] == [("2026-11-26", 135, 120)]
    assert events(moto_url, root, "SELECT count(*), count(DISTINCT hit_id) FROM events") == [(135, 135)]


async def test_a_day_whose_landing_objects_expired_keeps_its_lake_object(
        moto_url: str, bucket: tuple[Any, str], store: S3Store) -> None:
    s3, name = bucket
    keys = lake_support.archive(s3, name, "a/", make_hits(0, 80, DAY1))
    conn, _ = duck(moto_url)
    compactor = Compactor(store, conn, archive_prefix="a/")
    await compactor.run(now=NOW)
    for k in keys:  # the landing lifecycle expired them
        s3.delete_object(Bucket=name, Key=k)
    lake_support.archive(s3, name, "a/", make_hits(500, 5, DAY1), first_sequence=9_000)
    report = await compactor.run(now=NOW)
    assert [(d.rows, d.previous_rows) for d in report.days] == [(85, 80)]
    assert report.through == {"p1": "2026-11-26"}
    assert events(moto_url, layout.archive_root(name, "a/"), "SELECT count(*) FROM events") == [(85,)]


class FailingManifest:
    """The store, failing once on the day's manifest: a crash after the lake object is up."""

    def __init__(self, inner: LakeStore) -> None:
        self._inner = inner
        self.root = inner.root
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def put(self, key: str, body: bytes) -> None:
        if "/date=" in key and not self.failed:
            self.failed = True
            raise ConnectionError("injected: lost before the manifest")
        await self._inner.put(key, body)


async def test_a_crash_between_lake_object_and_manifest_counts_nothing_twice(
        moto_url: str, bucket: tuple[Any, str], store: S3Store) -> None:
    s3, name = bucket
    lake_support.archive(s3, name, "a/", make_hits(0, 60, DAY1))
    conn, _ = duck(moto_url)
    failing = FailingManifest(store)
    with pytest.raises(ConnectionError):
        await Compactor(failing, conn, archive_prefix="a/").run(now=NOW)  # type: ignore[arg-type]
    root = layout.archive_root(name, "a/")
    assert events(moto_url, root, "SELECT count(*) FROM events") == [(60,)]  # landing only
    report = await Compactor(store, conn, archive_prefix="a/").run(now=NOW)
    assert [d.rows for d in report.days] == [60]
    assert report.through == {"p1": "2026-11-26"}
    assert events(moto_url, root, "SELECT count(*) FROM events") == [(60,)]  # the lake only


async def test_one_date_and_one_property(moto_url: str, bucket: tuple[Any, str],
                                         store: S3Store) -> None:
    s3, name = bucket
    lake_support.archive(s3, name, "a/", make_hits(0, 30, DAY1) + make_hits(0, 20, DAY1, "p2")
                         + make_hits(100, 10, DAY1 + timedelta(days=1)))
    conn, _ = duck(moto_url)
    compactor = Compactor(store, conn, archive_prefix="a/")
    assert await compactor.properties() == ["p1", "p2"]
    report = await compactor.run(["p1"], day="2026-11-27", now=NOW)
    assert [(d.property_id, d.date) for d in report.days] == [("p1", "2026-11-27")]
    assert report.through == {}  # 26th not compacted yet: the lake is not complete through any day
    with pytest.raises(ValueError, match="not closed"):
        await compactor.run(day="2026-11-28", now=NOW)
    report = await compactor.run(now=NOW)
    assert report.through == {"p1": "2026-11-27", "p2": "2026-11-26"}


def test_through_is_the_last_closed_date_with_every_landing_day_compacted() -> None:
    now = datetime(2026, 11, 30, 5, tzinfo=UTC)
    days = ["2026-11-25", "2026-11-26", "2026-11-28", "2026-11-29", "2026-11-30"]
    # the 28th has landing objects but no lake day yet (the 27th had no hits at all)
    assert through_date(days, ["2026-11-25", "2026-11-26"], now) == "2026-11-26"
    assert through_date(days, ["2026-11-25", "2026-11-26", "2026-11-28", "2026-11-29"], now) == \
        "2026-11-29"  # the 30th is open
    assert through_date(days, ["2026-11-26"], now) is None
    assert through_date([], ["2026-11-20"], now) == "2026-11-20"  # landing expired


async def test_a_local_directory_archive(tmp_path: Path) -> None:
    hits = make_hits(0, 90, DAY1)
    out = lake_support.process_objects("", hits)
    for key, body in out.items():
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(body)
    store = LocalStore(tmp_path)
    report = await Compactor(store, duckdb.connect(), close_delay=timedelta(0)).run(now=NOW)
    assert [d.rows for d in report.days] == [90]
    assert not list(tmp_path.glob("lake/*/*/.*.tmp"))  # noqa: ASYNC240
    conn = duckdb.connect()
    lake.create_duckdb_views(conn, store.root)
    assert conn.execute("SELECT count(*) FROM lake").fetchone() == (90,)
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (90,)
    assert report.days[0].sources == 4  # two cuts of 50 records, pageviews and events apart


async def test_events_lists_only_the_landing_days_past_the_lake(tmp_path: Path) -> None:
    hits = (make_hits(0, 40, DAY1) + make_hits(100, 10, DAY1 + timedelta(days=2))
            + make_hits(0, 7, DAY1, "p2"))
    for key, body in lake_support.process_objects("", hits).items():
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(body)
    store = LocalStore(tmp_path)
    await Compactor(store, duckdb.connect()).run(["p1"], now=NOW)  # p1's 26th; p2 not at all
    fs = __import__("fsspec").filesystem("file")
    through = lake.read_through(fs, store.root)
    assert through == {"p1": "2026-11-26"}
    globs = lake.landing_globs(fs, store.root, through)
    assert globs == [f"{store.root}hits/property=p1/type=event/date=2026-11-28/*.json.gz",
                     f"{store.root}hits/property=p1/type=pageview/date=2026-11-28/*.json.gz",
                     f"{store.root}hits/property=p2/*/*/*.json.gz"]
    conn = duckdb.connect()
    lake.create_duckdb_views(conn, store.root)
    assert conn.execute('SELECT property, "date", count(*) FROM events GROUP BY ALL '
                        "ORDER BY ALL").fetchall() == [
        ("p1", "2026-11-26", 40), ("p1", "2026-11-28", 10), ("p2", "2026-11-26", 7)]
    # nothing left in landing: the view lists no landing object at all
    await Compactor(store, duckdb.connect(), close_delay=timedelta(0)).run(
        now=NOW + timedelta(days=1))
    through = lake.read_through(fs, store.root)
    assert lake.landing_globs(fs, store.root, through) == []
    lake.create_duckdb_views(conn, store.root)
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (57,)
