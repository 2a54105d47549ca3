"""collector.gtag.parse_request: gtag.js ``/g/collect`` requests → events on the Hit.

The corpus (``fixtures/gtag_requests.json``) holds requests in the shape browsers send them,
with every expected event written out field by field. Params for the client-hint checks are
decoded here with the standard library, independently of the parser.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from collector import gtag
from collector.device import ClientHints, hint_values
from lambdalytics import hit as hitmod
from lambdalytics.hit import Hit, Item

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "gtag_requests.json").read_text("utf-8"))
REQUESTS: list[dict[str, Any]] = FIXTURES["requests"]
RECEIVED = datetime(2024, 12, 5, 12, 30, 15, 123456, tzinfo=UTC)
TIMES = {"hit_id", "received_time", "event_time"}
TID, CID = "G-TW4K7Q2M9P", "1043587291.1733158812"
BASE = [("v", "2"), ("tid", TID), ("_p", "1733402117384"), ("cid", CID), ("_s", "1")]


def parse(query: str | bytes, body: str | bytes = b"") -> list[gtag.GtagEvent]:
    q = query.encode() if isinstance(query, str) else query
    b = body.encode() if isinstance(body, str) else body
    return gtag.parse_request(q, b, received=RECEIVED)


def one(*pairs: tuple[str, str], base: list[tuple[str, str]] = BASE) -> gtag.GtagEvent:
    (event,) = parse(urlencode([*base, *pairs], quote_via=quote))
    return event


def expected_fields(want: dict[str, Any]) -> dict[str, Any]:
    fields = dict(want)
    if "items" in fields:
        fields["items"] = tuple(Item(**item) for item in fields["items"])
    return fields


def line_params(query: str, body: str) -> list[dict[str, str]]:
    """Each event's params, decoded with the standard library (first value wins)."""
    def params(payload: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in parse_qsl(payload, keep_blank_values=True):
            out.setdefault(key, value)
        return out

    lines = [line.strip("\r") for line in body.split("\n") if line.strip()]
    return [{**params(query), **params(line)} for line in lines] or [params(query)]


def by_name(name: str) -> dict[str, Any]:
    return next(r for r in REQUESTS if r["name"].startswith(name))


# --- the corpus -------------------------------------------------------------------------------


@pytest.mark.parametrize("request_", REQUESTS, ids=[r["name"][:50] for r in REQUESTS])
def test_corpus(request_: dict[str, Any]) -> None:
    events = parse(request_["query"], request_["body"])
    assert [e.index for e in events] == [w["index"] for w in request_["expected"]]
    for event, want in zip(events, request_["expected"], strict=True):
        fields = {k: v for k, v in event.fields.items() if k not in TIMES}
        assert fields == expected_fields(want["fields"]), event.index
        assert event.valid is want["valid"]
        assert event.problems == want.get("problems", [])
        assert event.notes == want.get("notes", [])
        assert event.tracking_id == want.get("tracking_id", want["fields"].get("tracking_id", ""))
        assert event.fields["received_time"] == event.fields["event_time"] == hitmod.utc_ms(
            RECEIVED.timestamp()) == datetime(2024, 12, 5, 12, 30, 15, 123000, tzinfo=UTC)
        if "hints" in want:
            hints = want["hints"]
            assert event.hints == (None if hints is None else tuple(h.encode() for h in hints))


@pytest.mark.parametrize("request_", REQUESTS, ids=[r["name"][:50] for r in REQUESTS])
def test_corpus_events_are_hits(request_: dict[str, Any]) -> None:
    """Every event's fields build a Hit that encodes and decodes unchanged."""
    for event in parse(request_["query"], request_["body"]):
        hit = Hit(**event.fields)
        assert hitmod.decode(hitmod.encode_fields(dict(event.fields))) == hit
        assert hit.protocol in hitmod.PROTOCOLS
        assert hit.property_id == ""
        assert hit.device_category is None
        assert hit.ip_truncated is None


# --- client hints -----------------------------------------------------------------------------


@pytest.mark.parametrize("request_", REQUESTS, ids=[r["name"][:50] for r in REQUESTS])
def test_hints_equal_from_gtag_params(request_: dict[str, Any]) -> None:
    events = parse(request_["query"], request_["body"])
    for event, params in zip(events, line_params(request_["query"], request_["body"]), strict=True):
        if gtag.HINT_PARAMS.isdisjoint(params):
            assert event.hints is None
            continue
        assert event.hints is not None
        assert len(event.hints) == 6
        assert ClientHints.from_values(event.hints) == ClientHints.from_gtag_params(params)


@pytest.mark.parametrize("request_", [r for r in REQUESTS if "sec-ch-ua" in r["headers"]],
                         ids=lambda r: r["name"][:50])
def test_hints_agree_with_the_browsers_own_headers(request_: dict[str, Any]) -> None:
    """The low-entropy hints Chrome sends as headers are what we rebuild from the params."""
    headers = {k.encode(): v.encode() for k, v in request_["headers"].items()}
    from_headers = ClientHints.from_headers(headers)
    (event,) = parse(request_["query"], request_["body"])
    assert event.hints is not None
    assert from_headers is not None
    values = hint_values(headers)
    assert values is not None
    assert event.hints[:3] == values[:3]  # Sec-CH-UA, -Mobile, -Platform byte for byte
    ours = ClientHints.from_values(event.hints)
    assert ours is not None
    assert (ours.brands, ours.mobile, ours.platform) == (
        from_headers.brands, from_headers.mobile, from_headers.platform)


brand = st.text(st.characters(codec="ascii", categories=("L", "N", "P", "S", "Zs")), max_size=20)
version = st.text(st.sampled_from("0123456789."), max_size=16)


@given(brands=st.lists(st.tuples(brand, version), max_size=4), mobile=st.sampled_from(["", "0", "1", "x"]),
       platform=brand, platform_version=version, model=brand)
@example(brands=[('a"b\\c', "1.2"), ("Not;A|Brand", "")], mobile="1", platform=' "Win" ',
         platform_version="", model="")
@hsettings(max_examples=300)
def test_hints_equivalence_property(brands: list[tuple[str, str]], mobile: str, platform: str,
                                    platform_version: str, model: str) -> None:
    uafvl = "|".join(f"{quote(b, safe='')};{v}" for b, v in brands)
    params = {"uafvl": uafvl, "uamb": mobile, "uap": platform, "uapv": platform_version,
              "uam": model}
    event = one(*params.items())
    assert event.hints is not None
    assert ClientHints.from_values(event.hints) == ClientHints.from_gtag_params(params)


# --- hit ids ----------------------------------------------------------------------------------


def test_hit_id_is_deterministic_per_request_and_line() -> None:
    request_ = by_name("invalid events among valid ones")
    first = [e.fields["hit_id"] for e in parse(request_["query"], request_["body"])]
    retry = [e.fields["hit_id"] for e in parse(request_["query"], request_["body"])]
    assert first == retry  # a retried request repeats _p, _s and its lines
    assert len(set(first)) == len(first)
    assert first[0] == hitmod.derived_hit_id("gtag", TID, CID, "1733405012990", "6", "0", "page_view")
    (single,) = parse(REQUESTS[0]["query"])
    assert single.fields["hit_id"] == hitmod.derived_hit_id(
        "gtag", TID, CID, "1733402117384", "1", "0", "page_view")


def test_hit_id_is_random_without_p_and_s() -> None:
    base = [p for p in BASE if p[0] not in ("_p", "_s")]
    ids = {one(("en", "page_view"), base=base).fields["hit_id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(len(i) == 32 for i in ids)
    other_page = [p if p[0] != "_p" else ("_p", "1") for p in BASE]
    assert one(("en", "x"), base=other_page).fields["hit_id"] != one(("en", "x")).fields["hit_id"]


# --- request structure ------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"\n", b"\r\n \r\n", b"  "])
def test_blank_body_is_one_event_from_the_query(body: bytes) -> None:
    (event,) = parse(urlencode([*BASE, ("en", "page_view")]), body)
    assert (event.index, event.valid, event.fields["event_name"]) == (0, True, "page_view")


def test_more_than_max_events_are_invalid_and_not_read() -> None:
    body = "\n".join(f"en=e{i}" for i in range(gtag.MAX_EVENTS + 5))
    events = parse(urlencode(BASE), body)
    assert len(events) == gtag.MAX_EVENTS + 5
    assert all(e.valid for e in events[: gtag.MAX_EVENTS])
    late = events[gtag.MAX_EVENTS:]
    assert [e.index for e in late] == list(range(25, 30))
    assert all(not e.valid and e.fields == {} and e.tracking_id == TID for e in late)
    assert late[0].problems == ["more than 25 events in one request: line 25 was not read"]


def test_decoding_plus_percent_first_value_and_invalid_utf8() -> None:
    query = urlencode(BASE).encode() + b"&en=page_view&dt=Tea+%26+Toast&dt=second&ul=EN-GB"
    (event,) = parse(query)
    assert event.fields["page_title"] == "Tea & Toast"  # the first value of a repeated key
    assert event.fields["language"] == "en-gb"
    assert event.notes == []
    (bad,) = parse(query + b"&ep.shelf=%FFnorth&ep.room=caf\xc3\xa9&ep.x=\xff")
    assert bad.valid
    assert bad.fields["event_params"] == {"shelf": "\ufffdnorth", "room": "café", "x": "\ufffd"}
    assert bad.notes == ["invalid UTF-8 in the payload was replaced"]


def test_empty_values_are_absent_but_flags_count_by_presence() -> None:
    event = one(("en", "page_view"), ("dt", ""), ("ep.a", ""), ("uid", ""), ("_fv", ""), ("_ss", "1"))
    assert "page_title" not in event.fields
    assert "event_params" not in event.fields
    assert "user_id" not in event.fields
    assert event.fields["first_visit"] is event.fields["session_start"] is True


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(("gcs", "valid"), [
    ("G100", True), ("G110", True), ("G1-0", True),  # analytics_storage denied: cookieless
    ("G101", False), ("G111", False), ("G10", False), ("G1000", False), ("", False),
])
def test_cid_is_optional_only_when_analytics_storage_is_denied(gcs: str, valid: bool) -> None:
    base = [p for p in BASE if p[0] != "cid"]
    event = one(("en", "page_view"), ("gcs", gcs), base=base)
    assert event.valid is valid
    assert "client_id" not in event.fields
    if not valid:
        assert event.problems == [
            "parameter 'cid' is required unless analytics_storage is denied (gcs)"]
    assert one(("en", "page_view"), ("gcs", "G100")).fields["client_id"] == CID  # kept when sent


@pytest.mark.parametrize(("name", "valid"), [
    ("page_view", True), ("first_visit", True), ("session_start", True), ("user_engagement", True),
    ("a" * 40, True), ("a" * 41, False), ("1st_click", False), ("bad-name", False),
    ("_internal", False), ("café", False),
])
def test_event_names(name: str, valid: bool) -> None:
    event = one(("en", name))
    assert event.valid is valid
    assert ("event_name" in event.fields) is valid


def test_every_problem_is_reported_at_once() -> None:
    (event,) = parse(b"v=1&tid=G-lower&en=9lives")
    assert event.problems == [
        "parameter 'v' must be 2, not '1'",
        "parameter 'tid' is not a G-… measurement id: 'G-lower'",
        "event name '9lives' must be a letter then up to 39 letters, digits or underscores",
        "parameter 'cid' is required unless analytics_storage is denied (gcs)",
    ]
    (empty,) = parse(b"")
    assert empty.tracking_id == ""
    assert len(empty.problems) == 4


# --- mapping and limits -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "hit_type", "transaction"), [
    ("page_view", "pageview", False), ("purchase", "transaction", True),
    ("refund", "event", True), ("add_to_cart", "event", False),
])
def test_types_and_transaction_fields(name: str, hit_type: str, transaction: bool) -> None:
    event = one(("en", name), ("cu", "EUR"), ("ep.transaction_id", "T-9"), ("epn.value", "12.5"),
                ("epn.tax", "2"), ("ep.coupon", "TEN"))
    f = event.fields
    assert (f["type"], f["currency"]) == (hit_type, "EUR")
    if transaction:
        assert (f["transaction_id"], f["transaction_revenue"], f["transaction_tax"],
                f["transaction_coupon"]) == ("T-9", 12.5, 2.0, "TEN")
        assert "event_params" not in f
        assert "event_params_num" not in f
    else:
        assert "transaction_id" not in f
        assert "transaction_revenue" not in f
        assert f["event_params"] == {"transaction_id": "T-9", "coupon": "TEN"}
        assert f["event_params_num"] == {"value": 12.5, "tax": 2.0}


def test_event_param_limits() -> None:
    pairs = [(f"ep.p{i}", "x") for i in range(20)] + [(f"epn.n{i}", "1") for i in range(8)]
    event = one(("en", "x"), ("ep.bad-name", "1"), ("epn.inf", "1e999"), *pairs,
                ("ep.long", "y" * 150))
    f = event.fields
    assert len(f["event_params"]) + len(f["event_params_num"]) == gtag.MAX_EVENT_PARAMS
    assert list(f["event_params_num"]) == [f"n{i}" for i in range(5)]
    assert "long" not in f["event_params"]
    assert event.valid
    assert event.notes == [
        "'ep.bad-name': not a valid name, dropped",
        "'epn.inf': not a number, dropped",
        "'epn.n5': over 25 params, dropped",
        "'epn.n6': over 25 params, dropped",
        "'epn.n7': over 25 params, dropped",
        "'ep.long': over 25 params, dropped",
    ]
    cut = one(("en", "x"), ("ep.long", "y" * 150))
    assert cut.fields["event_params"] == {"long": "y" * 100}
    assert cut.notes == ["'ep.long': longer than 100 characters, truncated"]


@pytest.mark.parametrize(("param", "fld", "limit"), [
    ("dt", "page_title", 300), ("dr", "page_referrer", 420), ("dl", "page_location", 1000),
    ("cn", "campaign_name", 100),
])
def test_page_value_limits(param: str, fld: str, limit: int) -> None:
    value = "https://a.example/" + "p" * 2000
    event = one(("en", "page_view"), (param, value))
    assert event.fields[fld] == value[:limit]
    assert event.notes == [f"'{param}': longer than {limit} characters, truncated"]


def test_user_property_and_user_id_limits() -> None:
    props = [(f"up.p{i}", "v") for i in range(26)]
    event = one(("en", "x"), ("up." + "n" * 25, "v"), ("up.tier", "g" * 40), ("upn.score", "abc"),
                *props, ("uid", "u" * 257))
    f = event.fields
    assert f["user_properties"]["tier"] == "g" * 36
    assert len(f["user_properties"]) == gtag.MAX_USER_PROPERTIES
    assert "p24" not in f["user_properties"]
    assert "user_id" not in f
    assert event.notes == [
        "uid: longer than 256 characters, dropped",
        f"'up.{'n' * 25}': not a valid name, dropped",
        "'up.tier': longer than 36 characters, truncated",
        "'upn.score': not a number, dropped",
        "'up.p24': over 25 user properties, dropped",
        "'up.p25': over 25 user properties, dropped",
    ]
    assert one(("en", "x"), ("uid", "u" * 256)).fields["user_id"] == "u" * 256


def test_counts_and_flags() -> None:
    event = one(("en", "x"), ("sct", "two"), ("_et", "-5"), ("seg", "0"), ("npa", "yes"),
                ("dh", "www.tidewater-books.example"), ("dl", "https://shop.example/a/b?c"))
    f = event.fields
    assert "session_number" not in f
    assert "engagement_time_ms" not in f
    assert f["session_engaged"] is False
    assert "non_personalized_ads" not in f
    assert (f["page_hostname"], f["page_path"]) == ("www.tidewater-books.example", "/a/b")
    assert event.notes == ["sct: not a non-negative integer, dropped",
                           "_et: not a non-negative integer, dropped"]


def test_items_edge_cases() -> None:
    event = one(("en", "view_cart"),
                ("pr0", "idZERO"), ("pr201", "idTOO_FAR"), ("pr3", "brNoIdOrName~pr1"),
                ("pr2", "idB~qt1.5~prcheap~k0edition~v01st~k1bad-name~v1x~v7orphan~zzunknown"),
                ("pr1", "nmA~" + "~".join(f"k{i}c{i}~v{i}x" for i in range(30))))
    items = event.fields["items"]
    assert [i.item_id or i.item_name for i in items] == ["A", "B"]  # index order
    assert items[0].params == {f"c{i}": "x" for i in range(gtag.MAX_ITEM_PARAMS)}
    assert items[1].params == {"edition": "1st"}  # v0 + "1st": the index is the k's
    assert items[1].quantity is None
    assert items[1].price is None
    assert event.notes == [
        "'pr0': item index out of 1–200, dropped",
        "'pr201': item index out of 1–200, dropped",
        *[f"pr1: custom param 'c{i}' invalid or over 27, dropped" for i in range(27, 30)],
        "pr2qt: not a count, dropped",
        "pr2pr: not a number, dropped",
        "pr2: custom param 'bad-name' invalid or over 27, dropped",
        "pr2: custom value v'7' has no name, dropped",
        "pr3: an item needs id or nm, dropped",
    ]


def test_module_is_pure() -> None:
    """No I/O shell: gtag imports only the parsing kernel."""
    tree = ast.parse(Path(gtag.__file__).read_text("utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    project = {m for m in imported if m and m.split(".")[0] in ("collector", "lambdalytics")}
    assert project == {"collector.device", "collector.ua", "lambdalytics.hit"}


# --- properties -------------------------------------------------------------------------------

KEYS = ["v", "tid", "cid", "en", "_p", "_s", "dl", "dh", "ul", "sct", "_et", "_fv", "gcs", "uid",
        "seg", "npa", "cu", "uafvl", "uamb", "uap", "ep.a", "epn.b", "up.c", "upn.d", "pr1", "pr2",
        "ep.transaction_id", "epn.value"]
values = st.text(max_size=30) | st.sampled_from(["2", "G-AB12", "G100", "1", "purchase", "idX~k0a~v0b"])
payloads = st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=12).map(
    lambda pairs: urlencode(pairs, quote_via=quote).encode())


@given(query=st.binary(max_size=300) | payloads,
       body=st.binary(max_size=300) | st.lists(payloads, max_size=4).map(b"\n".join))
@example(query=b"v=2&tid=G-A&pr1=%FF~", body=b"\xff\xfe\n%\n=&=\r")
@example(query=b"pr" + b"9" * 5000 + b"=x&sct=" + b"9" * 30, body=b"")
@hsettings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_never_raises_and_always_gives_hits(query: bytes, body: bytes) -> None:
    events = gtag.parse_request(query, body, received=RECEIVED)
    assert isinstance(events, list)
    assert events
    for event in events:
        assert event.valid is (not event.problems)
        hit = Hit(**event.fields)  # only Hit fields
        if event.fields:
            assert hitmod.decode(hitmod.encode_fields(dict(event.fields))) == hit
        if event.hints is not None:
            assert len(event.hints) == 6
            assert all(len(h) <= 256 for h in event.hints)
    assert [e.index for e in events] == sorted({e.index for e in events})


def test_gtag_event_is_a_slotted_dataclass() -> None:
    assert dataclasses.is_dataclass(gtag.GtagEvent)
    assert hasattr(gtag.GtagEvent, "__slots__")
    assert gtag.PROTOCOL == "gtag"
    assert gtag.PROTOCOL in hitmod.PROTOCOLS
