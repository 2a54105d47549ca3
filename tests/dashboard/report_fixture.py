"""A hand-built archive with known report answers (tests/dashboard/test_reports_*.py).

Property ``shop`` is in Europe/Berlin (UTC+1, UTC+2 from 2026-03-29 01:00 UTC). The request
covers the local days 2026-03-28 and 2026-03-29 — UTC [2026-03-27 23:00, 2026-03-29 22:00) —
and its comparison period (the default, the two days before) 2026-03-26 and 2026-03-27 —
UTC [2026-03-25 23:00, 2026-03-27 23:00). Times below are UTC; local times in the comments.

Current period: seven sessions (S1–S7) of four visitors, and one consent ping.

- S1 ua-1 (UA): 28th 09:00 pv / (from google search), 09:05 pv /pricing, 09:06 event
  cta/click, 09:10 pv /signup. 3 pageviews, 600 s.
- S2 ua-1: 09:45 pv /blog/one (direct: 35 minutes later, a new session), 09:46
  non-interaction event video/autoplay. A bounce, 60 s.
- S3 ua-1: 09:50 pv / with sc=start (4 minutes later; utm newsletter/email/spring), 09:52 pv
  /pricing/team. 120 s.
- S4 ua-2 (UA): 28th 22:50 pv / (example.org referral; 23:50 local on the 28th), 23:10 pv
  /products (00:10 on the 29th), 23:12 transaction T1, 23:13 the same T1 again. 1380 s.
- S5 g-1 (gtag), session_id 1000: 29th 00:50 page_view / (google; 01:50 CET), 01:30
  page_view /pricing (03:30 CEST: the 40-minute gap does not cut a GA4 session), 01:31
  sign_up, 01:35 user_engagement, engaged. 2700 s.
- S6 g-1, session_id 2000: 29th 10:00 page_view /blog/one (direct), 10:00:05
  user_engagement, not engaged. A bounce, 5 s.
- S7 mp-1 (ga4mp), session_id 3000: 29th 12:00 purchase T2 49.99 EUR, 12:01 purchase T3
  20 USD. No pageview, 60 s.
- consent ping: 28th 12:00 page_view / without a client id: a pageview, no visitor, no session.

Previous period: ua-3 on the 26th (08:00 pv /, 08:01 pv /about: 60 s) and ua-1 on the 27th at
22:59:59.999 (pv /pricing, 23:59:59.999 local: the period's last millisecond; a bounce).
Outside both: shop hits at 2026-03-29 22:00 (00:00 local on the 30th) and 2026-03-25 22:59:59
(the 25th, local), and a hit of another property. Property ``fall`` has three pageviews over
the night clocks go back (2026-10-25).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Iterator
from typing import Any

import boto3
import duckdb
import pytest

from dashboard.engine import DuckDBEngine
from dashboard.reports import DateRange, ReportRequest, run_report
from lambdalytics import archive_layout
from lambdalytics.hit import Hit
from lambdalytics.property_policy import Goal
from lambdalytics.records import FilteredCount
from tests import lake_support
from tests.support import isolate_aws_env

SHOP = "shop"
OTHER = "other"
FALL = "fall"
FLAGGED = "flagged"
ZONE = "Europe/Berlin"
FIRST_DAY = dt.date(2026, 3, 28)
LAST_DAY = dt.date(2026, 3, 29)
GOALS = (
    Goal("signup", "event_name", "equals", "sign_up"),
    Goal("pricing", "page_path", "prefix", "/pricing"),
    Goal("checkout", "page_path", "regex", "^/(products|signup)$"),
    Goal("never", "event_name", "equals", "nope"),
)
QUOTED_TITLE = 'Bob\'s "pricing" \\ plans'  # a quote, double quotes and a backslash

DEVICES: dict[str | None, dict[str, Any]] = {
    "ua-1": dict(geo_country="DE", geo_region="DE-BE", geo_city="Berlin",
                 device_category="desktop", browser="Firefox", os="Windows"),
    "ua-2": dict(geo_country="FR", geo_region="FR-IDF", geo_city="Paris",
                 device_category="mobile", browser="Safari", os="iOS"),
    "g-1": dict(geo_country="DE", geo_region="DE-BY", geo_city="Munich",
                device_category="mobile", browser="Chrome", os="Android"),
    "mp-1": dict(geo_country="US", geo_region="US-NY", geo_city="New York"),
    None: dict(geo_country="DE", geo_region="DE-BE", geo_city="Berlin",
               device_category="desktop", browser="Chrome", os="Windows"),
    "ua-3": dict(geo_country="AT", device_category="desktop", browser="Edge", os="Windows"),
    "f-1": dict(geo_country="DE"),
}
PROTOCOLS = {"ua-1": "ua", "ua-2": "ua", "ua-3": "ua", "g-1": "gtag", None: "gtag",
             "mp-1": "ga4mp", "f-1": "ua"}
GOOGLE = dict(referrer_source="google", referrer_medium="search",
              page_referrer="https://www.google.com/")
DIRECT = dict(referrer_medium="direct")
INTERNAL = dict(referrer_medium="internal")

def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def hit(when: str, client: str | None, type: str = "pageview", *, prop: str = SHOP,
        **fields: Any) -> Hit:
    t = at(when)
    protocol = PROTOCOLS[client]
    if protocol != "ua" and "event_name" not in fields:
        fields["event_name"] = "page_view" if type == "pageview" else None
    return Hit(received_time=t, event_time=t, property_id=prop,
               tracking_id="UA-1-1" if protocol == "ua" else "G-SHOP1", protocol=protocol,
               type=type, client_id=client, **DEVICES[client], **fields)


def hits() -> list[Hit]:
    """The hits, with ids in the order they are listed."""
    return [dataclasses.replace(h, hit_id=f"{n:032x}") for n, h in enumerate(_hits(), 1)]


def _hits() -> list[Hit]:
    return [
        # S1: ua-1, 10:00–10:10 local on the 28th
        hit("2026-03-28 09:00:00", "ua-1", page_path="/", page_title="Home", **GOOGLE),
        hit("2026-03-28 09:05:00", "ua-1", page_path="/pricing", page_title=QUOTED_TITLE,
            **INTERNAL),
        hit("2026-03-28 09:06:00", "ua-1", "event", page_path="/pricing",
            event_category="cta", event_action="click"),
        hit("2026-03-28 09:10:00", "ua-1", page_path="/signup", **INTERNAL),
        # S2: 35 minutes later
        hit("2026-03-28 09:45:00", "ua-1", page_path="/blog/one", **DIRECT),
        hit("2026-03-28 09:46:00", "ua-1", "event", page_path="/blog/one", non_interaction=True,
            event_category="video", event_action="autoplay"),
        # S3: sc=start 4 minutes later, from a newsletter
        hit("2026-03-28 09:50:00", "ua-1", page_path="/", session_control="start",
            campaign_source="newsletter", campaign_medium="email", campaign_name="spring",
            referrer_medium="email"),
        hit("2026-03-28 09:52:00", "ua-1", page_path="/pricing/team", **INTERNAL),
        # S4: ua-2 across local midnight, one transaction sent twice
        hit("2026-03-28 22:50:00", "ua-2", page_path="/", referrer_source="example.org",
            referrer_medium="referral"),
        hit("2026-03-28 23:10:00", "ua-2", page_path="/products", **INTERNAL),
        hit("2026-03-28 23:12:00", "ua-2", "transaction", transaction_id="T1",
            transaction_revenue=100.5, transaction_tax=10.0, transaction_shipping=5.0,
            currency="EUR"),
        hit("2026-03-28 23:13:00", "ua-2", "transaction", transaction_id="T1",
            transaction_revenue=100.5, transaction_tax=10.0, transaction_shipping=5.0,
            currency="EUR"),
        # S5: g-1, GA4 session 1000 across the DST change (01:50 CET, then 03:30 CEST)
        hit("2026-03-29 00:50:00", "g-1", page_path="/", session_id="1000", session_start=True,
            **GOOGLE),
        hit("2026-03-29 01:30:00", "g-1", page_path="/pricing", session_id="1000", **INTERNAL),
        hit("2026-03-29 01:31:00", "g-1", "event", event_name="sign_up", session_id="1000"),
        hit("2026-03-29 01:35:00", "g-1", "event", event_name="user_engagement",
            session_id="1000", session_engaged=True, engagement_time_ms=30_000),
        # S6: g-1, GA4 session 2000: a page, then leaving before it was engaged
        hit("2026-03-29 10:00:00", "g-1", page_path="/blog/one", session_id="2000", **DIRECT),
        hit("2026-03-29 10:00:05", "g-1", "event", event_name="user_engagement",
            session_id="2000", session_engaged=False, engagement_time_ms=5_000),
        # S7: mp-1, Measurement Protocol purchases, one in another currency
        hit("2026-03-29 12:00:00", "mp-1", "transaction", event_name="purchase",
            session_id="3000", transaction_id="T2", transaction_revenue=49.99, currency="EUR"),
        hit("2026-03-29 12:01:00", "mp-1", "transaction", event_name="purchase",
            session_id="3000", transaction_id="T3", transaction_revenue=20.0, currency="USD"),
        # a consent ping (analytics storage denied): no client id
        hit("2026-03-28 12:00:00", None, page_path="/", consent_state="G100", **DIRECT),
        # previous period
        hit("2026-03-26 08:00:00", "ua-3", page_path="/", **DIRECT),
        hit("2026-03-26 08:01:00", "ua-3", page_path="/about", **INTERNAL),
        hit("2026-03-27 22:59:59.999", "ua-1", page_path="/pricing", **DIRECT),
        # outside both periods, and another property
        hit("2026-03-29 22:00:00", "ua-1", page_path="/late", **DIRECT),
        hit("2026-03-25 22:59:59", "ua-1", page_path="/early", **DIRECT),
        hit("2026-03-28 10:00:00", "ua-1", page_path="/", prop=OTHER, **DIRECT),
        # property fall: 01:30 CEST, 02:30 CEST, 02:30 CET on 2026-10-25
        hit("2026-10-24 23:30:00", "f-1", prop=FALL, page_path="/a"),
        hit("2026-10-25 00:30:00", "f-1", prop=FALL, page_path="/b"),
        hit("2026-10-25 01:30:00", "f-1", prop=FALL, page_path="/c"),
        # property flagged: a visitor, and a bot forwarded with its flag (left out of reports)
        hit("2026-03-28 10:00:00", "ua-2", prop=FLAGGED, page_path="/"),
        hit("2026-03-28 10:05:00", "ua-3", prop=FLAGGED, page_path="/", is_bot=True,
            bot_reason="heuristic:unversioned"),
    ]


COUNTERS = [
    FilteredCount(SHOP, "UA-1-1", "bot", "2026-03-28T10:01Z", 4, "Instagram on Android (crawler:X)"),
    FilteredCount(SHOP, "G-SHOP1", "bot", "2026-03-28T23:30Z", 1),  # 00:30 on the 29th, local
    FilteredCount(SHOP, "UA-1-1", "disallowed_hostname", "2026-03-29T21:59Z", 2),  # 23:59 CEST
    FilteredCount(SHOP, "UA-1-1", "referrer_spam", "2026-03-29T22:00Z", 7),  # the 30th: out
    FilteredCount(SHOP, "UA-1-1", "invalid_hit", "2026-03-27T23:00Z", 3),  # 00:00 on the 28th
    FilteredCount(SHOP, "UA-1-1", "invalid_hit", "2026-03-27T22:59Z", 9),  # the 27th: out
    FilteredCount(OTHER, "UA-9-1", "bot", "2026-03-28T10:01Z", 100),
    FilteredCount(None, "UA-404-1", "unknown_property", "2026-03-28T10:01Z", 50),
]


@dataclasses.dataclass(frozen=True, slots=True)
class Archive:
    endpoint: str
    bucket: str
    prefix: str

    @property
    def root(self) -> str:
        return archive_layout.archive_root(self.bucket, self.prefix)


def write_archive(moto_url: str) -> Archive:
    """The hits and counters written by the archiver's processor to a new bucket on moto.
    (Explicit credentials: module fixtures run before the function-scoped AWS isolation.)"""
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = "reports-" + secrets.token_hex(6)
    s3.create_bucket(Bucket=bucket)
    prefix = "r" + secrets.token_hex(3) + "/"
    lake_support.archive(s3, bucket, prefix, hits(), COUNTERS)
    return Archive(moto_url, bucket, prefix)


def connect(archive: Archive) -> duckdb.DuckDBPyConnection:
    """The query layer's views over ``archive`` (``events``, ``filtered``), for a module's
    tests; the AWS environment isolated as the tests' own is."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_aws_env(mp)
        return lake_support.connect(archive.endpoint, archive.root)


def shared_connection(moto_url: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """Body of a module fixture: the fixture archive, one connection for the module."""
    conn = connect(write_archive(moto_url))
    yield conn
    conn.close()


def request(**changes: Any) -> ReportRequest:
    """The shop's request for the 28th and 29th, with ``changes``."""
    fields: dict[str, Any] = dict(property_id=SHOP, dates=DateRange(FIRST_DAY, LAST_DAY),
                                  timezone=ZONE, currency="EUR", goals=GOALS)
    fields.update(changes)
    return ReportRequest(**fields)


async def rows(conn: duckdb.DuckDBPyConnection, name: str, req: ReportRequest
               ) -> list[tuple[Any, ...]]:
    """Report ``name`` run through DuckDBEngine (the SQL translated by sqlglot)."""
    result = await run_report(DuckDBEngine(conn), name, req)
    assert result.result.engine == "duckdb"
    return list(result.rows)
