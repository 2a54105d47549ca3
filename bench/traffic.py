"""Traffic that is realistic for the enrichment caches: who sends the hits and from where.

The collector's enrichment keeps bounded LRUs (``enrich_cache_size`` entries each) keyed on
the user agent, the client address and the referrer. A benchmark whose requests repeat a
handful of agents and no addresses measures cache hits only. This module synthesises, for
:mod:`bench.hits`, deterministically for a seed:

- **user agents**: tens of thousands of distinct, realistic agents — variants of the real
  mainstream browsers across versions, devices and operating systems (Chrome's reduced
  agents on Windows, macOS, Linux and Android; Safari on iPhone, iPad and Mac with their iOS
  and macOS builds; Edge with its full build numbers; Firefox, Opera, Yandex, Samsung
  Internet, UC Browser; Android WebViews on thousands of phone models; Facebook and
  Instagram in-app browsers with their app builds, devices and locales), listed most
  popular first, as they come out of a family mix weighted like real traffic (the few
  frozen Chrome agents come first, the long tail of in-app and WebView agents last);
- **bots and tools**: crawler, headless-browser and monitoring agents with their versions,
  and the HTTP libraries of server-side Measurement Protocol senders (not bots);
- **client addresses**: IPv4 and IPv6 addresses drawn from the networks of a GeoIP database
  (by default the synthetic one of :mod:`bench.make_geodb`), so that nearly all resolve,
  plus a few outside it; popularity unrelated to address order;
- **referrers and landing pages**: arrivals by kind (direct, internal, organic search, paid
  search with a click id, social, referral, e-mail) with the referrer each kind sends and
  the utm tags or click ids its landing page carries;
- **Zipf draws**: weights rank^-s over such a list, so that a few values are very common and
  most are rare, as in real traffic.

Nothing here is a real person's data: the addresses are random ones inside (synthetic)
networks, the hosts of blogs are made up, and no request ever goes to any of them — they only
travel as header and parameter values to the collector on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

# --- Zipf ---------------------------------------------------------------------------------


def zipf_cum_weights(n: int, s: float) -> list[float]:
    """Cumulative weights rank^-s for ranks 1..n (for ``random.choices(cum_weights=...)``)."""
    return list(itertools.accumulate(1.0 / rank ** s for rank in range(1, n + 1)))


def zipf_head_share(n: int, s: float, head: int) -> float:
    """The share of draws that fall on the ``head`` most popular of ``n`` values."""
    weights = zipf_cum_weights(n, s)
    return weights[min(head, n) - 1] / weights[-1]


# --- user agents --------------------------------------------------------------------------

CHROME_NEWEST = 124
# Chromium build number of each major version (the third part of a full version)
_CHROME_BUILDS = {124: 6367, 123: 6312, 122: 6261, 121: 6167, 120: 6099, 119: 6045, 118: 5993,
                  117: 5938, 116: 5845, 115: 5790, 114: 5735, 113: 5672, 112: 5615, 111: 5563,
                  110: 5481, 109: 5414, 108: 5359, 107: 5304, 106: 5249, 105: 5195, 104: 5112}
_IOS = ("17_4_1", "17_4", "17_3_1", "17_3", "17_2_1", "17_1_2", "17_0_3", "16_7_7", "16_7_5",
        "16_6_1", "16_6", "16_5", "16_3_1", "16_1_1", "15_8_2", "15_7_9", "15_6_1", "15_5",
        "14_8_1", "14_7_1", "13_7", "12_5_7")
_IOS_BUILDS = ("15E148", "21E236", "21E219", "21D61", "21C66", "21B101", "20H240", "20G75",
               "19H384", "18H107")
_IPHONES = ("iPhone10,4", "iPhone11,8", "iPhone12,1", "iPhone12,8", "iPhone13,2", "iPhone13,4",
            "iPhone14,2", "iPhone14,5", "iPhone14,7", "iPhone15,2", "iPhone15,3", "iPhone15,4",
            "iPhone16,1", "iPhone16,2")
_MAC_SAFARI = ("17.4.1", "17.4", "17.3.1", "17.2.1", "17.1.2", "17.0", "16.6", "16.5.2", "16.1",
               "15.6.1", "14.1.2")
_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "es_LA", "pt_BR", "it_IT", "nl_NL",
            "pl_PL", "tr_TR", "id_ID", "th_TH", "vi_VN", "ja_JP", "ko_KR", "ru_RU", "ar_AR",
            "en_IN", "zh_TW")
_ANDROID_BUILDS = ("UP1A", "UQ1A", "TP1A", "TQ3A", "SP1A", "SKQ1", "RP1A", "RKQ1", "QP1A",
                   "PPR1")
_MAKERS = ("samsung", "Xiaomi", "OPPO", "vivo", "motorola", "Google")
_CODENAMES = ("a53x", "m52x", "lavender", "ginkgo", "panther", "OP5961L1")
_CHIPS = ("s5e8825", "qcom", "mt6765", "mt6833", "exynos850")
_DPIS = ("320dpi", "400dpi", "420dpi", "440dpi", "450dpi", "480dpi", "560dpi", "640dpi")
_SCREENS = ("720x1468", "720x1600", "1080x2131", "1080x2177", "1080x2220", "1080x2340",
            "1080x2400", "1440x3088", "1440x3200")


def _recent(rng: random.Random, newest: int, keep: float = 0.55, oldest: int = 0) -> int:
    """``newest`` with probability ``keep``, else one older, and so on (geometric)."""
    version = newest
    while version > oldest and rng.random() > keep:
        version -= 1
    return version


def _chrome_full(rng: random.Random, major: int) -> str:
    build = _CHROME_BUILDS.get(major, 5000 + 50 * (major - 100))
    return f"{major}.0.{build}.{min(int(rng.expovariate(1 / 40)), 229)}"


def _android_version(rng: random.Random) -> str:
    return str(_recent(rng, 14, 0.4, 8))


def _android_models(rng: random.Random, count: int) -> list[str]:
    """Phone and tablet model names of the common Android brands' naming schemes."""
    makers: list[Callable[[], str]] = [
        lambda: (f"SM-{rng.choice('AAAAGSSNMFTX')}{rng.randrange(100, 999)}"
                 f"{rng.choice(('B', 'F', 'U', 'U1', 'N', '0', 'W', 'DS', 'E', 'FN'))}"),
        lambda: (f"{rng.randrange(20, 24)}{rng.randrange(1, 13):02d}{rng.randrange(100, 999)}"
                 f"{rng.choice(('G', 'TG', 'RG', 'AG', 'NG', 'C', 'I', 'L', 'Y'))}"),
        lambda: f"Redmi Note {rng.randrange(7, 14)}{rng.choice(('', ' Pro', ' Pro+', 'S', ' 5G'))}",
        lambda: f"M{rng.randrange(2001, 2112)}{rng.choice('JKHCG')}{rng.randrange(1, 20)}G",
        lambda: f"CPH{rng.randrange(1900, 2600)}",
        lambda: f"RMX{rng.randrange(1800, 3900)}",
        lambda: f"V{rng.randrange(2000, 2400)}",
        lambda: f"vivo {rng.randrange(1800, 2000)}",
        lambda: (f"moto {rng.choice('geg')}{rng.randrange(6, 85)}"
                 f"{rng.choice(('', ' 5G', ' power', ' play', ' stylus', ' plus'))}"),
        lambda: f"motorola edge {rng.randrange(20, 50)}{rng.choice(('', ' pro', ' neo'))}",
        lambda: f"Pixel {rng.choice(('4a', '5', '6', '6a', '6 Pro', '7', '7a', '7 Pro', '8', '8 Pro'))}",
        lambda: (f"{rng.choice(('ELE', 'VOG', 'ANE', 'MAR', 'JNY', 'NOH', 'LIO', 'STK', 'POT'))}-"
                 f"{rng.choice(('L29', 'L21', 'LX1', 'LX3', 'AL00', 'NX9'))}"),
        lambda: f"{rng.choice(('IN', 'KB', 'LE', 'NE', 'PHB', 'CPH', 'DN'))}{rng.randrange(2000, 2600)}",
        lambda: f"TECNO {rng.choice('KBCL')}{rng.choice('ABCDEFGH')}{rng.randrange(5, 9)}",
        lambda: f"Infinix X{rng.randrange(600, 699)}{rng.choice(('', 'B', 'C'))}",
        lambda: f"{rng.choice(('Nokia', 'TCL', 'LG-', 'ZTE Blade', 'Lenovo TB-'))} {rng.randrange(100, 999)}",
    ]
    weights = (30, 10, 5, 4, 6, 5, 5, 2, 6, 2, 5, 4, 3, 3, 3, 3)
    out: dict[str, None] = {}
    while len(out) < count:
        out[rng.choices(makers, weights=weights)[0]()] = None
    return list(out)


class _AgentMaker:
    """One agent of a browser family at a time, versions skewed to the recent ones."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.models = _android_models(rng, 4000)
        self.model_weights = zipf_cum_weights(len(self.models), 0.9)

    def model(self) -> str:
        return self.rng.choices(self.models, cum_weights=self.model_weights)[0]

    def build(self) -> str:
        r = self.rng
        return (f"{r.choice(_ANDROID_BUILDS)}.{r.randrange(19, 25)}{r.randrange(1, 13):02d}"
                f"{r.randrange(1, 29):02d}.{r.randrange(1, 40):03d}")

    def ios(self) -> str:
        r = self.rng
        return _IOS[min(int(r.expovariate(0.45)), len(_IOS) - 1)]

    # families ----------------------------------------------------------------------------

    def chrome_desktop(self) -> str:
        r = self.rng
        platform = r.choices(("Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7",
                              "X11; Linux x86_64", "X11; CrOS x86_64 14541.0.0",
                              "Windows NT 6.1; Win64; x64"), weights=(70, 20, 5, 3, 2))[0]
        major = 109 if platform.startswith("Windows NT 6.1") else _recent(r, CHROME_NEWEST, 0.5, 104)
        return (f"Mozilla/5.0 ({platform}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{major}.0.0.0 Safari/537.36")

    def chrome_android(self) -> str:
        major = _recent(self.rng, CHROME_NEWEST, 0.5, 104)
        return (f"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{major}.0.0.0 Mobile Safari/537.36")

    def android_webview(self) -> str:
        r = self.rng
        major = _recent(r, CHROME_NEWEST, 0.45, 104)
        base = (f"Mozilla/5.0 (Linux; Android {_android_version(r)}; {self.model()} "
                f"Build/{self.build()}; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
                f"Chrome/{_chrome_full(r, major)} Mobile Safari/537.36")
        app = r.random()
        if app < 0.45:
            return (f"{base} [FB_IAB/FB4A;FBAV/{r.randrange(430, 462)}.0.0.{r.randrange(10, 60)}."
                    f"{r.randrange(60, 120)};]")
        if app < 0.8:
            release = _android_version(r)
            return (f"{base} Instagram {r.randrange(300, 330)}.0.0.{r.randrange(10, 50)}."
                    f"{r.randrange(70, 120)} Android ({int(release) + 19}/{release}; "
                    f"{r.choice(_DPIS)}; {r.choice(_SCREENS)}; {r.choice(_MAKERS)}; "
                    f"{self.model()}; {r.choice(_CODENAMES)}; {r.choice(_CHIPS)}; "
                    f"{r.choice(_LOCALES)}; {r.randrange(500_000_000, 600_000_000)})")
        return base

    def samsung_internet(self) -> str:
        r = self.rng
        return (f"Mozilla/5.0 (Linux; Android {_android_version(r)}; {self.model()}) "
                f"AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/{_recent(r, 25, 0.5, 17)}.0 "
                f"Chrome/{_recent(r, 121, 0.5, 108)}.0.0.0 Mobile Safari/537.36")

    def safari_iphone(self) -> str:
        ios = self.ios()
        version = ".".join(ios.split("_")[:3])
        return (f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{version} Mobile/15E148 Safari/604.1")

    def safari_ipad(self) -> str:
        ios = self.ios()
        version = ".".join(ios.split("_")[:3])
        return (f"Mozilla/5.0 (iPad; CPU OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{version} Mobile/15E148 Safari/604.1")

    def safari_mac(self) -> str:
        version = _MAC_SAFARI[min(int(self.rng.expovariate(0.5)), len(_MAC_SAFARI) - 1)]
        return (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{version} Safari/605.1.15")

    def ios_app(self) -> str:
        r = self.rng
        ios = self.ios()
        build = r.choice(_IOS_BUILDS)
        head = (f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Mobile/{build}")
        pick = r.random()
        if pick < 0.5:
            return (f"{head} [FBAN/FBIOS;FBAV/{r.randrange(430, 462)}.0.0.{r.randrange(20, 60)}."
                    f"{r.randrange(100, 120)};FBBV/{r.randrange(500_000_000, 600_000_000)};"
                    f"FBDV/{r.choice(_IPHONES)};FBMD/iPhone;FBSN/iOS;FBSV/{ios.replace('_', '.')};"
                    f"FBSS/3;FBID/phone;FBLC/{r.choice(_LOCALES)};FBOP/5;FBRV/0]")
        if pick < 0.85:
            return (f"{head} Instagram {r.randrange(300, 330)}.0.0.{r.randrange(10, 40)}."
                    f"{r.randrange(100, 120)} ({r.choice(_IPHONES)}; iOS {ios}; "
                    f"{r.choice(_LOCALES)}; {r.choice(_LOCALES)[:2]}; scale=3.00; "
                    f"{r.choice(('1170x2532', '1284x2778', '1179x2556', '750x1334'))}; "
                    f"{r.randrange(500_000_000, 600_000_000)})")
        major = _recent(r, CHROME_NEWEST, 0.5, 110)
        return (f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) CriOS/{_chrome_full(r, major)} Mobile/15E148 Safari/604.1")

    def edge(self) -> str:
        r = self.rng
        major = _recent(r, CHROME_NEWEST, 0.5, 109)
        return (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{major}.0.0.0 Safari/537.36 Edg/{major}.0.{2400 + 70 * (major - 123)}."
                f"{r.randrange(20, 120)}")

    def firefox(self) -> str:
        r = self.rng
        esr = r.random() < 0.1
        # 115 is the ESR (drawn through choice() so that the agents stay those documented)
        major = r.choice((115, 115)) if esr else _recent(r, 125, 0.5, 110)
        platform = r.choices(("Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10.15",
                              "X11; Linux x86_64", "X11; Ubuntu; Linux x86_64",
                              f"Android {_android_version(r)}; Mobile"), weights=(60, 15, 10, 8, 7))[0]
        gecko = f"{major}.0" if platform.startswith("Android") else "20100101"
        return f"Mozilla/5.0 ({platform}; rv:{major}.0) Gecko/{gecko} Firefox/{major}.0"

    def opera_yandex_uc(self) -> str:
        r = self.rng
        pick = r.random()
        major = _recent(r, CHROME_NEWEST, 0.5, 110)
        head = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{major}.0.0.0")
        if pick < 0.45:
            return f"{head} Safari/537.36 OPR/{major - 14}.0.0.0"
        if pick < 0.75:
            return (f"{head} YaBrowser/24.{r.randrange(1, 5)}.{r.randrange(0, 6)}."
                    f"{r.randrange(600, 999)} Yowser/2.5 Safari/537.36")
        locale = r.choice(_LOCALES).replace("_", "-")
        return (f"Mozilla/5.0 (Linux; U; Android {_android_version(r)}; {locale}; "
                f"{self.model()} Build/{self.build()}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Version/4.0 Chrome/{_chrome_full(r, 78)} UCBrowser/13.{r.randrange(0, 8)}.0."
                f"{r.randrange(1000, 1400)} Mobile Safari/537.36")


# share of the family mix (roughly the share of page views in 2024 web traffic)
_FAMILIES: tuple[tuple[str, float], ...] = (
    ("chrome_desktop", 30), ("chrome_android", 15), ("safari_iphone", 15), ("safari_ipad", 2),
    ("safari_mac", 5), ("edge", 5), ("firefox", 4), ("samsung_internet", 3),
    ("android_webview", 9), ("ios_app", 8), ("opera_yandex_uc", 3),
)


def user_agents(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct browser agents, most popular first."""
    maker = _AgentMaker(rng)
    names = [n for n, _ in _FAMILIES]
    weights = [w for _, w in _FAMILIES]
    out: dict[str, None] = {}
    while len(out) < count:
        family = rng.choices(names, weights=weights)[0]
        out[getattr(maker, family)()] = None
    return list(out)


_BOT_TEMPLATES = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/{chrome} Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html) Chrome/{chrome} Safari/537.36",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
    "+http://www.bing.com/bingbot.htm) Chrome/{chrome} Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/{chrome} Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/{chrome} Mobile Safari/537.36 Chrome-Lighthouse",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.{minor}; "
    "+https://openai.com/gptbot)",
    "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 "
    "(compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
    "DuckDuckBot/1.{minor}; (+http://duckduckgo.com/duckduckbot.html)",
    "Mozilla/5.0 (compatible; DotBot/1.{minor}; https://opensiteexplorer.org/dotbot; help@moz.com)",
    "Mozilla/5.0 (compatible; Pingdom.com_bot_version_1.4_(http://www.pingdom.com/))",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{chrome} Safari/537.36 PTST/{minor}0517.211",
)
_TOOL_TEMPLATES = ("python-requests/2.{minor}.0", "Go-http-client/1.1", "okhttp/4.{minor}.0",
                   "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "axios/1.{minor}.2")


def bot_agents(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct crawler, headless and monitoring agents (version variants), most
    common first."""
    out: dict[str, None] = {}
    weights = zipf_cum_weights(len(_BOT_TEMPLATES), 1.0)
    while len(out) < count:
        template = rng.choices(_BOT_TEMPLATES, cum_weights=weights)[0]
        major = _recent(rng, CHROME_NEWEST, 0.4, 100)
        out[template.format(chrome=_chrome_full(rng, major), minor=rng.randrange(0, 10))] = None
    return list(out)


def tool_agents() -> list[str]:
    """Agents of HTTP libraries (server-side Measurement Protocol senders: not bots)."""
    return list(dict.fromkeys(t.format(minor=m) for t in _TOOL_TEMPLATES for m in range(25, 33)))


# --- client addresses ---------------------------------------------------------------------


def client_addresses(database: Path, count: int, rng: random.Random, *,
                     inside: float = 0.97, ipv6: float = 0.15) -> list[str]:
    """``count`` distinct addresses in random order: a share ``inside`` in the database's
    networks (IPv4 and IPv6 in the proportion ``ipv6``), the rest random public ones."""
    import maxminddb

    with maxminddb.open_database(str(database)) as reader:
        networks = [net for net, _ in reader]
    v4 = [n for n in networks if n.version == 4]
    v6 = [n for n in networks if n.version == 6]
    out: dict[str, None] = {}
    target_inside = int(count * inside)
    while len(out) < target_inside:
        pool = v6 if v6 and (not v4 or rng.random() < ipv6) else v4
        net = rng.choice(pool)
        out[str(net.network_address + rng.randrange(net.num_addresses))] = None
    while len(out) < count:
        if rng.random() >= ipv6:
            address = ipaddress.IPv4Address(rng.randrange(1 << 24, 224 << 24))
            if address.is_global:
                out[str(address)] = None
        else:
            out[str(ipaddress.IPv6Address((0x2 << 124) | rng.randrange(1 << 124)))] = None
    ordered = list(out)
    rng.shuffle(ordered)
    return ordered


def forwarded_for(rng: random.Random, client: str) -> str:
    """X-Forwarded-For as the collector's ALB passes it on: the client it saw, sometimes
    after entries written by a proxy on the client's side (which the collector skips)."""
    roll = rng.random()
    if roll < 0.04:
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}, {client}"
    if roll < 0.05:
        return f"unknown, {client}"
    return client


# --- referrers and landing pages ------------------------------------------------------------

_WORDS = ("linen", "shirt", "summer", "sale", "wool", "jacket", "guide", "release", "notes",
          "setup", "pricing", "blue", "review", "best", "cheap", "near me", "2024", "café",
          "zürich", "größe", "how to", "vs", "size", "care", "return")
_GOOGLES = ("www.google.com", "www.google.com", "www.google.com", "www.google.co.uk",
            "www.google.de", "www.google.fr", "www.google.com.br", "www.google.co.in",
            "www.google.es", "www.google.it", "www.google.ca", "www.google.com.au",
            "www.google.nl", "www.google.pl", "www.google.co.jp")
_SUBS = ("malefashionadvice", "frugal", "BuyItForLife", "programming", "devops", "aws",
         "webdev", "europe", "running")
_TLDS = ("com", "com", "net", "org", "io", "co.uk", "de", "fr", "blog", "dev")
_SYLLABLES = ("lin", "en", "wo", "ol", "sty", "le", "mo", "da", "ka", "ri", "tech", "dev",
              "ops", "io", "log", "ver", "sa", "no", "ta", "pe")

ARRIVALS: tuple[tuple[str, float], ...] = (
    ("direct", 35), ("internal", 27), ("search", 17), ("paid", 4), ("social", 8),
    ("referral", 6), ("email", 3),
)


@dataclass(frozen=True, slots=True)
class Arrival:
    kind: str
    referrer: str  # "" for none
    tags: str  # query parameters to add to the page URL ("" for none)


class Referrers:
    """Arrivals by kind, the referrer each sends and the tags its landing page carries."""

    def __init__(self, rng: random.Random, blogs: int = 4000) -> None:
        self.rng = rng
        hosts: dict[str, None] = {}
        while len(hosts) < blogs:
            name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
            prefix = rng.choice(("www.", "", "", "blog."))
            suffix = rng.choice(("", "-blog", "hub", "daily", "notes"))
            hosts[f"{prefix}{name}{suffix}.{rng.choice(_TLDS)}"] = None
        self.blogs = list(hosts)
        blog_weights = zipf_cum_weights(len(self.blogs), 1.0)
        # links to the sites from posts on those blogs: popular blogs link more often
        links: dict[str, None] = {}
        while len(links) < 5 * blogs:
            blog = rng.choices(self.blogs, cum_weights=blog_weights)[0]
            links[f"https://{blog}{self._path()}"] = None
        self.links = list(links)
        self.link_weights = zipf_cum_weights(len(self.links), 1.0)
        self.tweets = [f"{rng.getrandbits(40):010x}" for _ in range(3000)]
        self.tweet_weights = zipf_cum_weights(len(self.tweets), 1.0)
        self.kinds = [k for k, _ in ARRIVALS]
        self.kind_weights = [w for _, w in ARRIVALS]

    def _terms(self) -> str:
        return quote(" ".join(self.rng.choice(_WORDS) for _ in range(self.rng.randint(1, 4))))

    def _path(self) -> str:
        r = self.rng
        return "/" + "/".join(r.choice(("2024", "05", "best", "linen", "shirts", "review", "guide",
                                        "p", str(r.randrange(9999))))
                              for _ in range(r.randint(1, 3)))

    def _campaign(self, source: str, medium: str) -> str:
        r = self.rng
        name = r.choice(("spring", "summer", "launch", "brand", "retarget"))
        tags = f"utm_source={source}&utm_medium={medium}&utm_campaign={name}_{r.randrange(40)}"
        if r.random() < 0.4:
            tags += f"&utm_content={r.choice(('hero', 'banner', 'text', 'cta'))}"
        if r.random() < 0.2:
            tags += f"&utm_term={self._terms()}"
        return tags

    def search(self) -> str:
        r = self.rng
        pick = r.random()
        if pick < 0.62:
            return f"https://{r.choice(_GOOGLES)}/"
        if pick < 0.74:
            return f"https://www.bing.com/search?q={self._terms()}&form=QBLH"
        if pick < 0.80:
            return "https://duckduckgo.com/"
        if pick < 0.85:
            return "https://search.yahoo.com/"
        if pick < 0.89:
            return f"https://yandex.ru/search/?text={self._terms()}&lr={r.randrange(1, 300)}"
        if pick < 0.92:
            return "https://www.ecosia.org/"
        return "android-app://com.google.android.googlequicksearchbox/"

    def social(self, site: str) -> str:
        r = self.rng
        pick = r.random()
        if pick < 0.2:
            target = quote(f"https://{site}{self._path()}", safe="")
            return f"https://l.facebook.com/l.php?u={target}&h=AT{r.getrandbits(96):024x}"
        if pick < 0.45:
            return "https://m.facebook.com/"
        if pick < 0.55:
            return "https://www.facebook.com/"
        if pick < 0.7:
            return f"https://t.co/{r.choices(self.tweets, cum_weights=self.tweet_weights)[0]}"
        if pick < 0.8:
            return "https://www.instagram.com/"
        if pick < 0.85:
            return "https://www.linkedin.com/"
        if pick < 0.95:
            return (f"https://www.reddit.com/r/{r.choice(_SUBS)}/comments/"
                    f"{r.getrandbits(24):x}/{r.choice(_WORDS).replace(' ', '_')}/")
        return "https://www.pinterest.com/"

    def arrival(self, site: str, internal_page: Callable[[], str]) -> Arrival:
        r = self.rng
        kind = r.choices(self.kinds, weights=self.kind_weights)[0]
        if kind == "direct":
            return Arrival(kind, "", "")
        if kind == "internal":
            return Arrival(kind, internal_page(), "")
        if kind == "search":
            return Arrival(kind, self.search(), "")
        if kind == "paid":
            click = (f"gclid=Cj0KCQjw{r.getrandbits(192):048x}" if r.random() < 0.8
                     else f"msclkid={r.getrandbits(128):032x}")
            tags = self._campaign("google", "cpc") + "&" + click if r.random() < 0.5 else click
            return Arrival(kind, f"https://{r.choice(_GOOGLES)}/", tags)
        if kind == "social":
            referrer = self.social(site)
            roll = r.random()
            tags = (self._campaign(r.choice(("facebook", "instagram", "twitter")), "social")
                    if roll < 0.4 else f"fbclid=IwAR{r.getrandbits(224):056x}" if roll < 0.75 else "")
            return Arrival(kind, referrer, tags)
        if kind == "referral":
            link = r.choices(self.links, cum_weights=self.link_weights)[0]
            source = link.split("/")[2].split(".")[-2]
            tags = self._campaign(source, "referral") if r.random() < 0.2 else ""
            return Arrival(kind, link, tags)
        webmail = r.choice(("https://mail.google.com/", "https://outlook.live.com/"))
        return Arrival(kind, webmail if r.random() < 0.3 else "",
                       self._campaign("newsletter", "email"))


def add_tags(url: str, tags: str) -> str:
    """The page URL with ``tags`` added to its query (before any fragment)."""
    if not tags:
        return url
    base, hash_, fragment = url.partition("#")
    return f"{base}{'&' if '?' in base else '?'}{tags}{hash_}{fragment}"


@dataclass(frozen=True, slots=True)
class Population:
    """Who sends the hits: agents and addresses by popularity, drawn Zipf-like."""

    agents: Sequence[str]  # browsers, most popular first
    bots: Sequence[str]
    tools: Sequence[str]
    addresses: Sequence[str]
    zipf_s: float = 1.0
    bot_share: float = 0.025  # of hits
    tool_share: float = 0.004

    @classmethod
    def build(cls, database: Path, *, agents: int, addresses: int, seed: int = 7,
              zipf_s: float = 1.0, bots: int = 400) -> Population:
        rng = random.Random(seed)
        return cls(user_agents(agents, rng), bot_agents(bots, rng), tool_agents(),
                   client_addresses(database, addresses, rng), zipf_s)

    def draw(self, rng: random.Random, count: int) -> list[tuple[str, str]]:
        """``count`` (user agent, client address) pairs, each Zipf-drawn on its own."""
        browsers = rng.choices(self.agents, cum_weights=zipf_cum_weights(len(self.agents), self.zipf_s),
                               k=count)
        bots = rng.choices(self.bots, cum_weights=zipf_cum_weights(len(self.bots), self.zipf_s),
                           k=count)
        addresses = rng.choices(self.addresses,
                                cum_weights=zipf_cum_weights(len(self.addresses), self.zipf_s), k=count)
        out = []
        for browser, bot, address in zip(browsers, bots, addresses, strict=True):
            roll = rng.random()
            agent = (bot if roll < self.bot_share else rng.choice(self.tools)
                     if roll < self.bot_share + self.tool_share else browser)
            out.append((agent, address))
        return out
