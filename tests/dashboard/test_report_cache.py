"""The reports API's cache against moto and real DuckDB: a second request is a hit, a new cut
in range or a compaction is a miss, data landing outside the range is not; the DuckDB views
are made again when a compaction moved the lake's ``through`` date (a stale view would read
landing where the lake now answers)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from dashboard.duck import built_views
from dashboard.versions import Observation
from lambdalytics.hit import Hit
from tests import lake_support
from tests.dashboard import dashboard_support as ds
from tests.dashboard import report_fixture as fx

VERSION_WAIT_S = 2.1  # dashboard.reports_api.VERSION_TTL_S: one page load shares a listing
DAYS = {"from": "2026-03-28", "to": "2026-03-29", "compare": "none"}


@pytest.fixture
def archive(moto_url: str) -> fx.Archive:
    return fx.write_archive(moto_url)


@pytest.fixture
def api(moto_url: str, prefix: str, archive: fx.Archive) -> Iterator[httpx.Client]:
    with ds.client(ds.provision(moto_url, prefix, archive), clock=ds.Clock()) as c:
        yield c


def late_hit(when: dt.datetime, n: int, client: str = "mp-9") -> Hit:
    return Hit(hit_id=f"{n:032x}", received_time=when + dt.timedelta(days=2), event_time=when,
               property_id=fx.SHOP, tracking_id="G-SHOP1", protocol="ga4mp", type="pageview",
               event_name="page_view", client_id=client, page_path="/late")


def land(archive: fx.Archive, hits: list[Hit], first_sequence: int) -> None:
    s3 = boto3.client("s3", endpoint_url=archive.endpoint, region_name="us-east-1")
    lake_support.archive(s3, archive.bucket, archive.prefix, hits, first_sequence=first_sequence)


def overview(api: httpx.Client, **params: Any) -> tuple[tuple[Any, ...], bool, str]:
    body = ds.report(api, "overview", **params)
    return ds.rows_of(body)[0][3:6], body["cached"], body["data_version"]


def test_a_hit_then_a_miss_when_a_cut_lands_in_range(api: httpx.Client,
                                                     archive: fx.Archive) -> None:
    first = overview(api, **DAYS)
    assert first[:2] == ((4, 7, 12), False)
    assert overview(api, **DAYS) == ((4, 7, 12), True, first[2])
    today = overview(api, range="today", compare="none")
    assert today[1] is False
    # a cut for another day (the 20th) lands: neither range reads it
    land(archive, [late_hit(dt.datetime(2026, 3, 20, 12, tzinfo=dt.UTC), 9_001)], 80_000)
    time.sleep(VERSION_WAIT_S)
    assert overview(api, **DAYS) == ((4, 7, 12), True, first[2])
    assert overview(api, range="today", compare="none")[1:] == (True, today[2])
    # a cut for the 29th lands: one more visitor, session and pageview, in both ranges
    land(archive, [late_hit(dt.datetime(2026, 3, 29, 11, tzinfo=dt.UTC), 9_002)], 90_000)
    time.sleep(VERSION_WAIT_S)
    after = overview(api, **DAYS)
    assert after[:2] == ((5, 8, 13), False)
    assert after[2] != first[2]
    assert overview(api, **DAYS) == ((5, 8, 13), True, after[2])
    now = overview(api, range="today", compare="none")
    assert (now[0][0] - today[0][0], now[1]) == (1, False)


def test_compaction_is_a_miss_and_the_views_follow_the_lake(api: httpx.Client,
                                                            archive: fx.Archive) -> None:
    before = overview(api, **DAYS)  # views made now: every day read from landing
    assert before[:2] == ((4, 7, 12), False)
    lake_support.compact(archive.endpoint, archive.bucket, archive.prefix,
                         dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    # a late hit for the 28th lands after the day was compacted: the lake answers for the
    # day until the next compaction, so it is not counted yet; a view that still read the
    # 28th from landing would count it
    land(archive, [late_hit(dt.datetime(2026, 3, 28, 12, tzinfo=dt.UTC), 9_003)], 90_000)
    time.sleep(VERSION_WAIT_S)
    compacted = overview(api, **DAYS)
    assert compacted[:2] == ((4, 7, 12), False)
    assert compacted[2] != before[2]
    # the days are closed and compacted: the answer stays cached while nothing changes them
    time.sleep(VERSION_WAIT_S)
    assert overview(api, **DAYS) == ((4, 7, 12), True, compacted[2])
    lake_support.compact(archive.endpoint, archive.bucket, archive.prefix,
                         dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    time.sleep(VERSION_WAIT_S)
    again = overview(api, **DAYS)
    assert again[:2] == ((5, 8, 13), False)  # the late visitor, now in the lake
    # every report agrees with its own hand-worked answer after compaction (excluded too)
    assert sorted(ds.rows_of(ds.report(api, "excluded", **DAYS))) == [
        ("bot", 5), ("disallowed_hostname", 2), ("invalid_hit", 3)]


def test_what_built_views_know() -> None:
    root = "s3://b/p/"
    views = built_views("2026-03-29", {"shop": "2026-03-27"}, [
        f"{root}hits/property=shop/type=pageview/date=2026-03-28/*.json.gz",
        f"{root}hits/property=other/*/*/*.json.gz"], {"hits": True, "filtered": False})
    seen = Observation("v", "2026-03-27", frozenset({("pageview", "2026-03-28")}), False)
    assert views.serves("shop", "events", seen)
    # a day directory the view does not read, a moved through date, an unknown property
    assert not views.serves("shop", "events", Observation(
        "v", "2026-03-27", frozenset({("event", "2026-03-28")}), False))
    assert not views.serves("shop", "events", Observation("v", "2026-03-28", frozenset(), False))
    assert views.serves("other", "events", Observation(
        "v", None, frozenset({("event", "2026-03-29")}), False))
    assert not views.serves("new", "events", Observation(
        "v", None, frozenset({("event", "2026-03-29")}), False))
    # the filtered view was empty when made: the first counters need a new one
    assert views.serves("shop", "filtered", Observation("v", None, frozenset(), False))
    assert not views.serves("shop", "filtered", Observation("v", None, frozenset(), True))
