"""Every report's SQL is Trino/Athena SQL that sqlglot translates for DuckDB, built only from
whitelisted expressions and escaped literals; local time is computed from the zone's offsets
found in Python. (No engine here: the answers are checked in the other test_reports_* files.)"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlglot
from sqlglot import exp

from dashboard.engine import to_duckdb
from dashboard.reports import REPORTS, DateRange, Filter, ReportError, ReportRequest, report_sql
from dashboard.reports.localtime import LocalWindow
from dashboard.reports.sql import literal, timestamp
from lambdalytics.properties import Property
from lambdalytics.property_policy import Goal
from tests.dashboard import report_fixture as fx

EVERY_KIND = fx.request(filters=(
    Filter("country", "in", ("DE", "FR")), Filter("page_title", "not_contains", ("it's",)),
    Filter("source", "not_equals", ("google",)), Filter("entry_page", "starts_with", ("/",)),
))


@pytest.mark.parametrize("name", sorted(REPORTS))
@pytest.mark.parametrize("dialect", ["trino", "athena"])
def test_every_report_parses_where_it_runs(name: str, dialect: str) -> None:
    request = EVERY_KIND if not name.startswith(("excluded", "bot")) else fx.request()
    sql = report_sql(name, request)
    tree = sqlglot.parse_one(sql, read=dialect)
    assert isinstance(tree, exp.Select)
    # the answer's columns are the report's, in order
    assert tuple(tree.named_selects) == REPORTS[name].columns
    to_duckdb(sql)  # translates, or raises QueryFailed: nothing left untranslated


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_every_report_prunes_partitions_and_avoids_approximations(name: str) -> None:
    sql = report_sql(name, fx.request())
    table = "filtered" if name.startswith(("excluded", "bot")) else "events"
    scans = re.findall(rf"FROM {table}\s+WHERE property = 'shop'\s+AND \"date\" BETWEEN '(\S+)' "
                       rf"AND '(\S+)'\s+AND \S+ >= ", sql)
    assert sql.count(f"FROM {table}") == len(scans)  # every read of the table is pruned
    # the UTC dates of local 2026-03-28 00:00 – 2026-03-30 00:00 (and of the previous period)
    assert scans == ([("2026-03-27", "2026-03-29"), ("2026-03-25", "2026-03-27")]
                     if REPORTS[name].compares else [("2026-03-27", "2026-03-29")])
    assert "approx" not in sql.lower()
    assert "AT TIME ZONE" not in sql
    assert "with_timezone" not in sql


def test_goal_values_are_literals() -> None:
    goals = (Goal("quote", "page_path", "equals", "/it's"), Goal("re", "event_name", "regex", "^a'b$"),
             Goal("p", "page_path", "prefix", "/x"))
    sql = report_sql("goals", fx.request(goals=goals))
    assert "page_path = '/it''s'" in sql
    assert "regexp_like(event_name, '^a''b$')" in sql
    assert "starts_with(page_path, '/x')" in sql
    assert "'quote' AS goal" in sql
    sqlglot.parse_one(sql, read="athena")


def test_literals() -> None:
    assert literal("it's") == "'it''s'"
    assert literal("a\\b") == "'a\\b'"  # no engine reads a backslash as an escape in '…'
    with pytest.raises(ReportError, match="NUL"):
        literal("a\x00")
    assert timestamp(dt.datetime(2026, 3, 29, 3, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == (
        "TIMESTAMP '2026-03-29 01:00:00'")
    with pytest.raises(ValueError, match="aware"):
        timestamp(dt.datetime(2026, 3, 29))


def test_a_window_across_a_dst_change() -> None:
    w = LocalWindow.of(DateRange(fx.FIRST_DAY, fx.LAST_DAY), "Europe/Berlin")
    assert (w.start, w.end) == (dt.datetime(2026, 3, 27, 23, tzinfo=dt.UTC),
                                dt.datetime(2026, 3, 29, 22, tzinfo=dt.UTC))
    assert (w.first_date, w.last_date) == ("2026-03-27", "2026-03-29")
    assert w.local_sql("t") == ("date_add('second', CASE WHEN t < TIMESTAMP '2026-03-29 01:00:00' "
                                "THEN 3600 ELSE 7200 END, t)")
    assert w.days() == ("2026-03-28", "2026-03-29")
    assert len(w.hours()) == 47
    assert "2026-03-29 02:00" not in w.hours()


def test_a_year_in_new_york_and_a_day_in_utc() -> None:
    w = LocalWindow.of(DateRange(dt.date(2026, 1, 1), dt.date(2026, 12, 31)), "America/New_York")
    assert [(t.isoformat(), o) for t, o in w.offsets] == [
        ("2026-01-01T05:00:00+00:00", -18000), ("2026-03-08T07:00:00+00:00", -14400),
        ("2026-11-01T06:00:00+00:00", -18000)]
    assert len(w.days()) == 365
    utc = LocalWindow.of(DateRange(dt.date(2026, 1, 1), dt.date(2026, 1, 1)), "UTC")
    assert utc.local_sql("event_time") == "event_time"
    assert utc.filtered_where() == ("\"date\" BETWEEN '2026-01-01' AND '2026-01-01' AND \"minute\" >= "
                                    "'2026-01-01T00:00Z' AND \"minute\" < '2026-01-02T00:00Z'")


def test_half_hour_offsets_and_a_skipped_day() -> None:
    # Lord Howe Island goes back half an hour; India is always +05:30
    howe = LocalWindow.of(DateRange(dt.date(2026, 4, 5), dt.date(2026, 4, 5)), "Australia/Lord_Howe")
    assert [o for _, o in howe.offsets] == [39600, 37800]
    assert len(howe.hours()) == 24
    india = LocalWindow.of(DateRange(dt.date(2026, 1, 1), dt.date(2026, 1, 1)), "Asia/Kolkata")
    assert india.start == dt.datetime(2025, 12, 31, 18, 30, tzinfo=dt.UTC)
    assert india.hours()[0] == "2026-01-01 00:00"
    assert len(india.hours()) == 24
    # Samoa skipped 2011-12-30
    apia = LocalWindow.of(DateRange(dt.date(2011, 12, 29), dt.date(2011, 12, 31)), "Pacific/Apia")
    assert apia.days() == ("2011-12-29", "2011-12-31")


def test_the_comparison_period() -> None:
    assert fx.request().comparison == DateRange(dt.date(2026, 3, 26), dt.date(2026, 3, 27))
    week = DateRange(dt.date(2026, 3, 2), dt.date(2026, 3, 8))
    assert week.previous() == DateRange(dt.date(2026, 2, 23), dt.date(2026, 3, 1))
    assert fx.request(compare=None).comparison is None
    assert fx.request(compare=week).comparison == week


@pytest.mark.parametrize(("changes", "message"), [
    ({"property_id": "Shop'"}, "not a partition value"),
    ({"timezone": "Mars/Olympus"}, "IANA"),
    ({"currency": "EURO"}, "ISO 4217"),
    ({"limit": 0}, "limit"),
    ({"limit": 1001}, "limit"),
    ({"compare": "last year"}, "compare"),
    ({"goals": (Goal("g", "page_path", "regex", "("),)}, "regular expression"),
])
def test_invalid_requests(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ReportError, match=message):
        fx.request(**changes)


def test_invalid_ranges_and_names() -> None:
    with pytest.raises(ReportError, match="after it ends"):
        DateRange(dt.date(2026, 3, 2), dt.date(2026, 3, 1))
    with pytest.raises(ReportError, match="at most 3660 days"):
        DateRange(dt.date(2010, 1, 1), dt.date(2026, 1, 1))
    with pytest.raises(ReportError, match="YYYY-MM-DD"):
        DateRange.parse("2026-3-1", "2026-03-02")
    assert DateRange.parse("2026-03-01", "2026-03-02").days == 2
    with pytest.raises(ReportError, match="unknown report 'visits'"):
        report_sql("visits", fx.request())


def test_a_request_from_a_property() -> None:
    prop = Property("shop", "Shop", ("UA-1-1",), timezone="Europe/Berlin", currency="EUR",
                    goals=fx.GOALS)
    req = ReportRequest.for_property(prop, DateRange(fx.FIRST_DAY, fx.LAST_DAY), limit=5)
    assert (req.timezone, req.currency, req.goals, req.limit) == ("Europe/Berlin", "EUR", fx.GOALS, 5)
