"""Top-N reports on the fixture archive (tests/dashboard/report_fixture.py), through
DuckDBEngine; the numbers are worked out by hand from the fixture's table of sessions."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from tests.dashboard import report_fixture as fx
from tests.dashboard.report_fixture import rows


@pytest.fixture(scope="module")
def conn(moto_url: str) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from fx.shared_connection(moto_url)


async def test_pages(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "pages", fx.request()) == [
        ("/", 5, 3),  # S1, S3 (ua-1), S4 (ua-2), S5 (g-1) and the consent ping
        ("/blog/one", 2, 2),  # S2, S6; ties ordered by path
        ("/pricing", 2, 2),  # S1, S5 (the UA event on /pricing is no pageview)
        ("/pricing/team", 1, 1),
        ("/products", 1, 1),
        ("/signup", 1, 1),
    ]


async def test_the_limit_cuts_after_ordering(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "pages", fx.request(limit=2)) == [("/", 5, 3), ("/blog/one", 2, 2)]
    assert await rows(conn, "sources", fx.request(limit=1)) == [
        ("(direct)", 3, 3, 2, 2 / 3)]


async def test_entry_and_exit_pages(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "entry_pages", fx.request()) == [
        # S1, S3, S4, S5: 3 + 2 + 2 + 2 pageviews, no bounce
        ("/", 4, 3, 9, 0.0),
        # S2 and S6, both bounces; S7 has no pageview, so no entry page
        ("/blog/one", 2, 2, 2, 1.0),
    ]
    assert await rows(conn, "exit_pages", fx.request()) == [
        ("/blog/one", 2, 2, 2, 1.0),  # S2, S6
        ("/pricing", 1, 1, 2, 0.0),  # S5: the events after the pageview do not count
        ("/pricing/team", 1, 1, 2, 0.0),  # S3
        ("/products", 1, 1, 2, 0.0),  # S4: its transactions are later, but no pageviews
        ("/signup", 1, 1, 3, 0.0),  # S1
    ]


async def test_sources_and_mediums(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "sources", fx.request()) == [
        # S2 and S6 direct, S7 (Measurement Protocol, no referrer): S2 and S6 bounced
        ("(direct)", 3, 3, 2, 2 / 3),
        ("google", 2, 2, 5, 0.0),  # S1, S5 (the later internal referrers do not count)
        ("example.org", 1, 1, 2, 0.0),  # S4
        ("newsletter", 1, 1, 2, 0.0),  # S3: the utm tags win over the referrer's class
    ]
    assert await rows(conn, "mediums", fx.request()) == [
        ("(none)", 3, 3, 2, 2 / 3),
        ("search", 2, 2, 5, 0.0),
        ("email", 1, 1, 2, 0.0),
        ("referral", 1, 1, 2, 0.0),
    ]


async def test_campaigns_and_referrers(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "campaigns", fx.request()) == [
        ("(not set)", 6, 4, 9, 2 / 6),  # every session but S3
        ("spring", 1, 1, 2, 0.0),
    ]
    # only sessions whose entry hit names a referrer source
    assert await rows(conn, "referrers", fx.request()) == [
        ("google", 2, 2, 5, 0.0), ("example.org", 1, 1, 2, 0.0)]


async def test_geography(conn: duckdb.DuckDBPyConnection) -> None:
    assert await rows(conn, "countries", fx.request()) == [
        ("DE", 2, 5, 10),  # ua-1 (S1–S3, 6 pageviews), g-1 (S5, S6, 3), the ping (1)
        ("FR", 1, 1, 2),  # ua-2
        ("US", 1, 1, 0),  # mp-1
    ]
    assert await rows(conn, "regions", fx.request()) == [
        ("DE-BE", 1, 3, 7), ("DE-BY", 1, 2, 3), ("FR-IDF", 1, 1, 2), ("US-NY", 1, 1, 0)]
    assert await rows(conn, "cities", fx.request()) == [
        ("Berlin", 1, 3, 7), ("Munich", 1, 2, 3), ("New York", 1, 1, 0), ("Paris", 1, 1, 2)]


async def test_devices_browsers_and_os(conn: duckdb.DuckDBPyConnection) -> None:
    # mp-1 sent no device: "(not set)"; ties by value, in code point order
    assert await rows(conn, "devices", fx.request()) == [
        ("mobile", 2, 3, 5), ("(not set)", 1, 1, 0), ("desktop", 1, 3, 7)]
    assert await rows(conn, "browsers", fx.request()) == [
        ("(not set)", 1, 1, 0), ("Chrome", 1, 2, 4), ("Firefox", 1, 3, 6), ("Safari", 1, 1, 2)]
    assert await rows(conn, "os", fx.request()) == [
        ("(not set)", 1, 1, 0), ("Android", 1, 2, 3), ("Windows", 1, 3, 7), ("iOS", 1, 1, 2)]
