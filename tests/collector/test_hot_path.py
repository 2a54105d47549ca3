"""The hot path's shortcuts give exactly what the general code gives: the IPv4 fast paths
against ipaddress, the query split against urlsplit, the enricher's own caches against the
components they sit in front of, one referrer assessment against the spam check and the
classification, and the unfiltered encoding against the filtered one."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from collector.bots import BotDetector, BotVerdict
from collector.campaign import _plain_url
from collector.clientip import client_ip, client_source, normalize_ip, source_address
from collector.device import ClientHints, DeviceDetector, hint_values
from collector.enrich import NOT_BOTS, Enricher
from collector.geo import Geo, MaxMindGeo, geo_ip
from collector.http import RawRequest
from collector.privacy import _truncate, ipv4_octets, truncate_ip
from collector.referrer import ReferrerClassifier
from lambdalytics import hit as hitmod
from tests.support import TESTDATA

GEOIP = TESTDATA / "geoip"
CITY = (GEOIP / "GeoLite2-City-Test.mmdb").resolve()

_octet = st.sampled_from(["0", "00", "1", "01", "9", "10", "99", "255", "256", "999", "1000",
                          "", " 1", "+1", "-1", "²", "٣", "1a"])
_dotted = st.lists(_octet, min_size=2, max_size=6).map(".".join)


@hsettings(max_examples=500, deadline=None)
@given(text=_dotted | st.text(max_size=20))
def test_the_ipv4_parse_accepts_what_ipaddress_accepts(text: str) -> None:
    try:
        expected = str(ipaddress.IPv4Address(text)) == text
    except ValueError:
        expected = False
    assert (ipv4_octets(text) is not None) is expected
    assert truncate_ip(text) == _truncate(text, 24, 48)
    try:
        normal: str | None = str(ipaddress.ip_address(text.strip(" \t")))
    except ValueError:
        normal = None
    if normal is not None and ":" not in normal:
        assert normalize_ip(text) == normal


_url_parts = st.sampled_from(["http://", "https://", "//", "x.com", "é.com", "?", "#", "/", "[",
                              "]", "[::1]", ":", "@", "utm_source=a", "&", "=", " ", "\t", "\n",
                              "\x01", "ü", "a", "http:", "%20"])


@hsettings(max_examples=1000, deadline=None)
@given(parts=st.lists(_url_parts, max_size=10))
def test_a_plain_url_splits_as_urlsplit_splits_it(parts: list[str]) -> None:
    location = "".join(parts).strip()
    if _plain_url(location):
        assert urlsplit(location).query == location.partition("#")[0].partition("?")[2]


@pytest.mark.parametrize(("forwarded", "hops"), [
    ([], 1), ([b"203.0.113.7"], 1), ([b" 203.0.113.7 "], 1), ([b"6.6.6.6, 203.0.113.7"], 1),
    ([b"6.6.6.6, 203.0.113.7"], 2), ([b"6.6.6.6", b"203.0.113.7"], 1), ([b" , "], 1),
    ([b"[2001:db8::1]:443"], 1), ([b"x" * 200], 1), ([b"203.0.113.7"], 0),
])
def test_the_source_gives_the_client_address(forwarded: list[bytes], hops: int) -> None:
    for peer in ("198.51.100.7", "::ffff:198.51.100.7", None):
        assert (source_address(client_source(peer, forwarded, hops))
                == client_ip(peer, forwarded, hops))


# --- the enricher's caches against the components ---------------------------------------------


@pytest.fixture(scope="module")
def parts() -> Iterator[tuple[MaxMindGeo, DeviceDetector, BotDetector, ReferrerClassifier]]:
    with MaxMindGeo(CITY, cache_size=0) as geo:
        yield geo, DeviceDetector(cache_size=0), BotDetector(cache_size=0), ReferrerClassifier()


CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
HINTS = {b"sec-ch-ua": b'"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
         b"sec-ch-ua-platform": b'"Windows"', b"sec-ch-ua-platform-version": b'"15.0.0"'}
HEADLESS = {b"sec-ch-ua": b'"HeadlessChrome";v="124"'}


def reference(parts: tuple[MaxMindGeo, DeviceDetector, BotDetector, ReferrerClassifier],
              fields: dict[str, Any], request: RawRequest, *, hops: int, ip_override: str | None,
              ua_override: str | None, anonymize: bool, policy: str) -> tuple[str | None, str | None]:
    """Enricher.apply as it was written before its caches: each component asked in turn."""
    geo, devices, bots, referrers = parts
    from collector.campaign import campaign_fields, is_paid_click
    from collector.clientip import override_ip

    overridden = ip_override is not None and override_ip(ip_override) is not None
    ip = override_ip(ip_override) if overridden else client_ip(request.client_ip,
                                                                 request.forwarded_for, hops)
    anonymized = anonymize or overridden
    fields["ip_anonymized"] = anonymized
    if ip is not None:
        fields["ip_truncated"] = truncate_ip(ip)
        if "geo_country" not in fields and (found := geo.lookup_uncached(geo_ip(ip, anonymized))):
            fields.update(geo_continent=found.continent, geo_country=found.country,
                          geo_region=found.region, geo_city=found.city,
                          geo_timezone=found.timezone)
    agent = ua_override if ua_override is not None else request.user_agent
    hints = None if ua_override is not None else ClientHints.from_headers(request.headers)
    device = devices.detect(agent, hints)
    bot = bots.check(agent, hints)
    if bot.is_bot and (bot.reason or "").startswith(NOT_BOTS):
        bot = BotVerdict(False, None)
    fields.update(device_category="bot" if bot.is_bot else device.category,
                  device_brand=device.brand, device_model=device.model, browser=device.browser,
                  browser_version=device.browser_version, os=device.os,
                  os_version=device.os_version, is_bot=bot.is_bot)
    if bot.is_bot:
        fields["bot_reason"] = bot.reason
    fields.update(campaign_fields(fields.get("page_location"), fields))
    referrer = fields.get("page_referrer")
    if referrer and referrers.is_spam(referrer):
        return "referrer_spam", bot.reason
    filtered = bot.is_bot and (policy == "filter_all" or (policy == "filter" and bot.strong))
    got = referrers.classify(referrer, fields.get("page_hostname"),
                             campaign_medium=fields.get("campaign_medium"),
                             paid_click=is_paid_click(fields))
    fields.update(referrer_medium=got.medium, referrer_source=got.source,
                  referrer_term=got.term)
    return "bot" if filtered else None, bot.reason


SPAM = "http://" + next(iter(ReferrerClassifier()._spam)) + "/x"
CASES = [
    # (peer, X-Forwarded-For, headers, fields, uip, ua, aip)
    ("10.0.0.1", [b"81.2.69.142"], {}, {}, None, None, False),
    ("10.0.0.1", [b"81.2.69.142"], {}, {}, None, None, True),
    ("10.0.0.1", [b"6.6.6.6, 2001:218:1234:5678::1"], HINTS, {}, None, None, False),
    ("10.0.0.1", [], HINTS, {"geo_country": "FR"}, None, None, False),
    ("10.0.0.1", [b"unknown"], HEADLESS, {}, None, None, False),
    ("10.0.0.1", [b"81.2.69.142"], {}, {}, "89.160.20.112", "curl/8.0", False),
    ("10.0.0.1", [b"81.2.69.142"], {}, {}, "not an address", "Googlebot/2.1", True),
    ("10.0.0.1", [b"81.2.69.142"], {}, {}, None, "Mozilla/5.0 (compatible; Grabby/1.0)", False),
    ("10.0.0.1", [b"81.2.69.142"], {}, {"page_location": "https://shop.example/?utm_source=nl"
                                        "&utm_medium=email&gclid=abc",
                                        "page_hostname": "shop.example"}, None, None, False),
    ("10.0.0.1", [b"81.2.69.142"], {}, {"page_referrer": "https://www.google.de/search?q=x",
                                        "campaign_medium": "cpc"}, None, None, False),
    ("10.0.0.1", [b"81.2.69.142"], {}, {"page_referrer": SPAM}, None, None, False),
    ("10.0.0.1", [b"81.2.69.142"], {}, {"page_referrer": "   "}, None, "", False),
]


@pytest.mark.parametrize("policy", ["flag", "filter", "filter_all"])
@pytest.mark.parametrize("hops", [0, 1])
@pytest.mark.parametrize("case", CASES)
def test_the_enricher_answers_as_its_components(
        parts: tuple[MaxMindGeo, DeviceDetector, BotDetector, ReferrerClassifier],
        case: tuple[Any, ...], hops: int, policy: str) -> None:
    peer, forwarded, headers, given_fields, uip, agent, aip = case
    geo, devices, bots, referrers = parts
    enricher = Enricher(geo=geo, devices=devices, bots=bots, referrers=referrers,
                        trusted_proxy_hops=hops, bot_policy=policy, cache_size=8)
    request = RawRequest("GET", "/collect", b"", b"", 0.0, peer, CHROME, None,
                         {b"user-agent": CHROME.encode(), **headers}, forwarded)
    expected_fields = dict(given_fields)
    filter_reason, bot_reason = reference(parts, expected_fields, request, hops=hops,
                                          ip_override=uip, ua_override=agent, anonymize=aip,
                                          policy=policy)
    for _ in range(2):  # a miss, then a hit of both caches
        fields = dict(given_fields)
        verdict = enricher.apply(fields, request, ip_override=uip, ua_override=agent,
                                 anonymize=aip)
        assert (verdict.filter_reason, verdict.bot_reason) == (filter_reason, bot_reason)
        unset = {k for k, v in expected_fields.items() if v is None}
        assert fields == {k: v for k, v in expected_fields.items() if k not in unset}
        assert list(fields) == [k for k in expected_fields if k not in unset]  # same order
    info = enricher.cache_info()
    assert (info["agents"].hits, info["places"].hits) == (1, 1)


def test_geo_blocks_answer_as_addresses() -> None:
    with MaxMindGeo(CITY, cache_size=4) as geo:
        for ip, block in [("81.2.69.142", "81.2.69.0"), ("81.2.69.160", "81.2.69.0"),
                          ("81.2.69.0", "81.2.69.0"), ("175.16.199.1", "175.16.199.0"),
                          ("175.16.199.77", "175.16.199.0"), ("2001:218::1", "2001:218::"),
                          ("2001:218:0:ffff::1", "2001:218::"), ("1.1.1.1", "1.1.1.0"),
                          ("1.1.1.2", "1.1.1.0"), ("not an address", "not an address")]:
            assert geo.locate(ip, block) == geo.lookup_uncached(ip), ip
        stats = geo.block_stats()
        assert stats.size <= 4
        assert stats.hits >= 2  # 175.16.199.0/24 is one network; so is 2001:218::/32


def test_hint_values_are_what_from_headers_reads() -> None:
    assert hint_values({b"user-agent": b"x"}) is None
    values = hint_values(HINTS)
    assert values is not None
    assert ClientHints.from_values(values) == ClientHints.from_headers(HINTS)
    assert ClientHints.from_values(hint_values({b"sec-ch-ua": b""}) or ()) is None


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(referrer=st.none() | st.text(max_size=60)
       | st.sampled_from(["https://www.google.com/search?q=a", "http://t.co/x", SPAM,
                          "https://example.org/", "  ", "android-app://com.google.android.gm"]),
       page=st.none() | st.sampled_from(["example.org", "www.example.org", ""]),
       medium=st.none() | st.sampled_from(["cpc", "email", "social", "x"]),
       paid=st.booleans())
@example(referrer="http://[", page="[", medium=None, paid=False)
def test_one_assessment_is_the_spam_check_and_the_classification(
        referrer: str | None, page: str | None, medium: str | None, paid: bool) -> None:
    classifier = _CLASSIFIER
    got = classifier.assess(referrer, page, campaign_medium=medium, paid_click=paid)
    if classifier.is_spam(referrer):
        assert got is None
    else:
        assert got == classifier.classify(referrer, page, campaign_medium=medium,
                                          paid_click=paid)


_CLASSIFIER = ReferrerClassifier(cache_size=64)


@pytest.mark.parametrize("fields", [
    {"hit_id": "a", "type": "pageview", "event_value": 3, "transaction_revenue": 1.5,
     "is_bot": False, "received_time": datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)},
    {"hit_id": "a", "device_brand": None, "items": (), "custom_dimensions": {}},
    {"hit_id": "a", "custom_dimensions": {"1": "x"}, "items": (hitmod.Item(item_id="s"),)},
    {"hit_id": "a", "page_title": ""},
])
def test_encoding_without_the_filter_is_the_same_record(fields: dict[str, Any]) -> None:
    with_version = {**fields, "schema_version": hitmod.SCHEMA_VERSION}
    filtered = {k: v for k, v in with_version.items() if v is not None and v != () and v != {}}
    assert hitmod.encode_fields(dict(fields)) == orjson.dumps(filtered, option=orjson.OPT_UTC_Z)
    assert hitmod.decode(hitmod.encode_fields(dict(fields))).hit_id == "a"


def test_a_located_place_is_a_geo() -> None:
    with MaxMindGeo(CITY) as geo:
        assert geo.locate("81.2.69.142", "81.2.69.0") == Geo("EU", "GB", "GB-ENG", "London",
                                                             "Europe/London")
