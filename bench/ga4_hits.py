"""Realistic GA4 requests for the benchmarks: gtag.js hits to ``/g/collect`` and Measurement
Protocol requests to ``/mp/collect`` (deterministic per seed), beside :mod:`bench.hits`' UA.

- **gtag** (``POST /g/collect``, as gtag.js sends them through ``server_container_url``): the
  request's shared parameters in the query in gtag's order (``v=2``, ``tid``, ``gtm``, ``_p``
  page-load id, ``gcs``/``gcd``/``npa``/``dma`` consent, ``tag_exp``, ``cid``, ``ul``, ``sr``,
  the ``uaa``… client hints on Chromium browsers, ``_s`` hit sequence, ``sid``/``sct``/``seg``
  session, ``dl``/``dr``/``dt``, ``tfd``); one event in the query with an empty body, or one
  event per body line (``en``, ``_et``, ``ep.``/``epn.``/``up.``/``upn.``, ``pr1``… items,
  ``_fv``/``_ss``/``_nsi`` on a session's first page_view). Events: page_view on a new page
  load, then scroll, user_engagement, click, file_download, view_search_results, form and video
  events, view_item / add_to_cart / begin_checkout / purchase with items on the shop, custom
  events. A few % are consent-mode cookieless pings (``gcs=G100``, no ``cid``).
- **mp** (``POST /mp/collect?measurement_id=G-…&api_secret=…``, JSON): a server's events for
  a web client (``client_id`` of the ``_ga`` cookie, a ``user_id`` sometimes), purchases and
  refunds with items, leads, sign-ups and logins, cart events, custom CRM and subscription
  events, server-side page_views; ``session_id`` and ``engagement_time_msec`` on each event;
  consent, user properties and ``timestamp_micros`` on some. Half relay a browser's
  ``user_agent`` and ``ip_override``; the others come from the server alone (an HTTP
  library's agent, one of a few server addresses), a tenth of them with ``device`` and
  ``user_location`` objects.

Who sends them is drawn as :mod:`bench.hits` draws it with a :class:`bench.traffic.Population`
(agents and client addresses Zipf-like, the address in X-Forwarded-For; arrivals from every
kind of referrer, utm tags and click ids on landing pages; the sites' page catalogues), so the
enrichment caches see the misses real traffic gives them; the uaa… hints are derived from the
agent (the Android model behind a reduced ``K`` agent from the client address, so those keys
vary more than the agent). Request ``i`` of a kind's stream has the same sender whatever the
number of events per request: :func:`prewarm_file` (the first N senders, what enrichment reads
of them) warms a server for every ``events`` of that kind, and the measured requests continue
the stream after them, as the UA request file does. Clock-relative values (cookie and session
timestamps, ``_p``, ``timestamp_micros``) count from when the file was generated; a
``timestamp_micros`` more than 72 h old by the time it is sent is clamped, still valid.

Every request is checked with the collector's own parsers (:func:`collector.gtag.parse_request`,
:func:`collector.mp.parse_request`): every event valid, nothing dropped, cut or ignored, so a
2xx is every one of its events forwarded (no referrer is on the spam list; bots are forwarded
flagged under ``bot_policy="flag"``).

The files are :mod:`bench.hits`' tab-separated format (method, target, user agent,
X-Forwarded-For, origin, body), with the body field escaped by
:func:`bench.loadgen.escape_body` (``\\`` →
``\\\\``, newline → ``\\n``, CR → ``\\r``, tab → ``\\t``) so that batched bodies fit on one line;
``bench/loadgen.lua`` and ``bench/loadgen.py`` undo it for every file (a UA payload, percent-
encoded, has no backslash: it reads as before).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from bench import hits, workload
from bench.hits import SITES, BenchRequest, _Pages  # the UA traffic's page catalogues
from bench.loadgen import escape_body, unescape_body
from bench.traffic import Arrival, Population, Referrers, add_tags, forwarded_for, zipf_cum_weights
from collector import gtag, mp, mp_rules
from collector.enrich import Enrichment
from collector.ga4 import DEVICE_OVERRIDES
from collector.referrer import ReferrerClassifier
from lambdalytics.api_secrets import ApiSecret, digest

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("gtag", "mp")
GTAG_PATH, MP_PATH = "/g/collect", "/mp/collect"
# one web stream per site of bench.hits.SITES, on the bench property beside its UA ids
MEASUREMENT_IDS = ("G-B3NCH42001", "G-B3NCH42002", "G-B3NCH42007")
# A benchmark fixture, not a secret: the bench property's only Measurement Protocol API
# secret, known to every bench request file; bench.serve stores only its digest.
API_SECRET = "lambdalytics-bench-only-mp-secret-0001"  # noqa: S105
API_SECRET_ID = "sbench"  # noqa: S105 (an id, not a secret)
SEED = 20241205


def api_secrets() -> tuple[ApiSecret, ...]:
    """What the bench property stores of :data:`API_SECRET`: its digest."""
    return (ApiSecret(API_SECRET_ID, digest(API_SECRET), "2026-01-01T00:00:00+00:00", "bench"),)


# --- the TSV's body field ------------------------------------------------------------------

def write_tsv(requests: list[BenchRequest], path: Path) -> None:
    hits.write_tsv(requests, path, escape=escape_body)


def read_tsv(path: Path, limit: int | None = None) -> list[BenchRequest]:
    """The requests of a TSV (this module's or bench.hits'), bodies unescaped."""
    return hits.read_tsv(path, limit, unescape=unescape_body)


# --- who sends them -------------------------------------------------------------------------


def _enc(value: str) -> str:
    return quote(value, safe="-_.!~*'()")  # what encodeURIComponent leaves alone


LANGUAGES = ("en-us", "en-gb", "de-de", "fr-fr", "es-es", "pt-br", "ja", "nl", "it-it", "pl")
SCREENS = ("1920x1080", "1366x768", "390x844", "2560x1440", "414x896", "1536x864", "412x915",
           "1440x900", "360x800", "1280x720")
GTM = ("45je4bk0v9189032711za200", "45je4bk0v9189032711z8890", "45He4c10v9183410145za200")
TAG_EXP = "101925629~102067555~102081485~102123608"
CONSENT = (("G111", "13r3r3r3r5l1", 86), ("G101", "13q3q3r3r5l1", 11), ("G100", "13p3p3p2p5l1", 3))
ANDROID_MODELS = ("SM-S918B", "Pixel 8", "SM-A546B", "SM-G991B", "Pixel 7a", "2201117TG",
                  "SM-A146B", "CPH2451", "moto g(60)", "V2207", "RMX3630", "SM-A536B",
                  "23021RAA2Y", "Pixel 6a", "SM-S911B", "M2101K6G", "SM-A725F", "CPH2387",
                  "TECNO KI5q", "Infinix X6816", "SM-T505", "Lenovo TB-X606F", "2312DRA50G",
                  "SM-F946B", "Pixel 8 Pro", "SM-A057G", "motorola edge 40", "V2231",
                  "RMX3710", "ZTE 8050", "SM-M336B", "Nokia G21", "SM-X200", "22101316G",
                  "CPH2505", "SM-A245F", "moto e13", "Redmi Note 8", "SM-G780G", "SM-N986B")
_MODEL_WEIGHTS = zipf_cum_weights(len(ANDROID_MODELS), 1.0)
_CHROME = re.compile(r"Chrome/(\d+)\.[\d.]+")
_EDGE = re.compile(r"Edg(?:A)?/([\d.]+)")
_OPERA = re.compile(r"OPR/([\d.]+)")
_YANDEX = re.compile(r"YaBrowser/([\d.]+)")
_SAMSUNG = re.compile(r"SamsungBrowser/([\d.]+)")
_ANDROID = re.compile(r"Android (\d+)")
# Chromium's build number of each major version (the third part of a full version)
_BUILDS = {124: 6367, 123: 6312, 122: 6261, 121: 6167, 120: 6099, 119: 6045, 118: 5993,
           117: 5938, 116: 5845, 115: 5790, 114: 5735, 113: 5672, 112: 5615, 111: 5563, 110: 5481}


def client_hints(agent: str, address: str) -> list[tuple[str, str]]:
    """The uaa… parameters gtag.js sends from ``navigator.userAgentData`` for this agent: none
    but on Chromium browsers that have it (not iOS, WebViews or old UC/Chrome builds)."""
    m = _CHROME.search(agent)
    if (m is None or "AppleWebKit/537.36" not in agent or "; wv)" in agent or "UCBrowser" in agent
            or "Headless" in agent or int(m.group(1)) < 100 or "compatible;" in agent):
        return []
    major = int(m.group(1))
    h = int.from_bytes(hashlib.blake2b(agent.encode(), digest_size=4).digest(), "big")
    full = f"{major}.0.{_BUILDS.get(major, 5000 + 50 * (major - 100))}.{h % 200 + 10}"
    brands = [("Chromium", full)]
    for pattern, brand in ((_EDGE, "Microsoft Edge"), (_OPERA, "Opera"), (_YANDEX, "YaBrowser"),
                           (_SAMSUNG, "Samsung Internet")):
        if (other := pattern.search(agent)) is not None:
            brands.append((brand, other.group(1)))
            break
    else:
        brands.append(("Google Chrome", full))
    brands.append(("Not-A.Brand", "99.0.0.0"))
    fvl = "|".join(f"{_enc(b)};{v}" for b, v in brands)
    mobile, model = "0", ""
    arch, bitness = "x86", "64"
    if "Android" in agent:
        mobile, arch, bitness = ("1" if "Mobile" in agent else "0"), "", ""
        android = _ANDROID.search(agent)
        if "; K)" in agent:  # reduced agent: the real model and version only in the hints
            pick = random.Random(f"{agent}|{address}")
            model = pick.choices(ANDROID_MODELS, cum_weights=_MODEL_WEIGHTS)[0]
            version = f"{pick.choice((14, 14, 13, 13, 12, 11, 10))}.0.0"
        else:
            inside = agent[agent.find("(") + 1:agent.find(")")].split("; ")
            model = inside[2].split(" Build/")[0] if len(inside) > 2 else ""
            version = f"{android.group(1) if android else 10}.0.0"
        platform = "Android"
    elif "Windows" in agent:
        platform, version = "Windows", ("15.0.0", "10.0.0", "15.0.0", "0.3.0")[h % 4]
    elif "Macintosh" in agent:
        platform, version = "macOS", ("14.4.1", "14.3.0", "13.6.6", "12.7.4")[h % 4]
        arch = "arm" if h % 3 else "x86"
    elif "CrOS" in agent:
        platform, version = "Chrome OS", "14541.0.0"
    else:
        platform, version = "Linux", "6.5.0"
    return [("uaa", arch), ("uab", bitness), ("uafvl", fvl), ("uamb", mobile), ("uam", model),
            ("uap", platform), ("uapv", version), ("uaw", "0")]


class _Client:
    """A browser with its _ga cookie, session and current page load."""

    def __init__(self, rng: random.Random, now: int) -> None:
        self.cid = f"{rng.randrange(10**8, 10**10)}.{now - rng.randrange(0, 400 * 86400)}"
        self.site = rng.randrange(len(SITES))
        self.lang = rng.choice(LANGUAGES)
        self.screen = rng.choice(SCREENS)
        self.uid = f"member-{rng.randrange(10**5)}" if rng.random() < 0.12 else ""
        self.gcs, self.gcd, _ = rng.choices(CONSENT, weights=[w for *_, w in CONSENT])[0]
        self.gtm = GTM[self.site]
        self.tier = rng.choice(("gold", "silver", "guest"))
        self.orders = rng.randrange(0, 40)
        self.sessions = 0 if rng.random() < 0.3 else rng.randrange(1, 60)  # 0: a new visitor
        self.sid = now - rng.randrange(0, 1800)
        self.page: tuple[str, str, str] | None = None  # location, title, referrer
        self.page_load = 0  # _p
        self.hits = 0  # _s within the page load
        self.pages_in_session = 0
        self.session_start = self.first_visit = False


@dataclass(slots=True)
class _Sender:
    """Who sends request i of a stream and from where: the same whatever its events."""

    client: _Client
    agent: str
    address: str
    xff: str
    new_page: bool
    relay: str = ""  # mp: "relay" (browser's agent and address in the body), "server", "device"
    server_agent: str = ""
    server_xff: str = ""
    with_page: bool = False  # mp: page_location on its events


class _Senders:
    """The sender stream of one kind (``gtag`` or ``mp``), deterministic per seed: request i's
    sender does not depend on how many requests are drawn."""

    BLOCK = 1_000  # (agent, address) pairs drawn at a time, each block from its own seed

    def __init__(self, kind: str, seed: int, population: Population, count: int, now: int,
                 clients: int) -> None:
        self.kind = kind
        self.seed = seed
        self.now = now
        self.count = count
        self.population = population
        self.rng = random.Random(f"{kind}-senders-{seed}")
        self.clients = [_Client(self.rng, now) for _ in range(clients)]
        self.referrers = Referrers(random.Random(seed + 2))
        self.pages = _Pages(random.Random(seed + 3))
        self.spam = ReferrerClassifier()
        pool = random.Random(f"{kind}-servers-{seed}")
        self.servers = pool.sample(list(population.addresses), min(40, len(population.addresses)))
        self.tools = list(population.tools)

    def __iter__(self) -> Iterator[_Sender]:
        rng = self.rng
        block: list[tuple[str, str]] = []
        for i in range(self.count):
            if i % self.BLOCK == 0:
                block = self.population.draw(
                    random.Random(f"{self.kind}-population-{self.seed}-{i // self.BLOCK}"), self.BLOCK)
            agent, address = block[i % self.BLOCK]
            c = rng.choice(self.clients)
            sender = _Sender(c, agent, address, forwarded_for(rng, address), False)
            if self.kind == "gtag":
                self._page(c, sender)
            else:
                roll = rng.random()
                sender.relay = "relay" if roll < 0.5 else "device" if roll < 0.55 else "server"
                sender.server_agent = rng.choice(self.tools)
                sender.server_xff = rng.choice(self.servers)
                sender.with_page = rng.random() < 0.4
                if sender.with_page or c.page is None:
                    self._page(c, sender)
            yield sender

    def _page(self, c: _Client, sender: _Sender) -> None:
        rng = self.rng
        c.session_start = c.first_visit = False
        sender.new_page = c.page is None or rng.random() < 0.35
        if not sender.new_page:
            c.hits += 1
            return
        site = SITES[c.site]
        location, title = self.pages.draw(site)
        if c.page is None or rng.random() < 0.25:  # a new session, from wherever it came
            def internal(catalogue: _Pages = self.pages) -> str:
                return catalogue.draw(site)[0]

            arrival = self.referrers.arrival(site, internal)
            while arrival.referrer and self.spam.is_spam(arrival.referrer):  # it would be filtered
                arrival = self.referrers.arrival(site, internal)
            c.first_visit = c.sessions == 0
            c.sessions += 1
            c.sid = self.now - rng.randrange(0, 600)
            c.session_start = True
            c.pages_in_session = 0
        else:  # on to another page of the site
            arrival = Arrival("internal", c.page[0] if c.page else "", "")
        c.page = (add_tags(location, arrival.tags), title, arrival.referrer)
        c.page_load = self.now * 1000 - rng.randrange(0, 3_600_000)
        c.hits = 1
        c.pages_in_session += 1


# --- events --------------------------------------------------------------------------------

PRODUCTS = ("Linen Shirt", "Wool Jacket", "Summer Dress", "Canvas Tote", "Rain Coat", "Café Mug",
            "Zürich Scarf", "Denim Jeans", "Running Shoes", "Travel Guide")
CATEGORIES = ("Apparel/Shirts", "Apparel/Jackets", "Home/Linen", "Books/Travel", "Shoes")
BRANDS = ("Acme", "Northwind", "Fabrikam", "Tailspin")
CURRENCIES = ("EUR", "USD", "GBP")
WORDS = ("summer", "linen", "shirt", "guide", "release", "notes", "kinesis", "café", "zürich",
         "deploy", "pricing", "blue", "wool", "setup", "faq", "über", "東京", "sale")


def _product(rng: random.Random) -> dict[str, Any]:
    return {"id": f"SKU-{rng.randrange(10000, 99999)}", "nm": rng.choice(PRODUCTS),
            "br": rng.choice(BRANDS), "ca": rng.choice(CATEGORIES),
            "va": rng.choice(("Blue", "Sand", "Black", "M", "L")),
            "pr": round(rng.randrange(900, 19900) / 100, 2), "qt": rng.randrange(1, 4)}


def _gtag_item(p: dict[str, Any], rng: random.Random, index: int) -> str:
    parts = [f"id{p['id']}", f"nm{p['nm']}", f"br{p['br']}", f"ca{p['ca']}", f"va{p['va']}",
             f"pr{p['pr']:.2f}", f"qt{p['qt']}", f"lp{index}"]
    if rng.random() < 0.3:
        parts += ["k0fabric", f"v0{rng.choice(('linen', 'wool', 'cotton'))}"]
    return "~".join(parts)


def _gtag_event(rng: random.Random, c: _Client, first: bool) -> list[tuple[str, str]]:
    """One event's own parameters (en first)."""
    location, title, _ = c.page or ("", "", "")
    if first:
        out = [("en", "page_view")]
        if c.first_visit:
            out += [("_fv", "1"), ("_nsi", "1")]
        if c.session_start:
            out.append(("_ss", "1"))
        return [*out, ("_ee", "1")]
    et = ("_et", str(rng.randrange(50, 30_000)))
    shop = SITES[c.site].startswith("shop")
    roll = rng.random()
    if roll < 0.22:
        return [("en", "scroll"), ("epn.percent_scrolled", "90"), et]
    if roll < 0.42:
        return [("en", "user_engagement"), et]
    if roll < 0.52:
        domain = rng.choice(("www.youtube.com", "github.com", "en.wikipedia.org", "partner.example"))
        return [("en", "click"), ("ep.link_id", ""), ("ep.link_url", f"https://{domain}/{rng.choice(WORDS)}"),
                ("ep.link_domain", domain), ("ep.outbound", "true"), et]
    if roll < 0.57:
        name = f"{rng.choice(WORDS)}-{rng.randrange(2019, 2025)}"
        ext = rng.choice(("pdf", "zip", "xlsx"))
        return [("en", "file_download"), ("ep.file_name", f"/downloads/{_enc(name)}.{ext}"),
                ("ep.file_extension", ext), ("ep.link_url", f"{location.split('?')[0]}/{name}.{ext}"), et]
    if roll < 0.62:
        return [("en", "view_search_results"), ("ep.search_term", " ".join(rng.sample(WORDS, 2))), et]
    if roll < 0.67:
        step = rng.choice(("form_start", "form_submit"))
        return [("en", step), ("ep.form_id", "newsletter"), ("ep.form_name", "Newsletter"),
                ("ep.form_destination", f"https://{SITES[c.site]}/subscribe"), et]
    if roll < 0.72:
        percent = rng.choice((10, 25, 50, 75))
        return [("en", "video_progress"), ("ep.video_title", title[:60]),
                ("ep.video_provider", "youtube"), ("epn.video_percent", str(percent)),
                ("epn.video_current_time", str(rng.randrange(5, 600))), et]
    if shop and roll < 0.88:
        name = rng.choice(("view_item", "view_item", "add_to_cart", "begin_checkout", "purchase"))
        products = [_product(rng) for _ in range(1 if name == "view_item" else rng.randrange(1, 5))]
        value = sum(p["pr"] * p["qt"] for p in products)
        out = [("en", name), ("cu", rng.choice(CURRENCIES))]
        out += [(f"pr{i}", _gtag_item(p, rng, i)) for i, p in enumerate(products, 1)]
        if name == "purchase":
            out += [("ep.transaction_id", f"T{rng.randrange(10**6, 10**7)}"),
                    ("ep.affiliation", "Online Store"), ("epn.value", f"{value:.2f}"),
                    ("epn.tax", f"{value * 0.19:.2f}"), ("epn.shipping", "4.99"), ("_c", "1")]
            if rng.random() < 0.3:
                out.append(("ep.coupon", "SUMMER10"))
        else:
            out.append(("epn.value", f"{value:.2f}"))
        return [*out, et]
    name = rng.choice(("newsletter_signup", "share", "theme_toggle", "copy_code", "login"))
    out = [("en", name), ("ep.method", rng.choice(("footer", "header", "modal"))),
           ("ep.content_group", SITES[c.site].split(".")[0]), ("epn.step", str(rng.randrange(1, 4)))]
    if rng.random() < 0.5:
        out += [("up.membership_tier", c.tier), ("upn.lifetime_orders", str(c.orders))]
    return [*out, et]


def _gtag_request(rng: random.Random, s: _Sender, events: int) -> BenchRequest:
    c = s.client
    location, title, referrer = c.page or ("", "", "")
    tid = MEASUREMENT_IDS[c.site]
    cookieless = c.gcs == "G100"
    q = [("v", "2"), ("tid", tid), ("gtm", c.gtm), ("_p", str(c.page_load)), ("gcs", c.gcs),
         ("gcd", c.gcd), ("npa", "1" if c.gcs != "G111" else "0"), ("dma", "0"),
         ("tag_exp", TAG_EXP)]
    if not cookieless:
        q.append(("cid", c.cid))
    q += [("ul", c.lang), ("sr", c.screen), *client_hints(s.agent, s.address), ("are", "1"),
          ("frm", "0"), ("pscdl", "noapi"), ("_eu", "AEA"), ("_s", str(c.hits))]
    if c.uid and not cookieless:
        q.append(("uid", c.uid))
    if not cookieless:
        q += [("sid", str(c.sid)), ("sct", str(c.sessions)),
              ("seg", "1" if c.pages_in_session > 1 or c.hits > 2 else "0")]
    q += [("dl", location)]
    if referrer:
        q.append(("dr", referrer))
    q.append(("dt", title))
    lines = [_gtag_event(rng, c, s.new_page and i == 0) for i in range(events)]
    tfd = ("tfd", str(rng.randrange(300, 120_000)))
    if events == 1:  # one event: everything in the query, an empty body (sendBeacon / fetch)
        query, body = [*q, *lines[0], tfd], ""
    else:
        query = [*q, tfd]
        body = "\n".join("&".join(f"{k}={_enc(v)}" for k, v in line) for line in lines)
    target = GTAG_PATH + "?" + "&".join(f"{k}={_enc(v)}" for k, v in query)
    return BenchRequest("POST", target, s.agent, f"https://{SITES[c.site]}", body, s.xff)


MP_EVENTS = (("purchase", 16), ("refund", 3), ("generate_lead", 10), ("sign_up", 8), ("login", 12),
             ("add_to_cart", 10), ("begin_checkout", 6), ("add_payment_info", 4),
             ("subscription_renewed", 9), ("crm_stage_change", 8), ("page_view", 8),
             ("tutorial_complete", 6))
_MP_NAMES = [n for n, _ in MP_EVENTS]
_MP_WEIGHTS = [w for _, w in MP_EVENTS]


def _mp_items(rng: random.Random, count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        p = _product(rng)
        item: dict[str, Any] = {"item_id": p["id"], "item_name": p["nm"], "item_brand": p["br"],
                                "item_category": p["ca"], "item_variant": p["va"],
                                "price": p["pr"], "quantity": p["qt"], "index": i}
        if rng.random() < 0.3:
            item["fabric"] = rng.choice(("linen", "wool", "cotton"))
        out.append(item)
    return out


def _mp_event(rng: random.Random, s: _Sender) -> dict[str, Any]:
    c = s.client
    name = rng.choices(_MP_NAMES, weights=_MP_WEIGHTS)[0]
    params: dict[str, Any] = {"session_id": str(c.sid), "engagement_time_msec": rng.randrange(1, 5000)}
    if name in ("purchase", "refund", "add_to_cart", "begin_checkout", "add_payment_info"):
        items = _mp_items(rng, rng.randrange(1, 5))
        params["currency"] = rng.choice(CURRENCIES)
        params["value"] = round(sum(i["price"] * i["quantity"] for i in items), 2)
        if name in ("purchase", "refund"):
            params["transaction_id"] = f"T{rng.randrange(10**6, 10**7)}"
        if name == "purchase":
            params.update(tax=round(params["value"] * 0.19, 2), shipping=4.99,
                          affiliation="Online Store")
            if rng.random() < 0.3:
                params["coupon"] = "SUMMER10"
        if name == "add_payment_info":
            params["payment_type"] = rng.choice(("card", "paypal", "invoice"))
        if name != "refund" or rng.random() < 0.5:
            params["items"] = items
    elif name == "generate_lead":
        params.update(currency="EUR", value=float(rng.randrange(10, 500)),
                      lead_source=rng.choice(("webinar", "contact_form", "trade_show")))
    elif name in ("sign_up", "login"):
        params["method"] = rng.choice(("email", "google", "apple"))
    elif name == "subscription_renewed":
        params.update(plan=rng.choice(("monthly", "yearly")), months=rng.randrange(1, 36),
                      value=rng.choice((9.9, 99.0)), currency="EUR")
    elif name == "crm_stage_change":
        params.update(stage=rng.choice(("mql", "sql", "opportunity", "won")),
                      owner=f"rep-{rng.randrange(40)}")
    elif name == "tutorial_complete":
        params["tutorial"] = rng.choice(WORDS)
    if s.with_page and c.page is not None:
        location, title, referrer = c.page
        params["page_location"] = location
        if name == "page_view" or rng.random() < 0.3:
            params["page_title"] = title
        if referrer and rng.random() < 0.25:
            params["page_referrer"] = referrer
    elif name == "page_view":
        params["page_location"] = f"https://{SITES[c.site]}/"
    return {"name": name, "params": params}


def _mp_request(rng: random.Random, s: _Sender, events: int, now: int) -> BenchRequest:
    c = s.client
    body: dict[str, Any] = {"client_id": c.cid}
    if c.uid:
        body["user_id"] = c.uid
    if rng.random() < 0.3:
        body["timestamp_micros"] = (now - rng.randrange(0, 3600)) * 1_000_000
    if rng.random() < 0.5:
        body["consent"] = {"ad_user_data": "GRANTED",
                           "ad_personalization": "DENIED" if rng.random() < 0.2 else "GRANTED"}
    if rng.random() < 0.3:
        body["user_properties"] = {"customer_tier": {"value": c.tier},
                                   "lifetime_orders": {"value": c.orders}}
    agent, xff = s.server_agent, s.server_xff
    if s.relay == "relay":
        body.update(user_agent=s.agent, ip_override=s.address)
    elif s.relay == "device":
        body["device"] = {"category": rng.choice(("desktop", "mobile")), "language": c.lang,
                          "screen_resolution": c.screen, "operating_system": "Android",
                          "operating_system_version": "14", "model": "Pixel 8", "brand": "Google",
                          "browser": "Chrome", "browser_version": "124.0.6367.91"}
        body["user_location"] = {"city": "Munich", "region_id": "DE-BY", "country_id": "DE",
                                 "continent_id": "150", "subcontinent_id": "155"}
    body["events"] = [_mp_event(rng, s) for _ in range(events)]
    target = f"{MP_PATH}?measurement_id={MEASUREMENT_IDS[c.site]}&api_secret={API_SECRET}"
    return BenchRequest("POST", target, agent, "", orjson.dumps(body).decode(), xff)


# --- checked with the collector's parsers ---------------------------------------------------


def check(kind: str, r: BenchRequest, events: int, received: datetime) -> list[dict[str, Any]]:
    """Each event's Hit fields as the collector parses it; AssertionError unless all
    ``events`` are valid, and nothing of them was dropped, cut or ignored."""
    query = r.target.partition("?")[2].encode()
    if kind == "gtag":
        parsed = gtag.parse_request(query, r.body.encode(), received=received)
        bad = [(e.problems, e.notes) for e in parsed if e.problems or e.notes]
        if bad or len(parsed) != events:
            raise AssertionError(f"generated a bad gtag request ({len(parsed)} events): {bad} {r}")
        return [e.fields for e in parsed]
    request = mp.parse_request(query, r.body.encode(), received=received)
    if request.problem or request.dropped or request.messages or len(request.events) != events:
        raise AssertionError(f"generated a bad MP request: {request.problem} {request.messages} {r}")
    return [e.fields for e in request.events]


def generate(kind: str, count: int, *, events: int | tuple[int, int] = 1, seed: int = SEED,
             population: Population, skip: int = 0, now: int | None = None,
             prewarm: list[dict[str, Any]] | None = None,
             clients: int | None = None) -> list[BenchRequest]:
    """Requests ``skip`` to ``count - 1`` of the ``kind`` stream (``gtag`` or ``mp``), with
    ``events`` events each (or a number drawn from the range), each checked valid. The
    senders of request i are the same for every ``events`` and ``count`` (for the same
    ``skip``: by default one browser, ``cid``, for 8 of the first ``skip`` requests). With
    ``prewarm``, the first ``skip`` requests are not returned but what enrichment reads of
    each is appended to it."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    now = int(time.time()) if now is None else now
    received = datetime.fromtimestamp(now, UTC)
    low, high = (events, events) if isinstance(events, int) else events
    if not 1 <= low <= high <= mp_rules.MAX_EVENTS:
        raise ValueError(f"events per request must be within 1–{mp_rules.MAX_EVENTS}: {events}")
    out: list[BenchRequest] = []
    clients = clients or max(500, (skip or count) // 8)
    for i, sender in enumerate(_Senders(kind, seed, population, count, now, clients)):
        if i < skip and prewarm is None:
            continue
        rng = random.Random(f"{kind}-events-{seed}-{events}-{i}")  # request i's own events
        n = 1 if i < skip else low if low == high else rng.randint(low, high)
        r = (_gtag_request(rng, sender, n) if kind == "gtag"
             else _mp_request(rng, sender, n, now))
        fields = check(kind, r, n, received)
        if i >= skip:
            out.append(r)
        elif prewarm is not None:  # one event is enough: its request's are the same keys
            prewarm.append(_prewarm_record(kind, r, fields[0]))
    return out


# --- files: the measured requests and the prewarm extract ------------------------------------


def _prewarm_record(kind: str, r: BenchRequest, fields: dict[str, Any]) -> dict[str, Any]:
    """What ``Enricher.apply`` reads of a request's events (they share their request)."""
    query = r.target.partition("?")[2].encode()
    hints = ip_override = ua_override = None
    if kind == "gtag":
        hints = gtag.parse_request(query, b"", received=datetime.now(UTC))[0].hints
    else:
        parsed = mp.parse_request(query, r.body.encode(), received=datetime.now(UTC))
        ip_override, ua_override = parsed.ip_override, parsed.ua_override
    return {"target": r.target.partition("?")[0], "ua": r.user_agent, "xff": r.forwarded_for,
            "origin": r.origin, "ip_override": ip_override, "ua_override": ua_override,
            "hints": None if hints is None else [h.decode("latin-1") for h in hints],
            "fields": {k: v for k, v in fields.items()
                       if k in workload.ENRICHMENT_INPUTS and k not in DEVICE_OVERRIDES}}


def prewarm(enricher: Enrichment, path: Path) -> int:
    """Every request of a :func:`prewarm_file` through ``enricher.apply`` (one event each: the
    others of a request look up the same keys), read one at a time; the count."""
    now = time.time()
    n = 0
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            d = json.loads(line)
            request = BenchRequest("POST", d["target"], d["ua"], d["origin"], "", d["xff"]).raw(now)
            hints = None if d["hints"] is None else tuple(h.encode("latin-1") for h in d["hints"])
            enricher.apply(d["fields"], request, ip_override=d["ip_override"],
                           ua_override=d["ua_override"], anonymize=False, hints=hints)
            n += 1
    return n


def measured_requests(spec: workload.Spec, events: int) -> int:
    """How many requests a measured GA4 file holds. A load generator cycles through its file;
    once round, a request's agent, address and referrer come back while the enrichment caches
    may still hold them, and its misses are gone. The UA file comes back after its
    ``spec.requests``, a little less than a full run of (b) sends at its rate: a one-event GA4
    file is as long, and one of more events, sent at a fraction of that rate, shorter in step
    (150,000, 75,000 and 46,153 requests for 1, 5 and 10 events), so that each goes round
    about as often as the UA one."""
    return spec.requests * 4 // (events + 3)


_POPULATIONS: dict[tuple[str, str], Population] = {}


def _population(spec: workload.Spec, database: Path) -> Population:
    key = (repr(asdict(spec)), str(database))
    if key not in _POPULATIONS:  # the very population of the UA request file
        _POPULATIONS[key] = Population.build(database, agents=spec.agents, addresses=spec.addresses,
                                             seed=spec.seed, zipf_s=spec.zipf_s)
    return _POPULATIONS[key]


def _fingerprint(spec: workload.Spec, database: Path, *parts: object) -> str:
    h = hashlib.sha256(repr((asdict(spec), database.name, parts)).encode())
    sources = ["bench/ga4_hits.py", "bench/hits.py", "bench/traffic.py", "collector/gtag.py",
               "collector/ua.py", "collector/data/spammers.txt",
               *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "collector").glob("mp*.py"))]
    for source in sources:  # the generator's and the parsers' that check its requests
        h.update((ROOT / source).read_bytes())
    return h.hexdigest()[:16]


def _cached(path: Path, stem: str) -> None:
    """Remove this file's versions of older sources (not touched for an hour)."""
    for stale in workload.CACHE_DIR.glob(f"{stem}-*"):
        with contextlib.suppress(FileNotFoundError):
            if not stale.name.startswith(path.stem) and stale.stat().st_mtime < time.time() - 3600:
                stale.unlink()


def files(kind: str, events: int, spec: workload.Spec, database: Path, *,
          log: bool = True) -> tuple[Path, Path]:
    """(measured request file, prewarm file) of a kind and events per request, generated into
    the cache directory once per source version and reused."""
    count = measured_requests(spec, events)
    tsv_stem, warm_stem = f"ga4-{kind}{events}-{count}", f"ga4-{kind}-prewarm{spec.prewarm}"
    tsv = workload.CACHE_DIR / f"{tsv_stem}-{_fingerprint(spec, database, kind, events)}.tsv"
    warm = workload.CACHE_DIR / f"{warm_stem}-{_fingerprint(spec, database, kind)}.jsonl"
    if tsv.exists() and warm.exists():
        return tsv, warm
    started = time.perf_counter()
    if log:
        print(f"  generating {tsv.name} ({count:,} requests of {events} event"
              f"{'s' if events > 1 else ''}) ...", flush=True)
    records: list[dict[str, Any]] = []
    requests = generate(kind, spec.prewarm + count, events=events, population=_population(spec, database),
                        skip=spec.prewarm, prewarm=None if warm.exists() else records)
    workload.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    write_tsv(requests, tsv)
    if records:
        partial = warm.with_name(f"{warm.name}.{os.getpid()}.partial")
        partial.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                           encoding="utf-8")
        partial.replace(warm)
    _cached(tsv, tsv_stem)
    _cached(warm, warm_stem)
    if log:
        print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    return tsv, warm
