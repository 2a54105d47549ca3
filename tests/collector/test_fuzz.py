"""Hypothesis against the live collector over HTTP: whatever arrives, never a 5xx but a 503
that says when to come back.

One collector per module and mode (lean edge path, FastAPI route path), on moto, with a
registered property so that the valid-looking hits among the examples really go to Kinesis.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, event, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from collector import ua
from collector.edge import ROUTES
from collector.settings import CollectorSettings
from tests.support import UA_TID, create_stack, isolate_aws_env, running_collector

GA4_TID = "G-FUZZ000001"
OTHER_PATHS = ["/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc",
               "/g/collect/", "/mp/collect/", "/debug/batch", "/collect/", "//collect", "/COLLECT",
               "/collect;x", "/%63ollect", "/debug/collect/", "/batch?"]


@pytest.fixture(scope="module")
def module_env() -> Iterator[None]:
    """conftest's AWS isolation, for a collector that lives as long as the module."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_aws_env(mp)
        yield


# the three ways a hit request can be answered: by the HTTP protocol itself
# (collector.protocol), by the edge's lean ASGI path, by the FastAPI routes
PATHS: dict[str, dict[str, bool]] = {
    "protocol": {}, "edge": {"hit_protocol": False}, "fastapi": {"fast_path": False},
}


@pytest.fixture(scope="module", params=PATHS, ids=list(PATHS))
def http(request: pytest.FixtureRequest, moto_url: str, module_env: None) -> Iterator[httpx.Client]:
    settings = CollectorSettings(
        resource_prefix="t" + secrets.token_hex(5), aws_endpoint_url=moto_url,
        aws_region="us-east-1", sink_max_in_flight=1, sink_linger_ms=5, log_format="text",
        **PATHS[request.param],
    )
    create_stack(settings, [UA_TID, GA4_TID])
    with running_collector(settings) as collector, \
            httpx.Client(base_url=collector.url, timeout=60) as client:
        yield client


# --- strategies -----------------------------------------------------------------------------

_ascii = string.ascii_letters + string.digits + "-._~!$'()*,;:@/ "
_escapes = st.sampled_from(["%ff", "%fe%ff", "%c3", "%c3%28", "%ed%a0%80", "%f0%9f%98", "%00", "%0a",
                            "%0d%0a", "%", "%z", "%zz", "%2", "%25", "%26", "%3d", "+", "&", "=", "==",
                            "%e2%82%ac", "%F0%9F%98%80", "\u00e9", "\u20ac"])
_atom = st.one_of(st.text(_ascii, max_size=12), _escapes,
                  st.text(max_size=6).map(lambda s: quote(s, safe="", errors="surrogatepass")))
_word = st.lists(_atom, max_size=5).map("".join)
_keys = st.one_of(
    st.sampled_from(sorted({*ua.PARAMS, *ua.CONTROL, "cd1", "cd201", "cm1", "cg6", "pr1id", "pr1qt",
                            "pr1cd1", "il1nm", "il1pi1id", "promo1id", "_v", "jid", "_gid"})),
    st.from_regex(r"\A(cd|cm|cg|pr|il|promo)[0-9]{1,5}(id|nm|pi[0-9]{1,3}id|cd[0-9]{1,3})?\Z"),
    _word,
)
_values = st.one_of(
    _word,
    st.sampled_from(["1", "0", "-1", "", "pageview", "event", "exception", UA_TID, "UA-999-1",
                     "12.50", "9" * 30, "purchase"]),
    st.integers(-(10**12), 10**12).map(str),
)
_pair = st.one_of(st.tuples(_keys, _values).map("=".join), _word)
_junk_payload = st.lists(_pair, max_size=20).map("&".join)


@st.composite
def _hit_like(draw: st.DrawFn) -> str:
    """A payload that often is a valid hit, with random parameters after the common ones."""
    head = [f"v={draw(st.sampled_from(['1', '1', '2']))}",
            f"tid={draw(st.sampled_from([UA_TID, UA_TID, 'UA-999-1', 'fake', '']))}",
            f"cid={draw(_word)}",
            f"t={draw(st.sampled_from(['pageview', 'event', 'exception', 'screenview', 'x']))}",
            "dp=%2Fp", "ec=c", "ea=a"]
    tail = draw(st.lists(_pair, max_size=12))
    return "&".join(draw(st.permutations(head)) + tail)


@st.composite
def _gtag_line(draw: st.DrawFn) -> str:
    """A gtag.js event line: often a valid event, with random parameters after it."""
    head = [f"v={draw(st.sampled_from(['2', '2', '1']))}",
            f"tid={draw(st.sampled_from([GA4_TID, GA4_TID, 'G-NOPE', 'UA-1-1', '']))}",
            f"cid={draw(_word)}", f"en={draw(st.sampled_from(['page_view', 'purchase', '', '_x']))}",
            f"_p={draw(_word)}", f"_s={draw(st.integers(-2, 300))}"]
    tail = draw(st.lists(st.one_of(
        st.tuples(st.sampled_from(["ep.a", "epn.b", "up.c", "upn.d", "pr1", "pr200", "pr9999",
                                   "sid", "sct", "_et", "uafvl", "uam", "gcs", "dl", "cu"]),
                  _values).map("=".join), _pair), max_size=12))
    return "&".join(draw(st.permutations(head)) + tail)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=6)
    | st.dictionaries(st.text(max_size=12), children, max_size=6), max_leaves=30)


@st.composite
def _mp_body(draw: st.DrawFn) -> object:
    """A Measurement Protocol body: often well-formed, with random values inside."""
    if draw(st.integers(0, 4)) == 0:
        return draw(_json)
    events = draw(st.lists(st.fixed_dictionaries(
        {"name": st.sampled_from(["page_view", "purchase", "_bad", "", "session_start"]) | _word},
        optional={"params": st.dictionaries(st.sampled_from(["items", "value", "session_id",
                                                             "page_location", "x"]) | _word,
                                            _json, max_size=6)}), max_size=30))
    return {"client_id": draw(st.sampled_from(["1.2", ""]) | _json), "events": events,
            **draw(st.dictionaries(st.sampled_from(["timestamp_micros", "user_properties",
                                                    "consent", "user_location", "device",
                                                    "validation_behavior", "user_data"]),
                                   _json, max_size=4))}


_payload = st.one_of(_hit_like(), _junk_payload, st.text(_ascii + "&=%", max_size=200))
_big = st.sampled_from([8000, 8001, 8192, 8193, 16384, 16385, 130_000, 256 * 1024,
                        256 * 1024 + 1, 270_000])


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["none", "bytes", "payload", "batch", "big", "gtag", "mp"]))
    if kind == "none":
        return b""
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "payload":
        return draw(_payload).encode()
    if kind == "gtag":  # shared params in the query, one event per line
        return "\n".join(draw(st.lists(_gtag_line(), max_size=30))).encode()
    if kind == "mp":
        return orjson.dumps(draw(_mp_body()))
    if kind == "batch":
        lines = draw(st.lists(_payload, max_size=24))
        sep = draw(st.sampled_from(["\n", "\r\n", "\n\n"]))
        return sep.join(lines).encode()
    size = draw(_big)
    line = draw(_hit_like()).encode() + b"&_pad="
    return (line + b"x" * size)[:size] if draw(st.booleans()) else b"\n".join([line] * (size // 400))


_random_path = st.text(_ascii.replace(" ", "") + "%\u00e9", max_size=30).map(lambda p: "/" + p)
# mostly the hit routes, where the parsing is
_paths = st.integers(0, 9).flatmap(
    lambda n: st.sampled_from(sorted(ROUTES)) if n < 7
    else st.sampled_from(OTHER_PATHS) if n < 9 else _random_path)
_methods = st.integers(0, 9).flatmap(
    lambda n: st.sampled_from(["GET", "POST"]) if n < 7
    else st.sampled_from(["PUT", "OPTIONS", "HEAD", "DELETE", "PATCH"]))
_header_text = st.text(string.ascii_letters + string.digits + " ;=/,.:-_()*\"'", max_size=60).map(str.strip)
_headers = st.dictionaries(
    st.sampled_from(["content-type", "user-agent", "origin", "referer", "accept", "x-forwarded-for",
                     "access-control-request-method", "cookie", "accept-encoding"]),
    st.one_of(st.sampled_from(["application/x-www-form-urlencoded", "text/plain;charset=UTF-8",
                               "application/json", "multipart/form-data; boundary=zz", "image/gif",
                               "https://shop.example", "null", "POST", "gzip"]),
              _header_text),
    max_size=5,
)


def _acceptable(r: httpx.Response) -> bool:
    if r.status_code == 503:
        # Kinesis or the properties table unavailable: the client may come back later. A
        # handler that crashed answers 503 too (never a 500), but that is still a bug here.
        return "retry-after" in r.headers and b"internal error" not in r.content
    return r.status_code < 500


@hsettings(max_examples=300, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                  HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(method=_methods,
       path=_paths,
       query=st.one_of(st.just(""), _payload),
       body=_bodies(),
       headers=_headers)
@example(method="GET", path="/collect", query="v=1&tid=UA-1234-1&cid=1&t=pageview&dp=/&cd" + "9" * 5000,
         body=b"", headers={})
@example(method="POST", path="/batch", query="", headers={},
         body=b"v=1&tid=UA-1234-1&cid=1&t=pageview&dp=/&qt=" + b"9" * 5000)
@example(method="POST", path="/debug/collect", query="", headers={"content-type": "text/plain"},
         body=b"v=1&tid=UA-1234-1&cid=1&t=pageview&dp=/&il" + b"1" * 4400 + b"nm=x")
@example(method="POST", path="/collect", query="", headers={}, body=b"x" * (256 * 1024 + 1))
def test_no_request_gets_a_server_error(http: httpx.Client, method: str, path: str, query: str,
                                        body: bytes, headers: dict[str, str]) -> None:
    target = f"{path}?{query}" if query else path
    # an absolute URL, so that a path such as //collect is not taken for a host
    raw = "".join(chr(b) if b < 0x80 else f"%{b:02X}" for b in target.encode()).encode()
    url = http.base_url.copy_with(raw_path=raw)
    r = http.request(method, url, content=body or None, headers=headers)
    event(f"{method} {r.status_code}")
    assert _acceptable(r), (r.status_code, r.headers, r.content[:500])
    if r.status_code == 413:
        assert len(body) > 256 * 1024 or len(r.request.url.query) > 256 * 1024
