"""Enrichment at the edge: client address, geo, device, bots, campaign and referrer.

Every forwarded hit carries these fields, computed here once; the raw client address is used
for the geo lookup and truncated before anything leaves the process (collector.privacy).

Order and precedence (GA's rules where it has them):

1. Address: a valid ``uip`` wins (and implies anonymisation); else the peer, or
   X-Forwarded-For read through ``trusted_proxy_hops`` (collector.clientip).
2. Geo: ``geoid`` (already in the fields) wins over the address; with ``aip`` or ``uip`` the
   lookup uses the truncated address, as GA anonymises before geolocating.
3. Device and bots: from the ``ua`` override when given, else the User-Agent header; the
   request's client hints only describe the requesting browser, so they are used only
   without an override.
4. Campaign: explicit campaign parameters win over the page URL's utm_* tags and click ids.
5. Referrer: classified as search, social, email, paid, referral, internal or direct;
   a referrer on the spam list filters the hit.

Bots are counted by reason either way; ``bot_policy`` decides whether they are forwarded
flagged or filtered, and a property's own bot policy overrides it:

``filter``      the default, as GA's known-bot exclusion: bots with a strong signal
                (:attr:`collector.bots.BotVerdict.strong`: self-declared crawlers, known
                headless and monitoring agents) are filtered, the heuristics' only flagged;
``filter_all``  every bot is filtered, the heuristics' too;
``flag``        every bot is forwarded flagged.

A property's :class:`~collector.policy.Precision` decides what is kept of the address (its
IP precision: /24 and /48, /16 and /32, or nothing; ``aip`` and ``uip`` are never less
than GA's /24 and /48, which every level is) and of the place (its geo precision, applied
to a ``geoid`` too). Which address is geolocated does not change with it: the full one, or
with ``aip``/``uip`` the /24 or /48, as GA.
HTTP libraries and command-line clients (``tool:…``) and an empty User-Agent are not bots
here: they are how Measurement Protocol clients, which are servers, send real users' hits
(GA does not drop those for their client library either).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, Protocol

from collector.bots import BOT_POLICIES, BotDetector, BotVerdict
from collector.campaign import CAMPAIGN_TAGS, CLICK_IDS, campaign_fields, is_paid_click
from collector.clientip import client_ip, client_source, override_ip, source_address
from collector.device import MAX_UA_LENGTH, ClientHints, DeviceDetector, hint_values
from collector.geo import Geo, GeoLookup, MaxMindGeo, geo_ip
from collector.policy import DEFAULT_PRECISION, Precision
from collector.privacy import DEFAULT_V4_PREFIX, DEFAULT_V6_PREFIX, truncate_ip
from collector.referrer import ReferrerClassifier

if TYPE_CHECKING:
    from collections.abc import Callable
    from functools import _CacheInfo, _lru_cache_wrapper

    from collector.http import RawRequest

BOT = "bot"
NOT_BOTS = ("tool:", "empty_user_agent")  # BotDetector reasons that do not make a hit a bot
REFERRER_SPAM = "referrer_spam"
DEFAULT_CACHE_SIZE: Final = 20_000


@dataclass(frozen=True, slots=True)
class Verdict:
    """What enrichment found that decides the hit's fate."""

    filter_reason: str | None = None  # BOT or REFERRER_SPAM: not forwarded
    bot_reason: str | None = None  # set for every bot, forwarded or not


@dataclass(frozen=True, slots=True)
class Agent:
    """Everything the hit gets from its user agent (and client hints), computed once per
    distinct agent: the Hit fields, in the order the Hit lists them, and the bot verdict."""

    fields: dict[str, Any]
    is_bot: bool
    bot_reason: str | None
    strong: bool = False  # a bot verdict strong enough for the filter policy


@dataclass(frozen=True, slots=True)
class Place:
    """Everything the hit gets from its client address, computed once per distinct address
    source, anonymisation and precision: the truncated address and, apart, the geo fields
    (a ``geoid`` on the hit wins over them)."""

    fields: dict[str, Any]
    geo: dict[str, Any] | None


_NO_VERDICT: Final = Verdict()


class Enrichment(Protocol):
    """What the handlers ask of the enrichment: :class:`Enricher`, or a stand-in that
    implements these two (bench.workload.PeerOnlyEnricher measures enrichment's cost). A
    protocol rather than a base class: a compiled build (setup.py) makes :class:`Enricher` a
    native class, which interpreted code cannot subclass."""

    def address(self, request: RawRequest, ip_override: str | None) -> tuple[str | None, bool]:
        ...

    def apply(self, fields: dict[str, Any], request: RawRequest, *, ip_override: str | None,
              ua_override: str | None, anonymize: bool,
              precision: Precision = DEFAULT_PRECISION,
              bot_policy: str | None = None, hints: tuple[bytes, ...] | None = None) -> Verdict:
        ...


class Enricher:
    """The enrichment of :func:`apply`, with two caches of its own (``cache_size`` entries
    each) in front of the components': one keyed on the user agent and its client hints
    (device and bot verdict together, one parse of the hints, ready-made fields), one on
    where the address comes from (the X-Forwarded-For element or the peer, whether the hit is
    anonymised and the property's precision: truncation and geo together). A hit whose agent
    and address were seen before costs two lookups and two dict merges for both."""

    def __init__(self, *, geo: GeoLookup, devices: DeviceDetector, bots: BotDetector,
                 referrers: ReferrerClassifier, trusted_proxy_hops: int = 0,
                 bot_policy: str = "filter", cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if bot_policy not in BOT_POLICIES:
            raise ValueError(f"bot_policy must be one of {', '.join(BOT_POLICIES)}")
        if trusted_proxy_hops < 0:
            raise ValueError(f"trusted_hops must be 0 or more, not {trusted_proxy_hops}")
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 or more, not {cache_size}")
        self.geo = geo
        self.devices = devices
        self.bots = bots
        self.referrers = referrers
        self.trusted_proxy_hops = trusted_proxy_hops
        self.bot_policy = bot_policy
        self._locate: Callable[[str, str], Geo | None] = (
            geo.locate if isinstance(geo, MaxMindGeo) else lambda ip, _block: geo.lookup(ip))
        self._agents: _lru_cache_wrapper[Agent] = lru_cache(maxsize=cache_size)(self._agent)
        self._places: _lru_cache_wrapper[Place] = lru_cache(maxsize=cache_size)(self._place)

    def address(self, request: RawRequest, ip_override: str | None) -> tuple[str | None, bool]:
        """The client address for this hit and whether it was overridden by ``uip``."""
        if ip_override is not None:
            valid = override_ip(ip_override)
            if valid is not None:
                return valid, True
        return client_ip(request.client_ip, request.forwarded_for, self.trusted_proxy_hops), False

    def apply(self, fields: dict[str, Any], request: RawRequest, *, ip_override: str | None,
              ua_override: str | None, anonymize: bool,
              precision: Precision = DEFAULT_PRECISION,
              bot_policy: str | None = None, hints: tuple[bytes, ...] | None = None) -> Verdict:
        """Fill the enrichment fields of one hit in place; ``precision`` and ``bot_policy``
        are the property's (``bot_policy`` None: the collector's); ``hints``: client-hint
        values (:func:`collector.device.hint_values` order) the payload carries, in place of
        the request's headers (gtag's uaa… params)."""
        if ip_override is not None and (valid := override_ip(ip_override)) is not None:
            place = self._places(valid, True, precision)
        else:
            source = client_source(request.client_ip, request.forwarded_for,
                                   self.trusted_proxy_hops)
            place = self._places(source, anonymize, precision)
        fields.update(place.fields)
        if "geo_country" not in fields:
            if place.geo is not None:
                fields.update(place.geo)
        elif precision.geo_dropped:  # geoid wins over the address, within the precision
            for name in precision.geo_dropped:
                fields.pop(name, None)

        if ua_override is not None:
            agent = self._agents(ua_override[:MAX_UA_LENGTH], None)
        else:
            agent = self._agents(request.user_agent[:MAX_UA_LENGTH],
                                 hints if hints is not None else hint_values(request.headers))
        fields.update(agent.fields)

        location = fields.get("page_location")
        if ((isinstance(location, str) and "?" in location)
                or not fields.keys().isdisjoint(_CAMPAIGN_FIELDS)):
            fields.update(campaign_fields(location, fields))
            medium, paid = fields.get("campaign_medium"), is_paid_click(fields)
        else:  # the common hit: no campaign parameters, no query string to find tags in
            medium, paid = None, False
        classified = self.referrers.assess(fields.get("page_referrer"),
                                           fields.get("page_hostname"),
                                           campaign_medium=medium, paid_click=paid)
        if classified is None:
            return Verdict(REFERRER_SPAM, agent.bot_reason)
        fields["referrer_medium"] = classified.medium
        if classified.source is not None:  # unset values are left out (the record omits them)
            fields["referrer_source"] = classified.source
        if classified.term is not None:
            fields["referrer_term"] = classified.term
        if agent.bot_reason is None and not agent.is_bot:
            return _NO_VERDICT
        level = bot_policy or self.bot_policy
        filtered = level == "filter_all" or (level == "filter" and agent.strong)
        return Verdict(BOT if agent.is_bot and filtered else None, agent.bot_reason)

    def cache_info(self) -> dict[str, _CacheInfo]:
        """The enricher's own caches: ``agents`` and ``places``."""
        return {"agents": self._agents.cache_info(), "places": self._places.cache_info()}

    def _agent(self, user_agent: str, hint_key: tuple[bytes, ...] | None) -> Agent:
        hints = None if hint_key is None else ClientHints.from_values(hint_key)
        device = self.devices.detect_uncached(user_agent, hints)
        bot = self.bots.check_uncached(user_agent, hints)
        if bot.is_bot and (bot.reason or "").startswith(NOT_BOTS):
            bot = BotVerdict(False, None)
        fields: dict[str, Any] = {
            "device_category": "bot" if bot.is_bot else device.category,
            "device_brand": device.brand,
            "device_model": device.model,
            "browser": device.browser,
            "browser_version": device.browser_version,
            "os": device.os,
            "os_version": device.os_version,
            "is_bot": bot.is_bot,
        }
        if bot.is_bot:
            fields["bot_reason"] = bot.reason
        return Agent(_set(fields), bot.is_bot, bot.reason, bot.strong)

    def _place(self, source: str | bytes | None, anonymized: bool,
               precision: Precision) -> Place:
        ip = source_address(source)
        if ip is None:
            return Place({"ip_anonymized": anonymized}, None)
        truncated = truncate_ip(ip)  # GA's /24 or /48: the block geo caches on
        prefixes = precision.prefixes
        if prefixes is None:
            kept = None
        elif prefixes == (DEFAULT_V4_PREFIX, DEFAULT_V6_PREFIX):
            kept = truncated
        else:
            kept = truncate_ip(ip, *prefixes)
        fields = _set({"ip_anonymized": anonymized, "ip_truncated": kept})
        if not precision.geo_kept:
            return Place(fields, None)
        if truncated is None:  # not reached: a normalised address always truncates
            geo = self.geo.lookup(geo_ip(ip, anonymized))
        else:  # GA anonymises before it geolocates: with aip, the truncated address
            geo = self._locate(truncated if anonymized else ip, truncated)
        if geo is None:
            return Place(fields, None)
        found = _set({"geo_continent": geo.continent, "geo_country": geo.country,
                      "geo_region": geo.region, "geo_city": geo.city,
                      "geo_timezone": geo.timezone})
        if precision.geo_dropped:
            found = {k: v for k, v in found.items() if k in precision.geo_kept}
        return Place(fields, found or None)


def _set(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields without the unset ones: the record leaves None out anyway, and a hit
    without None values is encoded without building a filtered copy (lambdalytics.hit)."""
    return {k: v for k, v in fields.items() if v is not None}


# The Hit fields campaign_fields reads besides the page URL: explicit campaign parameters
# and click ids (CAMPAIGN_TAGS' fields and CLICK_IDS).
_CAMPAIGN_FIELDS: Final = frozenset((*CAMPAIGN_TAGS.values(), *CLICK_IDS))
