"""The reports read ``events`` wherever its days live: the same answers from landing JSON
alone, from a lake that holds some days (the others still in landing), and from a lake that
holds them all (compacted by the real compactor)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from dashboard.reports import REPORTS
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
    # closed: the UTC days through the 28th (4 hours after their end): shop's 25th–28th and
    # other's 28th; shop's 29th stays in landing
    (dt.datetime(2026, 3, 29, 4, 0, tzinfo=dt.UTC), 5),
    # every day closed: shop's five, other's one, fall's two
    (dt.datetime(2026, 11, 1, tzinfo=dt.UTC), 8),
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
