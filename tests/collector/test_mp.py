"""collector.mp.parse_request: the GA4 Measurement Protocol parser, as a pure function.

Expected descriptions are written out literally: they are the wire format of
/debug/mp/collect. Reserved names and limits are spelled out here from ga-protocols.md §2.4–2.5
rather than read from collector.mp_rules, so the tests check the tables too.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import re
import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from collector import mp
from collector.mp import MpRequest, ValidationMessage
from lambdalytics import hit as hitmod
from lambdalytics.hit import Hit, Item

NOW = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
NOW_US = int(NOW.timestamp()) * 1_000_000 + 123456
RECEIVED = datetime(2025, 6, 1, 12, 0, 0, 123000, tzinfo=UTC)  # NOW truncated to ms
MID = "G-ABCDEF1234"
FID = "1:1234567890:android:abc123"
WEB = f"api_secret=s3cret&measurement_id={MID}".encode()
APP = f"api_secret=s3cret&firebase_app_id={FID}".encode()
CID = "1234567890.1700000000"
AIID = "0123456789abcdef0123456789abcdef"
RELAXED, ENFORCE = "RELAXED", "ENFORCE_RECOMMENDATIONS"
BEHAVIOURS = pytest.mark.parametrize("behaviour", [RELAXED, ENFORCE])
P, IP = "events.params", "events.params.items"  # fieldPath of param and item messages
AT = "Event at index: [0]"
IT = "Event at index: [0] item at index: [0]"


def parse(body: dict[str, Any] | bytes, query: bytes = WEB, received: datetime = NOW) -> MpRequest:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return mp.parse_request(query, data, received=received)


def web(*events: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"client_id": CID, "events": list(events), **top}


def ev(name: str = "my_event", /, **params: Any) -> dict[str, Any]:
    return {"name": name, "params": params}


def m(path: str, description: str, code: str) -> ValidationMessage:
    return ValidationMessage(path, description, code)


def only(request: MpRequest) -> dict[str, Any]:
    """The fields of the one event forwarded."""
    assert request.problem is None
    assert [e.index for e in request.events] == [0], request.messages
    return request.events[0].fields


def micros(when: datetime) -> int:
    return (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


_HINTS = typing.get_type_hints(Hit)
_ITEM_HINTS = typing.get_type_hints(Item)


def _conforms(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return any(_conforms(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is collections.abc.Mapping:
        _, inner = typing.get_args(tp)
        return isinstance(value, dict) and all(
            isinstance(k, str) and type(v) is inner for k, v in value.items())
    if origin is tuple:
        return isinstance(value, tuple) and all(
            isinstance(i, Item) and all(_conforms(getattr(i, f.name), _ITEM_HINTS[f.name])
                                        for f in dataclasses.fields(Item)) for i in value)
    return type(value) is tp


def assert_hit_fields(fields: dict[str, Any]) -> None:
    """Only Hit fields, each of its schema type, and the record encodes."""
    assert fields.keys() <= _HINTS.keys()
    for name, value in fields.items():
        assert _conforms(value, _HINTS[name]), (name, value)
    assert "property_id" not in fields
    hitmod.encode_fields(dict(fields))


# --- a valid web request, field by field ----------------------------------------------------

WEB_BODY: dict[str, Any] = {
    "client_id": CID,
    "user_id": "u-42",
    "timestamp_micros": NOW_US - 3_600_000_000,  # an hour ago
    "user_properties": {"tier": {"value": "gold"}, "visits": {"value": 7}},
    "consent": {"ad_user_data": "GRANTED", "ad_personalization": "DENIED"},
    "user_location": {"city": "Paris", "region_id": "fr-idf", "country_id": "fr",
                      "subcontinent_id": "155", "continent_id": "150"},
    "device": {"category": "Mobile", "language": "fr-fr", "screen_resolution": "390x844",
               "operating_system": "iOS", "operating_system_version": "17.5", "model": "iPhone15,2",
               "brand": "Apple", "browser": "Safari", "browser_version": "17.5"},
    "user_data": {"sha256_email_address": ["f1b2" * 16]},
    "ip_override": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (iPhone)",
    "events": [
        {"name": "page_view", "params": {
            "page_location": "https://shop.example.com/shoes?utm_source=x#top",
            "page_title": "Shoes", "page_referrer": "https://www.google.com/",
            "session_id": 1748779200, "session_number": 3, "engagement_time_msec": 1200,
            "section": "men", "scroll": 50, "logged_in": True}},
        {"name": "purchase", "timestamp_micros": NOW_US - 60_000_000, "params": {
            "session_id": "1748779200", "engagement_time_msec": 30, "currency": "EUR",
            "transaction_id": "T-1001", "affiliation": "Web", "value": 59.5, "tax": 9.5,
            "shipping": "4.99", "coupon": "SUMMER",
            "items": [
                {"item_id": "SKU1", "item_name": "Runner", "item_brand": "Acme",
                 "item_category": "Shoes", "item_variant": "red", "price": 25.0, "quantity": 2,
                 "coupon": "ITEM10", "index": 1, "item_list_name": "Featured",
                 "item_category2": "Running", "colour": "red", "size": 42},
                {"item_name": "Socks", "price": "9.5", "quantity": 1},
            ]}},
    ],
}

SHARED: dict[str, Any] = {
    "protocol": "ga4mp", "tracking_id": MID, "client_id": CID, "user_id": "u-42",
    "received_time": RECEIVED,
    "user_properties": {"tier": "gold"}, "user_properties_num": {"visits": 7.0},
    "consent_state": "ad_user_data=GRANTED;ad_personalization=DENIED",
    "non_personalized_ads": True,
    "geo_city": "Paris", "geo_region": "FR-IDF", "geo_country": "FR", "geo_continent": "150",
    "device_category": "mobile", "language": "fr-fr", "screen_resolution": "390x844",
    "os": "iOS", "os_version": "17.5", "device_model": "iPhone15,2", "device_brand": "Apple",
    "browser": "Safari", "browser_version": "17.5",
}


def canonical(event: dict[str, Any]) -> str:
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode()


def test_web_page_view_and_purchase_map_field_by_field() -> None:
    r = parse(WEB_BODY)
    assert (r.problem, r.messages, r.dropped) == (None, [], [])
    assert (r.tracking_id, r.api_secret) == (MID, "s3cret")
    assert (r.ip_override, r.ua_override) == ("203.0.113.7", "Mozilla/5.0 (iPhone)")
    assert [e.index for e in r.events] == [0, 1]
    page_view, purchase = (e.fields for e in r.events)
    assert page_view == {
        **SHARED,
        "hit_id": hitmod.derived_hit_id("ga4mp", MID, CID, str(WEB_BODY["timestamp_micros"]), "0",
                                        canonical(WEB_BODY["events"][0])),
        "event_time": RECEIVED - timedelta(hours=1),
        "event_name": "page_view", "type": "pageview",
        "page_location": "https://shop.example.com/shoes?utm_source=x#top",
        "page_hostname": "shop.example.com", "page_path": "/shoes",
        "page_title": "Shoes", "page_referrer": "https://www.google.com/",
        "session_id": "1748779200", "session_number": 3, "engagement_time_ms": 1200,
        "event_params": {"section": "men", "logged_in": "true"},
        "event_params_num": {"scroll": 50.0},
    }
    assert purchase == {
        **SHARED,
        "hit_id": hitmod.derived_hit_id("ga4mp", MID, CID, str(NOW_US - 60_000_000), "1",
                                        canonical(WEB_BODY["events"][1])),
        "event_time": RECEIVED - timedelta(minutes=1),
        "event_name": "purchase", "type": "transaction",
        "session_id": "1748779200", "engagement_time_ms": 30, "currency": "EUR",
        "transaction_id": "T-1001", "transaction_affiliation": "Web",
        "transaction_revenue": 59.5, "transaction_tax": 9.5, "transaction_shipping": 4.99,
        "transaction_coupon": "SUMMER",
        "items": (
            Item(list_kind="product", list_name="Featured", item_id="SKU1", item_name="Runner",
                 item_brand="Acme", item_category="Shoes", item_variant="red", price=25.0,
                 quantity=2, coupon="ITEM10", position=1,
                 params={"item_category2": "Running", "colour": "red", "size": "42"}),
            Item(item_name="Socks", price=9.5, quantity=1),
        ),
    }
    for e in r.events:
        assert_hit_fields(e.fields)
    assert page_view["user_properties"] is not purchase["user_properties"]  # not shared


def test_app_request() -> None:
    body = {"app_instance_id": AIID, "events": [ev("screen_view", firebase_screen="x"),
                                                 ev("in_app_purchase", value=3),
                                                 ev("ad_impression")]}
    r = parse(body, query=APP)
    assert r.problem is None
    assert r.tracking_id == FID
    assert [e.index for e in r.events] == [0, 1, 2]
    first = r.events[0].fields
    assert (first["client_id"], first["tracking_id"], first["type"]) == (AIID, FID, "screenview")
    assert r.events[1].fields["event_params_num"] == {"value": 3.0}  # not a revenue event
    # a firebase_ param is reserved on apps too
    assert r.messages == [m(P, f"{AT} has param with reserved name [firebase_screen].", "NAME_RESERVED")]


def test_default_and_unknown_event_types() -> None:
    r = parse(web(ev("refund", value=5, transaction_id="T"), ev("login")))
    refund, login = (e.fields for e in r.events)
    assert (refund["type"], refund["transaction_revenue"]) == ("event", 5.0)
    assert login["type"] == "event"
    assert not login.keys() & {"event_params", "event_params_num"}


# --- limits and reserved names, under both behaviours ---------------------------------------

N40, N41 = "a" * 40, "a" * 41

# (id, event, expected message, kept under RELAXED, kept under ENFORCE_RECOMMENDATIONS)
EVENT_CASES: list[tuple[str, Any, ValidationMessage | None, bool, bool]] = [
    ("name 40 chars", ev(N40), None, True, True),
    ("name bad start", ev("_badEventName"), m("events", f"{AT} has invalid name [_badEventName]. "
     "Names must start with an alphabetic character.", "NAME_INVALID"), False, False),
    ("name digit start", ev("1abc"), m("events", f"{AT} has invalid name [1abc]. "
     "Names must start with an alphabetic character.", "NAME_INVALID"), False, False),
    ("name bad chars", ev("campaign@details"), m("events", f"{AT} has invalid name "
     "[campaign@details]. Only alphanumeric characters and underscores are allowed.",
     "NAME_INVALID"), False, False),
    ("name non-ascii", ev("café"), m("events", f"{AT} has invalid name [café]. "
     "Only alphanumeric characters and underscores are allowed.", "NAME_INVALID"), False, False),
    ("name 41 chars", ev(N41), m("events", f"{AT} has invalid name [{N41}]. "
     "Names must be 40 characters or fewer.", "NAME_INVALID"), False, False),
    ("name missing", {"params": {}}, m("events", f"{AT} requires a name.", "VALUE_REQUIRED"),
     False, False),
    ("name empty", ev(""), m("events", f"{AT} requires a name.", "VALUE_REQUIRED"), False, False),
    ("name not a string", {"name": 5}, m("events", f"{AT} has invalid name [5]. "
     "Names must be strings.", "VALUE_INVALID"), False, False),
    ("event not an object", "page_view", m("events", f"{AT} has invalid value [page_view]. "
     "It must be an object.", "VALUE_INVALID"), False, False),
    ("params not an object", {"name": "x", "params": [1]}, m(P, f"{AT} has invalid params [[…]]. "
     "Params must be an object.", "VALUE_INVALID"), False, False),
    ("page_view not reserved", ev("page_view"), None, True, True),
    ("screen_view on web", ev("screen_view"), m("events", f"{AT} has reserved name [screen_view]. "
     "It is only allowed for app streams.", "NAME_RESERVED"), False, False),
    ("25 params", ev(**{f"p{i}": i for i in range(25)}), None, True, True),
    ("26 params", ev(**{f"p{i}": i for i in range(26)}), m(P, f"{AT} has [26] params. "
     "At most 25 params are allowed per event.", "EXCEEDED_MAX_ENTITIES"), True, False),
    ("param name bad start", ev(**{"1x": "v"}), m(P, f"{AT} has param with invalid name [1x]. "
     "Names must start with an alphabetic character.", "NAME_INVALID"), True, False),
    ("param name bad chars", ev(**{"a-b": "v"}), m(P, f"{AT} has param with invalid name [a-b]. "
     "Only alphanumeric characters and underscores are allowed.", "NAME_INVALID"), True, False),
    ("param name 41 chars", ev(**{N41: "v"}), m(P, f"{AT} has param with invalid name [{N41}]. "
     "Names must be 40 characters or fewer.", "NAME_INVALID"), True, False),
    ("param value 100", ev(p="x" * 100), None, True, True),
    ("param value 101", ev(p="x" * 101), m(P, f"{AT} has param [p] with a value longer than 100 "
     "characters.", "VALUE_OUT_OF_BOUNDS"), True, False),
    ("page_title 300", ev(page_title="x" * 300), None, True, True),
    ("page_title 301", ev(page_title="x" * 301), m(P, f"{AT} has param [page_title] with a value "
     "longer than 300 characters.", "VALUE_OUT_OF_BOUNDS"), True, False),
    ("page_referrer 420", ev(page_referrer="x" * 420), None, True, True),
    ("page_referrer 421", ev(page_referrer="x" * 421), m(P, f"{AT} has param [page_referrer] with "
     "a value longer than 420 characters.", "VALUE_OUT_OF_BOUNDS"), True, False),
    ("page_location 1000", ev(page_location="x" * 1000), None, True, True),
    ("page_location 1001", ev(page_location="x" * 1001), m(P, f"{AT} has param [page_location] "
     "with a value longer than 1000 characters.", "VALUE_OUT_OF_BOUNDS"), True, False),
    ("session_id exempt", ev(session_id="1" * 150), None, True, True),
    ("session_number exempt", ev(session_number="1" * 19), None, True, True),
    ("param object", ev(p={"a": 1}), m(P, f"{AT} has param [p] with invalid value [{{…}}].",
     "VALUE_INVALID"), True, False),
    ("param array", ev(p=[1]), m(P, f"{AT} has param [p] with invalid value [[…]].",
     "VALUE_INVALID"), True, False),
    ("param null", ev(p=None), m(P, f"{AT} has param [p] with invalid value [null].",
     "VALUE_INVALID"), True, False),
    ("session_id not numeric", ev(session_id="abc"), m(P, f"{AT} has param [session_id] with "
     "invalid value [abc].", "VALUE_INVALID"), True, False),
    ("engagement_time_msec negative", ev(engagement_time_msec=-5), m(P, f"{AT} has param "
     "[engagement_time_msec] with invalid value [-5].", "VALUE_INVALID"), True, False),
    ("value not a number", ev("purchase", value="$19"), m(P, f"{AT} has param [value] with "
     "invalid value [$19].", "VALUE_INVALID"), True, False),
    ("currency a bool", ev(currency=True), m(P, f"{AT} has param [currency] with invalid value "
     "[true].", "VALUE_INVALID"), True, False),
    ("items not an array", ev(items={"item_id": "a"}), m(IP, f"{AT} has invalid items [{{…}}]. "
     "Items must be an array of objects.", "VALUE_INVALID"), True, False),
    ("200 items", ev(items=[{"item_id": str(i)} for i in range(200)]), None, True, True),
    ("201 items", ev(items=[{"item_id": str(i)} for i in range(201)]), m(IP, f"{AT} has [201] "
     "items. At most 200 items are allowed per event.", "EXCEEDED_MAX_ENTITIES"), True, False),
    ("item not an object", ev(items=["a"]), m(IP, f"{IT} has invalid value [a]. It must be an "
     "object.", "VALUE_INVALID"), True, False),
    ("item without id or name", ev(items=[{"price": 1}]), m(IP, f"{IT} requires an item_id or "
     "item_name.", "VALUE_REQUIRED"), True, False),
    ("item price not a number", ev(items=[{"item_id": "a", "price": "$19"}]), m(IP, f"{IT} has "
     "param [price] with invalid value [$19].", "VALUE_INVALID"), True, False),
    ("item quantity fractional", ev(items=[{"item_id": "a", "quantity": 1.5}]), m(IP, f"{IT} has "
     "param [quantity] with invalid value [1.5].", "VALUE_INVALID"), True, False),
    ("item value 101", ev(items=[{"item_id": "a", "item_name": "x" * 101}]), m(IP, f"{IT} has "
     "param [item_name] with a value longer than 100 characters.", "VALUE_OUT_OF_BOUNDS"),
     True, False),
    ("item param name invalid", ev(items=[{"item_id": "a", "b-c": "x"}]), m(IP, f"{IT} has param "
     "with invalid name [b-c]. Only alphanumeric characters and underscores are allowed.",
     "NAME_INVALID"), True, False),
    ("10 custom item params", ev(items=[{"item_id": "a", **{f"c{i}": "v" for i in range(10)},
                                         "item_category2": "x", "discount": 1}]),
     None, True, True),
    ("11 custom item params", ev(items=[{"item_id": "a", **{f"c{i}": "v" for i in range(11)}}]),
     m(IP, f"{IT} has [11] custom params. At most 10 custom item params are allowed.",
       "EXCEEDED_MAX_ENTITIES"), True, False),
]


@BEHAVIOURS
@pytest.mark.parametrize(("event", "message", "relaxed", "enforce"),
                         [c[1:] for c in EVENT_CASES], ids=[c[0] for c in EVENT_CASES])
def test_event_limits(behaviour: str, event: Any, message: ValidationMessage | None,
                      relaxed: bool, enforce: bool) -> None:
    r = parse(web(event, ev("other"), validation_behavior=behaviour))
    assert r.problem is None
    assert r.messages == ([] if message is None else [message])
    kept = relaxed if behaviour == RELAXED else enforce
    assert [e.index for e in r.events] == ([0, 1] if kept else [1])
    assert r.dropped == ([] if kept else [0])
    for e in r.events:
        assert_hit_fields(e.fields)


RESERVED_EVENTS = [
    "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure",
    "app_clear_data", "app_exception", "app_install", "app_remove", "app_store_refund",
    "app_update", "app_upgrade", "dynamic_link_app_open", "dynamic_link_app_update",
    "dynamic_link_first_open", "error", "firebase_campaign", "firebase_in_app_message_action",
    "firebase_in_app_message_dismiss", "firebase_in_app_message_impression", "first_open",
    "first_visit", "notification_dismiss", "notification_foreground", "notification_open",
    "notification_receive", "notification_send", "os_update", "session_start", "user_engagement"]
APP_ONLY = ["ad_impression", "in_app_purchase", "screen_view"]


@BEHAVIOURS
@pytest.mark.parametrize("name", RESERVED_EVENTS + APP_ONLY)
def test_reserved_event_names(behaviour: str, name: str) -> None:
    suffix = " It is only allowed for app streams." if name in APP_ONLY else ""
    for query, body in ((WEB, web(ev(name), validation_behavior=behaviour)),
                        (APP, {"app_instance_id": AIID, "events": [ev(name)],
                               "validation_behavior": behaviour})):
        r = parse(body, query=query)
        if query == APP and name in APP_ONLY:
            assert (r.messages, [e.index for e in r.events]) == ([], [0])
            continue
        assert r.messages == [m("events", f"{AT} has reserved name [{name}].{suffix}", "NAME_RESERVED")]
        assert (r.events, r.dropped, r.problem) == ([], [0], None)


@BEHAVIOURS
@pytest.mark.parametrize("name", ["firebase_conversion", "_x", "firebase_x", "ga_x", "google_x",
                                  "gtag.x"])
def test_reserved_param_names(behaviour: str, name: str) -> None:
    r = parse(web(ev(**{name: "v", "kept": "k"}), validation_behavior=behaviour))
    assert r.messages == [m(P, f"{AT} has param with reserved name [{name}].", "NAME_RESERVED")]
    if behaviour == RELAXED:
        assert only(r)["event_params"] == {"kept": "k"}  # the reserved param is ignored
    else:
        assert (r.events, r.dropped) == ([], [0])


def test_relaxed_ignores_only_the_offending_param() -> None:
    r = parse(web(ev(p="x" * 101, q="ok", page_title="t", items=[{"price": 1}, {"item_id": "a"}])))
    f = only(r)
    assert f["event_params"] == {"q": "ok"}
    assert f["page_title"] == "t"
    assert f["items"] == (Item(item_id="a"),)
    r = parse(web(ev(**{f"p{i:02}": i for i in range(30)})))
    assert sorted(only(r)["event_params_num"]) == [f"p{i:02}" for i in range(25)]  # the first 25


UP = "user_properties"
# (id, user_properties, expected message or None, what is stored)
USER_PROPERTY_CASES: list[tuple[str, Any, ValidationMessage | None, dict[str, Any]]] = [
    ("name 24", {"a" * 24: {"value": "v"}}, None, {UP: {"a" * 24: "v"}}),
    ("name 25", {"a" * 25: {"value": "v"}}, m(UP, f"User property has invalid name [{'a' * 25}]. "
     "Names must be 24 characters or fewer.", "NAME_INVALID"), {}),
    ("name bad start", {"9a": {"value": "v"}}, m(UP, "User property has invalid name [9a]. "
     "Names must start with an alphabetic character.", "NAME_INVALID"), {}),
    ("name bad chars", {"a.b": {"value": "v"}}, m(UP, "User property has invalid name [a.b]. "
     "Only alphanumeric characters and underscores are allowed.", "NAME_INVALID"), {}),
    ("value 36", {"p": {"value": "v" * 36}}, None, {UP: {"p": "v" * 36}}),
    ("value 37", {"p": {"value": "v" * 37}}, m(UP, "User property [p] has a value longer than 36 "
     "characters.", "VALUE_OUT_OF_BOUNDS"), {}),
    ("number", {"p": {"value": 2.5}}, None, {"user_properties_num": {"p": 2.5}}),
    ("bool", {"p": {"value": False}}, None, {UP: {"p": "false"}}),
    ("null clears", {"p": {"value": None}}, None, {}),
    ("not an object", {"p": "v"}, m(UP, "User property [p] has invalid value [v]. It must be an "
     "object with a value.", "VALUE_INVALID"), {}),
    ("no value", {"p": {}}, m(UP, "User property [p] requires a value.", "VALUE_REQUIRED"), {}),
    ("value an array", {"p": {"value": [1]}}, m(UP, "User property [p] has invalid value [[…]].",
     "VALUE_INVALID"), {}),
    ("25 properties", {f"p{i}": {"value": i} for i in range(25)}, None,
     {"user_properties_num": {f"p{i}": float(i) for i in range(25)}}),
    ("26 properties", {f"p{i}": {"value": i} for i in range(26)}, m(UP, "Measurement has [26] user "
     "properties. At most 25 user properties are allowed.", "EXCEEDED_MAX_ENTITIES"),
     {"user_properties_num": {f"p{i}": float(i) for i in range(25)}}),
    ("not an object at all", ["p"], m(UP, "Parameter [user_properties] has invalid value [[…]]. "
     "It must be an object.", "VALUE_INVALID"), {}),
    *[(f"reserved {name}", {name: {"value": "v"}},
       m(UP, f"User property has reserved name [{name}].", "NAME_RESERVED"), {})
      for name in ["first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id",
                   "first_open_after_install", "_x", "firebase_x", "ga_x", "google_x"]],
]


@BEHAVIOURS
@pytest.mark.parametrize(("props", "message", "stored"), [c[1:] for c in USER_PROPERTY_CASES],
                         ids=[c[0] for c in USER_PROPERTY_CASES])
def test_user_property_limits(behaviour: str, props: Any, message: ValidationMessage | None,
                              stored: dict[str, Any]) -> None:
    """A bad user property is left out; the events are kept in both behaviours."""
    r = parse(web(ev(), user_properties=props, validation_behavior=behaviour))
    assert r.messages == ([] if message is None else [message])
    f = only(r)
    assert {k: f[k] for k in (UP, "user_properties_num") if k in f} == stored


# (id, top-level keys, expected message, fields expected or absent)
REQUEST_FIELD_CASES: list[tuple[str, dict[str, Any], ValidationMessage | None, dict[str, Any]]] = [
    ("user_id 256", {"user_id": "u" * 256}, None, {"user_id": "u" * 256}),
    ("user_id 257", {"user_id": "u" * 257}, m("user_id", "Parameter [user_id] has a value longer "
     "than 256 characters.", "VALUE_OUT_OF_BOUNDS"), {"user_id": None}),
    ("user_id a number", {"user_id": 5}, m("user_id", "Parameter [user_id] has invalid value [5]. "
     "It must be a string.", "VALUE_INVALID"), {"user_id": None}),
    ("consent granted", {"consent": {"ad_personalization": "GRANTED"}}, None,
     {"consent_state": "ad_personalization=GRANTED", "non_personalized_ads": None}),
    ("consent bad value", {"consent": {"ad_user_data": "yes", "ad_personalization": "DENIED"}},
     m("consent", "Consent [ad_user_data] has invalid value [yes]. Values must be GRANTED or "
       "DENIED.", "VALUE_INVALID"),
     {"consent_state": "ad_personalization=DENIED", "non_personalized_ads": True}),
    ("npa false", {"non_personalized_ads": False}, None, {"non_personalized_ads": False}),
    ("npa false, consent denied", {"non_personalized_ads": False,
                                   "consent": {"ad_personalization": "DENIED"}},
     None, {"non_personalized_ads": True}),
    ("npa a string", {"non_personalized_ads": "1"}, m("non_personalized_ads", "Parameter "
     "[non_personalized_ads] has invalid value [1]. It must be a boolean.", "VALUE_INVALID"),
     {"non_personalized_ads": None}),
    ("country bad", {"user_location": {"country_id": "FRA", "city": "Lyon"}},
     m("user_location", "User location [country_id] has invalid value [FRA].", "VALUE_INVALID"),
     {"geo_country": None, "geo_city": "Lyon"}),
    ("region bad", {"user_location": {"region_id": "California"}},
     m("user_location", "User location [region_id] has invalid value [California].",
       "VALUE_INVALID"), {"geo_region": None}),
    ("resolution bad", {"device": {"screen_resolution": "big", "model": "Pixel"}},
     m("device", "Device [screen_resolution] has invalid value [big].", "VALUE_INVALID"),
     {"screen_resolution": None, "device_model": "Pixel"}),
    ("device not an object", {"device": "phone"}, m("device", "Parameter [device] has invalid "
     "value [phone]. It must be an object.", "VALUE_INVALID"), {"device_category": None}),
    ("user_data not an object", {"user_data": "a@b.c"}, m("user_data", "Parameter [user_data] has "
     "invalid value [a@b.c]. It must be an object.", "VALUE_INVALID"), {}),
    ("behaviour unknown", {"validation_behavior": "STRICT"}, m("validation_behavior", "Parameter "
     "[validation_behavior] has invalid value [STRICT]. Values must be RELAXED or "
     "ENFORCE_RECOMMENDATIONS.", "VALUE_INVALID"), {}),
]


@pytest.mark.parametrize(("top", "message", "expected"), [c[1:] for c in REQUEST_FIELD_CASES],
                         ids=[c[0] for c in REQUEST_FIELD_CASES])
def test_request_level_fields(top: dict[str, Any], message: ValidationMessage | None,
                              expected: dict[str, Any]) -> None:
    r = parse(web(ev(), **top))
    assert r.messages == ([] if message is None else [message])
    f = only(r)
    assert {k: f.get(k) for k in expected} == expected


@BEHAVIOURS
def test_more_than_25_events(behaviour: str) -> None:
    r = parse(web(*[ev() for _ in range(25)], validation_behavior=behaviour))
    assert (len(r.events), r.dropped, r.messages) == (25, [], [])
    r = parse(web(*[ev() for _ in range(27)], validation_behavior=behaviour))
    assert [e.index for e in r.events] == list(range(25))
    assert r.dropped == [25, 26]
    assert r.messages == [m("events", "Measurement has [27] events. At most 25 events are allowed "
                            "per request.", "EXCEEDED_MAX_ENTITIES")]


def test_camel_case_validation_behavior() -> None:
    r = parse(web(ev(p="x" * 101), validationBehavior=ENFORCE))
    assert r.dropped == [0]
    r = parse(web(ev(p="x" * 101), validation_behavior=RELAXED, validationBehavior=ENFORCE))
    assert r.dropped == []  # the documented snake_case key wins


# --- timestamps -----------------------------------------------------------------------------

H = 3600 * 1_000_000
OLD, AHEAD = NOW_US - 73 * H, NOW_US + 120_000_000


def past(path: str, subject: str, us: int) -> ValidationMessage:
    return m(path, f"{subject} has timestamp_micros [{us}] more than 72 hours in the past.",
             "VALUE_OUT_OF_BOUNDS")


def future(path: str, subject: str, us: int) -> ValidationMessage:
    return m(path, f"{subject} has timestamp_micros [{us}] in the future.", "VALUE_OUT_OF_BOUNDS")


TS, MS = "timestamp_micros", "Measurement"
NOT_A_NUMBER = m(TS, "Measurement has invalid timestamp_micros [soon]. It must be a number of "
                 "microseconds since the Unix epoch.", "VALUE_INVALID")
# (id, request timestamp_micros, event timestamp_micros, event_time under RELAXED, messages under
#  RELAXED, messages under ENFORCE_RECOMMENDATIONS, event kept under ENFORCE_RECOMMENDATIONS)
STAMP_CASES: list[tuple[str, Any, Any, datetime, list[ValidationMessage],
                        list[ValidationMessage], bool]] = [
    ("none", None, None, RECEIVED, [], [], True),
    ("request 1 h ago", NOW_US - H, None, RECEIVED - timedelta(hours=1), [], [], True),
    ("request 71 h ago", NOW_US - 71 * H, None, RECEIVED - timedelta(hours=71), [], [], True),
    ("request 30 s ahead (skew)", NOW_US + 30_000_000, None, RECEIVED + timedelta(seconds=30),
     [], [], True),
    ("request 73 h ago: clamped or dropped", OLD, None, RECEIVED - timedelta(hours=72),
     [], [past(TS, MS, OLD)], False),
    ("request 2 min ahead", AHEAD, None, RECEIVED, [future(TS, MS, AHEAD)],
     [future(TS, MS, AHEAD)], False),
    ("request a string", "soon", None, RECEIVED, [NOT_A_NUMBER], [NOT_A_NUMBER], False),
    ("event overrides request", NOW_US - H, NOW_US - 2 * H, RECEIVED - timedelta(hours=2),
     [], [], True),
    ("event overrides a stale request", OLD, NOW_US - 2 * H, RECEIVED - timedelta(hours=2),
     [], [past(TS, MS, OLD)], True),
    ("event 73 h ago", NOW_US - H, OLD, RECEIVED - timedelta(hours=72),
     [], [past("events", AT, OLD)], False),
    ("event ahead falls back to request", NOW_US - H, AHEAD, RECEIVED - timedelta(hours=1),
     [future("events", AT, AHEAD)], [future("events", AT, AHEAD)], False),
    ("event as a float", None, float(NOW_US - H), RECEIVED - timedelta(hours=1), [], [], True),
]


@BEHAVIOURS
@pytest.mark.parametrize(("request_ts", "event_ts", "relaxed_time", "relaxed_messages",
                          "enforce_messages", "enforce_kept"),
                         [c[1:] for c in STAMP_CASES], ids=[c[0] for c in STAMP_CASES])
def test_timestamps(behaviour: str, request_ts: Any, event_ts: Any, relaxed_time: datetime,
                    relaxed_messages: list[ValidationMessage],
                    enforce_messages: list[ValidationMessage], enforce_kept: bool) -> None:
    event: dict[str, Any] = ev()
    if event_ts is not None:
        event["timestamp_micros"] = event_ts
    body = web(event, validation_behavior=behaviour)
    if request_ts is not None:
        body["timestamp_micros"] = request_ts
    r = parse(body)
    if behaviour == RELAXED:  # RELAXED keeps the event: old times clamped silently
        assert r.messages == relaxed_messages
        assert only(r)["event_time"] == relaxed_time
    else:
        assert r.messages == enforce_messages
        assert [e.index for e in r.events] == ([0] if enforce_kept else [])
        if enforce_kept:
            assert only(r)["event_time"] == relaxed_time


def test_event_timestamp_in_params() -> None:
    r = parse(web(ev(timestamp_micros=NOW_US - H, p="v")))
    f = only(r)
    assert f["event_time"] == RECEIVED - timedelta(hours=1)
    assert f["event_params"] == {"p": "v"}  # timestamp_micros is not a param


def test_enforce_drops_only_events_relying_on_a_bad_request_timestamp() -> None:
    own = ev("mine")
    own["timestamp_micros"] = NOW_US - H
    r = parse(web(ev(), own, timestamp_micros=NOW_US - 80 * H, validation_behavior=ENFORCE))
    assert ([e.index for e in r.events], r.dropped) == ([1], [0])


@BEHAVIOURS
def test_user_property_timestamp(behaviour: str) -> None:
    props = {"old": {"value": "v", "timestamp_micros": NOW_US - 80 * H},
             "new": {"value": "w", "timestamp_micros": NOW_US - H}}
    r = parse(web(ev(), user_properties=props, validation_behavior=behaviour))
    if behaviour == RELAXED:
        assert (r.messages, only(r)[UP]) == ([], {"old": "v", "new": "w"})
    else:
        assert only(r)[UP] == {"new": "w"}
        assert r.messages == [m(UP, f"User property [old] has timestamp_micros [{NOW_US - 80 * H}] "
                                "more than 72 hours in the past.", "VALUE_OUT_OF_BOUNDS")]


# --- whole-request problems -----------------------------------------------------------------

BIG = orjson.dumps(web(ev(p="x")))
# (id, query, body, problem, the message expected among the messages)
REQUEST_CASES: list[tuple[str, bytes, bytes, str, ValidationMessage]] = [
    ("bad JSON", WEB, b'{"client_id": ', "invalid JSON",
     m("", "Unable to parse the request body as JSON.", "VALUE_INVALID")),
    ("empty body", WEB, b"", "invalid JSON",
     m("", "Unable to parse the request body as JSON.", "VALUE_INVALID")),
    ("not UTF-8", WEB, b'{"client_id": "\xff"}', "invalid JSON",
     m("", "Unable to parse the request body as JSON.", "VALUE_INVALID")),
    ("not an object", WEB, b'[{"client_id": "1"}]', "body not an object",
     m("", "The request body must be a JSON object.", "VALUE_INVALID")),
    ("body over 130 kB", WEB, BIG[:-1] + b" " * (130_001 - len(BIG)) + b"}", "body too large",
     m("", "Post body must be smaller than 130kBs", "VALUE_OUT_OF_BOUNDS")),
    ("no client_id", WEB, orjson.dumps({"events": [ev()]}), "missing client_id",
     m("client_id", "Measurement requires a client_id.", "VALUE_REQUIRED")),
    ("empty client_id", WEB, orjson.dumps(web(ev(), client_id="")), "missing client_id",
     m("client_id", "Measurement requires a client_id.", "VALUE_REQUIRED")),
    ("client_id a number", WEB, orjson.dumps(web(ev(), client_id=12)), "invalid client_id",
     m("client_id", "Parameter [client_id] has invalid value [12]. It must be a string.",
       "VALUE_INVALID")),
    ("app without app_instance_id", APP, orjson.dumps(web(ev())), "missing app_instance_id",
     m("app_instance_id", "Measurement requires an app_instance_id.", "VALUE_REQUIRED")),
    ("app_instance_id not hex", APP, orjson.dumps({"app_instance_id": "x" * 32, "events": [ev()]}),
     "invalid app_instance_id", m("app_instance_id", f"Parameter [app_instance_id] has invalid "
     f"value [{'x' * 32}]. It must be 32 hexadecimal characters.", "VALUE_INVALID")),
    ("no api_secret", f"measurement_id={MID}".encode(), orjson.dumps(web(ev())), "missing api_secret",
     m("api_secret", "Unable to find non-empty parameter [api_secret] value in request.",
       "VALUE_REQUIRED")),
    ("empty api_secret", f"api_secret=&measurement_id={MID}".encode(), orjson.dumps(web(ev())),
     "missing api_secret", m("api_secret", "Unable to find non-empty parameter [api_secret] value "
                             "in request.", "VALUE_REQUIRED")),
    ("no measurement_id", b"api_secret=s", orjson.dumps(web(ev())), "missing measurement_id",
     m("measurement_id", "Unable to find non-empty parameter [measurement_id] value in request.",
       "VALUE_REQUIRED")),
    ("both ids", WEB + f"&firebase_app_id={FID}".encode(), orjson.dumps(web(ev())),
     "both measurement_id and firebase_app_id", m("firebase_app_id", "Only one of parameters "
     "[measurement_id] and [firebase_app_id] may be set in a request.", "VALUE_INVALID")),
    ("bad measurement_id", b"api_secret=s&measurement_id=UA-1-1", orjson.dumps(web(ev())),
     "invalid measurement_id", m("measurement_id", "Parameter [measurement_id] has invalid value "
                                 "[UA-1-1].", "VALUE_INVALID")),
    ("bad firebase_app_id", b"api_secret=s&firebase_app_id=android", orjson.dumps(web(ev())),
     "invalid firebase_app_id", m("firebase_app_id", "Parameter [firebase_app_id] has invalid "
                                  "value [android].", "VALUE_INVALID")),
    ("no events", WEB, orjson.dumps({"client_id": CID}), "no events",
     m("events", "Measurement requires at least one event.", "VALUE_REQUIRED")),
    ("empty events", WEB, orjson.dumps(web()), "no events",
     m("events", "Measurement requires at least one event.", "VALUE_REQUIRED")),
    ("events not an array", WEB, orjson.dumps({"client_id": CID, "events": ev()}),
     "events not an array", m("events", "Parameter [events] has invalid value [{…}]. It must be an "
                              "array.", "VALUE_INVALID")),
]


@pytest.mark.parametrize(("query", "body", "problem", "message"), [c[1:] for c in REQUEST_CASES],
                         ids=[c[0] for c in REQUEST_CASES])
def test_whole_request_invalid(query: bytes, body: bytes, problem: str,
                               message: ValidationMessage) -> None:
    r = parse(body, query=query)
    assert r.problem == problem
    assert message in r.messages
    assert (r.events, r.dropped) == ([], [])


def test_body_of_exactly_130000_bytes_passes() -> None:
    body = BIG[:-1] + b" " * (130_000 - len(BIG)) + b"}"
    assert len(body) == mp.MAX_BODY_BYTES
    assert parse(body).problem is None


def test_every_problem_reported_at_once() -> None:
    r = parse(orjson.dumps({"events": [ev("_bad"), ev(p="x" * 101)]}), query=b"")
    assert [x.validation_code for x in r.messages] == [
        "VALUE_REQUIRED", "VALUE_REQUIRED", "VALUE_REQUIRED", "NAME_INVALID", "VALUE_OUT_OF_BOUNDS"]
    assert r.problem == "missing api_secret"  # the first found
    assert r.tracking_id == ""


def test_query_first_value_wins_and_is_decoded() -> None:
    r = parse(web(ev()), query=b"api_secret=a%2Bb&api_secret=other&measurement_id=G-ABCDEF1234")
    assert (r.api_secret, r.problem) == ("a+b", None)


# --- privacy, ids, debug body ---------------------------------------------------------------


def test_user_data_never_in_fields() -> None:
    secret = "a" * 64
    body = web(ev(), user_data={"sha256_email_address": [secret],
                                "address": [{"sha256_first_name": secret}]})
    r = parse(body)
    assert r.messages == []
    encoded = hitmod.encode_fields(dict(only(r)))
    assert secret.encode() not in encoded
    assert not any(k.startswith("user_data") for k in only(r))


def test_hit_id_deterministic_with_timestamp_micros() -> None:
    body = web(ev("a"), ev("a"), timestamp_micros=NOW_US - H)
    first, again = parse(body), parse(body, received=NOW + timedelta(seconds=5))
    ids = [e.fields["hit_id"] for e in first.events]
    assert ids == [e.fields["hit_id"] for e in again.events]  # a retry gets the same ids
    assert ids[0] != ids[1]  # the index tells identical events apart
    assert ids[0] == hitmod.derived_hit_id("ga4mp", MID, CID, str(NOW_US - H), "0",
                                           canonical(ev("a")))
    other = parse(web(ev("a", p=1), ev("a"), timestamp_micros=NOW_US - H))
    assert other.events[0].fields["hit_id"] != ids[0]
    assert other.events[1].fields["hit_id"] == ids[1]


def test_hit_id_random_without_timestamp_micros() -> None:
    body = web(ev("a"))
    ids = {only(parse(body))["hit_id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_hit_id_of_an_event_too_deep_to_write() -> None:
    """orjson reads 1,024 levels but writes 254: such an event (its bad param ignored) gets a
    random id rather than an exception."""
    deep = b"[" * 300 + b"]" * 300
    body = (b'{"client_id": "1.2", "timestamp_micros": %d, "events": [{"name": "a", "params": '
            b'{"p": %s}}]}' % (NOW_US, deep))
    r = parse(body)
    assert r.messages == [m(P, f"{AT} has param [p] with invalid value [[…]].", "VALUE_INVALID")]
    assert re.fullmatch(r"[0-9a-f]{32}", only(r)["hit_id"])


def test_debug_body_documented_example() -> None:
    """ga-protocols.md §2.6: Google's documented invalid-event request and its response."""
    body = {"app_instance_id": AIID, "validation_behavior": ENFORCE,
            "events": [{"name": "_badEventName", "params": {}}]}
    r = parse(body, query=APP)
    assert orjson.loads(mp.debug_body(r)) == {"validationMessages": [
        {"fieldPath": "events",
         "description": "Event at index: [0] has invalid name [_badEventName]. "
                        "Names must start with an alphabetic character.",
         "validationCode": "NAME_INVALID"}]}
    assert (r.events, r.dropped, r.problem) == ([], [0], None)
    assert mp.debug_body(parse(WEB_BODY)) == b'{"validationMessages":[]}'


def test_message_json() -> None:
    assert m("a", "b", "VALUE_INVALID").json() == {
        "fieldPath": "a", "description": "b", "validationCode": "VALUE_INVALID"}


def test_long_values_are_cut_in_descriptions() -> None:
    r = parse(web(ev("x" * 5000)))
    assert r.messages[0].description == (
        f"{AT} has invalid name [{'x' * 100}…]. Names must be 40 characters or fewer.")


# --- properties -----------------------------------------------------------------------------

KEYS = st.sampled_from(
    ["client_id", "app_instance_id", "user_id", "timestamp_micros", "user_properties",
     "user_data", "consent", "non_personalized_ads", "user_location", "device", "ip_override",
     "user_agent", "validation_behavior", "events", "name", "params", "value", "items",
     "item_id", "item_name", "price", "quantity", "index", "session_id", "engagement_time_msec",
     "page_location", "currency", "ad_personalization", "country_id", "region_id", "category",
     "screen_resolution", "_x", "a-b", "purchase", "page_view", "ENFORCE_RECOMMENDATIONS"])
SCALARS = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30) | KEYS
           | st.integers(NOW_US - 100 * H, NOW_US + H))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                    | st.dictionaries(KEYS | st.text(max_size=10), inner, max_size=6), max_leaves=40)
QUERIES = st.binary(max_size=80) | st.sampled_from([WEB, APP, b"", WEB + b"&firebase_app_id=1"])


def _check(r: MpRequest) -> None:
    assert isinstance(r, MpRequest)
    mp.debug_body(r)
    if r.problem is not None:
        assert (r.events, r.dropped) == ([], [])
    assert sorted([e.index for e in r.events] + r.dropped) == sorted({*[e.index for e in r.events],
                                                                      *r.dropped})
    for e in r.events:
        assert_hit_fields(e.fields)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=QUERIES, body=st.binary(max_size=300))
def test_never_raises_on_any_bytes(query: bytes, body: bytes) -> None:
    _check(mp.parse_request(query, body, received=NOW))


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=QUERIES, top=st.dictionaries(KEYS, JSON, max_size=8),
       events=st.lists(st.dictionaries(KEYS, JSON, max_size=4), max_size=4))
def test_never_raises_on_any_json(query: bytes, top: dict[str, Any],
                                  events: list[dict[str, Any]]) -> None:
    body = {"client_id": CID, "app_instance_id": AIID, **top}
    if "events" not in top:
        body["events"] = events
    _check(mp.parse_request(query, orjson.dumps(body), received=NOW))
