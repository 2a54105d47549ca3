"""The demo's visitors and sessions, as the requests their tags send.

A :class:`Traffic` draws, from one seed, sessions of the demo sites (:mod:`lambdalytics.demo.
sites`): a visitor (new, or one coming back: same client id, place and browser), where the
session came from (search, social, referral, direct, a newsletter's or an ad's utm tags),
its pages (landing page, then a Zipf walk; dwell times of tens of seconds) and what happens
on them (scrolls, outbound clicks, the shop's view_item → add_to_cart → begin_checkout →
purchase, the blog's newsletter sign-up, the docs' sign-ups and plan purchases sent by its
backend). Each hit becomes the request the site's tag sends: analytics.js ``GET /collect``
(the blog), gtag.js ``POST /g/collect`` (the shop and the docs), the backend's
``POST /mp/collect`` with the property's API secret. Besides people: crawlers (filtered),
monitoring scripts (forwarded flagged), referrer spam, a copy of the blog on a foreign
hostname, and a few hits for a tracking id nobody registered.

Sessions start following each site's hours in its own time zone and the day of the week.
Everything is pure: requests carry the instant they are sent at (``at``), and the caller
decides whether that is the past (the backfill) or the next seconds (the live trickle).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from lambdalytics.demo import geodb
from lambdalytics.demo.sites import (
    BROWSERS,
    FILTERED_BOTS,
    FLAGGED_BOTS,
    PLACES,
    QUERIES,
    SERVER_AGENT,
    SITES,
    SOURCES,
    SPAM_REFERRERS,
    Page,
    Site,
)

HOURLY = (2, 1.5, 1, 1, 1, 1.5, 3, 5, 7, 8, 8.5, 8.5, 8, 8, 8.5, 8.5, 8, 7.5, 7, 7, 6.5, 5.5, 4.5, 3)
WEEKLY = (1.0, 1.05, 1.05, 1.0, 0.9, 0.65, 0.7)  # Monday first
HITS_PER_SESSION = 4.2  # what the model gives on average (measured): sizes the session counts
RETURNING = 0.35


@dataclass(frozen=True, slots=True)
class DemoRequest:
    at: float  # epoch seconds: when the tag sends it
    method: str
    path: str
    query: bytes
    body: bytes = b""
    user_agent: str = ""
    address: str = "127.0.0.1"  # the sender's address (X-Forwarded-For over HTTP)
    origin: str | None = None


@dataclass(slots=True)
class Visitor:
    cid: str
    place: int
    address: str
    agent: str
    screen: str
    language: str
    sessions: int = 0


@dataclass(slots=True)
class _Session:
    site: Site
    visitor: Visitor
    sid: int
    t: float
    referrer: str = ""
    tags: str = ""
    seq: int = 0
    out: list[DemoRequest] = field(default_factory=list)


@functools.lru_cache(maxsize=4096)
def _quoted(value: str) -> str:
    return quote(value, safe="~")


def encode(params: dict[str, str]) -> bytes:
    """A query string as tags send it (percent-encoded UTF-8)."""
    return "&".join(f"{k}={_quoted(v)}" for k, v in params.items()).encode()


def _cum(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


class Traffic:
    def __init__(self, seed: int = 1, secrets: dict[str, str] | None = None,
                 sites: Sequence[Site] = SITES) -> None:
        self.rng = random.Random(seed)
        self.sites = tuple(sites)
        self.secrets = secrets or {}  # property id → API secret (its backend's)
        self._pools: dict[str, list[Visitor]] = {s.property_id: [] for s in self.sites}
        self._places = {s.property_id: _cum([w[i] for _, *w in PLACES])
                        for i, s in enumerate(self.sites)}
        self._browsers = _cum([b[2] for b in BROWSERS])
        self._sources = _cum([s[2] for s in SOURCES])
        self._pages = {s.property_id: _cum([p.weight for p in s.pages]) for s in self.sites}
        self._zones = {s.property_id: ZoneInfo(s.timezone) for s in self.sites}
        self._ids = itertools.count(1)

    def _pick(self, cum: list[float]) -> int:
        return bisect.bisect_right(cum, self.rng.random() * cum[-1])

    # --- when ------------------------------------------------------------------------------

    def starts(self, site: Site, begin: float, end: float, sessions: float) -> list[float]:
        """Session start instants in [begin, end): about ``sessions`` per day at the week's
        average, shaped by the site's local hour and weekday."""
        rng, zone, out = self.rng, self._zones[site.property_id], []
        mean = sum(HOURLY) / 24 * sum(WEEKLY) / 7
        peak = max(HOURLY) * max(WEEKLY)
        for _ in range(round(sessions * (end - begin) / 86400 * peak / mean)):
            t = rng.uniform(begin, end)
            local = datetime.fromtimestamp(t, zone)
            if rng.random() * peak < HOURLY[local.hour] * WEEKLY[local.weekday()]:
                out.append(t)
        return sorted(out)

    # --- who -------------------------------------------------------------------------------

    def _visitor(self, site: Site, at: float) -> Visitor:
        rng, pool = self.rng, self._pools[site.property_id]
        if pool and rng.random() < RETURNING:
            v = pool[min(len(pool) - 1, int(rng.paretovariate(1.2)) - 1)] if rng.random() < 0.5 \
                else rng.choice(pool)
        else:
            place = self._pick(self._places[site.property_id])
            agent, _kind, _w, screen = BROWSERS[self._pick(self._browsers)]
            languages = PLACES[place][0].languages
            v = Visitor(f"{rng.randrange(10**9, 10**10)}.{int(at) - rng.randrange(86400)}", place,
                        geodb.address(place, rng.randrange(1 << 20), v6=rng.random() < 0.2),
                        agent, screen, rng.choice(languages))
            pool.append(v)
            if len(pool) > 5000:
                del pool[: len(pool) // 2]
        v.sessions += 1
        return v

    def _source(self, s: _Session) -> None:
        kind, text, _w = SOURCES[self._pick(self._sources)]
        rng = self.rng
        filled = text.format(q=quote(rng.choice(QUERIES)), gclid=f"Cj0K{rng.randrange(10**12)}",
                             campaign=rng.choice(s.site.campaigns or ("launch",)))
        if kind in ("email", "paid", "social_paid"):
            s.tags = filled
            s.referrer = "https://l.facebook.com/" if kind == "social_paid" else ""
        else:
            s.referrer = filled

    # --- what ------------------------------------------------------------------------------

    def session(self, site: Site, at: float) -> list[DemoRequest]:
        """One visit's requests, the first sent at ``at``."""
        rng = self.rng
        s = _Session(site, self._visitor(site, at), int(at), at)
        self._source(s)
        pages = 1 if rng.random() < 0.45 else 2 + int(rng.expovariate(1 / 2.5))
        walk = [site.pages[0] if rng.random() < 0.3 else self._page(site) for _ in range(pages)]
        for i, page in enumerate(walk):
            self._pageview(s, page, first=i == 0)
            if rng.random() < 0.35:
                self._event(s, page, "scroll", {"percent_scrolled": "90"})
            if site.ecommerce and page.product and rng.random() < 0.5:
                self._shop(s, page, last=i == len(walk) - 1)
            s.t += min(600.0, rng.expovariate(1 / 40))
        if site is not self.sites[0] and rng.random() < 0.06:
            self._outcome(s)
        return s.out

    def _page(self, site: Site) -> Page:
        return site.pages[self._pick(self._pages[site.property_id])]

    def _url(self, s: _Session, page: Page, first: bool) -> str:
        url = f"https://{s.site.hostname}{page.path}"
        return f"{url}?{s.tags}" if first and s.tags else url

    def _pageview(self, s: _Session, page: Page, *, first: bool) -> None:
        ref = s.referrer if first else f"https://{s.site.hostname}/"
        if s.site.ua_id:
            self._ua(s, {"t": "pageview", "dl": self._url(s, page, first), "dt": page.title,
                         **({"dr": ref} if ref else {})})
        else:
            self._gtag(s, "page_view", page, first, {"dr": ref} if ref else {})

    def _event(self, s: _Session, page: Page, name: str, params: dict[str, str]) -> None:
        if s.site.ua_id:
            self._ua(s, {"t": "event", "ec": "Scroll Depth", "ea": "90%", "ni": "1",
                         "dl": self._url(s, page, False), "dt": page.title})
        else:
            self._gtag(s, name, page, False, {f"epn.{k}": v for k, v in params.items()})

    def _shop(self, s: _Session, page: Page, *, last: bool) -> None:
        assert page.product is not None
        item_id, name, price = page.product
        item = {"pr1": f"id{item_id}~nm{name}~pr{price:.2f}~qt1"}
        self._gtag(s, "view_item", page, False, {**item, "cu": s.site.currency})
        if self.rng.random() < 0.3:
            self._gtag(s, "add_to_cart", page, False, {**item, "cu": s.site.currency})
            if self.rng.random() < 0.5:
                checkout = next(p for p in s.site.pages if p.path == "/checkout")
                s.t += 30
                self._gtag(s, "begin_checkout", checkout, False, item)
                self._pageview(s, checkout, first=False)
                if self.rng.random() < 0.6:
                    s.t += 60
                    tax, shipping = round(price * 0.19 / 1.19, 2), 4.90 if price < 50 else 0.0
                    self._gtag(s, "purchase", checkout, False, {
                        **item, "cu": s.site.currency, "ep.transaction_id": f"T{next(self._ids):07d}",
                        "epn.value": f"{price + shipping:.2f}", "epn.tax": f"{tax:.2f}",
                        "epn.shipping": f"{shipping:.2f}"})

    def _outcome(self, s: _Session) -> None:
        """The blog's newsletter sign-up; the docs' account sign-up (and a plan, sometimes),
        which its backend reports through the Measurement Protocol."""
        site = s.site
        if site.ua_id:
            for path in ("/newsletter", "/newsletter/thanks"):
                self._pageview(s, next(p for p in site.pages if p.path == path), first=False)
                s.t += 20
            return
        self._pageview(s, next(p for p in site.pages if p.path == "/signup"), first=False)
        events: list[dict[str, object]] = [{"name": "sign_up", "params": {"method": "email"}}]
        if self.rng.random() < 0.3:
            plan, price = self.rng.choice((("Pro", 4900), ("Team", 29800)))
            events.append({"name": "purchase", "params": {
                "transaction_id": f"F{next(self._ids):07d}", "value": price,
                "currency": site.currency, "items": [{"item_id": f"plan-{plan.lower()}",
                                                      "item_name": f"{plan} plan", "price": price,
                                                      "quantity": 1}]}})
        s.t += 5
        self._mp(s, events)

    # --- the tags' requests --------------------------------------------------------------

    def _send(self, s: _Session, path: str, params: dict[str, str], method: str = "GET",
              body: bytes = b"", server: bool = False) -> None:
        """A browser's request (its agent, address and, for a POST, Origin) or, with
        ``server``, the site's backend's."""
        v = s.visitor
        origin = None if method == "GET" or server else f"https://{s.site.hostname}"
        s.out.append(DemoRequest(s.t, method, path, encode(params),
                                 body, SERVER_AGENT if server else v.agent,
                                 "127.0.0.1" if server else v.address, origin))

    def _ua(self, s: _Session, hit: dict[str, str]) -> None:
        assert s.site.ua_id is not None
        v = s.visitor
        s.seq += 1
        self._send(s, "/collect", {"v": "1", "_v": "j101", "_s": str(s.seq), "ul": v.language,
                                   "de": "UTF-8", "sd": "24-bit", "sr": v.screen, "je": "0",
                                   "cid": v.cid, "tid": s.site.ua_id, **hit,
                                   "z": str(self.rng.randrange(10**9))})

    def _gtag(self, s: _Session, name: str, page: Page, first: bool, extra: dict[str, str]) -> None:
        assert s.site.ga4_id is not None
        v = s.visitor
        s.seq += 1
        params = {"v": "2", "tid": s.site.ga4_id, "gtm": "45je46h0v9", "_p": str(s.sid * 1000),
                  "cid": v.cid, "ul": v.language, "sr": v.screen, "_s": str(s.seq),
                  "sid": str(s.sid), "sct": str(v.sessions), "seg": "1" if s.seq > 1 else "0",
                  "dl": self._url(s, page, first), "dt": page.title, "en": name, **extra}
        if first:
            params.update({"_ss": "1", **({"_fv": "1"} if v.sessions == 1 else {})})
        elif name == "page_view":
            params["_et"] = str(self.rng.randrange(2000, 60000))
        self._send(s, "/g/collect", params, "POST")

    def _mp(self, s: _Session, events: list[dict[str, object]]) -> None:
        site, v = s.site, s.visitor
        for e in events:
            e["params"] = {**e["params"], "session_id": str(s.sid),  # type: ignore[dict-item]
                           "engagement_time_msec": 100}
        body = {"client_id": v.cid, "events": events, "ip_override": v.address,
                "user_agent": v.agent}
        self._send(s, "/mp/collect", {"measurement_id": site.ga4_id or "",
                                      "api_secret": self.secrets.get(site.property_id, "")},
                   "POST", json.dumps(body).encode(), server=True)

    # --- not people ------------------------------------------------------------------------

    def noise(self, at: float) -> list[DemoRequest]:
        """One non-human (or not counted) visit: a crawler, a monitor, referrer spam, the
        blog copied to another hostname, or a tracking id nobody registered."""
        rng = self.rng
        site = rng.choice(self.sites)
        place = rng.randrange(len(PLACES))
        agent = rng.choice(BROWSERS)[0]
        roll = rng.random()
        if roll < 0.45:
            agent, place = rng.choice(FILTERED_BOTS), 0
        elif roll < 0.7:
            agent = rng.choice(FLAGGED_BOTS)
        v = Visitor(f"{rng.randrange(10**9, 10**10)}.{int(at)}", place,
                    geodb.address(place, rng.randrange(1 << 20)), agent, "1024x768", "en-us", 1)
        s = _Session(site, v, int(at), at)
        if roll < 0.7:  # a crawl or a monitor's round: a few pages in quick succession
            for _ in range(1 + rng.randrange(4)):
                self._pageview(s, self._page(site), first=not s.out)
                s.t += rng.uniform(1, 5)
        elif roll < 0.88:
            s.referrer = rng.choice(SPAM_REFERRERS)
            self._pageview(s, site.pages[0], first=True)
        elif roll < 0.95:
            blog = next(x for x in self.sites if x.ua_id)
            s.site = blog
            self._ua(s, {"t": "pageview", "dl": "https://blog-contoso.mirror.example/",
                         "dt": "Contoso Engineering (copy)"})
        else:
            self._send(s, "/collect", {"v": "1", "tid": "UA-999999-9", "cid": v.cid,
                                       "t": "pageview", "dp": "/"})
        return s.out


def day_of(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).date().isoformat()
