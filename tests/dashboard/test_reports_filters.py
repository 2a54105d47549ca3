"""Filters: every operator, both scopes, values that are not SQL, on the fixture archive
(tests/dashboard/report_fixture.py) through DuckDBEngine; numbers worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from dashboard.reports import Filter, ReportError, ReportRequest, parse_filter, report_sql
from tests.dashboard import report_fixture as fx
from tests.dashboard.report_fixture import rows


@pytest.fixture(scope="module")
def conn(moto_url: str) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from fx.shared_connection(moto_url)


def where(*specs: str, **changes: object) -> ReportRequest:
    return fx.request(filters=tuple(parse_filter(s) for s in specs), **changes)


async def test_equals_applies_to_both_periods(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "overview", where("country:equals:DE")) == [
        # ua-1 (S1–S3), g-1 (S5, S6) and the ping; 9 pageviews in those sessions; bounces
        # S2, S6; 600 + 60 + 120 + 2700 + 5 = 3485 s
        ("current", "2026-03-28", "2026-03-29", 2, 5, 10, 9 / 5, 2 / 5, 3485 / 5),
        # ua-1 on the 27th only: ua-3 is in Austria
        ("previous", "2026-03-26", "2026-03-27", 1, 1, 1, 1.0, 1.0, 0.0),
    ]


async def test_not_equals_also_matches_unset_values(conn: duckdb.DuckDBPyConnection) -> None:
    got = await rows(conn, "overview", where("country:not_equals:DE", compare=None))
    # ua-2 (S4: 2 pageviews, 1380 s) and mp-1 (S7: none, 60 s)
    assert got == [("current", "2026-03-28", "2026-03-29", 2, 2, 2, 1.0, 0.0, 720.0)]
    # mp-1 sent no device category: not desktop either
    assert await rows(conn, "devices", where("device:not_equals:desktop")) == [
        ("mobile", 2, 3, 5), ("(not set)", 1, 1, 0)]


async def test_contains_not_contains_and_starts_with(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "pages", where("page_path:contains:pricing")) == [
        ("/pricing", 2, 2), ("/pricing/team", 1, 1)]
    assert await rows(conn, "pages", where("page_path:not_contains:o")) == [
        ("/", 5, 3), ("/pricing", 2, 2), ("/pricing/team", 1, 1), ("/signup", 1, 1)]
    assert await rows(conn, "pages", where("page_path:starts_with:/blog")) == [("/blog/one", 2, 2)]


async def test_in_and_not_in(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "countries", where("browser:in:Safari,Chrome")) == [
        ("DE", 1, 2, 4),  # g-1 (S5, S6: 3 pageviews) and the ping (Chrome, 1)
        ("FR", 1, 1, 2),  # ua-2 on Safari
    ]
    assert await rows(conn, "countries", where("country:not_in:DE,FR")) == [("US", 1, 1, 0)]


async def test_several_filters_are_anded(conn: duckdb.DuckDBPyConnection) -> None:
    got = await rows(conn, "pages", where("country:equals:DE", "page_path:starts_with:/pricing"))
    assert got == [("/pricing", 2, 2), ("/pricing/team", 1, 1)]


async def test_a_value_with_quotes_and_a_backslash(conn: duckdb.DuckDBPyConnection) -> None:
    title = Filter("page_title", "equals", (fx.QUOTED_TITLE,))
    req = fx.request(filters=(title,))
    assert "'Bob''s \"pricing\" \\ plans'" in report_sql("pages", req)
    assert await rows(conn, "pages", req) == [("/pricing", 1, 1)]
    assert await rows(conn, "pages", where("page_title:contains:\\")) == [("/pricing", 1, 1)]
    assert await rows(conn, "pages", where("page_title:contains:'s \"")) == [("/pricing", 1, 1)]


async def test_a_value_that_is_sql_matches_nothing(conn: duckdb.DuckDBPyConnection) -> None:
    for value in ("x' OR '1'='1", "x') OR TRUE --", "/' UNION SELECT 1, 2, 3 --"):
        req = fx.request(filters=(Filter("page_path", "equals", (value,)),))
        assert await rows(conn, "pages", req) == []


async def test_a_session_filter_selects_whole_sessions(conn: duckdb.DuckDBPyConnection) -> None:
    got = await rows(conn, "overview", where("source:equals:google", compare=None))
    # S1 and S5, every hit of them, though only their first pageviews came from google
    assert got == [("current", "2026-03-28", "2026-03-29", 2, 2, 5, 2.5, 0.0, 1650.0)]
    assert await rows(conn, "pages", where("source:equals:google")) == [
        ("/", 2, 2), ("/pricing", 2, 2), ("/signup", 1, 1)]
    # with a hit filter: the /pricing pageviews of those sessions
    assert await rows(conn, "pages", where("source:equals:google", "page_path:equals:/pricing")) == [
        ("/pricing", 2, 2)]


async def test_a_hit_without_a_session_has_its_own_source(conn: duckdb.DuckDBPyConnection) -> None:
    # S1 (search), S3 (email), S4 (referral), S5 (search); the ping is direct, like S2, S6, S7
    assert await rows(conn, "pages", where("medium:not_equals:(none)")) == [
        ("/", 4, 3), ("/pricing", 2, 2), ("/pricing/team", 1, 1), ("/products", 1, 1),
        ("/signup", 1, 1)]


async def test_entry_page_and_campaign(conn: duckdb.DuckDBPyConnection) -> None:
    got = await rows(conn, "overview", where("entry_page:equals:/blog/one", compare=None))
    assert got == [("current", "2026-03-28", "2026-03-29", 2, 2, 2, 1.0, 1.0, 32.5)]  # S2, S6
    assert await rows(conn, "events", where("campaign:equals:spring")) == []  # S3: pageviews
    assert await rows(conn, "exit_pages", where("campaign:equals:spring")) == [
        ("/pricing/team", 1, 1, 2, 0.0)]


@pytest.mark.parametrize(("spec", "message"), [
    ("colour:equals:red", "unknown dimension"),
    ("country:like:D%", "unknown operator"),
    ("country", "DIMENSION:OPERATOR:VALUE"),
    ("page_path:contains:", "non-empty"),
    ("page_path:equals:a\x00b", "NUL"),
    ("page_path:equals:" + "x" * 1001, "at most 1000"),
    ("country:in:" + ",".join(["DE"] * 101), "1–100 values"),
])
def test_invalid_filters(spec: str, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        parse_filter(spec)


def test_filter_values_and_counts() -> None:
    with pytest.raises(ReportError, match="takes one value"):
        Filter("country", "equals", ("DE", "FR"))
    with pytest.raises(ReportError, match="at most 20 filters"):
        fx.request(filters=(Filter("country", "equals", ("DE",)),) * 21)
    assert parse_filter("page_path:equals:a:b") == Filter("page_path", "equals", ("a:b",))
    assert parse_filter("country:in:DE,FR") == Filter("country", "in", ("DE", "FR"))
