"""What the command line prints (dashboard.reports.output.report_text), from real answers of
DuckDBEngine on the fixture archive (tests/dashboard/report_fixture.py)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import duckdb
import pytest

from dashboard.engine import DuckDBEngine
from dashboard.reports import DateRange, ReportError, parse_filter
from dashboard.reports.output import report_text
from tests.dashboard import report_fixture as fx


@pytest.fixture(scope="module")
def conn(moto_url: str) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from fx.shared_connection(moto_url)


async def test_csv(conn: duckdb.DuckDBPyConnection) -> None:
    text = await report_text(DuckDBEngine(conn), "pages", fx.request(limit=2), "csv")
    assert text == "page_path,pageviews,visitors\n/,5,3\n/blog/one,2,2\n"
    empty = DateRange(dt.date(2026, 5, 1), dt.date(2026, 5, 1))
    text = await report_text(DuckDBEngine(conn), "overview", fx.request(dates=empty, compare=None), "csv")
    assert text.splitlines()[1] == "current,2026-05-01,2026-05-01,0,0,0,,,"  # no ratios: empty


async def test_table(conn: duckdb.DuckDBPyConnection) -> None:
    text = await report_text(DuckDBEngine(conn), "sources", fx.request(limit=2), "table")
    assert text == (
        "source    sessions  visitors  pageviews  bounce_rate\n"
        "--------  --------  --------  ---------  -----------\n"
        "(direct)         3         3          2     0.666667\n"
        "google           2         2          5            0\n")
    none = await report_text(DuckDBEngine(conn), "referrers",
                             fx.request(filters=(parse_filter("source:equals:(direct)"),)))
    assert none.endswith("(no rows)\n")


async def test_json(conn: duckdb.DuckDBPyConnection) -> None:
    text = await report_text(DuckDBEngine(conn), "overview",
                             fx.request(filters=(parse_filter("country:in:DE,FR"),)), "json")
    doc = json.loads(text)
    assert {k: doc[k] for k in ("report", "property", "from", "to", "timezone", "currency",
                                "compare", "filters", "engine", "bytes_scanned")} == {
        "report": "overview", "property": "shop", "from": "2026-03-28", "to": "2026-03-29",
        "timezone": "Europe/Berlin", "currency": "EUR",
        "compare": {"from": "2026-03-26", "to": "2026-03-27"},
        "filters": [{"dimension": "country", "op": "in", "values": ["DE", "FR"]}],
        "engine": "duckdb", "bytes_scanned": None}
    # ua-1, ua-2, g-1 and the ping: S1–S6, 12 pageviews (11 in sessions), bounces S2, S6;
    # 600 + 60 + 120 + 1380 + 2700 + 5 = 4865 s
    assert doc["rows"][0] == {
        "period": "current", "first_day": "2026-03-28", "last_day": "2026-03-29", "visitors": 3,
        "sessions": 6, "pageviews": 12, "views_per_session": 11 / 6, "bounce_rate": 2 / 6,
        "avg_session_duration_s": 4865 / 6}
    assert doc["columns"] == list(doc["rows"][0])


async def test_an_unknown_format_is_refused_before_running(conn: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ReportError, match="unknown format 'xml'"):
        await report_text(DuckDBEngine(conn), "overview", fx.request(), "xml")
