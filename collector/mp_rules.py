"""The tables behind collector.mp: GA4 Measurement Protocol limits, reserved names and the
parameter → Hit field mapping, each declared once (STYLE.md §3).

Sources: /work/shared/reference/ga-protocols.md §2.3–2.5; where it is silent the choice is
marked here.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

# --- limits (§2.4) --------------------------------------------------------------------------

MAX_EVENTS = 25
MAX_PARAMS = 25  # per event, every key of `params` counted (items and timestamp_micros too)
MAX_USER_PROPERTIES = 25
# The reference gives no item count for MP: 200, as gtag's pr1…pr200 (§3) and UA's INDEX_MAX.
MAX_ITEMS = 200
# MP limitations: ≤ 10 custom item params; the help centre allows 27 on recommended e-commerce
# events (ga-protocols.md §4.8). We follow the MP reference: this is the MP endpoint.
MAX_CUSTOM_ITEM_PARAMS = 10
NAME_MAX = 40  # event, param and item param names
USER_PROPERTY_NAME_MAX = 24
USER_PROPERTY_VALUE_MAX = 36
USER_ID_MAX = 256
PARAM_VALUE_MAX = 100  # param and item param string values (500 on GA360: not modelled)
VALUE_MAX_BY_PARAM = {"page_title": 300, "page_referrer": 420, "page_location": 1000}
LENGTH_EXEMPT = frozenset({"session_id", "session_number"})
BACKDATE_MAX_US = 72 * 3600 * 1_000_000  # timestamps at most 72 h back
CLOCK_SKEW_US = 60 * 1_000_000  # ours: a timestamp up to 60 s ahead of us is not "future"

RELAXED = "RELAXED"
ENFORCE = "ENFORCE_RECOMMENDATIONS"

# Names: a letter, then letters, digits and underscores (§2.4); ASCII only, a true end.
NAME_START = re.compile(r"[A-Za-z]")
NAME_CHARS = re.compile(r"[A-Za-z0-9_]*\Z")
APP_INSTANCE_ID = re.compile(r"[0-9a-fA-F]{32}\Z")
SCREEN_RESOLUTION = re.compile(r"[0-9]{1,5}x[0-9]{1,5}\Z")
COUNTRY_ID = re.compile(r"[A-Za-z]{2}\Z")
REGION_ID = re.compile(r"[A-Za-z]{2}-[A-Za-z0-9]{1,3}\Z")
NUMERIC = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?\Z")  # a number sent as a string
DIGITS = re.compile(r"[0-9]{1,19}\Z")
INT_MAX = 2**63 - 1  # the bigint columns

# --- reserved names (§2.5) ------------------------------------------------------------------

RESERVED_EVENT_NAMES = frozenset({
    "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure",
    "app_clear_data", "app_exception", "app_install", "app_remove", "app_store_refund",
    "app_update", "app_upgrade", "dynamic_link_app_open", "dynamic_link_app_update",
    "dynamic_link_first_open", "error", "firebase_campaign", "firebase_in_app_message_action",
    "firebase_in_app_message_dismiss", "firebase_in_app_message_impression", "first_open",
    "first_visit", "notification_dismiss", "notification_foreground", "notification_open",
    "notification_receive", "notification_send", "os_update", "session_start",
    "user_engagement"})
APP_ONLY_EVENT_NAMES = frozenset({"ad_impression", "in_app_purchase", "screen_view"})
RESERVED_PARAM_NAMES = frozenset({"firebase_conversion"})
RESERVED_PARAM_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_USER_PROPERTY_NAMES = frozenset({
    "first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id",
    "first_open_after_install"})
RESERVED_USER_PROPERTY_PREFIXES = ("_", "firebase_", "ga_", "google_")


# --- event params → Hit fields --------------------------------------------------------------


class Kind(Enum):
    TEXT = "text"  # a string; a number is taken as its text (transaction_id: 12345)
    NUM = "number"  # a number, or a numeric string
    INT = "integer"  # a non-negative integral number, or a string of digits
    SESSION = "session"  # session_id: a non-negative integral number, or a string of digits (kept)


# name → (Hit field, kind). `value` and `items` are handled by the parser itself.
PARAMS: dict[str, tuple[str, Kind]] = {
    "session_id": ("session_id", Kind.SESSION),
    "session_number": ("session_number", Kind.INT),
    "engagement_time_msec": ("engagement_time_ms", Kind.INT),
    "page_location": ("page_location", Kind.TEXT),
    "page_title": ("page_title", Kind.TEXT),
    "page_referrer": ("page_referrer", Kind.TEXT),
    "currency": ("currency", Kind.TEXT),
    "transaction_id": ("transaction_id", Kind.TEXT),
    "affiliation": ("transaction_affiliation", Kind.TEXT),
    "coupon": ("transaction_coupon", Kind.TEXT),
    "tax": ("transaction_tax", Kind.NUM),
    "shipping": ("transaction_shipping", Kind.NUM),
}
REVENUE_EVENTS = frozenset({"purchase", "refund"})  # `value` → transaction_revenue
HIT_TYPE_BY_EVENT = {"page_view": "pageview", "screen_view": "screenview", "purchase": "transaction"}

# item key → (Item field, kind); every other key goes to Item.params as a string.
ITEM_FIELDS: dict[str, tuple[str, Kind]] = {
    "item_id": ("item_id", Kind.TEXT),
    "item_name": ("item_name", Kind.TEXT),
    "item_brand": ("item_brand", Kind.TEXT),
    "item_category": ("item_category", Kind.TEXT),
    "item_variant": ("item_variant", Kind.TEXT),
    "coupon": ("coupon", Kind.TEXT),
    "item_list_name": ("list_name", Kind.TEXT),
    "price": ("price", Kind.NUM),
    "quantity": ("quantity", Kind.INT),
    "index": ("position", Kind.INT),
}
# Google's documented item keys with no Item field: kept in Item.params, not counted as custom.
STANDARD_ITEM_PARAMS = frozenset({
    "affiliation", "creative_name", "creative_slot", "currency", "discount", "item_category2",
    "item_category3", "item_category4", "item_category5", "item_list_id", "location_id",
    "promotion_id", "promotion_name"})

# Request-level objects: key → Hit field. device.* overrides the tail's User-Agent detection.
DEVICE_FIELDS = {
    "category": "device_category", "language": "language", "screen_resolution": "screen_resolution",
    "operating_system": "os", "operating_system_version": "os_version", "model": "device_model",
    "brand": "device_brand", "browser": "browser", "browser_version": "browser_version",
}
LOCATION_FIELDS = {
    "city": "geo_city", "region_id": "geo_region", "country_id": "geo_country",
    "continent_id": "geo_continent", "subcontinent_id": "",  # validated, no Hit field
}
CONSENT_KEYS = ("ad_user_data", "ad_personalization")
CONSENT_VALUES = frozenset({"GRANTED", "DENIED"})


# --- converters -----------------------------------------------------------------------------


def show(value: Any) -> str:
    """A value as a description shows it: JSON-like, long text cut."""
    if isinstance(value, str):
        return value if len(value) <= 100 else value[:100] + "…"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int | float):
        return str(value)
    return "{…}" if isinstance(value, dict) else "[…]"


def name_problem(name: str, max_len: int) -> str | None:
    if not NAME_START.match(name):
        return "Names must start with an alphabetic character."
    if not NAME_CHARS.match(name, 1):
        return "Only alphanumeric characters and underscores are allowed."
    if len(name) > max_len:
        return f"Names must be {max_len} characters or fewer."
    return None


def as_text(value: Any) -> str | None:
    """A param value as text: strings, numbers and bools; None for null, objects, arrays."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def convert(value: Any, kind: Kind) -> Any:
    """The value of a mapped param (None: the wrong type or format)."""
    if isinstance(value, bool) or value is None:
        return None
    if kind is Kind.TEXT:
        return as_text(value)
    if kind is Kind.NUM:
        if isinstance(value, int | float):
            return float(value)
        return float(value) if isinstance(value, str) and NUMERIC.match(value) else None
    if kind is Kind.SESSION and isinstance(value, str):  # digits of any length: kept as sent
        return value if value.isascii() and value.isdigit() else None
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    number = int(value) if integral or (isinstance(value, str) and DIGITS.match(value)) else None
    if number is None or not 0 <= number <= INT_MAX:
        return None
    return str(number) if kind is Kind.SESSION else number


def param_value(value: Any, spec: tuple[str, Kind] | None) -> Any:
    """An event param's value: as its table entry says, else a number (float) or text."""
    if spec is not None:
        return convert(value, spec[1])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return as_text(value)
