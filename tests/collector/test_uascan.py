"""collector.uascan, the compiled build's native scan of a payload, against collector.ua's own
Python path, which stays the reference: every payload gives the same hit either way (fields
in the same order, the same messages and control values), and the scan hands a payload back
to the Python path wherever that path would record a problem.

The module exists only in a compiled build (``make test-compiled`` runs this file over one);
the pure Python run has nothing to test here and says so.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bench import hits
from collector import ua

if os.environ.get("LAMBDALYTICS_EXPECT_COMPILED") == "1":
    from collector import uascan  # a compiled build without it is an error, not a skip
else:
    uascan = pytest.importorskip(
        "collector.uascan", reason="a pure Python build has no native scan; "
        "`make test-compiled` runs these tests over the compiled build")

TID = "UA-12345-1"
BASE = f"v=1&tid={TID}&cid=555.1&t=pageview&dp=%2Fhome"


def _state(h: ua.ParsedHit) -> tuple[Any, ...]:
    return (list(h.fields.items()), h.messages, h.tracking_id, h.hit_type, h.nonce,
            h.queue_time_ms, h.ip_override, h.ua_override, h.anonymize_ip)


def _python(payload: bytes) -> ua.ParsedHit:
    return ua.parse(ua.payload_pairs(payload))


def _same(payload: bytes) -> ua.ParsedHit:
    """Both paths' hit, asserted equal."""
    native = ua.parse_payload(payload)
    assert _state(native) == _state(_python(payload)), payload
    return native


def test_collector_ua_uses_the_scan_of_this_build() -> None:
    assert ua._SCAN is uascan.scan


@pytest.mark.parametrize("payload", [
    BASE,
    BASE + "&dl=https%3A%2F%2Fexample.com%2Fa%3Fb%3D1&dt=Caf%C3%A9+%26+Bar&ul=en-us&je=0",
    BASE + "&dt=caf\u00e9 raw",  # raw UTF-8 on the wire
    BASE + "&ev=42&ni=1&tr=12.50&cu=EUR&z=98765&qt=1500&aip=&uip=203.0.113.9&ua=curl%2F8",
    BASE + "&cd1=a&cd01=b&cd200=c&cm3=1.5&cm4=&cg1=Group&cg5=&sc=start&geoid=de",
    BASE + "&pa=purchase&ti=T1&pr1id=SKU&pr1nm=Shirt&pr1pr=9.99&pr1qt=2&pr1cd3=x&il1nm=List"
           "&il1pi1id=A&promo1id=P&promo1nm=Spring&promoa=view",
    "\r" + BASE + "&&&dh=Example.COM&=orphan&novalue&_v=j101&jid=&a=1=2\r",
    "v=1&t=pageview",  # invalid, but the messages come from _finish: the scan still reads it
    f"v=1&tid={TID}&cid=1&t=bogus&pa=nonsense&an=&av=2",
])
def test_the_scan_reads_these_payloads_and_gives_the_python_paths_hit(payload: str) -> None:
    data = payload.encode()
    assert uascan.scan(data) is not None
    _same(data)


@pytest.mark.parametrize(("extra", "problem"), [
    # not problems, but what the scan leaves to the Python path rather than repeat its rule
    ("&dp=%2Fagain", False),  # a key sent twice: the first value wins
    ("&cd1=a&cd1=b", False),
    ("&pr1id=a&pr1id=b", False),
    ("&dt=100%25+%zz", False),  # a % without two hex digits stays as sent
    ("&dt=%", False),
    ("&dt=%4", False),
    ("&d%74=title", False),  # an encoded key
    # problems: each one a message on the Python path
    ("&dt=%C3", True),  # not UTF-8 once decoded
    ("&dt=" + "x" * 1501, True),  # over its length: truncated with a warning
    ("&cd2=" + "\u00e9" * 76, True),  # 152 bytes in 76 characters
    ("&ev=-1", True), ("&ev=1.0", True), ("&ev=" + "9" * 19, True),
    ("&ni=2", True), ("&ni=true", True),
    ("&tr=1e3", True), ("&tr=1,000", True), ("&cm1=.5", True),
    ("&qt=-5", True), ("&qt=", True), ("&qt=99999999999", True),
    (f"&qt={4 * 3600 * 1000 + 1}", True),
    ("&cd0=x", True), ("&cd201=x", True), ("&cg6=x", True), ("&cm0=1", True),
])
def test_the_scan_hands_these_to_the_python_path(extra: str, problem: bool) -> None:
    data = (BASE + extra).encode()
    assert uascan.scan(data) is None
    assert bool(_same(data).messages) == problem


def test_a_raw_byte_that_is_not_utf8_is_handed_to_the_python_path() -> None:
    data = BASE.encode() + b"&dt=caf\xe9"
    assert uascan.scan(data) is None
    assert _same(data).messages


def test_the_table_comes_from_collector_ua_and_one_that_does_not_load_reads_nothing() -> None:
    payload = BASE.encode() + b"&dt=abc"
    try:
        uascan.init({"dt": ("page_title", "text", 5)}, ["v"], 1000)
        assert uascan.scan(b"v=1&dt=abc&dl=x") == (
            {"page_title": "abc"}, "1", "", "", None, 0, None, None, False, None)
        assert uascan.scan(b"dt=abcdef") is None
        for params, control, error in [
                ({"waytoolongname": ("page_title", "text", 0)}, [], "does not fit"),
                ({"v": ("page_title", "text", 0)}, ["v"], "twice"),
                ({}, ["dt"], "no native handling")]:
            with pytest.raises(ValueError, match=error):
                uascan.init(params, control, 1000)
            assert uascan.scan(payload) is None  # half a table: everything handed back
            _same(payload)
    finally:  # collector.ua's table again, as the module loaded it
        ua._native_scan()
    assert uascan.scan(payload) is not None
    _same(payload)


def test_every_hit_of_the_benchmark_traffic_is_read_by_the_scan_to_the_same_hit() -> None:
    requests = hits.generate(3000, seed=7)
    payloads = []
    for request in requests:
        payload = request.payload().encode()
        payloads.extend(line for line in payload.split(b"\n") if line.strip())
    assert len(payloads) >= 3000
    for payload in payloads:
        assert uascan.scan(payload) is not None, payload
        assert not _same(payload).messages


# --- any payload ------------------------------------------------------------------------------

_KEYS = sorted({*ua.PARAMS, *ua.CONTROL, "cd1", "cd01", "cd200", "cd201", "cm1", "cm0", "cg3",
                "cg6", "cg", "cd", "cdx", "pr", "pr1id", "pr1nm", "pr1pr", "pr1qt", "pr1cd1",
                "pr1cm1", "il1nm", "il1pi1id", "promo1id", "promo1ps", "_v", "jid", ""})
_VALUES = st.one_of(
    st.sampled_from(["", "0", "1", "-1", "2", "1.5", "-0.25", "1e3", ".5", "pageview", "event",
                     TID, "purchase", "view", "start", "de", "9" * 19, "100%", "%zz", "a=b",
                     "caf\u00e9", "x" * 160]),
    st.text(max_size=30),
    st.integers(min_value=-(10**12), max_value=10**20).map(str),
)


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 25))):
        key = draw(st.one_of(st.sampled_from(_KEYS), st.text(max_size=6)))
        value = draw(_VALUES)
        how = draw(st.sampled_from(["quote", "plus", "raw", "bytes", "bare"]))
        if how == "quote":
            part = f"{quote(key, safe='')}={quote(value, safe='')}".encode()
        elif how == "plus":
            part = f"{quote_plus(key)}={quote_plus(value)}".encode()
        elif how == "raw":  # unescaped, as some clients send it (a & or = in it splits it)
            part = f"{key}={value}".encode("utf-8", "surrogatepass")
        elif how == "bytes":
            part = key.encode("utf-8", "surrogatepass") + b"=" + draw(st.binary(max_size=8))
        else:
            part = key.encode("utf-8", "surrogatepass")
        parts.append(part)
    body = b"&".join(parts)
    if draw(st.booleans()):
        body = b"\r" * draw(st.integers(0, 2)) + body + b"\r" * draw(st.integers(0, 2))
    return body


@given(payloads())
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@example(b"v=1&tid=UA-1-1&cid=1&t=event&ec=a&ea=b&cd1=x&cd01=y")
@example(b"cd" + b"0" * 20 + b"1=x&cg" + b"9" * 12 + b"=y")
@example(b"qt=0&qt=1")
@example(b"&=&==&%=&+=+")
def test_any_payload_gives_the_same_hit_either_way(payload: bytes) -> None:
    _same(payload)


@given(st.binary(max_size=300))
def test_any_bytes_give_the_same_hit_either_way(payload: bytes) -> None:
    _same(payload)
