"""Realistic, varied Universal Analytics requests for the benchmarks (deterministic per seed).

Each request is what analytics.js (or a server-side Measurement Protocol client) would send:
pageviews with ``dl``/``dt``/``dr``/``ul``/``sr``/``vp``/``cid``, events with ``ec``/``ea``/``el``/
``ev``, custom dimensions and metrics, enhanced and classic ecommerce, user timings, plus the
analytics.js internals the collector ignores (``_v``, ``_s``, ``_u``, ``jid``, ``_gid``, ``gtm``)
and a ``z`` cache buster. Most go as ``GET /collect`` pixels; some as ``POST /r/collect``
(beacon) or ``POST /j/collect`` (XHR) with the payload in the body and an ``Origin``.

Every payload is checked with the collector's own parser, so each one is a valid hit for a
registered tracking id: the Kinesis read-back can then expect exactly one hit record per 2xx.

Two kinds of traffic:

- without a :class:`bench.traffic.Population` (the first benchmarks'): each of the 1,500
  browsers keeps one of six user agents, a few fixed referrers, no X-Forwarded-For — every
  enrichment lookup is a cache hit;
- with one (``generate(..., population=...)``): traffic realistic for the enrichment caches.
  Each request's user agent and client address are drawn Zipf-like from tens of thousands of
  agents (a few % bots and HTTP libraries) and hundreds of thousands of addresses; the address
  travels in X-Forwarded-For as an ALB writes it (read with ``trusted_proxy_hops=1``); each
  hit arrives direct, internal, from organic or paid search, social, a referral or e-mail,
  with the referrer that sends and the utm tags or click ids of its landing page; one site
  anonymises addresses (``aip``). No referrer is on the referrer-spam list and bots are
  forwarded flagged (``bot_policy="flag"``), so one 2xx is still one hit record.

The requests are written as a tab-separated file (one request a line: method, target, user
agent, X-Forwarded-For, origin, body; an empty field is an absent header) that both
``bench/loadgen.lua`` (wrk) and ``bench/loadgen.py`` read.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from fast_query_parsers import parse_query_string

from bench.traffic import Arrival, Population, Referrers, add_tags, forwarded_for, zipf_cum_weights
from collector import ua
from collector.http import RawRequest
from collector.referrer import ReferrerClassifier
from lambdalytics import hit as hitmod

if TYPE_CHECKING:
    from collector.enrich import Enricher

TRACKING_IDS = ("UA-424242-1", "UA-424242-2", "UA-424242-7")
PROPERTY_ID = "pbench0000001"

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.3 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
)
SITES = ("shop.example.com", "blog.example.org", "docs.example.net")
LANGUAGES = ("en-us", "en-gb", "de-de", "fr-fr", "es-es", "pt-br", "ja", "nl")
SCREENS = (("1920x1080", "1903x969"), ("1366x768", "1349x657"), ("390x844", "390x664"),
           ("2560x1440", "2543x1297"), ("414x896", "414x715"), ("1536x864", "1519x746"))
WORDS = ("summer", "linen", "shirt", "guide", "release", "notes", "kinesis", "café", "zürich",
         "deploy", "pricing", "blue", "wool", "jacket", "setup", "faq", "über", "東京", "sale")
REFERRERS = ("", "", "", "https://www.google.com/", "https://www.bing.com/search?q=linen+shirt",
             "https://t.co/abc123", "https://www.facebook.com/", "https://news.ycombinator.com/")
CURRENCIES = ("EUR", "USD", "GBP")


@dataclass(frozen=True, slots=True)
class BenchRequest:
    method: str
    target: str  # path, with the query for a GET
    user_agent: str
    origin: str  # "" for none
    body: str  # "" for none (a GET)
    forwarded_for: str = ""  # X-Forwarded-For, "" for none

    def payload(self) -> str:
        return self.body if self.method == "POST" else self.target.partition("?")[2]

    def parse(self) -> ua.ParsedHit:
        """The hit as the collector parses it."""
        return ua.parse(parse_query_string(self.payload().encode(), "&"))

    def raw(self, received: float, peer: str = "127.0.0.1") -> RawRequest:
        """The request as the collector's edge hands it to the handlers."""
        headers = {b"host": b"127.0.0.1", b"user-agent": self.user_agent.encode("latin-1")}
        forwarded = [self.forwarded_for.encode("latin-1")] if self.forwarded_for else []
        if forwarded:
            headers[b"x-forwarded-for"] = forwarded[0]
        if self.origin:
            headers[b"origin"] = self.origin.encode("latin-1")
        if self.body:
            headers[b"content-type"] = b"text/plain;charset=UTF-8"
            headers[b"content-length"] = str(len(self.body.encode())).encode()
        return RawRequest(self.method, self.target.partition("?")[0],
                          self.target.partition("?")[2].encode(), self.body.encode(), received,
                          peer, self.user_agent, self.origin or None, headers, forwarded)


def _enc(value: str) -> str:
    # what encodeURIComponent leaves alone
    return quote(value, safe="-_.!~*'()")


def _slug(rng: random.Random, n: int = 3) -> str:
    return "-".join(rng.choice(WORDS) for _ in range(n))


class _Client:
    def __init__(self, rng: random.Random, now: int) -> None:
        self.cid = f"{rng.randrange(10**8, 10**10)}.{now - rng.randrange(0, 90 * 86400)}"
        self.gid = f"{rng.randrange(10**8, 10**10)}.{now - rng.randrange(0, 86400)}"
        self.uid = f"u{rng.randrange(10**6)}" if rng.random() < 0.1 else None
        self.ua = rng.choice(USER_AGENTS)
        self.lang = rng.choice(LANGUAGES)
        self.screen, self.viewport = rng.choice(SCREENS)
        self.site = rng.choice(SITES)
        self.tid = TRACKING_IDS[SITES.index(self.site)]
        self.hits = 0


def _page(rng: random.Random, site: str) -> tuple[str, str]:
    kind = rng.random()
    if site.startswith("shop"):
        path = rng.choice(("/", "/cart", "/checkout", f"/products/{_slug(rng)}",
                           f"/collections/{_slug(rng, 1)}", f"/search?q={_enc(_slug(rng, 2))}"))
    elif site.startswith("blog"):
        path = f"/{rng.randrange(2019, 2025)}/{rng.randrange(1, 13):02d}/{_slug(rng, 4)}"
    else:
        path = f"/docs/{_slug(rng, 1)}/{_slug(rng, 2)}" + ("#install" if kind < 0.2 else "")
    title = " ".join(w.capitalize() for w in _slug(rng, rng.randrange(2, 6)).split("-"))
    return f"https://{site}{path}", f"{title} | {site.split('.')[0].capitalize()}"


class _Pages:
    """Each site's pages, a catalogue drawn Zipf-like: the home and top pages get most views,
    and their URLs (landing pages, internal referrers) repeat as on a real site."""

    def __init__(self, rng: random.Random, per_site: int = 3000, s: float = 1.0) -> None:
        self.rng = rng
        self.pages: dict[str, list[tuple[str, str]]] = {}
        for site in SITES:
            catalogue: dict[str, str] = {}
            while len(catalogue) < per_site:
                url, title = _page(rng, site)
                catalogue.setdefault(url, title)
            self.pages[site] = list(catalogue.items())
        self.weights = zipf_cum_weights(per_site, s)

    def draw(self, site: str) -> tuple[str, str]:
        return self.rng.choices(self.pages[site], cum_weights=self.weights)[0]


def _products(rng: random.Random, count: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for i in range(1, count + 1):
        out += [(f"pr{i}id", f"SKU-{rng.randrange(10000, 99999)}"),
                (f"pr{i}nm", _slug(rng, 2).replace("-", " ").title()),
                (f"pr{i}ca", rng.choice(("Apparel/Shirts", "Apparel/Jackets", "Home/Linen"))),
                (f"pr{i}br", rng.choice(("Acme", "Northwind", "Fabrikam"))),
                (f"pr{i}va", rng.choice(("Blue", "Sand", "Black"))),
                (f"pr{i}pr", f"{rng.randrange(900, 19900) / 100:.2f}"),
                (f"pr{i}qt", str(rng.randrange(1, 4)))]
    return out


def _hit_params(rng: random.Random, c: _Client, arrival: Arrival | None = None,
                page: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    location, title = page or _page(rng, c.site)
    if arrival is not None:
        location = add_tags(location, arrival.tags)
    roll = rng.random()
    specific: list[tuple[str, str]]
    if roll < 0.58:
        hit_type, specific = "pageview", []
    elif roll < 0.83:
        hit_type = "event"
        category, action = rng.choice((("Video", "play"), ("Outbound Link", "click"),
                                       ("Form", "submit"), ("Scroll Depth", "75%"),
                                       ("Newsletter", "subscribe")))
        specific = [("ec", category), ("ea", action), ("el", rng.choice((title, location)))]
        if rng.random() < 0.5:
            specific.append(("ev", str(rng.randrange(0, 300))))
        if category == "Scroll Depth":
            specific.append(("ni", "1"))
    elif roll < 0.93:  # enhanced ecommerce
        action = rng.choice(("detail", "add", "checkout", "purchase"))
        hit_type = "pageview" if action in ("detail", "checkout") else "event"
        specific = [("ec", "Ecommerce"), ("ea", action)] if hit_type == "event" else []
        specific += [("pa", action), ("cu", rng.choice(CURRENCIES))]
        specific += _products(rng, 1 if action == "detail" else rng.randrange(1, 4))
        if action == "checkout":
            specific.append(("cos", str(rng.randrange(1, 4))))
        if action == "purchase":
            specific += [("ti", f"T{rng.randrange(10**6, 10**7)}"), ("ta", "Online Store"),
                         ("tr", f"{rng.randrange(2000, 40000) / 100:.2f}"),
                         ("tt", f"{rng.randrange(100, 4000) / 100:.2f}"), ("ts", "4.99")]
        if action == "detail" and rng.random() < 0.5:
            specific += [("il1nm", "Related"), ("il1pi1id", f"SKU-{rng.randrange(10000, 99999)}"),
                         ("il1pi1nm", "Linen Shirt"), ("il1pi1ps", "1")]
    elif roll < 0.96:  # classic ecommerce
        tid = f"T{rng.randrange(10**6, 10**7)}"
        if rng.random() < 0.5:
            hit_type = "transaction"
            specific = [("ti", tid), ("ta", "Online Store"),
                        ("tr", f"{rng.randrange(2000, 40000) / 100:.2f}"), ("cu", "EUR")]
        else:
            hit_type = "item"
            specific = [("ti", tid), ("in", "Linen Shirt"), ("ip", "39.90"), ("iq", "1"),
                        ("ic", f"SKU-{rng.randrange(10000, 99999)}"), ("iv", "Shirts")]
    else:
        hit_type = "timing"
        specific = [("utc", "JS Dependencies"), ("utv", "load"),
                    ("utt", str(rng.randrange(20, 3000))), ("utl", "Google CDN"),
                    ("plt", str(rng.randrange(300, 8000))), ("dns", str(rng.randrange(0, 120)))]

    c.hits += 1
    params = [("v", "1"), ("_v", "j101"), ("a", str(rng.randrange(10**8, 10**9))), ("t", hit_type),
              ("_s", str(c.hits)), ("dl", location)]
    referrer = rng.choice(REFERRERS) if arrival is None else arrival.referrer
    if referrer:
        params.append(("dr", referrer))
    params += [("ul", c.lang), ("de", "UTF-8"), ("dt", title), ("sd", "24-bit"),
               ("sr", c.screen), ("vp", c.viewport), ("je", "0"), ("_u", "SCCAAEABAAAAAC~"),
               ("jid", ""), ("gjid", ""), ("cid", c.cid)]
    if c.uid:
        params.append(("uid", c.uid))
    params += [("tid", c.tid), ("_gid", c.gid), ("_r", "1"), ("gtm", "45He45m0v9183")]
    params += specific
    if rng.random() < 0.3:
        params += [("cd1", rng.choice(("member", "guest", "trial"))), ("cd2", _slug(rng, 2)),
                   ("cm1", str(rng.randrange(1, 20)))]
    if rng.random() < 0.05:
        params.append(("qt", str(rng.randrange(100, 60_000))))
    if arrival is not None and c.site.startswith("blog"):
        params.append(("aip", "1"))  # this site anonymises addresses (ga('set', 'anonymizeIp'))
    params.append(("z", str(rng.randrange(10**9, 10**10))))
    return params


def generate(count: int = 4000, *, seed: int = 20240501, clients: int = 1500,
             population: Population | None = None) -> list[BenchRequest]:
    """``count`` requests from ``clients`` distinct browsers (``cid``), each one checked
    valid; with a ``population``, its Zipf-drawn user agents and addresses and realistic
    arrivals (see the module docstring)."""
    rng = random.Random(seed)
    now = int(time.time())
    browsers = [_Client(rng, now) for _ in range(clients)]
    senders = population.draw(random.Random(seed + 1), count) if population is not None else None
    referrers = Referrers(random.Random(seed + 2)) if population is not None else None
    pages = _Pages(random.Random(seed + 3)) if population is not None else None
    spam = ReferrerClassifier() if population is not None else None
    out: list[BenchRequest] = []
    for i in range(count):
        c = rng.choice(browsers)
        arrival = page = None
        if referrers is not None and pages is not None and spam is not None:
            def internal(site: str = c.site, catalogue: _Pages = pages) -> str:
                return catalogue.draw(site)[0]

            page = pages.draw(c.site)
            arrival = referrers.arrival(c.site, internal)
            while arrival.referrer and spam.is_spam(arrival.referrer):  # it would be filtered
                arrival = referrers.arrival(c.site, internal)
        payload = "&".join(f"{k}={_enc(v)}" for k, v in _hit_params(rng, c, arrival, page))
        parsed = ua.parse(parse_query_string(payload.encode(), "&"))
        if not parsed.valid:  # the generator's own bug: fail loudly, the check depends on it
            raise AssertionError(f"generated an invalid hit: {parsed.messages} {payload}")
        agent, xff = c.ua, ""
        if senders is not None:
            agent, address = senders[i]
            xff = forwarded_for(rng, address)
        roll = rng.random()
        if roll < 0.7:
            out.append(BenchRequest("GET", f"/collect?{payload}", agent, "", "", xff))
        else:
            path = "/r/collect" if roll < 0.9 else "/j/collect"
            out.append(BenchRequest("POST", path, agent, f"https://{c.site}", payload, xff))
    return out


def write_tsv(requests: list[BenchRequest], path: Path, *,
              escape: Callable[[str], str] = str) -> None:
    lines = ["\t".join((r.method, r.target, r.user_agent, r.forwarded_for, r.origin,
                        escape(r.body))) for r in requests]
    for line in lines:
        if line.count("\t") != 5 or "\n" in line or "\r" in line:
            raise ValueError(f"a request with a tab or a newline in a field: {line[:200]!r}")
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    partial.replace(path)


def read_tsv(path: Path, limit: int | None = None, *,
             unescape: Callable[[str], str] = str) -> list[BenchRequest]:
    """The requests of the file (the first ``limit`` of them); ``escape`` / ``unescape``: a
    body field's encoding where bodies may hold newlines (bench.ga4_hits)."""
    out: list[BenchRequest] = []
    with path.open(encoding="utf-8", newline="\n") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if not line:
                continue
            if limit is not None and len(out) >= limit:
                break
            method, target, user_agent, xff, origin, body = line.split("\t")
            out.append(BenchRequest(method, target, user_agent, origin, unescape(body), xff))
    return out


def kinesis_records(requests: list[BenchRequest],
                    enricher: Enricher | None = None) -> list[tuple[bytes, str]]:
    """(data, partition key) of the hit record the collector would write for each request;
    with an ``enricher``, enriched by it as the collector would (else only the truncated
    peer address, as before enrichment)."""
    received = time.time()
    out: list[tuple[bytes, str]] = []
    for r in requests:
        pairs = parse_query_string(r.payload().encode(), "&")
        parsed = ua.parse(pairs)
        fields = dict(parsed.fields)
        fields.update(
            hit_id=hitmod.derived_hit_id("ua", *(f"{k}={v}" for k, v in pairs if k != "qt")),
            received_time=hitmod.utc_ms(received),
            event_time=hitmod.utc_ms(received - parsed.queue_time_ms / 1000),
            property_id=PROPERTY_ID, tracking_id=parsed.tracking_id, protocol="ua",
            ip_truncated="127.0.0.0", ip_anonymized=parsed.anonymize_ip,
        )
        if enricher is not None:
            enricher.apply(fields, r.raw(received), ip_override=parsed.ip_override,
                           ua_override=parsed.ua_override, anonymize=parsed.anonymize_ip)
        hit = hitmod.Hit(**fields)
        out.append((hitmod.encode(hit), hit.client_id or hit.user_id or hit.hit_id))
    return out
