"""``events_ga4``: the GA4 BigQuery export's shape over hits written by the real archiver.

The export's columns are written out below from Google's schema page, independently of
:mod:`lambdalytics.ga4_schema`; the view is created from ``view_sql("duckdb")`` on the
``events`` view of an archive in moto, and ported BigQuery queries run through ``to_duckdb``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import duckdb
import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import UnsupportedError

from lambdalytics import archive_layout, ga4_export
from lambdalytics.ga4_schema import SCHEMA
from lambdalytics.ga4_sql import col
from lambdalytics.hit import Hit, Item
from tests import lake_support

_VALUE = "STRUCT<string_value STRING, int_value INT64, float_value FLOAT64, double_value FLOAT64>"
_PARAMS = f"ARRAY<STRUCT<key STRING, value {_VALUE}>>"
_CAMPAIGN = "campaign_id STRING, campaign_name STRING, source STRING, medium STRING"
# Google's "[GA4] BigQuery Export schema", column order as the export tables have it
EXPORT: tuple[tuple[str, str], ...] = (
    ("event_date", "STRING"), ("event_timestamp", "INT64"), ("event_name", "STRING"),
    ("event_params", _PARAMS), ("event_previous_timestamp", "INT64"),
    ("event_value_in_usd", "FLOAT64"), ("event_bundle_sequence_id", "INT64"),
    ("event_server_timestamp_offset", "INT64"), ("user_id", "STRING"), ("user_pseudo_id", "STRING"),
    ("privacy_info", "STRUCT<analytics_storage STRING, ads_storage STRING, uses_transient_token STRING>"),
    ("user_properties", "ARRAY<STRUCT<key STRING, value STRUCT<string_value STRING, int_value INT64, "
                        "float_value FLOAT64, double_value FLOAT64, set_timestamp_micros INT64>>>"),
    ("user_first_touch_timestamp", "INT64"), ("user_ltv", "STRUCT<revenue FLOAT64, currency STRING>"),
    ("device", "STRUCT<category STRING, mobile_brand_name STRING, mobile_model_name STRING, "
               "mobile_marketing_name STRING, mobile_os_hardware_model STRING, operating_system STRING, "
               "operating_system_version STRING, vendor_id STRING, advertising_id STRING, language STRING, "
               "is_limited_ad_tracking STRING, time_zone_offset_seconds INT64, browser STRING, "
               "browser_version STRING, web_info STRUCT<browser STRING, browser_version STRING, "
               "hostname STRING>>"),
    ("geo", "STRUCT<city STRING, country STRING, continent STRING, region STRING, sub_continent STRING, "
            "metro STRING>"),
    ("app_info", "STRUCT<id STRING, version STRING, install_store STRING, firebase_app_id STRING, "
                 "install_source STRING>"),
    ("traffic_source", "STRUCT<name STRING, medium STRING, source STRING>"),
    ("stream_id", "STRING"), ("platform", "STRING"), ("event_dimensions", "STRUCT<hostname STRING>"),
    ("ecommerce", "STRUCT<total_item_quantity INT64, purchase_revenue_in_usd FLOAT64, "
                  "purchase_revenue FLOAT64, refund_value_in_usd FLOAT64, refund_value FLOAT64, "
                  "shipping_value_in_usd FLOAT64, shipping_value FLOAT64, tax_value_in_usd FLOAT64, "
                  "tax_value FLOAT64, unique_items INT64, transaction_id STRING>"),
    ("items", "ARRAY<STRUCT<item_id STRING, item_name STRING, item_brand STRING, item_variant STRING, "
              "item_category STRING, item_category2 STRING, item_category3 STRING, item_category4 STRING, "
              "item_category5 STRING, price_in_usd FLOAT64, price FLOAT64, quantity INT64, "
              "item_revenue_in_usd FLOAT64, item_revenue FLOAT64, item_refund_in_usd FLOAT64, "
              "item_refund FLOAT64, coupon STRING, affiliation STRING, location_id STRING, "
              "item_list_id STRING, item_list_name STRING, item_list_index STRING, promotion_id STRING, "
              f"promotion_name STRING, creative_name STRING, creative_slot STRING, item_params {_PARAMS}>>"),
    ("collected_traffic_source", "STRUCT<manual_campaign_id STRING, manual_campaign_name STRING, "
                                 "manual_source STRING, manual_medium STRING, manual_term STRING, "
                                 "manual_content STRING, manual_source_platform STRING, "
                                 "manual_creative_format STRING, manual_marketing_tactic STRING, "
                                 "gclid STRING, dclid STRING, srsltid STRING>"),
    ("is_active_user", "BOOL"), ("batch_event_index", "INT64"), ("batch_page_id", "INT64"),
    ("batch_ordering_id", "INT64"),
    ("session_traffic_source_last_click",
     f"STRUCT<manual_campaign STRUCT<{_CAMPAIGN}, term STRING, content STRING, source_platform STRING, "
     "creative_format STRING, marketing_tactic STRING>, google_ads_campaign STRUCT<customer_id STRING, "
     "account_name STRING, campaign_id STRING, campaign_name STRING, ad_group_id STRING, "
     f"ad_group_name STRING>, cross_channel_campaign STRUCT<{_CAMPAIGN}, source_platform STRING, "
     f"default_channel_group STRING, primary_channel_group STRING>, sa360_campaign STRUCT<{_CAMPAIGN}, "
     "ad_group_id STRING, ad_group_name STRING, creative_format STRING, engine_account_name STRING, "
     f"engine_account_type STRING, manager_account_name STRING>, cm360_campaign STRUCT<{_CAMPAIGN}, "
     "account_id STRING, account_name STRING, advertiser_id STRING, advertiser_name STRING, "
     "creative_id STRING, creative_format STRING, creative_name STRING, creative_type STRING, "
     "creative_type_id STRING, creative_version STRING, placement_id STRING, "
     "placement_cost_structure STRING, placement_name STRING, rendering_id STRING, site_id STRING, "
     f"site_name STRING>, dv360_campaign STRUCT<{_CAMPAIGN}, advertiser_id STRING, "
     "advertiser_name STRING, creative_id STRING, creative_format STRING, creative_name STRING, "
     "exchange_id STRING, exchange_name STRING, insertion_order_id STRING, insertion_order_name STRING, "
     "line_item_id STRING, line_item_name STRING, partner_id STRING, partner_name STRING>>"),
    ("publisher", "STRUCT<ad_revenue_in_usd FLOAT64, ad_format STRING, ad_source_name STRING, "
                  "ad_unit_id STRING>"),
    ("event_original_occurrence_timestamp", "INT64"),
)


def unquoted(t: exp.DataType) -> str:
    """A type in DuckDB spelling with identifiers unquoted, whatever dialect it was read in."""
    return re.sub(r'"(\w+)"', r"\1", t.sql("duckdb"))


def bigquery(t: str) -> exp.DataType:
    return exp.DataType.build(t, dialect="bigquery")


# --- the schema, as each engine sees it -----------------------------------------------------


def test_the_schema_is_the_exports_names_nesting_and_types() -> None:
    assert [(f.name, f.bigquery_type()) for f in SCHEMA] == list(EXPORT)


@pytest.mark.parametrize("engine", ["athena", "trino"])
def test_athena_and_trino_texts_parse_to_the_export_columns_then_the_bare_partitions(
        engine: ga4_export.Engine) -> None:
    sql = ga4_export.view_sql(engine, name="lambdalytics.events_ga4", source="lambdalytics.events")
    tree = sqlglot.parse_one(sql, read=engine)  # sqlglot's athena and trino dialects
    assert isinstance(tree, exp.Create)
    assert tree.args["kind"] == "VIEW"
    assert tree.args.get("replace")
    assert tree.this.sql("trino") == '"lambdalytics"."events_ga4"'
    select = tree.expression
    assert isinstance(select, exp.Select)
    assert select.args["from_"].this.sql("trino") == '"lambdalytics"."events"'
    *columns, prop, date = select.expressions
    # the partition columns untouched, so that Athena's projection and property filter apply
    assert [type(prop), prop.name, type(date), date.name] == [exp.Column, "property", exp.Column, "date"]
    got = []
    for c in columns:
        assert isinstance(c, exp.Alias)
        assert isinstance(c.this, exp.Cast)
        got.append((c.alias, unquoted(c.this.to)))
    assert got == [(name, unquoted(bigquery(t))) for name, t in EXPORT]


def test_an_unknown_engine_or_source_column_is_an_error() -> None:
    with pytest.raises(ValueError, match="no engine"):
        ga4_export.view_sql("bigquery")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a column of the events view"):
        col("campaign_keyword")


def test_to_duckdb_refuses_what_it_cannot_translate_rather_than_change_it() -> None:
    with pytest.raises(UnsupportedError, match="finish"):
        ga4_export.to_duckdb("SELECT reduce(ARRAY[1, 2], 0, (s, x) -> s + x, s -> s * 10)")
    ok = ga4_export.to_duckdb("SELECT reduce(ARRAY[1, 2], 0, (s, x) -> s + x, s -> s)")
    assert duckdb.connect().execute(ok).fetchall() == [(3,)]


# --- the view over archived hits ------------------------------------------------------------

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
DAY = "2026-11-28"


def at(n: int) -> datetime:
    return T0 + timedelta(minutes=n, milliseconds=123)


def micros(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def ga4(n: int, name: str, type_: str = "event", **fields: Any) -> Hit:
    base: dict[str, Any] = dict(
        hit_id=f"{n:032x}", received_time=at(n) + timedelta(seconds=2), event_time=at(n),
        property_id="p1", tracking_id="G-TEST1", protocol="gtag", type=type_, event_name=name,
        client_id="111.222", session_id="1764324000", session_number=3)
    return Hit(**(base | fields))


def ua(n: int, type_: str, **fields: Any) -> Hit:
    base: dict[str, Any] = dict(
        hit_id=f"{n:032x}", received_time=at(n), event_time=at(n), property_id="p1",
        tracking_id="UA-1-1", protocol="ua", type=type_, client_id="333.444")
    return Hit(**(base | fields))


SHIRT = Item(item_id="SKU1", item_name="Shirt", item_brand="Acme", item_category="Apparel",
             item_variant="red", price=20.0, quantity=2, coupon="C1", position=1,
             list_name="Search results",
             params={"item_category2": "Tops", "promotion_id": "P1", "item_list_id": "L1",
                     "color_code": "f00", "affiliation": "Store"})
SOCKS = Item(item_id="SKU2", item_name="Socks", price=9.95, quantity=2)
HITS = (
    ga4(0, "page_view", "pageview", user_id="u1", session_engaged=True, engagement_time_ms=1500,
        first_visit=True, session_start=True, page_location="https://shop.example/?utm_source=news",
        page_hostname="shop.example", page_title="Home", page_referrer="https://mail.example/",
        campaign_source="news", campaign_medium="email", campaign_name="launch", campaign_id="c-9",
        gclid="g-1", event_params={"content_type": "article", "page_title": "not the field"},
        event_params_num={"word_count": 1200.0, "ratio": 0.25},
        user_properties={"plan": "pro"}, user_properties_num={"seats": 5.0},
        consent_state="G101", language="en-us", device_category="desktop", browser="Chrome",
        browser_version="131.0", os="Windows", os_version="10", geo_continent="EU",
        geo_country="DE", geo_region="DE-BE", geo_city="Berlin"),
    ga4(1, "sign_up", protocol="ga4mp", tracking_id="1:123:android:abc", client_id="app-7",
        session_id="s-abc", session_number=None, app_id="com.example.app", app_version="2.1",
        os="Android", currency="EUR", event_params={"method": "email", "page_title": "Sign up"},
        event_params_num={"value": 3.5}, user_properties_num={"ltv_bucket": 2.0},
        consent_state="ad_user_data=GRANTED;ad_personalization=DENIED"),
    ua(2, "pageview", page_location="https://shop.example/a", page_title="A",
       page_referrer="https://www.google.com/", referrer_medium="search", referrer_source="google"),
    ua(3, "event", event_category="video", event_action="play", event_label="intro", event_value=30,
       non_interaction=True),
    ga4(4, "purchase", "transaction", transaction_id="T-1", transaction_revenue=59.9,
        transaction_tax=5.0, transaction_shipping=4.9, currency="USD", transaction_coupon="SUMMER",
        transaction_affiliation="web", items=(SHIRT, SOCKS), engagement_time_ms=0),
    ga4(5, "refund", transaction_id="T-1", transaction_revenue=10.0, currency="EUR",
        items=(Item(item_id="SKU2", price=10.0, quantity=1),)),
    ua(6, "transaction", transaction_id="T-2", transaction_revenue=15.5, currency="EUR"),
    ga4(7, "page_view", "pageview", client_id="9.1", first_visit=True, consent_state="G110",
        referrer_medium="search", referrer_source="bing"),
    ga4(8, "page_view", "pageview", client_id="9.2", first_visit=True, referrer_medium="direct"),
    ga4(9, "page_view", "pageview", client_id="9.3", first_visit=True, gclid="g-2",
        referrer_medium="paid", referrer_source="google"),
    ga4(10, "page_view", "pageview", client_id="9.4", first_visit=True,
        referrer_medium="referral", referrer_source="news.example"),
    ga4(11, "page_view", "pageview", property_id="p2", event_time=datetime(2026, 11, 28, 23, 30, tzinfo=UTC)),
)


@pytest.fixture(scope="module")
def archive(moto_url: str) -> dict[str, str]:
    # module scope: written once (explicit credentials: the per-test AWS isolation is not on yet)
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket, prefix = "ga4-" + secrets.token_hex(6), "t" + secrets.token_hex(3) + "/"
    s3.create_bucket(Bucket=bucket)
    assert lake_support.archive(s3, bucket, prefix, HITS)
    return {"endpoint": moto_url, "root": archive_layout.archive_root(bucket, prefix)}


@pytest.fixture
def conn(archive: dict[str, str]) -> Iterator[duckdb.DuckDBPyConnection]:
    c = lake_support.connect(archive["endpoint"], archive["root"])
    c.execute(ga4_export.view_sql("duckdb"))
    yield c
    c.close()


def rows(conn: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    result = conn.sql(ga4_export.to_duckdb(sql))
    names = [d[0] for d in result.description]
    return [dict(zip(names, r, strict=True)) for r in result.fetchall()]


@pytest.fixture
def by_hit(conn: duckdb.DuckDBPyConnection) -> dict[int, dict[str, Any]]:
    """Every p1 row of the view, by the hit's number (its minute after T0)."""
    out = rows(conn, f"SELECT * FROM events_ga4 WHERE property = 'p1' AND \"date\" = '{DAY}'")
    assert len(out) == len(HITS) - 1
    return {(r["event_timestamp"] - micros(T0)) // 60_000_000: r for r in out}


def test_duckdb_sees_the_export_columns_then_property_and_date(conn: duckdb.DuckDBPyConnection) -> None:
    described = conn.sql("DESCRIBE events_ga4").fetchall()
    expected = [(name, str(conn.sql(f"SELECT CAST(NULL AS {bigquery(t).sql('duckdb')})").types[0]))
                for name, t in EXPORT] + [("property", "VARCHAR"), ("date", "VARCHAR")]
    assert [(r[0], r[1]) for r in described] == expected


def p(key: str, s: str | None = None, i: int | None = None, d: float | None = None) -> dict[str, Any]:
    return {"key": key, "value": {"string_value": s, "int_value": i, "float_value": None, "double_value": d}}


def test_a_gtag_page_view_in_the_exports_shape(by_hit: dict[int, dict[str, Any]]) -> None:
    r = by_hit[0]
    ts = micros(at(0))
    assert (r["event_date"], r["event_timestamp"], r["event_name"]) == ("20261128", ts, "page_view")
    assert r["event_params"] == [  # the standard params GA synthesizes, then the hit's own by key
        p("ga_session_id", i=1764324000), p("ga_session_number", i=3),
        p("page_location", "https://shop.example/?utm_source=news"), p("page_title", "Home"),
        p("page_referrer", "https://mail.example/"), p("engagement_time_msec", i=1500),
        p("session_engaged", "1"),
        p("content_type", "article"), p("ratio", d=0.25), p("word_count", i=1200)]
    assert r["user_properties"] == [
        {"key": "plan", "value": {"string_value": "pro", "int_value": None, "float_value": None,
                                  "double_value": None, "set_timestamp_micros": ts}},
        {"key": "seats", "value": {"string_value": None, "int_value": 5, "float_value": None,
                                   "double_value": None, "set_timestamp_micros": ts}}]
    assert (r["user_id"], r["user_pseudo_id"], r["user_first_touch_timestamp"]) == ("u1", "111.222", ts)
    assert r["event_server_timestamp_offset"] == 2_000_000
    assert r["privacy_info"] == {"analytics_storage": "Yes", "ads_storage": "No",
                                 "uses_transient_token": None}
    assert r["device"] == {
        "category": "desktop", "mobile_brand_name": None, "mobile_model_name": None,
        "mobile_marketing_name": None, "mobile_os_hardware_model": None, "operating_system": "Windows",
        "operating_system_version": "10", "vendor_id": None, "advertising_id": None, "language": "en-us",
        "is_limited_ad_tracking": None, "time_zone_offset_seconds": None, "browser": "Chrome",
        "browser_version": "131.0",
        "web_info": {"browser": "Chrome", "browser_version": "131.0", "hostname": "shop.example"}}
    assert r["geo"] == {"city": "Berlin", "country": "DE", "continent": "EU", "region": "DE-BE",
                        "sub_continent": None, "metro": None}
    assert r["traffic_source"] == {"name": "launch", "medium": "email", "source": "news"}
    assert r["collected_traffic_source"] == {
        "manual_campaign_id": "c-9", "manual_campaign_name": "launch", "manual_source": "news",
        "manual_medium": "email", "manual_term": None, "manual_content": None,
        "manual_source_platform": None, "manual_creative_format": None,
        "manual_marketing_tactic": None, "gclid": "g-1", "dclid": None, "srsltid": None}
    assert (r["stream_id"], r["platform"], r["is_active_user"]) == ("G-TEST1", "WEB", True)
    assert r["event_dimensions"] == {"hostname": "shop.example"}
    assert r["items"] == []
    assert r["ecommerce"]["total_item_quantity"] is None
    assert r["ecommerce"]["purchase_revenue"] is None
    for missing in ("user_ltv", "session_traffic_source_last_click", "publisher", "event_previous_timestamp",
                    "event_bundle_sequence_id", "batch_event_index", "event_value_in_usd"):
        assert r[missing] is None, missing
    assert r["app_info"] == dict.fromkeys(("id", "version", "install_store", "firebase_app_id",
                                           "install_source"))


def test_a_measurement_protocol_app_event(by_hit: dict[int, dict[str, Any]]) -> None:
    r = by_hit[1]
    # a session id that is not a number stays a string; the hit's own page_title param is the
    # standard one when the hit has no title field; a fractional number is a double_value
    assert r["event_params"] == [p("ga_session_id", "s-abc"), p("page_title", "Sign up"),
                                 p("value", d=3.5), p("currency", "EUR"), p("method", "email")]
    assert [(u["key"], u["value"]["int_value"]) for u in r["user_properties"]] == [("ltv_bucket", 2)]
    assert (r["event_name"], r["platform"], r["stream_id"]) == ("sign_up", "ANDROID", "1:123:android:abc")
    assert r["app_info"] == {"id": "com.example.app", "version": "2.1", "install_store": None,
                             "firebase_app_id": "1:123:android:abc", "install_source": None}
    assert r["event_value_in_usd"] is None  # EUR: no conversion
    assert r["privacy_info"] == dict.fromkeys(("analytics_storage", "ads_storage", "uses_transient_token"))
    assert (r["is_active_user"], r["traffic_source"], r["user_first_touch_timestamp"]) == (False, None, None)


def test_ua_hits_get_ga4_names_and_params(by_hit: dict[int, dict[str, Any]]) -> None:
    page, event, purchase = by_hit[2], by_hit[3], by_hit[6]
    assert page["event_name"] == "page_view"
    assert page["event_params"] == [p("page_location", "https://shop.example/a"), p("page_title", "A"),
                                    p("page_referrer", "https://www.google.com/")]
    assert event["event_name"] == "ua_event"
    assert event["event_params"] == [p("event_category", "video"), p("event_action", "play"),
                                     p("event_label", "intro"), p("value", i=30)]
    assert (event["user_pseudo_id"], event["is_active_user"]) == ("333.444", None)
    assert event["traffic_source"] is None
    assert purchase["event_name"] == "purchase"
    assert purchase["ecommerce"] == {
        "total_item_quantity": None, "purchase_revenue_in_usd": None, "purchase_revenue": 15.5,
        "refund_value_in_usd": None, "refund_value": None, "shipping_value_in_usd": None,
        "shipping_value": None, "tax_value_in_usd": None, "tax_value": None, "unique_items": None,
        "transaction_id": "T-2"}


def test_a_purchase_with_items_and_a_refund(by_hit: dict[int, dict[str, Any]]) -> None:
    r = by_hit[4]
    assert r["ecommerce"] == {
        "total_item_quantity": 4, "purchase_revenue_in_usd": 59.9, "purchase_revenue": 59.9,
        "refund_value_in_usd": None, "refund_value": None, "shipping_value_in_usd": 4.9,
        "shipping_value": 4.9, "tax_value_in_usd": 5.0, "tax_value": 5.0, "unique_items": 2,
        "transaction_id": "T-1"}
    assert r["event_value_in_usd"] == 59.9
    assert [x for x in r["event_params"] if x["key"] not in ("ga_session_id", "ga_session_number")] == [
        p("engagement_time_msec", i=0), p("value", d=59.9), p("currency", "USD"),
        p("transaction_id", "T-1"), p("affiliation", "web"), p("coupon", "SUMMER"), p("tax", i=5),
        p("shipping", d=4.9)]
    shirt, socks = r["items"]
    assert shirt == {
        "item_id": "SKU1", "item_name": "Shirt", "item_brand": "Acme", "item_variant": "red",
        "item_category": "Apparel", "item_category2": "Tops", "item_category3": None,
        "item_category4": None, "item_category5": None, "price_in_usd": 20.0, "price": 20.0,
        "quantity": 2, "item_revenue_in_usd": 40.0, "item_revenue": 40.0, "item_refund_in_usd": None,
        "item_refund": None, "coupon": "C1", "affiliation": "Store", "location_id": None,
        "item_list_id": "L1", "item_list_name": "Search results", "item_list_index": "1",
        "promotion_id": "P1", "promotion_name": None, "creative_name": None, "creative_slot": None,
        "item_params": [p("color_code", "f00")]}
    assert (socks["item_id"], socks["item_revenue"], socks["item_params"]) == ("SKU2", 19.9, [])
    refund = by_hit[5]
    assert (refund["ecommerce"]["refund_value"], refund["ecommerce"]["purchase_revenue"]) == (10.0, None)
    assert refund["ecommerce"]["refund_value_in_usd"] is None
    assert [(i["item_refund"], i["item_revenue"]) for i in refund["items"]] == [(10.0, None)]


def test_traffic_source_is_the_first_visits_source(by_hit: dict[int, dict[str, Any]]) -> None:
    assert [by_hit[n]["traffic_source"] for n in (7, 8, 9, 10)] == [
        {"name": "(organic)", "medium": "organic", "source": "bing"},
        {"name": "(direct)", "medium": "(none)", "source": "(direct)"},
        {"name": "(not set)", "medium": "cpc", "source": "google"},
        {"name": "(referral)", "medium": "referral", "source": "news.example"}]
    assert by_hit[7]["privacy_info"]["analytics_storage"] == "No"
    assert by_hit[7]["privacy_info"]["ads_storage"] == "Yes"


def test_event_date_is_the_utc_date_and_the_partitions_still_filter(conn: duckdb.DuckDBPyConnection) -> None:
    late = rows(conn, "SELECT event_date, event_timestamp, property, \"date\" FROM events_ga4 "
                      "WHERE property = 'p2'")
    assert late == [{"event_date": "20261128", "event_timestamp": micros(HITS[-1].event_time),
                     "property": "p2", "date": DAY}]
    next_day = "SELECT count(*) AS n FROM events_ga4 WHERE property = 'p1' AND \"date\" = '2026-11-29'"
    assert rows(conn, next_day) == [{"n": 0}]
    # DuckDB still skips the other partitions' objects through the view (p1 has several)
    plan = conn.execute("EXPLAIN ANALYZE SELECT count(*) FROM events_ga4 WHERE property = 'p2' "
                        "AND \"date\" = '2026-11-28'").fetchall()[0][1]
    scanned = re.search(r"Scanning Files: (\d+)/(\d+)", plan)
    assert scanned is not None, plan
    assert scanned.group(1) == "1"
    assert int(scanned.group(2)) > 1


# --- BigQuery export queries, ported to Trino SQL ---------------------------------------------


def test_sessions_and_users_per_day(conn: duckdb.DuckDBPyConnection) -> None:
    # BigQuery: COUNT(DISTINCT CONCAT(user_pseudo_id,
    #   (SELECT CAST(value.int_value AS STRING) FROM UNNEST(event_params) WHERE key = 'ga_session_id')))
    got = rows(conn, """
        SELECT event_date, count(DISTINCT user_pseudo_id) AS users,
               count(DISTINCT user_pseudo_id || '.' || CAST(element_at(
                   filter(event_params, x -> x.key = 'ga_session_id'), 1).value.int_value AS varchar))
                 AS sessions
        FROM events_ga4
        WHERE property = 'p1' AND "date" = '2026-11-28' AND platform = 'WEB'
        GROUP BY event_date""")
    assert got == [{"event_date": "20261128", "users": 6, "sessions": 5}]


def test_a_param_by_subquery_over_unnest(conn: duckdb.DuckDBPyConnection) -> None:
    # BigQuery: (SELECT value.string_value FROM UNNEST(event_params) WHERE key = 'page_location')
    got = rows(conn, """
        SELECT (SELECT value.string_value FROM UNNEST(event_params) AS x(key, value)
                WHERE key = 'page_location') AS page, count(*) AS views
        FROM events_ga4
        WHERE property = 'p1' AND "date" = '2026-11-28' AND event_name = 'page_view'
        GROUP BY 1 ORDER BY 1 NULLS LAST""")
    assert got == [{"page": "https://shop.example/?utm_source=news", "views": 1},
                   {"page": "https://shop.example/a", "views": 1}, {"page": None, "views": 4}]


def test_item_revenue_through_cross_join_unnest(conn: duckdb.DuckDBPyConnection) -> None:
    # BigQuery: SELECT item.item_name, SUM(item.item_revenue) FROM events_*, UNNEST(items) AS item
    fields = ", ".join(f.name for f in next(f for f in SCHEMA if f.name == "items").fields)
    got = rows(conn, f"""
        SELECT i.item_name, sum(i.item_revenue) AS revenue, sum(i.quantity) AS quantity
        FROM events_ga4 CROSS JOIN UNNEST(items) AS i({fields})
        WHERE property = 'p1' AND "date" = '2026-11-28' AND event_name = 'purchase'
        GROUP BY i.item_name ORDER BY revenue DESC""")
    assert got == [{"item_name": "Shirt", "revenue": 40.0, "quantity": 2},
                   {"item_name": "Socks", "revenue": 19.9, "quantity": 2}]


def test_user_properties_and_revenue(conn: duckdb.DuckDBPyConnection) -> None:
    seats = rows(conn, """
        SELECT user_pseudo_id, up.value.int_value AS seats
        FROM events_ga4 CROSS JOIN UNNEST(user_properties) AS up(key, value)
        WHERE property = 'p1' AND "date" = '2026-11-28' AND up.key = 'seats'""")
    assert seats == [{"user_pseudo_id": "111.222", "seats": 5}]
    revenue = rows(conn, """
        SELECT event_date, sum(ecommerce.purchase_revenue) AS revenue,
               sum(ecommerce.purchase_revenue_in_usd) AS usd,
               count(DISTINCT ecommerce.transaction_id) AS orders
        FROM events_ga4
        WHERE property = 'p1' AND "date" = '2026-11-28' AND event_name = 'purchase'
        GROUP BY event_date""")
    assert revenue == [{"event_date": "20261128", "revenue": 59.9 + 15.5, "usd": 59.9, "orders": 2}]
    first = rows(conn, """
        SELECT traffic_source.medium AS medium, count(DISTINCT user_pseudo_id) AS new_users
        FROM events_ga4
        WHERE property = 'p1' AND "date" = '2026-11-28' AND traffic_source.medium IS NOT NULL
        GROUP BY 1 ORDER BY 1""")
    assert first == [{"medium": m, "new_users": 1}
                     for m in ("(none)", "cpc", "email", "organic", "referral")]
