"""Enrichment end to end: hits over HTTP through the collector, read back from Kinesis.

Real GeoIP test databases (tests/data/geoip), the collector behind one trusted
proxy hop as behind an ALB, and a scan of every Kinesis record and every log line for the
client addresses the test used: none may appear.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from collector.settings import CollectorSettings
from lambdalytics import compiled
from lambdalytics.hit import Hit
from lambdalytics.records import FilteredCount
from tests.support import (
    COLLECTOR_THREAD,
    TESTDATA,
    UA_TID,
    create_stack,
    read_records,
    read_stream,
    running_collector,
)

CITY_DB = TESTDATA / "geoip" / "GeoIP2-City-Test.mmdb"

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
# addresses this test sends: none of them may be stored or logged
LONDON, BOXFORD, SPOOF, LINKOPING = "81.2.69.142", "2.125.160.216", "6.6.6.6", "89.160.20.112"
SAN_DIEGO_V6 = "2001:480:10::1"


def hit(cid: str, *extra: str) -> str:
    return "&".join([f"v=1&tid={UA_TID}&cid={cid}&t=pageview&dp=%2Fp", *extra])


class Logs(logging.Handler):
    """Every log record the collector's thread emits, at every level, with all its fields
    (the test's own clients log the URLs they send, so only the server's thread counts)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName == COLLECTOR_THREAD:
            self.lines.append(self.format(record) + repr(record.__dict__))


@pytest.fixture
def logs() -> Iterator[Logs]:
    handler = Logs()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)


@pytest.fixture
def stack(settings: CollectorSettings) -> CollectorSettings:
    create_stack(settings, [UA_TID])
    return settings.model_copy(update={"geoip_database": str(CITY_DB), "trusted_proxy_hops": 1})


def by_cid(settings: CollectorSettings) -> dict[str, Hit]:
    return {r.client_id: r for r in read_records(settings) if isinstance(r, Hit) and r.client_id}


def test_geo_device_referrer_campaign_and_privacy(stack: CollectorSettings, logs: Logs) -> None:
    with running_collector(stack) as c, httpx.Client(base_url=c.url) as http:
        def send(cid: str, *extra: str, xff: str = LONDON, ua: str = CHROME) -> None:
            r = http.get(f"/collect?{hit(cid, *extra)}",
                         headers={"x-forwarded-for": xff, "user-agent": ua})
            assert r.status_code == 200

        send("london.1")
        send("spoofed.1", xff=f"{SPOOF}, {BOXFORD}")  # the client wrote SPOOF; the ALB appended
        send("aip.1", "aip=1")  # anonymised before the lookup: 81.2.69.0 is not in the database
        send("uip.1", f"uip={LINKOPING}", xff=LONDON)  # uip wins, and is anonymised
        send("geoid.1", "geoid=FR")
        send("v6.1", xff=SAN_DIEGO_V6, ua=IPHONE)
        send("search.1", "dr=https%3A%2F%2Fwww.google.co.uk%2Fsearch%3Fq%3Dlinen%2Bshirt",
             "dl=https%3A%2F%2Fshop.example.com%2Fp%3Futm_source%3Dnews%26utm_medium%3Demail")
        send("organic.1", "dr=https%3A%2F%2Fwww.bing.com%2Fsearch%3Fq%3Dwool")
        send("paid.1", "dl=https%3A%2F%2Fshop.example.com%2F%3Fgclid%3Dabc123",
             "dr=https%3A%2F%2Fwww.google.com%2F")
        send("internal.1", "dl=https%3A%2F%2Fshop.example.com%2Fb",
             "dr=https%3A%2F%2Fshop.example.com%2Fa")
        send("direct.1")

    hits = by_cid(stack)
    london = hits["london.1"]
    assert (london.geo_country, london.geo_city, london.geo_region) == ("GB", "London", "GB-ENG")
    assert london.geo_continent == "EU"
    assert london.geo_timezone == "Europe/London"
    assert london.ip_truncated == "81.2.69.0"
    assert london.ip_anonymized is False
    assert (london.device_category, london.browser, london.os) == ("desktop", "Chrome", "Windows")
    assert london.is_bot is False
    assert london.referrer_medium == "direct"

    assert hits["spoofed.1"].geo_city == "Boxford"
    assert hits["spoofed.1"].ip_truncated == "2.125.160.0"
    assert hits["aip.1"].ip_anonymized is True
    assert hits["aip.1"].geo_country is None
    assert hits["uip.1"].ip_truncated == "89.160.20.0"
    assert hits["uip.1"].ip_anonymized is True
    assert hits["geoid.1"].geo_country == "FR"
    v6 = hits["v6.1"]
    assert v6.geo_country == "US"
    assert v6.ip_truncated == "2001:480:10::"
    assert v6.geo_city == "San Diego"
    assert (v6.device_category, v6.os) == ("mobile", "iOS")

    search = hits["search.1"]
    # campaign tags override what the referrer says (GA's rule); the term stays
    assert (search.referrer_medium, search.referrer_source, search.referrer_term) == (
        "email", "google", "linen shirt")
    assert (search.campaign_source, search.campaign_medium) == ("news", "email")
    organic = hits["organic.1"]
    assert (organic.referrer_medium, organic.referrer_source, organic.referrer_term) == (
        "search", "bing", "wool")
    assert hits["paid.1"].gclid == "abc123"
    assert hits["paid.1"].referrer_medium == "paid"
    assert hits["internal.1"].referrer_medium == "internal"
    assert hits["internal.1"].referrer_source is None

    # the privacy scan: no address the test used is in any record or any log line
    raw = b"".join(data for _, data in read_stream(stack))
    text = "\n".join(logs.lines)
    assert logs.lines  # the scan read something
    for address in (LONDON, BOXFORD, SPOOF, LINKOPING, SAN_DIEGO_V6):
        assert address.encode() not in raw
        assert address not in text
    # the TCP peer was 127.0.0.1 (also the server's and moto's own address, so it is in the
    # logs as theirs); it is no hit's address either
    assert b"127.0.0.1" not in raw


@pytest.mark.parametrize("policy", ["filter", "filter_all", "flag"])
def test_bots_are_filtered_or_flagged_and_counted(stack: CollectorSettings, policy: str) -> None:
    settings = stack.model_copy(update={"bot_policy": policy})
    weak = "Mozilla/5.0 (compatible; Grabby/1.0)"  # the bot convention: a heuristic's verdict
    with running_collector(settings) as c:
        for i in range(3):
            r = httpx.get(f"{c.url}/collect?{hit(f'bot.{i}')}", headers={"user-agent": GOOGLEBOT})
            assert r.status_code == 200
        r = httpx.get(f"{c.url}/collect?{hit('weak.0')}", headers={"user-agent": weak})
        assert r.status_code == 200
        debug = httpx.get(f"{c.url}/debug/collect?{hit('bot.d')}",
                          headers={"user-agent": GOOGLEBOT}).json()
        debug_weak = httpx.get(f"{c.url}/debug/collect?{hit('weak.d')}",
                               headers={"user-agent": weak}).json()
    records = read_records(settings)
    bots = {r.client_id: r for r in records if isinstance(r, Hit)}
    counts: dict[str, int] = {}
    for r in records:
        if isinstance(r, FilteredCount):
            counts[r.reason] = counts.get(r.reason, 0) + r.count
    agents = {r.agent for r in records if isinstance(r, FilteredCount) and r.reason == "bot"}
    googlebot = {a for a in agents if a and a.endswith("(crawler:Googlebot)")}
    grabby = {a for a in agents if a and a.endswith("(heuristic:compatible:Grabby)")}
    assert agents == googlebot | grabby  # bot-filtered hits carry their agent family
    assert bool(googlebot) == (policy != "flag")
    assert bool(grabby) == (policy == "filter_all")
    assert all(r.agent is None for r in records
               if isinstance(r, FilteredCount) and r.reason != "bot")
    code = debug["hitParsingResult"][0]["parserMessage"][0]["messageCode"]
    code_weak = debug_weak["hitParsingResult"][0]["parserMessage"][0]["messageCode"]
    if policy == "flag":
        assert set(bots) == {"bot.0", "bot.1", "bot.2", "weak.0"}
        assert all(b.is_bot and b.device_category == "bot" for b in bots.values())
        assert all((bots[f"bot.{i}"].bot_reason or "").startswith("crawler:") for i in range(3))
        assert bots["weak.0"].bot_reason == "heuristic:compatible:Grabby"
        assert counts == {"bot_flagged": 4}
        assert (code, code_weak) == ("HIT_FLAGGED", "HIT_FLAGGED")
    elif policy == "filter":  # the strong signal filters, the heuristic only flags
        assert set(bots) == {"weak.0"}
        assert bots["weak.0"].is_bot
        assert bots["weak.0"].bot_reason == "heuristic:compatible:Grabby"
        assert counts == {"bot": 3, "bot_flagged": 1}
        assert (code, code_weak) == ("HIT_FILTERED", "HIT_FLAGGED")
    else:
        assert bots == {}
        assert counts == {"bot": 4}
        assert (code, code_weak) == ("HIT_FILTERED", "HIT_FILTERED")


def test_spam_referrers_are_filtered(stack: CollectorSettings) -> None:
    spam = _a_spam_host()
    with running_collector(stack) as c:
        r = httpx.get(f"{c.url}/collect?{hit('spam.1', f'dr=https%3A%2F%2F{spam}%2F')}",
                      headers={"user-agent": CHROME})
        assert r.status_code == 200
    records = read_records(stack)
    assert [r for r in records if isinstance(r, Hit)] == []
    assert [(r.reason, r.count) for r in records if isinstance(r, FilteredCount)] == [
        ("referrer_spam", 1)]


def _a_spam_host() -> str:
    from collector.referrer import ReferrerClassifier

    classifier = ReferrerClassifier()
    for host in ("semalt.com", "darodar.com", "buttons-for-website.com", "best-seo-offer.com"):
        if classifier.is_spam(f"https://{host}/"):
            return host
    raise AssertionError("none of the well-known spam hosts is on the vendored list")


def test_the_start_up_line_says_which_build_runs(settings: CollectorSettings,
                                                caplog: pytest.LogCaptureFixture) -> None:
    create_stack(settings, [UA_TID])
    with caplog.at_level(logging.INFO, logger="collector.app"), running_collector(settings):
        pass
    (started,) = [r for r in caplog.records if r.getMessage() == "collector started"]
    build = started.__dict__["hot_path"]
    assert build == compiled.describe()
    assert build.startswith(("interpreted", "compiled ("))  # never a partial build
    assert not [r for r in caplog.records if "partly compiled" in r.getMessage()]


def test_a_missing_database_warns_once_and_hits_go_on(settings: CollectorSettings,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    create_stack(settings, [UA_TID])
    missing = settings.model_copy(update={"geoip_database": "/nonexistent/GeoLite2-City.mmdb"})
    with caplog.at_level(logging.WARNING), running_collector(missing) as c:
        for i in range(3):
            assert httpx.get(f"{c.url}/collect?{hit(f'nogeo.{i}')}").status_code == 200
    warnings = [r for r in caplog.records if "GeoIP" in r.getMessage()]
    assert len(warnings) == 1
    hits = by_cid(settings)
    assert len(hits) == 3
    assert all(h.geo_country is None and h.ip_truncated == "127.0.0.0" for h in hits.values())
