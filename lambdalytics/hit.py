"""The canonical Hit: the one record that crosses collector → Kinesis → archiver → queries.

DESIGN.md contract 1. The schema is defined once, here, as frozen dataclasses whose field
metadata carries the documentation and the column group; ``docs/hit-schema.md`` and every
table definition are generated from :func:`columns`. Stored flat, one column per field;
maps only for open-ended parameters (custom dimensions, GA4 event params, user properties).

Changing a field is a contract change: bump :data:`SCHEMA_VERSION`, and update every reader
in the same change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

SCHEMA_VERSION = 1

HIT_TYPES = (
    "pageview",
    "screenview",
    "event",
    "transaction",
    "item",
    "social",
    "exception",
    "timing",
)
PROTOCOLS = ("ua", "ga4mp", "gtag")


def _f(doc: str, default: Any = None) -> Any:
    return field(default=default, metadata={"doc": doc})


def _fmap(doc: str) -> Any:
    return field(default_factory=dict, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class Item:
    """One product, impression or GA4 item on a hit (`items` column, an array of these)."""

    list_kind: str = _f("'product' (pr<n>, GA4 items) or 'impression' (il<l>pi<p>)", "product")
    list_name: str | None = _f("impression list name (il<l>nm) or GA4 item_list_name")
    item_id: str | None = _f("product SKU / id (pr<n>id, GA4 item_id)")
    item_name: str | None = _f("product name (pr<n>nm, GA4 item_name)")
    item_brand: str | None = _f("brand (pr<n>br)")
    item_category: str | None = _f("category (pr<n>ca)")
    item_variant: str | None = _f("variant (pr<n>va)")
    price: float | None = _f("unit price (pr<n>pr)")
    quantity: int | None = _f("quantity (pr<n>qt)")
    coupon: str | None = _f("coupon code (pr<n>cc)")
    position: int | None = _f("position in its list (pr<n>ps)")
    params: Mapping[str, str] = _fmap("custom item parameters: cd<N>, cm<N>, GA4 custom item params")


@dataclass(frozen=True, slots=True)
class Promotion:
    """One internal promotion on a hit (`promotions` column)."""

    promotion_id: str | None = _f("promotion id (promo<n>id)")
    promotion_name: str | None = _f("promotion name (promo<n>nm)")
    creative: str | None = _f("creative (promo<n>cr)")
    position: str | None = _f("creative slot (promo<n>ps)")


@dataclass(frozen=True, slots=True)
class Hit:
    """One analytics hit, protocol-independent. Field order is the column order."""

    # identity and time
    schema_version: int = field(default=SCHEMA_VERSION, metadata={"doc": "schema version of this record"})
    hit_id: str = _f("32 hex chars; deterministic from the request's nonce where the protocol has one", "")
    received_time: datetime = field(
        default=datetime(1970, 1, 1, tzinfo=UTC),
        metadata={"doc": "when the collector received the hit (UTC, ms)"},
    )
    event_time: datetime = field(
        default=datetime(1970, 1, 1, tzinfo=UTC),
        metadata={"doc": "when the hit happened: receive time − queue time (UTC, ms); `date` partition"},
    )
    property_id: str = _f("our property id the tracking id belongs to", "")
    tracking_id: str = _f("the id as the tag sent it: UA-…, G-…, or a Firebase app id", "")
    protocol: str = _f("ua | ga4mp | gtag", "ua")
    type: str = _f("pageview, screenview, event, transaction, item, social, exception, timing", "pageview")
    event_name: str | None = _f("GA4 event name as sent (page_view, purchase, …); None for UA")
    data_source: str | None = _f("data source (ds): web, app, or free text")
    non_interaction: bool | None = _f("non-interaction hit (ni)")

    # user and session
    client_id: str | None = _f("anonymous client id (cid, client_id, app_instance_id)")
    user_id: str | None = _f("known user id (uid, user_id)")
    session_control: str | None = _f("session control: start or end (sc)")
    session_id: str | None = _f("GA4 session id (sid, session_id)")
    session_number: int | None = _f("GA4 session number (sct)")
    session_engaged: bool | None = _f("GA4 session engaged (seg)")
    engagement_time_ms: int | None = _f("engagement time in ms (_et, engagement_time_msec)")
    first_visit: bool | None = _f("first visit of this client (_fv)")
    session_start: bool | None = _f("first hit of a session (_ss)")

    # content
    page_location: str | None = _f("full page URL (dl, page_location)")
    page_hostname: str | None = _f("page host (dh, or the host of page_location)")
    page_path: str | None = _f("page path (dp, or the path of page_location)")
    page_title: str | None = _f("page title (dt, page_title)")
    page_referrer: str | None = _f("referrer URL (dr, page_referrer)")
    screen_name: str | None = _f("app screen name (cd)")
    link_id: str | None = _f("id of the clicked element (linkid)")
    content_group_1: str | None = _f("content group 1 (cg1)")
    content_group_2: str | None = _f("content group 2 (cg2)")
    content_group_3: str | None = _f("content group 3 (cg3)")
    content_group_4: str | None = _f("content group 4 (cg4)")
    content_group_5: str | None = _f("content group 5 (cg5)")

    # app
    app_name: str | None = _f("app name (an)")
    app_id: str | None = _f("app id (aid)")
    app_version: str | None = _f("app version (av)")
    app_installer_id: str | None = _f("app installer id (aiid)")

    # system info
    language: str | None = _f("user language (ul)")
    screen_resolution: str | None = _f("screen resolution (sr)")
    viewport_size: str | None = _f("viewport size (vp)")
    document_encoding: str | None = _f("document encoding (de)")
    screen_colors: str | None = _f("screen colour depth (sd)")
    java_enabled: bool | None = _f("Java enabled (je)")
    flash_version: str | None = _f("Flash version (fl)")

    # traffic source
    campaign_source: str | None = _f("campaign source (cs, utm_source)")
    campaign_medium: str | None = _f("campaign medium (cm, utm_medium)")
    campaign_name: str | None = _f("campaign name (cn, utm_campaign)")
    campaign_term: str | None = _f("campaign keyword (ck, utm_term)")
    campaign_content: str | None = _f("campaign content (cc, utm_content)")
    campaign_id: str | None = _f("campaign id (ci, utm_id)")
    gclid: str | None = _f("Google Ads click id")
    dclid: str | None = _f("Display & Video click id")
    gbraid: str | None = _f("Google Ads app-to-web click id")
    wbraid: str | None = _f("Google Ads web-to-app click id")
    fbclid: str | None = _f("Meta click id")
    msclkid: str | None = _f("Microsoft Ads click id")
    referrer_medium: str | None = _f(
        "referrer class: search, social, email, paid, referral, internal, direct")
    referrer_source: str | None = _f("referrer source name (google, facebook, …)")
    referrer_term: str | None = _f("search term from the referrer, where it carries one")

    # event
    event_category: str | None = _f("event category (ec)")
    event_action: str | None = _f("event action (ea)")
    event_label: str | None = _f("event label (el)")
    event_value: int | None = _f("event value, non-negative (ev)")

    # timing and page performance
    timing_category: str | None = _f("user timing category (utc)")
    timing_variable: str | None = _f("user timing variable (utv)")
    timing_time_ms: int | None = _f("user timing time in ms (utt)")
    timing_label: str | None = _f("user timing label (utl)")
    perf_page_load_ms: int | None = _f("page load time (plt)")
    perf_dns_ms: int | None = _f("DNS time (dns)")
    perf_page_download_ms: int | None = _f("page download time (pdt)")
    perf_redirect_ms: int | None = _f("redirect time (rrt)")
    perf_tcp_connect_ms: int | None = _f("TCP connect time (tcp)")
    perf_server_response_ms: int | None = _f("server response time (srt)")
    perf_dom_interactive_ms: int | None = _f("DOM interactive time (dit)")
    perf_content_load_ms: int | None = _f("content load time (clt)")

    # exception and social
    exception_description: str | None = _f("exception description (exd)")
    exception_fatal: bool | None = _f("exception is fatal (exf, default true on exception hits)")
    social_network: str | None = _f("social network (sn)")
    social_action: str | None = _f("social action (sa)")
    social_target: str | None = _f("social action target (st)")

    # ecommerce
    transaction_id: str | None = _f("transaction id (ti, transaction_id)")
    transaction_affiliation: str | None = _f("affiliation (ta, affiliation)")
    transaction_revenue: float | None = _f("revenue (tr, value)")
    transaction_shipping: float | None = _f("shipping (ts, shipping)")
    transaction_tax: float | None = _f("tax (tt, tax)")
    transaction_coupon: str | None = _f("transaction coupon (tcc, coupon)")
    currency: str | None = _f("ISO 4217 currency code (cu, currency)")
    item_name: str | None = _f("classic ecommerce item name (in)")
    item_price: float | None = _f("classic ecommerce item price (ip)")
    item_quantity: int | None = _f("classic ecommerce item quantity (iq)")
    item_code: str | None = _f("classic ecommerce item SKU (ic)")
    item_category: str | None = _f("classic ecommerce item category (iv)")
    product_action: str | None = _f("enhanced ecommerce action (pa)")
    product_action_list: str | None = _f("product action list (pal)")
    checkout_step: int | None = _f("checkout step (cos)")
    checkout_option: str | None = _f("checkout step option (col)")
    promotion_action: str | None = _f("promotion action: view or promo_click (promoa)")
    items: tuple[Item, ...] = field(
        default=(), metadata={"doc": "products, impressions and GA4 items (array of Item)"}
    )
    promotions: tuple[Promotion, ...] = field(
        default=(), metadata={"doc": "internal promotions (array of Promotion)"}
    )

    # experiments and consent
    experiment_id: str | None = _f("experiment id (xid)")
    experiment_variant: str | None = _f("experiment variant (xvar)")
    non_personalized_ads: bool | None = _f("disable ads personalisation (npa)")
    consent_state: str | None = _f("consent state as sent (gcs)")

    # open-ended parameters
    custom_dimensions: Mapping[str, str] = _fmap("custom dimensions by index: {'1': value} (cd<N>)")
    custom_metrics: Mapping[str, float] = _fmap("custom metrics by index: {'1': 2.5} (cm<N>)")
    event_params: Mapping[str, str] = _fmap("GA4 string event params (ep.*, params)")
    event_params_num: Mapping[str, float] = _fmap("GA4 numeric event params (epn.*, params)")
    user_properties: Mapping[str, str] = _fmap("GA4 string user properties (up.*)")
    user_properties_num: Mapping[str, float] = _fmap("GA4 numeric user properties (upn.*)")

    # enrichment (computed at the edge; the raw client IP never leaves the collector)
    ip_truncated: str | None = _f("client IP truncated: IPv4 /24, IPv6 /48")
    ip_anonymized: bool | None = _f("the tag asked for IP anonymisation (aip, or uip given)")
    geo_continent: str | None = _f("continent code")
    geo_country: str | None = _f("ISO 3166-1 alpha-2 country (or geoid override)")
    geo_region: str | None = _f("ISO 3166-2 subdivision code")
    geo_city: str | None = _f("city name (English)")
    geo_timezone: str | None = _f("IANA time zone of the location")
    device_category: str | None = _f("desktop, mobile, tablet, tv, console, wearable, bot, other")
    device_brand: str | None = _f("device brand")
    device_model: str | None = _f("device model")
    browser: str | None = _f("browser family")
    browser_version: str | None = _f("browser version")
    os: str | None = _f("operating system family")
    os_version: str | None = _f("operating system version")
    is_bot: bool | None = _f("the hit came from a bot or crawler")
    bot_reason: str | None = _f("why it was flagged a bot")


# --- column introspection: the single source for docs and DDL ------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str  # string | bigint | double | boolean | timestamp | map<string,string> | …
    doc: str
    nested: tuple[Column, ...] = ()


_SCALARS: dict[Any, str] = {
    str: "string", int: "bigint", float: "double", bool: "boolean", datetime: "timestamp",
}


def _kind(tp: Any) -> tuple[str, tuple[Column, ...]]:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _kind(inner)
    if tp in _SCALARS:
        return _SCALARS[tp], ()
    if origin is Mapping or origin is dict:
        _, value = typing.get_args(tp)
        return f"map<string,{_SCALARS[value]}>", ()
    if origin is tuple:
        element = typing.get_args(tp)[0]
        nested = columns(element)
        return "array<struct>", nested
    raise TypeError(f"no column kind for {tp!r}")


def columns(cls: type = Hit) -> tuple[Column, ...]:
    """The columns of a schema dataclass, in order, with their kinds and documentation."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kind, nested = _kind(hints[f.name])
        out.append(Column(f.name, kind, f.metadata["doc"], nested))
    return tuple(out)


# --- encoding -------------------------------------------------------------------------------

_ENCODE_OPTS = orjson.OPT_UTC_Z
_HIT_FIELDS = tuple(f.name for f in dataclasses.fields(Hit))


def to_dict(hit: Hit) -> dict[str, Any]:
    """The hit's fields, leaving out unset ones (None, empty maps and arrays)."""
    out: dict[str, Any] = {}
    for name in _HIT_FIELDS:
        value = getattr(hit, name)
        if value is None or value == () or value == {}:
            continue
        out[name] = value
    return out


_FIELD_NAMES = frozenset(_HIT_FIELDS)
# Value types that are never "unset" (None, an empty tuple or map): a hit whose values are all
# of these is encoded as it is, without building a filtered copy (exact types: a subclass
# takes the filtering path, which gives the same JSON).
_SET_TYPES = frozenset({str, int, float, bool, datetime})


def encode_fields(fields: dict[str, Any]) -> bytes:
    """Encode a hit given as a dict of its set fields (the collector's hot path: building a
    Hit only to take it apart again costs more than the rest of the request). The keys are
    checked against the schema; unset values are left out as :func:`encode` does."""
    if not fields.keys() <= _FIELD_NAMES:
        raise TypeError(f"not Hit fields: {sorted(fields.keys() - _FIELD_NAMES)}")
    fields["schema_version"] = SCHEMA_VERSION
    if _SET_TYPES.issuperset(map(type, fields.values())):
        return orjson.dumps(fields, option=_ENCODE_OPTS)
    return orjson.dumps(
        {k: v for k, v in fields.items() if v is not None and v != () and v != {}},
        option=_ENCODE_OPTS,
    )


def encode(hit: Hit) -> bytes:
    """One JSON object, no newline. Unset fields are left out (readers see NULL); times are
    RFC 3339 UTC with a Z suffix."""
    return orjson.dumps(to_dict(hit), option=_ENCODE_OPTS)


def from_dict(data: Mapping[str, Any]) -> Hit:
    """Build a Hit from its decoded JSON object (unknown keys are an error)."""
    values = dict(data)
    for key in ("received_time", "event_time"):
        if isinstance(values.get(key), str):
            values[key] = datetime.fromisoformat(values[key])
    values["items"] = tuple(Item(**i) for i in values.get("items", ()))
    values["promotions"] = tuple(Promotion(**p) for p in values.get("promotions", ()))
    return Hit(**values)


def decode(data: bytes | str) -> Hit:
    return from_dict(orjson.loads(data))


# --- ids and times --------------------------------------------------------------------------


def random_hit_id() -> str:
    return os.urandom(16).hex()


def derived_hit_id(*parts: str) -> str:
    """A hit id derived from the request: the same retry gives the same id."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def derived_hit_id_bytes(*parts: bytes) -> str:
    """:func:`derived_hit_id` of parts already encoded (UTF-8): the same id, one hash update."""
    return hashlib.blake2b(b"\x00".join(parts) + b"\x00", digest_size=16).hexdigest()


def utc_ms(epoch_seconds: float) -> datetime:
    """A UTC datetime truncated to milliseconds (the schema's precision)."""
    return _EPOCH + timedelta(milliseconds=int(epoch_seconds * 1000))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
