"""The lake benchmark's traffic model: which properties, who visits them, when, from where.

Everything here is built once per process from :class:`Params` and is deterministic for
them (``random.Random`` seeded with strings, never ``hash()``); :mod:`bench.lake_sessions`
turns it into hits and :mod:`bench.lake_data` into archive objects.

- **properties**: ``properties`` sites (shop, blog, docs, …), sizes Zipf (rank^-1.1: the
  first is the large one), each with a home country and time zone, a UA and a GA4 id and a
  share of GA4 (gtag) visitors, a catalogue of a few thousand pages (:func:`bench.hits._page`,
  home first, popularity Zipf) and, for shops, products;
- **sources**: a pool of arrivals per property from :class:`bench.traffic.Referrers` (direct,
  internal, organic and paid search, social, referral, e-mail, with their utm tags and click
  ids), classified once by the collector's own campaign and referrer code;
- **devices**: :func:`bench.traffic.user_agents`, detected once by the collector's device
  detector (the Hit fields it writes), drawn Zipf; heuristic bot agents (forwarded flagged),
  crawler agents (filtered: their agent families feed the ``bot`` counters), the MP server's
  HTTP library;
- **places**: :data:`bench.lake_geo.COUNTRIES` with their regions, cities and time zones, Zipf per property
  (its home country first), cities 1/rank within a country, some country-only records;
- **seasonality**: local hour of day and day of week per site kind, a slow trend and a
  little daily noise; :func:`plan` splits ``hits`` over properties, UTC days and shards.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import itertools
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import orjson

from bench import hits as uahits
from bench import lake_geo
from bench.lake_geo import Place
from bench.traffic import Referrers, bot_agents, user_agents
from collector.bots import BotDetector
from collector.campaign import campaign_fields, is_paid_click
from collector.device import DeviceDetector
from collector.referrer import ReferrerClassifier
from lambdalytics import hit as hitmod

DAY_MS = 86_400_000
_RANK = {name: i for i, name in enumerate(f.name for f in hitmod.columns())}


@dataclass(frozen=True, slots=True)
class Params:
    """What decides the archive's content (with the seed, every byte of it)."""

    hits: int  # distinct hits (the retried copies come on top)
    days: int = 30
    end: dt.date = dt.date(2026, 11, 30)  # the last UTC day, inclusive
    properties: int = 5
    seed: int = 22
    shards: int = 4
    cut: int = 4000  # records per archiver cut, on average
    duplicate_share: float = 0.001  # retried copies the archiver's window did not catch
    late_share: float = 0.004  # server-side (MP) events sent up to 72 h after they happened
    bot_share: float = 0.006  # hits of bots flagged (heuristic verdicts), forwarded
    filtered_bot_rate: float = 0.035  # crawler hits filtered per forwarded hit (counters only)

    @property
    def start(self) -> dt.date:
        return self.end - dt.timedelta(days=self.days - 1)

    def day(self, index: int) -> dt.date:
        return self.start + dt.timedelta(days=index)


def ordered(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields in schema order (what :func:`lambdalytics.hit.encode` writes), unset left out."""
    return {k: fields[k] for k in sorted(fields, key=_RANK.__getitem__)
            if fields[k] is not None and fields[k] != {} and fields[k] != ()}


def frag(fields: dict[str, Any]) -> bytes:
    """``,"k":v,…``: the fields as orjson writes them inside an object, after a comma ("" for
    none). Fragments of disjoint fields, concatenated in column order between ``{`` and ``}``,
    are what ``orjson.dumps`` writes for the merged dict, i.e. :func:`lambdalytics.hit.encode`."""
    return b"," + orjson.dumps(fields, option=orjson.OPT_UTC_Z)[1:-1] if fields else b""


def cumulative(weights: Sequence[float]) -> list[float]:
    """Cumulative weights normalised to end at 1.0 (for :func:`pick` with a uniform draw)."""
    acc = list(itertools.accumulate(weights))
    return [w / acc[-1] for w in acc[:-1]] + [1.0]


def pick(cum: list[float], u: float) -> int:
    """The index a uniform draw ``u`` falls on."""
    return bisect.bisect_right(cum, u)


def mix64(x: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


# --- devices --------------------------------------------------------------------------------

SCREENS = {
    "desktop": (("1920x1080", "1903x969"), ("1366x768", "1349x657"), ("1536x864", "1519x746"),
                ("2560x1440", "2543x1297"), ("1440x900", "1423x789"), ("1280x720", "1263x609")),
    "mobile": (("390x844", "390x664"), ("414x896", "414x715"), ("412x915", "412x785"),
               ("360x800", "360x680"), ("393x873", "393x746"), ("375x667", "375x553")),
    "tablet": (("810x1080", "810x970"), ("820x1180", "820x1070"), ("768x1024", "768x914"),
               ("800x1280", "800x1170")),
}
# heuristic verdicts (forwarded flagged under the default policy): made-up tools and scripts
FLAGGED_AGENTS = (
    "Mozilla/5.0 (compatible; PageProbe/1.3; +https://pageprobe.example/about)",
    "Mozilla/5.0 (compatible; SiteAuditTool/2.0.4; +https://audit.example.net/)",
    "Mozilla/5.0 (compatible; Linkwatch/3.1)",
    "Mozilla/5.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36 (ops@monitor-team.example.org)",
)
SERVER_AGENT = "python-requests/2.31.0"  # the shops' backends sending Measurement Protocol events


def _device_fields(devices: DeviceDetector, bots: BotDetector, agent: str) -> tuple[dict[str, Any], str]:
    """The Hit fields enrichment writes for an agent (as collector.enrich does), and its
    agent family (collector.filtered.agent_family) for a filtered bot."""
    device, bot = devices.detect(agent), bots.check(agent)
    is_bot = bot.is_bot and not (bot.reason or "").startswith(("tool:", "empty_user_agent"))
    fields = ordered({"device_category": "bot" if is_bot else device.category,
                      "device_brand": device.brand, "device_model": device.model,
                      "browser": device.browser, "browser_version": device.browser_version,
                      "os": device.os, "os_version": device.os_version, "is_bot": is_bot,
                      "bot_reason": bot.reason if is_bot else None})
    family = f"{device.browser or '(not set)'} on {device.os or '(not set)'} ({bot.reason or '(not set)'})"
    return fields, family[:160]


# --- seasonality ----------------------------------------------------------------------------

KINDS = ("shop", "blog", "docs")
HOURLY = {  # by local hour, 0-23
    "shop": (2.0, 1.2, 0.8, 0.6, 0.6, 0.8, 1.5, 2.6, 3.6, 4.3, 4.8, 5.1, 5.3, 5.2, 5.0, 5.0, 5.1,
             5.4, 5.9, 6.5, 7.0, 6.8, 5.4, 3.5),
    "blog": (2.4, 1.5, 1.0, 0.8, 0.7, 0.9, 1.7, 3.2, 4.6, 5.2, 5.4, 5.5, 5.8, 5.6, 5.3, 5.1, 5.0,
             5.0, 5.2, 5.5, 5.7, 5.3, 4.4, 3.3),
    "docs": (1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.0, 2.4, 5.0, 7.2, 7.8, 7.6, 6.6, 7.0, 7.4, 7.2, 6.6,
             5.4, 3.8, 3.0, 2.8, 2.5, 2.0, 1.4),
}
WEEKLY = {  # Monday first
    "shop": (0.97, 0.95, 0.95, 0.97, 1.0, 1.12, 1.2),
    "blog": (1.06, 1.07, 1.05, 1.02, 0.96, 0.88, 0.93),
    "docs": (1.18, 1.2, 1.18, 1.15, 1.05, 0.48, 0.45),
}
TREND = 0.15  # growth over the window
NOISE = 0.06  # day to day

# per property, in order: kind, brand, home country, time zone, share of GA4 (gtag) visitors
SITES = (
    ("shop", "northwind", "US", "America/New_York", 0.75),
    ("blog", "fabrikam", "DE", "Europe/Berlin", 0.4),
    ("docs", "contoso", "GB", "Europe/London", 1.0),
    ("shop", "tailspin", "JP", "Asia/Tokyo", 0.5),
    ("blog", "wingtip", "US", "America/Los_Angeles", 0.0),
    ("docs", "litware", "FR", "Europe/Paris", 0.6),
    ("shop", "proseware", "BR", "America/Sao_Paulo", 0.9),
    ("blog", "lucerne", "AU", "Australia/Sydney", 0.2),
)
SIZE_ZIPF = 1.1
PAGE_ZIPF, LANDING_ZIPF = 1.0, 1.3
HOME_ENTRY = 0.3  # of sessions that start on the home page
HITS_PER_SESSION = 5.0  # roughly what lake_sessions gives: sizes the visitor populations
VISITORS_PER_SESSION = 3.0  # population / sessions: ~45 % of sessions from one-time visitors
VISITOR_ZIPF = 0.8


@dataclass(frozen=True, slots=True)
class Page:
    location: str
    path: str
    title: str
    product: int  # index into the site's products, or -1
    content: bytes  # frag() of its page_location, page_hostname, page_path, page_title
    section: str  # home, product, article, … (custom dimension 2)


@dataclass(frozen=True, slots=True)
class Source:
    """An arrival: the landing hit's referrer, the tags its URL gets, and the campaign and
    referrer fields the collector derives from both."""

    referrer: str  # "" for none
    tags: str  # "" for none
    fields: dict[str, Any]
    source: bytes  # frag() of the fields


@dataclass(frozen=True, slots=True)
class Product:
    item_id: str
    name: str
    brand: str
    category: str
    variant: str
    price: float


@dataclass(slots=True)
class Site:
    index: int
    property_id: str
    kind: str
    host: str
    timezone: str
    home: str
    weight: float
    ua_id: str
    ga4_id: str
    gtag_share: float
    salt: int
    pages: list[Page] = field(default_factory=list)
    page_cum: list[float] = field(default_factory=list)
    landing_cum: list[float] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)
    place_cum: list[float] = field(default_factory=list)
    internal: bytes = b""  # frag() of the referrer fields of a same-site referrer
    direct: bytes = b""  # … and of none
    hourly: list[list[float]] = field(default_factory=list)  # per day, weights of the 24 UTC hours

    def public(self) -> dict[str, Any]:
        return {"property_id": self.property_id, "kind": self.kind, "host": self.host,
                "timezone": self.timezone, "home_country": self.home, "weight": round(self.weight, 6),
                "tracking_ids": [self.ua_id, self.ga4_id], "gtag_share": self.gtag_share}


_SECTIONS = {"/products/": "product", "/collections/": "collection", "/search": "search",
             "/cart": "cart", "/checkout": "checkout", "/docs/": "docs"}


def _section(path: str) -> str:
    if path == "/":
        return "home"
    return next((name for prefix, name in _SECTIONS.items() if path.startswith(prefix)), "article")


def page(site: Site, location: str, path: str, title: str, product: int) -> Page:
    return Page(location, path, title, product, frag({
        "page_location": location, "page_hostname": site.host, "page_path": path, "page_title": title}),
        _section(path))


def _catalogue(rng: random.Random, site: Site, size: int) -> None:
    name = site.host.split(".")[1].capitalize()
    pages: dict[str, Page] = {}
    home = f"https://{site.host}/"
    pages[home] = page(site, home, "/", f"{name} – Home", -1)
    while len(pages) < size:
        url, title = uahits._page(rng, site.host)  # the UA traffic's page shapes
        if url in pages:
            continue
        path = urlsplit(url).path or "/"
        product = -1
        if site.products and path.startswith("/products/"):
            product = zlib.crc32(path.encode()) % len(site.products)
        pages[url] = page(site, url, path, title.replace(site.host.split(".")[0].capitalize(), name), product)
    rest = list(pages.values())[1:]
    rng.shuffle(rest)  # popularity does not follow the order _page() made them in
    site.pages = [pages[home], *rest]
    site.page_cum, site.landing_cum = zipf_cum(size, PAGE_ZIPF), zipf_cum(size, LANDING_ZIPF)


_THINGS = {"Shirt": "Apparel/Shirts", "Jacket": "Apparel/Jackets", "Parka": "Apparel/Jackets",
           "Chino": "Apparel/Trousers", "Tote": "Accessories/Bags", "Scarf": "Accessories/Scarves",
           "Cap": "Accessories/Hats", "Sneaker": "Footwear/Sneakers", "Blanket": "Home/Linen"}
_MATERIALS = ("Linen", "Wool", "Canvas", "Merino", "Denim", "Cotton", "Field", "Harbor", "Trail")


def _products(rng: random.Random, count: int) -> list[Product]:
    """A shop's products: prices log-normal around 40, from 5.99 to 479.99."""
    out = []
    things = sorted(_THINGS)
    for i in range(count):
        thing = rng.choice(things)
        price = round(min(max(rng.lognormvariate(3.7, 0.55), 6.0), 480.0)) - 0.01
        out.append(Product(f"SKU-{10000 + i * 37 % 90000}", f"{rng.choice(_MATERIALS)} {thing}",
                           rng.choice(("Acme", "Northwind", "Fabrikam", "Contoso", "Tailspin")),
                           _THINGS[thing], rng.choice(("Blue", "Sand", "Black", "Olive", "Navy")), price))
    return out


def _sources(rng: random.Random, referrers: Referrers, classifier: ReferrerClassifier,
             site: Site, count: int) -> None:
    def internal() -> str:
        return site.pages[pick(site.page_cum, rng.random())].location

    out: list[Source] = []
    while len(out) < count:
        arrival = referrers.arrival(site.host, internal)
        campaign = campaign_fields(f"https://{site.host}/?{arrival.tags}", {}) if arrival.tags else {}
        judged = classifier.assess(arrival.referrer or None, site.host,
                                   campaign_medium=campaign.get("campaign_medium"),
                                   paid_click=is_paid_click(campaign))
        if judged is None:  # on the spam list: the collector would filter it
            continue
        fields = ordered({**campaign, "referrer_medium": judged.medium, "referrer_source": judged.source,
                          "referrer_term": judged.term})
        out.append(Source(arrival.referrer, arrival.tags, fields, frag(fields)))
    site.sources = out
    own = classifier.assess(f"https://{site.host}/", site.host)
    direct = classifier.assess(None, site.host)
    assert own is not None
    assert direct is not None
    site.internal = frag(ordered({"referrer_medium": own.medium, "referrer_source": own.source}))
    site.direct = frag(ordered({"referrer_medium": direct.medium, "referrer_source": direct.source}))


def _site_places(site: Site, places: list[tuple[str, list[Place], list[float]]]) -> None:
    order = sorted(places, key=lambda p: p[0] != site.home)  # home first, then the table's order
    flat: list[Place] = []
    weights: list[float] = []
    for rank, (_, country_places, city_weights) in enumerate(order):
        total = sum(city_weights)
        flat += country_places
        weights += [w / total / (rank + 1) for w in city_weights]
    site.places, site.place_cum = flat, cumulative(weights)


def _hourly(site: Site, params: Params) -> None:
    zone = ZoneInfo(site.timezone)
    noise = random.Random(f"lake-noise-{params.seed}-{site.index}")
    out = []
    for d in range(params.days):
        day = params.day(d)
        factor = (1 + TREND * d / max(params.days - 1, 1)) * (1 + noise.uniform(-NOISE, NOISE))
        row = []
        for hour in range(24):
            local = dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC).astimezone(zone)
            row.append(HOURLY[site.kind][local.hour] * WEEKLY[site.kind][local.weekday()] * factor)
        out.append(row)
    site.hourly = out


@dataclass(slots=True)
class World:
    params: Params
    sites: list[Site]
    agents: list[dict[str, Any]]  # device fields, most popular first
    agent_cum: list[float]
    flagged: list[dict[str, Any]]  # device fields of bots forwarded flagged
    families: list[str]  # agent families of filtered crawlers, most common first
    family_cum: list[float]
    server_tails: list[bytes]  # frag() of the enrichment of the MP sender, from each backend
    bot_tails: list[bytes]  # … of a flagged bot, from each data centre
    plan: dict[tuple[int, int], list[int]] = field(default_factory=dict)  # (day, shard) → hits per site

    def site_budget(self, site: int, day: int) -> int:
        return sum(self.plan[(day, s)][site] for s in range(self.params.shards))


def _property_id(seed: int, index: int) -> str:
    return "p" + hashlib.blake2b(f"lake-{seed}-{index}".encode(), digest_size=8).hexdigest()[:11]


def _ga4_id(seed: int, index: int) -> str:
    digest = hashlib.blake2b(f"lake-g-{seed}-{index}".encode(), digest_size=8).digest()
    return "G-" + "".join("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[b % 32] for b in digest[:10].ljust(10, b"x"))


def build(params: Params) -> World:
    """The world of ``params``: the same in every process that builds it."""
    if not 1 <= params.properties <= len(SITES):
        raise ValueError(f"properties must be within 1-{len(SITES)}")
    if params.days < 1 or params.hits < 1 or params.shards < 1 or params.cut < 1:
        raise ValueError("hits, days, shards and cut must be positive")
    rng = random.Random(f"lake-world-{params.seed}")
    classifier, devices, bots = ReferrerClassifier(), DeviceDetector(), BotDetector()
    referrers = Referrers(random.Random(f"lake-referrers-{params.seed}"), blogs=1500)
    places = lake_geo.places(rng)
    sizes = cumulative([1 / r ** SIZE_ZIPF for r in range(1, params.properties + 1)])
    sites = []
    for i in range(params.properties):
        kind, brand, home, zone, gtag_share = SITES[i]
        weight = sizes[i] - (sizes[i - 1] if i else 0.0)
        site = Site(i, _property_id(params.seed, i), kind, f"{kind}.{brand}.example", zone, home,
                    weight, f"UA-{104729 + 7919 * i}-1", _ga4_id(params.seed, i), gtag_share,
                    mix64(params.seed * 1000 + i))
        if kind == "shop":
            site.products = _products(rng, 400)
        _catalogue(rng, site, max(400, int(3000 * weight ** 0.5 / sizes[0] ** 0.5)))
        _sources(rng, referrers, classifier, site, 3000)
        _site_places(site, places)
        _hourly(site, params)
        sites.append(site)
    agents = [_device_fields(devices, bots, a)[0] for a in user_agents(3000, rng)]
    flagged = []
    for agent in FLAGGED_AGENTS:
        verdict = bots.check(agent)
        if verdict.is_bot and not verdict.strong:  # only what the default policy forwards
            flagged.append(_device_fields(devices, bots, agent)[0])
    families = list(dict.fromkeys(_device_fields(devices, bots, a)[1] for a in bot_agents(120, rng)))
    us, de = places[0][1], places[1][1]
    servers = [(us[9], "34.226.14.0"), (us[9], "52.20.151.0"), (de[4], "18.184.72.0")]
    server = _device_fields(devices, bots, SERVER_AGENT)[0]

    def tail(place: Place, address: str, device: dict[str, Any]) -> bytes:
        return frag({"ip_truncated": address, "ip_anonymized": False, **place.fields, **device})

    world = World(params, sites, agents, zipf_cum(len(agents)), flagged, families,
                  zipf_cum(len(families)), [tail(p, a, server) for p, a in servers],
                  [tail(p, a, bot) for bot in flagged for p, a in servers])
    world.plan = plan(params, sites)
    return world


def zipf_cum(n: int, s: float = 1.0) -> list[float]:
    """Normalised cumulative weights rank^-s over ``n`` values (for :func:`pick`)."""
    return cumulative([1 / r ** s for r in range(1, n + 1)])


def _largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    out = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (out[i] - exact[i], i))
    for i in order[:total - sum(out)]:
        out[i] += 1
    return out


def plan(params: Params, sites: Sequence[Site]) -> dict[tuple[int, int], list[int]]:
    """Distinct hits per (UTC day, shard) and site, summing to ``params.hits`` exactly: by
    site size, then by each day's seasonality, then evenly over the shards."""
    per_site = _largest_remainder(params.hits, [s.weight for s in sites])
    out = {(d, s): [0] * len(sites) for d in range(params.days) for s in range(params.shards)}
    for site, total in zip(sites, per_site, strict=True):
        per_day = _largest_remainder(total, [sum(row) for row in site.hourly])
        for d, n in enumerate(per_day):
            base, extra = divmod(n, params.shards)
            for s in range(params.shards):
                out[(d, s)][site.index] = base + (1 if (s - d - site.index) % params.shards < extra else 0)
    return out
