"""Overview and series on the fixture archive (tests/dashboard/report_fixture.py), through
DuckDBEngine: the numbers are worked out by hand from the fixture's table of sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import duckdb
import pytest

from dashboard.reports import DateRange, ReportError, report_sql
from tests.dashboard import report_fixture as fx
from tests.dashboard.report_fixture import rows


@pytest.fixture(scope="module")
def conn(moto_url: str) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from fx.shared_connection(moto_url)


async def test_overview_of_the_period_and_the_previous_one(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "overview", fx.request()) == [
        # visitors ua-1, ua-2, g-1, mp-1 (the consent ping has none); sessions S1–S7;
        # pageviews 6 + 2 + 3 + 0 + 1 (the ping); 11 of them in sessions, over 7 sessions;
        # bounces S2 (its other hit is non-interaction) and S6 (user_engagement, not engaged);
        # durations 600 + 60 + 120 + 1380 + 2700 + 5 + 60 = 4925 s over 7 sessions
        ("current", "2026-03-28", "2026-03-29", 4, 7, 12, 11 / 7, 2 / 7, 4925 / 7),
        # ua-3 (2 pageviews, 60 s) and ua-1 at 23:59:59.999 local on the 27th (a bounce, 0 s);
        # the hit at 23:59:59 on the 25th is outside
        ("previous", "2026-03-26", "2026-03-27", 2, 2, 3, 1.5, 0.5, 30.0),
    ]


async def test_an_explicit_comparison_period_and_none(conn: duckdb.DuckDBPyConnection) -> None:
    week = DateRange(dt.date(2026, 3, 25), dt.date(2026, 3, 26))
    got = await rows(conn, "overview", fx.request(compare=week))
    # the 25th (local) has the 22:59:59 UTC hit of ua-1 only; the 26th ua-3's session
    assert got[1] == ("previous", "2026-03-25", "2026-03-26", 2, 2, 3, 1.5, 0.5, 30.0)
    assert [r[0] for r in await rows(conn, "overview", fx.request(compare=None))] == ["current"]


async def test_an_empty_range_has_zeros_and_no_ratios(conn: duckdb.DuckDBPyConnection) -> None:
    empty = DateRange(dt.date(2026, 5, 1), dt.date(2026, 5, 3))
    assert await rows(conn, "overview", fx.request(dates=empty)) == [
        ("current", "2026-05-01", "2026-05-03", 0, 0, 0, None, None, None),
        ("previous", "2026-04-28", "2026-04-30", 0, 0, 0, None, None, None),
    ]
    assert await rows(conn, "daily", fx.request(dates=empty)) == [
        ("2026-05-01", 0, 0, 0), ("2026-05-02", 0, 0, 0), ("2026-05-03", 0, 0, 0)]
    for name in ("pages", "sources", "countries", "events", "excluded"):
        assert await rows(conn, name, fx.request(dates=empty)) == []


async def test_another_property_sees_only_its_hits(conn: duckdb.DuckDBPyConnection) -> None:
    got = await rows(conn, "overview", fx.request(property_id=fx.OTHER, compare=None))
    assert got == [("current", "2026-03-28", "2026-03-29", 1, 1, 1, 1.0, 1.0, 0.0)]


async def test_daily_in_local_days(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "daily", fx.request()) == [
        # ua-1 (S1–S3, 6 pageviews), ua-2's first pageview at 23:50 local, the ping at 13:00;
        # sessions S1–S4 start on the 28th
        ("2026-03-28", 2, 4, 8),
        # ua-2 after midnight (1 pageview), g-1 (3), mp-1 (0); S5–S7 start on the 29th
        ("2026-03-29", 3, 3, 4),
    ]


async def test_daily_in_utc_differs_where_it_should(conn: duckdb.DuckDBPyConnection) -> None:
    got = await rows(conn, "daily", fx.request(timezone="UTC"))
    assert got == [
        # all of ua-1's and ua-2's hits (S4 ends at 23:13 UTC) and the ping
        ("2026-03-28", 2, 4, 9),
        # g-1, mp-1, and ua-1's hit at 22:00 UTC (00:00 in Berlin on the 30th)
        ("2026-03-29", 3, 4, 4),
    ]


async def test_hourly_in_local_hours_across_the_dst_change(conn: duckdb.DuckDBPyConnection) -> None:
    got = await rows(conn, "hourly", fx.request())
    hours = [r[0] for r in got]
    # 24 hours on the 28th, 23 on the 29th: 02:00 does not exist in Berlin that night
    assert len(got) == 47
    assert hours == sorted(hours)
    assert "2026-03-29 02:00" not in hours
    assert "2026-03-29 03:00" in hours
    assert [r for r in got if r[1:] != (0, 0, 0)] == [
        ("2026-03-28 10:00", 1, 3, 6),  # S1, S2, S3 of ua-1
        ("2026-03-28 13:00", 0, 0, 1),  # the consent ping
        ("2026-03-28 23:00", 1, 1, 1),  # S4 starts at 23:50
        ("2026-03-29 00:00", 1, 0, 1),  # S4 goes on past midnight
        ("2026-03-29 01:00", 1, 1, 1),  # S5 starts at 01:50 CET
        ("2026-03-29 03:00", 1, 0, 1),  # S5's /pricing at 03:30 CEST, an hour of UTC later
        ("2026-03-29 12:00", 1, 1, 1),  # S6
        ("2026-03-29 14:00", 1, 1, 0),  # S7: purchases, no pageview
    ]


async def test_hourly_on_the_night_clocks_go_back(conn: duckdb.DuckDBPyConnection) -> None:
    day = DateRange(dt.date(2026, 10, 25), dt.date(2026, 10, 25))
    got = await rows(conn, "hourly", fx.request(property_id=fx.FALL, dates=day, compare=None))
    # 25 hours, 24 labels: the two 02:00 hours (CEST, then CET) share one; the three
    # pageviews are an hour apart, so three sessions
    assert len(got) == 24
    assert [r for r in got if r[1:] != (0, 0, 0)] == [
        ("2026-10-25 01:00", 1, 1, 1), ("2026-10-25 02:00", 1, 2, 2)]


def test_an_hourly_series_is_at_most_92_days() -> None:
    with pytest.raises(ReportError, match="92 days"):
        report_sql("hourly", fx.request(dates=DateRange(dt.date(2026, 1, 1), dt.date(2026, 4, 3))))
    report_sql("hourly", fx.request(dates=DateRange(dt.date(2026, 1, 1), dt.date(2026, 4, 2))))


async def test_hits_flagged_as_bots_are_left_out(conn: duckdb.DuckDBPyConnection) -> None:
    req = fx.request(property_id=fx.FLAGGED, timezone="UTC", currency="USD", goals=(),
                     compare=None)
    (only,) = await rows(conn, "overview", req)
    assert only[3:6] == (1, 1, 1)  # visitors, sessions, pageviews: the bot's hit not counted
    assert await rows(conn, "pages", req) == [("/", 1, 1)]
