"""Every parser of hostile input in the collector, as fuzz targets over Hypothesis
strategies: tests/hostile/test_parsers.py runs each briefly, bench/fuzz.py at volume.

A target returns nothing and raises nothing: the parsers report problems as data (an
invalid hit, a validation message, None), never as an exception (STYLE.md §14)."""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from hypothesis import strategies as st

from collector import campaign, clientip, collect, ga4, gtag, mp, tracker, ua
from collector.bots import BotDetector
from collector.device import ClientHints, DeviceDetector, hint_values
from collector.enrich import Enricher
from collector.geo import NoGeo
from collector.http import RawRequest
from collector.referrer import ReferrerClassifier

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TIDS = ["UA-1234-1", "G-HOSTILE001", "1:123:android:abc", "UA-1-1", "", "G-", "UA-x-1"]

_ascii = string.ascii_letters + string.digits + "-._~!$'()*,;:@/ "
_escapes = st.sampled_from(["%ff", "%c3%28", "%ed%a0%80", "%f0%9f%98", "%00", "%0a", "%0d%0a",
                            "%", "%z", "%2", "%25", "%26", "%3d", "+", "&", "=", "%e2%82%ac",
                            "\u00e9", "\ud7ff", "\U0001f600"])
_atom = st.one_of(st.text(_ascii, max_size=12), _escapes,
                  st.text(max_size=6).map(lambda s: quote(s, safe="", errors="surrogatepass")))
word = st.lists(_atom, max_size=5).map("".join)
_keys = st.one_of(
    st.sampled_from(sorted({*ua.PARAMS, *ua.CONTROL, "cd1", "cm1", "pr1id", "pr1qt", "il1pi1id",
                            "en", "ep.a", "epn.b", "up.c", "_p", "_s", "sid", "sct", "gcs", "uafvl",
                            "uamb", "uap", "uapv", "uam", "pr1", "dl", "dr", "dt", "cu"})),
    st.from_regex(r"\A(cd|cm|cg|pr|il|promo)[0-9]{1,4}(id|nm|pi[0-9]{1,3}id|cd[0-9]{1,3})?\Z"),
    word)
_values = st.one_of(word, st.sampled_from(["1", "0", "-1", "", "pageview", "event", "2", *TIDS,
                                           "12.50", "9" * 30, "1e308", "nan", "-0"]),
                    st.integers(-(10**19), 10**19).map(str))
query = st.lists(st.one_of(st.tuples(_keys, _values).map("=".join), word),
                 max_size=25).map("&".join).map(str.encode)
payload = st.one_of(query, st.binary(max_size=300))
lines = st.lists(payload, max_size=30).map(b"\n".join)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats() | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
    max_leaves=40)


@st.composite
def mp_body(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=200))
    events = draw(st.lists(st.fixed_dictionaries(
        {"name": st.sampled_from(["page_view", "purchase", "_bad", "", "x" * 41]) | word},
        optional={"params": st.dictionaries(st.sampled_from(["items", "value", "currency",
                                                             "session_id", "engagement_time_msec",
                                                             "page_location"]) | word,
                                            json_value, max_size=6)}), max_size=30))
    body = {"client_id": draw(st.sampled_from(["1.2", ""]) | json_value), "events": events,
            **draw(st.dictionaries(st.sampled_from(["timestamp_micros", "user_properties",
                                                    "consent", "user_location", "device",
                                                    "user_id", "app_instance_id", "user_data",
                                                    "validation_behavior", "non_personalized_ads"]),
                                   json_value, max_size=5))}
    # the standard library's encoder: integers past 64 bits, NaN and Infinity (not JSON) too
    return json.dumps(body if draw(st.booleans()) else draw(json_value)).encode()


header_value = st.one_of(st.binary(max_size=80), st.sampled_from([
    b'"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"', b"?0", b"?1", b"?2",
    b'"Windows"', b'"15.0.0"', b'"Pixel 8"', b'"', b'\\"', b'"a\\', b";v=", b",,,", b"\xff\xfe"]))
hint_headers = st.dictionaries(st.sampled_from([
    b"sec-ch-ua", b"sec-ch-ua-mobile", b"sec-ch-ua-platform", b"sec-ch-ua-platform-version",
    b"sec-ch-ua-model", b"sec-ch-ua-full-version-list", b"user-agent", b"cookie"]), header_value,
    max_size=7)
address = st.one_of(st.ip_addresses().map(str), st.text(max_size=40), st.sampled_from([
    "[::1]:80", "1.2.3.4:5", "::ffff:1.2.3.4", "fe80::1%eth0", "unknown", "_hidden", "0x7f.1"]))
forwarded = st.lists(st.lists(address, max_size=5).map(", ".join).map(
    lambda s: s.encode("utf-8", "surrogatepass")) | st.binary(max_size=60), max_size=3)
agent = st.one_of(st.text(max_size=200), st.sampled_from([
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124 Safari/537.36", "Googlebot/2.1 (+http://www.google.com/bot.html)", "curl/8.0", "",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8)"]))
url = st.one_of(st.text(max_size=120), st.builds(
    lambda scheme, host, q: f"{scheme}://{host}/p?{q.decode('latin-1')}",
    st.sampled_from(["http", "https", "android-app", "", "javascript"]),
    st.sampled_from(["www.google.com", "shop.example", "t.co", "xn--", "[::1]", "a" * 300, ""]),
    query))


def request(method: str, path: str, query_: bytes, body: bytes, headers: dict[bytes, bytes],
            peer: str | None = "203.0.113.9", fwd: list[bytes] | None = None) -> RawRequest:
    return RawRequest(method=method, path=path, query=query_, body=body, received=NOW.timestamp(),
                      client_ip=peer, user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
                      origin=None, headers=headers, forwarded_for=fwd or [])


def _ua(data: st.DataObject) -> None:
    raw = data.draw(payload)
    ua.payload_pairs(raw)
    hit = ua.parse_payload(raw)
    assert isinstance(hit.valid, bool)


def _collect(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from([*collect.COLLECT_PATHS, collect.BATCH_PATH]))
    method = data.draw(st.sampled_from(["GET", "POST"]))
    req = request(method, path, data.draw(query), data.draw(st.one_of(payload, lines)), {})
    for one in collect.incoming(req):
        assert isinstance(one.tracking_id, str)


def _gtag(data: st.DataObject) -> None:
    req = request("POST", ga4.GTAG_PATH, data.draw(query), data.draw(st.one_of(lines, payload)),
                  data.draw(hint_headers))
    gtag.parse_request(req.query, req.body, received=NOW)
    ga4.gtag_incoming(req)


def _mp(data: st.DataObject) -> None:
    parsed = mp.parse_request(data.draw(query), data.draw(mp_body()), received=NOW)
    ga4.mp_incoming(parsed)
    orjson.loads(mp.debug_body(parsed))


def _hints(data: st.DataObject) -> None:
    headers = data.draw(hint_headers)
    hint_values(headers)
    ClientHints.from_headers(headers)
    params = data.draw(st.dictionaries(st.sampled_from(["uafvl", "uamb", "uap", "uapv", "uam",
                                                        "uaw", "uaa", "uab"]), st.text(max_size=60)))
    ClientHints.from_gtag_params(params)


def _addresses(data: st.DataObject) -> None:
    peer, fwd = data.draw(st.none() | address), data.draw(forwarded)
    for hops in range(4):
        clientip.client_ip(peer, fwd, hops)
    clientip.override_ip(data.draw(address))


def _tracker(data: st.DataObject) -> None:
    tracker.accepts_gzip(data.draw(st.none() | st.text(max_size=80)))
    tracker.not_modified(data.draw(st.none() | st.text(max_size=80)), '"abc"')


def _campaign(data: st.DataObject) -> None:
    explicit = data.draw(st.dictionaries(st.sampled_from(
        ["campaign_source", "campaign_medium", "campaign_name", "gclid", "dclid"]), json_value, max_size=4))
    campaign.campaign_fields(data.draw(st.none() | url), explicit)


_enricher: list[Enricher] = []


def _enrich(data: st.DataObject) -> None:
    if not _enricher:
        _enricher.append(Enricher(geo=NoGeo(), devices=DeviceDetector(cache_size=64),
                                  bots=BotDetector(cache_size=64),
                                  referrers=ReferrerClassifier(cache_size=64),
                                  trusted_proxy_hops=1, bot_policy="filter", cache_size=64))
    headers = data.draw(hint_headers)
    headers[b"user-agent"] = data.draw(agent).encode("utf-8", "surrogatepass")
    req = request("GET", "/collect", b"", b"", headers, data.draw(st.none() | address),
                  data.draw(forwarded))
    fields: dict[str, Any] = {"page_location": data.draw(st.none() | url),
                              "page_referrer": data.draw(st.none() | url),
                              "page_hostname": data.draw(st.none() | st.text(max_size=30))}
    _enricher[0].apply(fields, req, ip_override=data.draw(st.none() | address),
                       ua_override=data.draw(st.none() | agent), anonymize=data.draw(st.booleans()),
                       hints=hint_values(headers) if data.draw(st.booleans()) else None)


TARGETS: dict[str, Callable[[st.DataObject], None]] = {
    "ua": _ua, "collect": _collect, "gtag": _gtag, "mp": _mp, "client_hints": _hints,
    "addresses": _addresses, "tracker_headers": _tracker, "campaign": _campaign, "enrich": _enrich,
}
