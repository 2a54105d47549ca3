"""The reports read ``events`` wherever its days live: the same answers from landing JSON
alone, from a lake that holds some days (the others still in landing), and from a lake that
holds them all (compacted by the real compactor)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import boto3
import pytest

from dashboard.reports import REPORTS
from lambdalytics.hit import Hit
from tests import lake_support
from tests.dashboard import report_fixture as fx
from tests.support import isolate_aws_env


async def all_reports(archive: fx.Archive) -> dict[str, list[tuple[Any, ...]]]:
    conn = lake_support.connect(archive.endpoint, archive.root)
    try:
        lake_days = conn.execute(
            'SELECT count(*) FROM (SELECT DISTINCT property, "date" FROM lake) AS d').fetchone()
        answers = {name: await fx.rows(conn, name, fx.request()) for name in REPORTS}
        answers["lake days"] = [lake_days or (0,)]
        return answers
    finally:
        conn.close()


@pytest.fixture(scope="module")
def landing(moto_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every report's answer from landing JSON alone."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_aws_env(mp)
        answers = asyncio.run(all_reports(fx.write_archive(moto_url)))
    assert answers.pop("lake days") == [(0,)]
    assert answers["overview"][0][3:6] == (4, 7, 12)  # as in test_reports_traffic
    return answers


@pytest.mark.parametrize(("now", "lake_days"), [
    # closed: the UTC days through the 28th (4 hours after their end): shop's 25th–28th,
    # other's and flagged's 28th; shop's 29th stays in landing
    (dt.datetime(2026, 3, 29, 4, 0, tzinfo=dt.UTC), 6),
    # every day closed: shop's five, other's one, flagged's one, fall's two
    (dt.datetime(2026, 11, 1, tzinfo=dt.UTC), 9),
])
@pytest.mark.slow
async def test_the_same_answers_before_and_after_compaction(
        moto_url: str, landing: dict[str, list[tuple[Any, ...]]], now: dt.datetime,
        lake_days: int) -> None:
    archive = fx.write_archive(moto_url)
    lake_support.compact(archive.endpoint, archive.bucket, archive.prefix, now)
    after = await all_reports(archive)
    assert after.pop("lake days") == [(lake_days,)]
    assert after == landing


@pytest.mark.slow
async def test_late_hits_for_a_compacted_day_count_once_the_day_is_compacted_again(
        moto_url: str, landing: dict[str, list[tuple[Any, ...]]]) -> None:
    archive = fx.write_archive(moto_url)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    lake_support.compact(archive.endpoint, archive.bucket, archive.prefix, now)
    # a Measurement Protocol event sent late for the 28th (a new visitor's pageview), and a
    # retry of a hit the lake already holds: archived after the day was compacted
    t = dt.datetime(2026, 3, 28, 12, tzinfo=dt.UTC)
    late = [Hit(hit_id="f" * 32, received_time=t + dt.timedelta(days=2), event_time=t,
                property_id=fx.SHOP, tracking_id="G-SHOP1", protocol="ga4mp", type="pageview",
                event_name="page_view", client_id="mp-9", page_path="/late"),
            fx.hits()[0]]
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    lake_support.archive(s3, archive.bucket, archive.prefix, late, first_sequence=90_000)
    before = await all_reports(archive)
    before.pop("lake days")
    assert before == landing  # the lake answers for the day until it is compacted again
    report = lake_support.compact(archive.endpoint, archive.bucket, archive.prefix, now)
    retried = fx.hits()[0].event_time.date().isoformat()
    assert {d.date for d in report.days} == {"2026-03-28", retried}
    assert sum(d.rows - d.previous_rows for d in report.days) == 1  # the retry dropped
    after = await all_reports(archive)
    visitors, sessions, pageviews = after["overview"][0][3:6]
    assert (visitors, sessions, pageviews) == (5, 8, 13)  # one visitor, session and view more
