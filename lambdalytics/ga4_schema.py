"""The GA4 BigQuery export's schema, each field filled from the ``events`` view.

:data:`SCHEMA` is the export's columns (Google's "[GA4] BigQuery Export schema", with its
later additions: ``collected_traffic_source``, ``is_active_user``, ``batch_*``,
``session_traffic_source_last_click``, ``publisher``, ``event_original_occurrence_timestamp``)
with the export's names, nesting, types and order, as its tables list them. Each leaf carries
the Trino/Athena expression over the ``events`` view (every Hit column, then ``property`` and
``date``) that fills it, or none where we have nothing (NULL; a RECORD with nothing in it is
NULL, an empty REPEATED field an empty array). The choices, and how they differ from Google's,
are in docs/ga4-export.md.
"""

from __future__ import annotations

from lambdalytics.ga4_sql import (
    BOOL,
    EVENT_TS,
    FLOAT64,
    INT64,
    RECORD,
    REPEATED,
    STRING,
    Field,
    col,
    entries,
    finish,
    flag,
    it,
    lit,
    micros,
    stage_row,
    strings,
    when,
)

IS_REFUND = f"({col('event_name')} = 'refund' OR {col('product_action')} = 'refund')"
IS_PURCHASE = (f"({col('event_name')} = 'purchase' OR {col('product_action')} = 'purchase' "
               f"OR {col('type')} = 'transaction')")


def usd(v: str) -> str:
    return f"CASE WHEN {col('currency')} = 'USD' THEN {v} END"


# The params GA puts on events, from Hit fields: (key, kind, expression). A hit's own param of
# the same name (same kind) is the fallback and is not repeated.
STANDARD_PARAMS: tuple[tuple[str, str, str], ...] = (
    ("ga_session_id", "id", col("session_id")),
    ("ga_session_number", "number", col("session_number")),
    ("page_location", "string", col("page_location")),
    ("page_title", "string", col("page_title")),
    ("page_referrer", "string", col("page_referrer")),
    ("engagement_time_msec", "number", col("engagement_time_ms")),
    ("session_engaged", "string", flag(col("session_engaged"), "'1'", "'0'")),
    ("firebase_screen", "string", col("screen_name")),
    ("event_category", "string", col("event_category")),
    ("event_action", "string", col("event_action")),
    ("event_label", "string", col("event_label")),
    ("value", "number", f"COALESCE({col('transaction_revenue')}, {col('event_value')})"),
    ("currency", "string", col("currency")),
    ("transaction_id", "string", col("transaction_id")),
    ("affiliation", "string", col("transaction_affiliation")),
    ("coupon", "string", col("transaction_coupon")),
    ("tax", "number", col("transaction_tax")),
    ("shipping", "number", col("transaction_shipping")),
    ("description", "string", col("exception_description")),
    ("fatal", "number", flag(col("exception_fatal"), "1", "0")),
)
_PARAM_VALUE = (STRING("string_value"), INT64("int_value"), FLOAT64("float_value"),
                FLOAT64("double_value"))
PARAM = (STRING("key"), RECORD("value", *_PARAM_VALUE))
USER_PROPERTY = (STRING("key"), RECORD("value", *_PARAM_VALUE, INT64("set_timestamp_micros")))


def own(key: str, kind: str, v: str) -> str:
    """A standard param's value, falling back on the hit's own param of that name."""
    if kind == "number":
        return f"COALESCE(CAST({v} AS double), element_at({col('event_params_num')}, {lit(key)}))"
    return f"COALESCE({v}, element_at({col('event_params')}, {lit(key)}))"


def _event_params() -> str:
    text = tuple(k for k, kind, _ in STANDARD_PARAMS if kind != "number")
    nums = tuple(k for k, kind, _ in STANDARD_PARAMS if kind == "number")
    standard = ",\n    ".join(stage_row(lit(k), kind, own(k, kind, v)) for k, kind, v in STANDARD_PARAMS)
    rows = (f"ARRAY[\n    {standard}]\n  || {entries(col('event_params'), 'string', text)}"
            f"\n  || {entries(col('event_params_num'), 'number', nums)}")
    return finish(rows, PARAM)


def _user_properties() -> str:
    rows = (f"{entries(col('user_properties'), 'string')}"
            f"\n  || {entries(col('user_properties_num'), 'number')}")
    return finish(rows, USER_PROPERTY, extra=EVENT_TS)


def _param(name: str) -> str:
    return f"element_at({it('params')}, {lit(name)})"


_ITEM_PARAMS = ("item_category2", "item_category3", "item_category4", "item_category5",
                "affiliation", "location_id", "item_list_id", "promotion_id", "promotion_name",
                "creative_name", "creative_slot")  # Item.params keys that are export fields
_ITEM_REVENUE = f"{it('price')} * {it('quantity')}"
ITEM = (
    *(STRING(n, it(n)) for n in ("item_id", "item_name", "item_brand", "item_variant", "item_category")),
    *(STRING(f"item_category{n}", _param(f"item_category{n}")) for n in range(2, 6)),
    FLOAT64("price_in_usd", usd(it("price"))), FLOAT64("price", it("price")),
    INT64("quantity", it("quantity")),
    FLOAT64("item_revenue_in_usd", usd(when(IS_PURCHASE, _ITEM_REVENUE))),
    FLOAT64("item_revenue", when(IS_PURCHASE, _ITEM_REVENUE)),
    FLOAT64("item_refund_in_usd", usd(when(IS_REFUND, _ITEM_REVENUE))),
    FLOAT64("item_refund", when(IS_REFUND, _ITEM_REVENUE)),
    STRING("coupon", it("coupon")),
    *(STRING(n, _param(n)) for n in ("affiliation", "location_id", "item_list_id")),
    STRING("item_list_name", it("list_name")),
    STRING("item_list_index", f"CAST({it('position')} AS varchar)"),
    *(STRING(n, _param(n)) for n in ("promotion_id", "promotion_name", "creative_name", "creative_slot")),
    REPEATED("item_params", PARAM, finish(entries(it("params"), "string", _ITEM_PARAMS), PARAM)),
)
_ITEM_ROW = Field("", "RECORD", ITEM)
_ITEMS = f"transform({col('items')}, i -> CAST({_ITEM_ROW.value()} AS {_ITEM_ROW.trino_type()}))"
_HAS_ITEMS = f"cardinality({col('items')}) > 0"
_ITEM_IDS = f"filter(transform({col('items')}, i -> {it('item_id')}), x -> x IS NOT NULL)"
_QUANTITY = (f"reduce({col('items')}, CAST(0 AS bigint), (s, i) -> s + COALESCE({it('quantity')}, 0), "
             "s -> s)")
_REVENUE = col("transaction_revenue")
_PURCHASE_REVENUE = f"CASE WHEN {IS_REFUND} THEN NULL ELSE {_REVENUE} END"
# UA hits have no event name: theirs by hit type (gtag's names where gtag had one)
UA_EVENT_NAMES = {"pageview": "page_view", "screenview": "screen_view", "transaction": "purchase",
                  "exception": "exception", "timing": "timing_complete"}
EVENT_NAME = (f"COALESCE({col('event_name')}, CASE {col('type')} "
              + " ".join(f"WHEN {lit(t)} THEN {lit(n)}" for t, n in UA_EVENT_NAMES.items())
              + f" ELSE 'ua_' || {col('type')} END)")
_CAMPAIGN = " OR ".join(f"{col(f'campaign_{c}')} IS NOT NULL" for c in ("source", "medium", "name"))
# traffic_source on a first visit: (condition, name, medium, source), the first that holds wins
_FIRST_TOUCH = (
    (_CAMPAIGN, *(f"COALESCE({col(f'campaign_{c}')}, '(not set)')" for c in ("name", "medium", "source"))),
    (f"{col('gclid')} IS NOT NULL", "'(not set)'", "'cpc'", "'google'"),
    (f"{col('referrer_source')} IS NULL", "'(direct)'", "'(none)'", "'(direct)'"),
    (f"{col('referrer_medium')} = 'search'", "'(organic)'", "'organic'", col("referrer_source")),
    ("true", "'(referral)'", "'referral'", col("referrer_source")),
)


def _first_touch(n: int) -> str:
    return "CASE " + " ".join(f"WHEN {rule[0]} THEN {rule[n]}" for rule in _FIRST_TOUCH) + " END"


def _consent(position: int) -> str:  # gcs is G1<ad_storage><analytics_storage>, 1 granted
    cs = col("consent_state")
    return (f"CASE WHEN {cs} LIKE 'G1__' THEN CASE substr({cs}, {position}, 1) "
            "WHEN '1' THEN 'Yes' WHEN '0' THEN 'No' END END")


_TID, _OS = col("tracking_id"), col("os")
_APP = f"{col('app_id')} IS NOT NULL OR {col('app_name')} IS NOT NULL OR {col('data_source')} = 'app'"
PLATFORM = (f"CASE WHEN {_TID} LIKE '1:%:android:%' THEN 'ANDROID' WHEN {_TID} LIKE '1:%:ios:%' THEN 'IOS' "
            f"WHEN {_APP} THEN CASE {_OS} WHEN 'Android' THEN 'ANDROID' WHEN 'iOS' THEN 'IOS' END "
            "ELSE 'WEB' END")
# GA's active user: an engaged session, engagement time or a first visit (UA hits: unknown)
IS_ACTIVE = (f"CASE WHEN {col('protocol')} = 'ua' THEN NULL ELSE COALESCE({col('session_engaged')}, false) "
             f"OR COALESCE({col('engagement_time_ms')}, 0) > 0 OR COALESCE({col('first_visit')}, false) END")
_CAMPAIGN_FIELDS = ("campaign_id", "campaign_name", "source", "medium")

SCHEMA: tuple[Field, ...] = (
    STRING("event_date", f"replace({col('date')}, '-', '')"),
    INT64("event_timestamp", EVENT_TS),
    STRING("event_name", EVENT_NAME),
    REPEATED("event_params", PARAM, _event_params()),
    INT64("event_previous_timestamp"),
    FLOAT64("event_value_in_usd", usd(own("value", "number", _REVENUE))),
    INT64("event_bundle_sequence_id"),
    INT64("event_server_timestamp_offset", micros(col("received_time"), col("event_time"))),
    STRING("user_id", col("user_id")),
    STRING("user_pseudo_id", col("client_id")),
    RECORD("privacy_info", STRING("analytics_storage", _consent(4)),
           STRING("ads_storage", _consent(3)), STRING("uses_transient_token")),
    REPEATED("user_properties", USER_PROPERTY, _user_properties()),
    INT64("user_first_touch_timestamp", when(col("first_visit"), EVENT_TS)),
    RECORD("user_ltv", FLOAT64("revenue"), STRING("currency")),
    RECORD("device",
           STRING("category", col("device_category")), STRING("mobile_brand_name", col("device_brand")),
           STRING("mobile_model_name", col("device_model")),
           *strings("mobile_marketing_name", "mobile_os_hardware_model"),
           STRING("operating_system", _OS), STRING("operating_system_version", col("os_version")),
           *strings("vendor_id", "advertising_id"), STRING("language", col("language")),
           STRING("is_limited_ad_tracking"), INT64("time_zone_offset_seconds"),
           STRING("browser", col("browser")), STRING("browser_version", col("browser_version")),
           RECORD("web_info", STRING("browser", col("browser")),
                  STRING("browser_version", col("browser_version")),
                  STRING("hostname", col("page_hostname")))),
    RECORD("geo", *(STRING(n, col(f"geo_{n}")) for n in ("city", "country", "continent", "region")),
           *strings("sub_continent", "metro")),
    RECORD("app_info", STRING("id", col("app_id")), STRING("version", col("app_version")),
           STRING("install_store", col("app_installer_id")),
           STRING("firebase_app_id", when(f"{_TID} LIKE '1:%'", _TID)), STRING("install_source")),
    RECORD("traffic_source", STRING("name", _first_touch(1)), STRING("medium", _first_touch(2)),
           STRING("source", _first_touch(3)), when=col("first_visit")),
    STRING("stream_id", _TID),
    STRING("platform", PLATFORM),
    RECORD("event_dimensions", STRING("hostname", col("page_hostname"))),
    RECORD("ecommerce",
           INT64("total_item_quantity", when(_HAS_ITEMS, _QUANTITY)),
           FLOAT64("purchase_revenue_in_usd", usd(_PURCHASE_REVENUE)),
           FLOAT64("purchase_revenue", _PURCHASE_REVENUE),
           FLOAT64("refund_value_in_usd", usd(when(IS_REFUND, _REVENUE))),
           FLOAT64("refund_value", when(IS_REFUND, _REVENUE)),
           FLOAT64("shipping_value_in_usd", usd(col("transaction_shipping"))),
           FLOAT64("shipping_value", col("transaction_shipping")),
           FLOAT64("tax_value_in_usd", usd(col("transaction_tax"))),
           FLOAT64("tax_value", col("transaction_tax")),
           INT64("unique_items", when(_HAS_ITEMS, f"cardinality(array_distinct({_ITEM_IDS}))")),
           STRING("transaction_id", col("transaction_id"))),
    REPEATED("items", ITEM, _ITEMS),
    RECORD("collected_traffic_source",
           STRING("manual_campaign_id", col("campaign_id")),
           STRING("manual_campaign_name", col("campaign_name")),
           *(STRING(f"manual_{n}", col(f"campaign_{n}")) for n in ("source", "medium", "term", "content")),
           *strings("manual_source_platform", "manual_creative_format", "manual_marketing_tactic"),
           STRING("gclid", col("gclid")), STRING("dclid", col("dclid")), STRING("srsltid")),
    BOOL("is_active_user", IS_ACTIVE),
    INT64("batch_event_index"), INT64("batch_page_id"), INT64("batch_ordering_id"),
    RECORD("session_traffic_source_last_click",
           RECORD("manual_campaign", *strings(*_CAMPAIGN_FIELDS, "term", "content", "source_platform",
                                              "creative_format", "marketing_tactic")),
           RECORD("google_ads_campaign", *strings("customer_id", "account_name", "campaign_id",
                                                  "campaign_name", "ad_group_id", "ad_group_name")),
           RECORD("cross_channel_campaign", *strings(*_CAMPAIGN_FIELDS, "source_platform",
                                                     "default_channel_group", "primary_channel_group")),
           RECORD("sa360_campaign", *strings(*_CAMPAIGN_FIELDS, "ad_group_id", "ad_group_name",
                                             "creative_format", "engine_account_name",
                                             "engine_account_type", "manager_account_name")),
           RECORD("cm360_campaign", *strings(*_CAMPAIGN_FIELDS, "account_id", "account_name",
                                             "advertiser_id", "advertiser_name", "creative_id",
                                             "creative_format", "creative_name", "creative_type",
                                             "creative_type_id", "creative_version", "placement_id",
                                             "placement_cost_structure", "placement_name",
                                             "rendering_id", "site_id", "site_name")),
           RECORD("dv360_campaign", *strings(*_CAMPAIGN_FIELDS, "advertiser_id", "advertiser_name",
                                             "creative_id", "creative_format", "creative_name",
                                             "exchange_id", "exchange_name", "insertion_order_id",
                                             "insertion_order_name", "line_item_id", "line_item_name",
                                             "partner_id", "partner_name"))),
    RECORD("publisher", FLOAT64("ad_revenue_in_usd"), *strings("ad_format", "ad_source_name", "ad_unit_id")),
    INT64("event_original_occurrence_timestamp"),
)
PASSTHROUGH = ("property", "date")  # last and as they are: the partition columns
