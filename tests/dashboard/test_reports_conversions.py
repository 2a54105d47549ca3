"""Events, goals, ecommerce and excluded traffic on the fixture archive
(tests/dashboard/report_fixture.py), through DuckDBEngine; numbers worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from dashboard.reports import Filter, ReportError, report_sql
from lambdalytics.property_policy import Goal
from tests.dashboard import report_fixture as fx
from tests.dashboard.report_fixture import rows


@pytest.fixture(scope="module")
def conn(moto_url: str) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from fx.shared_connection(moto_url)


async def test_events(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "events", fx.request()) == [
        ("page_view", 4, 1),  # g-1's three and the consent ping's (no visitor)
        ("purchase", 2, 1),  # mp-1
        ("user_engagement", 2, 1),  # g-1
        ("cta / click", 1, 1),  # UA: category / action
        ("sign_up", 1, 1),
        ("video / autoplay", 1, 1),  # a non-interaction event is still an event
    ]


async def test_goals_in_the_policys_order(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "goals", fx.request()) == [
        ("signup", 1, 1, 1 / 7),  # S5's sign_up
        # pageviews of /pricing (S1, S5) and /pricing/team (S3); the UA event on /pricing
        # is no pageview
        ("pricing", 3, 3, 3 / 7),
        ("checkout", 2, 2, 2 / 7),  # /signup (S1), /products (S4)
        ("never", 0, 0, 0.0),
    ]


async def test_completions_and_converting_sessions_differ(conn: duckdb.DuckDBPyConnection) -> None:
    home = Goal("home", "page_path", "equals", "/")
    # five pageviews of /: S1, S3, S4, S5 and the ping, which converts no session
    assert await rows(conn, "goals", fx.request(goals=(home,))) == [("home", 5, 4, 4 / 7)]


async def test_no_goals_no_rows(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "goals", fx.request(goals=())) == []


async def test_ecommerce_in_the_property_currency(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "ecommerce", fx.request()) == [
        # T1 (UA, sent twice, counted once: 100.50, tax 10, shipping 5) and T2 (GA4
        # purchase, 49.99) in EUR; T3 is in USD, counted apart
        ("current", "2026-03-28", "2026-03-29", "EUR", 2, 150.49, 10.0, 5.0, 150.49 / 2, 1),
        ("previous", "2026-03-26", "2026-03-27", "EUR", 0, 0.0, 0.0, 0.0, None, 0),
    ]


async def test_ecommerce_in_another_currency(conn: duckdb.DuckDBPyConnection) -> None:
    got = await rows(conn, "ecommerce", fx.request(currency="USD", compare=None))
    assert got == [("current", "2026-03-28", "2026-03-29", "USD", 1, 20.0, 0.0, 0.0, 20.0, 2)]


async def test_excluded_traffic(conn: duckdb.DuckDBPyConnection) -> None:
    # the local days are UTC 2026-03-27 23:00 to 2026-03-29 22:00: the 22:59 invalid hits and
    # the 22:00 referrer spam are outside; the other property's and unknown ids' are not ours
    assert await rows(conn, "excluded", fx.request()) == [
        ("bot", 5), ("invalid_hit", 3), ("disallowed_hostname", 2)]
    assert await rows(conn, "excluded_daily", fx.request()) == [
        ("2026-03-28", "bot", 4),
        ("2026-03-28", "invalid_hit", 3),  # 23:00 UTC on the 27th is 00:00 on the 28th
        ("2026-03-29", "bot", 1),  # 23:30 UTC on the 28th
        ("2026-03-29", "disallowed_hostname", 2),  # 21:59 UTC: 23:59 CEST
    ]
    assert await rows(conn, "bot_agents", fx.request()) == [
        ("Instagram on Android (crawler:X)", 4), ("(not recorded)", 1)]


async def test_excluded_traffic_in_utc(conn: duckdb.DuckDBPyConnection) -> None:
    # UTC 28th and 29th: the 22:59 invalid hits (27th) drop out, the 22:00 spam comes in
    assert await rows(conn, "excluded_daily", fx.request(timezone="UTC")) == [
        ("2026-03-28", "bot", 5), ("2026-03-29", "disallowed_hostname", 2),
        ("2026-03-29", "referrer_spam", 7)]


def test_excluded_traffic_takes_no_filters() -> None:
    with pytest.raises(ReportError, match="no filters"):
        report_sql("excluded", fx.request(filters=(Filter("country", "equals", ("DE",)),)))
