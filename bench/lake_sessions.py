"""One unit of the lake benchmark's archive: the records of one shard on one UTC day, as the
collector would have put them into Kinesis (hit lines, counter records), in arrival order.

A unit depends only on the :class:`bench.lake_traffic.World` and its (day, shard), never on
the other units, so any number of workers produce the same archive. Each property's hits in
the unit are exactly its share of :func:`bench.lake_traffic.plan`:

- **sessions** start at times drawn from the property's local hour and weekday profile; the
  visitor is drawn Zipf-Mandelbrot (rank + q)^-0.8 from the shard's part of the property's
  population (about 45 % of sessions from one-time visitors, a few heavy returners), with a
  stable client id, agent, place, language and screen; its session number grows with the
  day and its (hashed) history;
- a **UA** session is pageviews (45 % bounce, then ~3.5 pages; landing on the home page or a
  Zipf-popular page, then Zipf pages), the landing with its source's referrer and utm tags;
  scroll, outbound, video, form and download events, user timings with page timings,
  rare social and exception hits; on shops product views and adds to cart (enhanced
  ecommerce items) and ~3 % of sessions end in a classic transaction with item hits;
- a **gtag** session is page_views with GA4's session fields (session_id, session_number,
  session_engaged, engagement_time_ms, first_visit, session_start), consent, scroll,
  user_engagement, click, search, download, video and ecommerce events with items, and
  purchases (type ``transaction``) with items and revenue;
- **late** hits: server-side Measurement Protocol events (purchases, leads, sign-ups) that
  arrive now but happened up to 72 h earlier, from the backend's address and HTTP library;
- **flagged bots**: crawls by agents the bot rules flag (heuristics), forwarded with
  ``is_bot`` and counted ``bot_flagged``; **filtered** traffic only as per-minute
  :class:`~lambdalytics.records.FilteredCount` records (crawler families, spam, invalid hits,
  unknown tracking ids) on the property's shard (its partition key);
- **duplicates**: a share of hits is sent again 11 minutes to 3 hours later (same hit_id and
  event time, later receive time): past the archiver's 600 s duplicate window, so they
  reach the archive and the compactor must drop them.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import lake_hits
from bench.lake_traffic import (
    DAY_MS,
    HITS_PER_SESSION,
    HOME_ENTRY,
    SCREENS,
    VISITOR_ZIPF,
    VISITORS_PER_SESSION,
    Page,
    Site,
    World,
    cumulative,
    frag,
    mix64,
    pick,
)
from lambdalytics import hit as hitmod
from lambdalytics.records import FilteredCount, encode_counter

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR_MS = 3_600_000
DUPLICATE_DELAY_MS = (11 * 60_000, 3 * HOUR_MS)
LATE_DELAY_MS = (HOUR_MS, 72 * HOUR_MS)
COUNTER_RATES = (("referrer_spam", 0.002), ("invalid_hit", 0.0015), ("payload_too_large", 0.00005))
UNKNOWN_IDS = ("UA-1234567-1", "UA-0000000-1", "G-XXXXXXXXXX", "G-TESTING123")
UNKNOWN_RATE = 0.0008
_TIERS = ("guest", "member", "member", "gold")
_CONSENT = (frag({"non_personalized_ads": False, "consent_state": "G111"}),
             frag({"non_personalized_ads": True, "consent_state": "G101"}))
_HEAD = b'{"schema_version":%d,"hit_id":"' % hitmod.SCHEMA_VERSION
_RECEIVED, _EVENT = b'","received_time":', b',"event_time":'
Route = tuple[str, ...]  # (property, type, date) of a hit line, (property, date) of a counter
Record = tuple[int, Route, bytes]  # arrival (ms), route, the record's bytes


def ms_time(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(slots=True)
class Tally:
    """What one unit wrote, for the summary (merged by adding)."""

    hits: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (property, type, date)
    duplicates: Counter[tuple[str, str]] = field(default_factory=Counter)
    late: Counter[tuple[str, str]] = field(default_factory=Counter)
    bots: Counter[tuple[str, str]] = field(default_factory=Counter)
    revenue_cents: Counter[tuple[str, str]] = field(default_factory=Counter)
    sessions: Counter[tuple[str, str]] = field(default_factory=Counter)  # by start date
    filtered: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (property, date, reason)
    counter_records: int = 0

    def add(self, other: Tally) -> None:
        for name in ("hits", "duplicates", "late", "bots", "revenue_cents", "sessions", "filtered"):
            getattr(self, name).update(getattr(other, name))
        self.counter_records += other.counter_records


@dataclass(frozen=True, slots=True)
class Visitor:
    """A visitor's fields, as frag()s of their groups."""

    user: bytes  # client_id, user_id
    known: bool  # has a user_id
    tier: str
    gtag: bool  # GA4 or UA
    ua_system: bytes  # language … java_enabled
    gtag_system: bytes  # language, screen_resolution
    enrich: bytes  # ip_truncated … is_bot
    gtag_post: bytes  # user_properties and enrichment
    consent: bytes  # non_personalized_ads, consent_state
    props: bytes  # user_properties
    first_session: int  # session number on day 0


class Unit:
    """The records of (day, shard): :meth:`run` returns them sorted by arrival."""

    def __init__(self, world: World, day: int, shard: int) -> None:
        self.world, self.params, self.day, self.shard = world, world.params, day, shard
        self.rng = random.Random(f"lake-unit-{world.params.seed}-{day}-{shard}")
        self.day_ms = int(datetime(*world.params.day(day).timetuple()[:3], tzinfo=UTC).timestamp()) * 1000
        self.start_ms = self.day_ms - day * DAY_MS
        self.out: list[Record] = []
        self.tally = Tally()
        self.left = 0
        self.visitors: dict[int, Visitor] = {}
        self.samplers: dict[int, tuple[float, float, float, float]] = {}
        self.flagged_minutes: Counter[tuple[int, str]] = Counter()  # (minute, tracking id)
        self.dates: dict[int, str] = {}
        self.checked = 0
        self.hours: dict[int, bytes] = {}
        self.heads: dict[tuple[Any, ...], bytes] = {}

    # --- emission -------------------------------------------------------------------------

    def date(self, ms: int) -> str:
        index = ms // DAY_MS
        text = self.dates.get(index)
        if text is None:
            text = self.dates[index] = ms_time(index * DAY_MS).date().isoformat()
        return text

    def stamp(self, ms: int) -> bytes:
        """``"…Z"``: the JSON orjson writes for :func:`ms_time` of ``ms`` (no fraction on a
        whole second, else six digits)."""
        hour, rest = divmod(ms, HOUR_MS)
        prefix = self.hours.get(hour)
        if prefix is None:
            prefix = self.hours[hour] = ms_time(hour * HOUR_MS).strftime('"%Y-%m-%dT%H:').encode()
        minute, rest = divmod(rest, 60_000)
        second, milli = divmod(rest, 1000)
        if milli:
            return prefix + b"%02d:%02d.%03d000Z\"" % (minute, second, milli)
        return prefix + b'%02d:%02dZ"' % (minute, second)

    def emit(self, site: Site, received: int, event: int, kind: str, head: bytes, body: bytes, *,
             cents: int = 0, bot: str | None = None) -> None:
        """One hit: ``head`` is the frag() of its property_id … non_interaction, ``body`` the
        frags of every later group; ``cents`` its revenue, ``bot`` its tracking id if flagged."""
        hit_id = b"%032x" % self.rng.getrandbits(128)
        at = self.stamp(received)
        line = b"".join((_HEAD, hit_id, _RECEIVED, at, _EVENT, at if event == received else self.stamp(event),
                         head, body, b"}"))
        self.checked += 1
        if self.checked % 997 == 1 and hitmod.encode(hitmod.decode(line)) != line:
            raise AssertionError(f"not what lambdalytics.hit.encode writes: {line[:300]!r}")
        date = self.date(event)
        route = (site.property_id, kind, date)
        self.out.append((received, route, line))
        self.left -= 1
        tally = self.tally
        tally.hits[route] += 1
        if event // DAY_MS < received // DAY_MS:
            tally.late[route[0::2]] += 1
        if cents:
            tally.revenue_cents[route[0::2]] += cents
        if bot is not None:
            tally.bots[route[0::2]] += 1
            self.flagged_minutes[(received // 60_000, bot)] += 1
        rng = self.rng
        if rng.random() < self.params.duplicate_share:  # a retry the duplicate window missed
            again = received + rng.randrange(*DUPLICATE_DELAY_MS)
            self.out.append((again, route, line.replace(at, self.stamp(again), 1)))
            tally.duplicates[route[0::2]] += 1

    def head(self, site: Site, protocol: str, kind: str, name: str | None = None) -> bytes:
        """frag() of property_id, tracking_id, protocol, type and event_name."""
        key = (site.index, protocol, kind, name)
        found = self.heads.get(key)
        if found is None:
            fields = {"property_id": site.property_id,
                      "tracking_id": site.ua_id if protocol == "ua" else site.ga4_id,
                      "protocol": protocol, "type": kind, "event_name": name}
            found = self.heads[key] = frag({k: v for k, v in fields.items() if v is not None})
        return found

    def dims(self, tier: str, section: str) -> bytes:
        found = self.heads.get((tier, section))
        if found is None:
            found = self.heads[(tier, section)] = frag({"custom_dimensions": {"1": tier, "2": section}})
        return found

    # --- visitors -------------------------------------------------------------------------

    def visitor(self, site: Site, rank: int) -> Visitor:
        key = site.index << 48 | rank
        found = self.visitors.get(key)
        if found is not None:
            return found
        world, shard, shards = self.world, self.shard, self.params.shards
        h = mix64(site.salt ^ (rank * shards + shard))
        g = mix64(h)
        agent = world.agents[pick(world.agent_cum, (h & 0xFFFFFF) / 0x1000000)]
        place = site.places[pick(site.place_cum, ((h >> 24) & 0xFFFFFF) / 0x1000000)]
        languages = place.languages
        language = languages[0] if (h >> 48) & 3 else languages[(h >> 50) % len(languages)]
        screens = SCREENS.get(agent["device_category"], SCREENS["desktop"])
        screen, viewport = screens[(g & 0xFF) % len(screens)]
        if (g >> 8) % 100 < 15:
            ip = f"{place.ipv6}:{(g >> 16) & 0xFFF | 0x1000:x}:{(g >> 28) & 0xFFF | 0x1000:x}::"
        else:
            ip = f"{place.octets[0]}.{(place.octets[1] + (g >> 16) % 4) % 256}.{(g >> 24) & 0xFF}.0"
        serial = rank * shards + shard
        history = (h >> 56) % 300 if (h >> 52) & 1 else 0
        first_seen = self.start_ms // 1000 - history * 86400 - (g >> 40) % 86400
        cookie = (serial * 2654435761 + site.salt) % 8_999_999_989 + 1_000_000_000  # one per serial
        user: dict[str, Any] = {"client_id": f"{cookie}.{first_seen}"}
        tier = _TIERS[(g >> 34) & 3]
        if (g >> 36) % 100 < 8:
            user["user_id"] = f"u{mix64(serial ^ site.salt) % 10_000_000:07d}"
        enrich = frag({"ip_truncated": ip, "ip_anonymized": False, **place.fields, **agent})
        props = frag({"user_properties": {"customer_tier": tier}} if "user_id" in user else {})
        found = Visitor(frag(user), "user_id" in user, tier,
                        ((g >> 44) & 0xFFFF) / 0x10000 < site.gtag_share,
                        frag({"language": language, "screen_resolution": screen,
                              "viewport_size": viewport, "document_encoding": "UTF-8",
                              "screen_colors": "24-bit", "java_enabled": False}),
                        frag({"language": language, "screen_resolution": screen}), enrich, props + enrich,
                        _CONSENT[1 if (g >> 50) % 100 < 12 else 0], props,
                        1 + int(self.rate(site, rank) * history))
        self.visitors[key] = found
        return found

    # --- the unit ---------------------------------------------------------------------------

    def run(self) -> tuple[list[Record], Tally]:
        world, params = self.world, self.params
        for site in world.sites:
            budget = world.plan[(self.day, self.shard)][site.index]
            counters_here = site.index % params.shards == self.shard
            total = world.site_budget(site.index, self.day)
            bots = round(total * params.bot_share) if counters_here and world.flagged else 0
            late = round(budget * params.late_share) if site.gtag_share > 0 and self.day > 0 else 0
            bots = min(bots, budget - late)
            hour_cum = cumulative(site.hourly[self.day])
            self.left = late
            while self.left > 0:
                self.late_event(site, hour_cum)
            self.left = bots
            while self.left > 0:
                self.bot_session(site)
            self.sessions(site, budget - late - bots, hour_cum)
            if counters_here:
                self.counters(site, total)
        if self.shard == 0:
            self.unknown_counters()
        self.out.sort(key=lambda r: r[0])
        return self.out, self.tally

    def sampler(self, site: Site) -> tuple[float, float, float, float]:
        """(a, b, q, sessions a day at density 1) of the site's visitors on this shard:
        rank = (a + u b)^(1/(1-s)) - q draws Zipf-Mandelbrot (rank + q)^-s over the population."""
        found = self.samplers.get(site.index)
        if found is None:
            params = self.params
            sessions = max(1.0, sum(self.world.site_budget(site.index, d) for d in range(params.days))
                           / params.shards / HITS_PER_SESSION)
            population = max(50.0, VISITORS_PER_SESSION * sessions)
            q, s = max(5.0, population / 4000), VISITOR_ZIPF
            a = q ** (1 - s)
            b = (population + q) ** (1 - s) - a
            found = self.samplers[site.index] = (a, b, q, sessions / params.days * (1 - s) / b)
        return found

    def rate(self, site: Site, rank: int) -> float:
        """The visitor's expected sessions a day."""
        _, _, q, per_day = self.sampler(site)
        return float(per_day * (rank + q) ** -VISITOR_ZIPF)

    def sessions(self, site: Site, hits: int, hour_cum: list[float]) -> None:
        rng = self.rng
        a, b, q, _ = self.sampler(site)
        exponent = 1 / (1 - VISITOR_ZIPF)
        self.left = hits
        while self.left > 0:
            rank = int((a + rng.random() * b) ** exponent - q)
            visitor = self.visitor(site, rank)
            start = self.day_ms + pick(hour_cum, rng.random()) * HOUR_MS + rng.randrange(HOUR_MS)
            number = visitor.first_session + int(self.rate(site, rank) * self.day)
            self.tally.sessions[(site.property_id, self.date(start))] += 1
            if visitor.gtag:
                lake_hits.gtag_session(self, site, visitor, start, number)
            else:
                lake_hits.ua_session(self, site, visitor, start)

    def page(self, site: Site, entry: bool) -> Page:
        r = self.rng.random()
        if entry:
            return site.pages[0] if r < HOME_ENTRY else site.pages[pick(site.landing_cum, self.rng.random())]
        return site.pages[pick(site.page_cum, r)]

    def late_event(self, site: Site, hour_cum: list[float]) -> None:
        rng = self.rng
        received = self.day_ms + pick(hour_cum, rng.random()) * HOUR_MS + rng.randrange(HOUR_MS)
        event = max(received - rng.randrange(*LATE_DELAY_MS), self.start_ms + rng.randrange(HOUR_MS))
        rank = int(rng.paretovariate(0.9)) % 100_000  # the customers the backend reports on
        lake_hits.mp_event(self, site, self.visitor(site, rank), received, event)

    def bot_session(self, site: Site) -> None:
        # bots keep no hours; a crawl ends before midnight (its bot_flagged counters are this day's)
        lake_hits.bot_session(self, site, self.day_ms + self.rng.randrange(DAY_MS - HOUR_MS))

    # --- filtered traffic -------------------------------------------------------------------

    def poisson(self, lam: float) -> int:
        rng = self.rng
        if lam > 30:
            return max(0, round(rng.gauss(lam, math.sqrt(lam))))
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k

    def counter(self, property_id: str | None, tracking_id: str, reason: str, minute: int, count: int,
                agent: str | None = None) -> None:
        start = self.day_ms + minute * 60_000
        text = ms_time(start).strftime("%Y-%m-%dT%H:%MZ")
        record = FilteredCount(property_id, tracking_id, reason, text, count, agent)
        arrival = start + 60_000 + self.rng.randrange(10_000)  # the collector flushes every 10 s
        prop = property_id or "_unknown"
        self.out.append((arrival, (prop, text[:10]), encode_counter(record)))
        self.tally.filtered[(prop, text[:10], reason)] += count
        self.tally.counter_records += 1

    def counters(self, site: Site, total: int) -> None:
        """Per-minute counters of the traffic the collector filtered for this property, and
        of the flagged bots' hits forwarded above."""
        rng, world = self.rng, self.world
        weights = site.hourly[self.day]
        whole = sum(weights)
        ids = (site.ua_id, site.ga4_id)
        for minute in range(1440):
            lam = total * weights[minute // 60] / whole / 60
            crawls: Counter[tuple[str, str]] = Counter()
            for _ in range(self.poisson(lam * self.params.filtered_bot_rate)):
                family = world.families[pick(world.family_cum, rng.random())]
                crawls[(ids[rng.random() < site.gtag_share], family)] += 1
            for (tracking_id, family), n in sorted(crawls.items()):
                self.counter(site.property_id, tracking_id, "bot", minute, n, family)
            for reason, rate in COUNTER_RATES:
                if n := self.poisson(lam * rate):
                    self.counter(site.property_id, ids[rng.random() < site.gtag_share], reason, minute, n)
        for (minute, tracking_id), n in sorted(self.flagged_minutes.items()):
            self.counter(site.property_id, tracking_id, "bot_flagged", minute - self.day_ms // 60_000, n)
        self.flagged_minutes.clear()

    def unknown_counters(self) -> None:
        per_minute = sum(self.world.site_budget(s.index, self.day) for s in self.world.sites) / 1440
        for minute in range(1440):
            if n := self.poisson(per_minute * UNKNOWN_RATE):
                self.counter(None, UNKNOWN_IDS[pick(_UNKNOWN_CUM, self.rng.random())], "unknown_property",
                             minute, n)


_UNKNOWN_CUM = cumulative([8, 4, 2, 1])
