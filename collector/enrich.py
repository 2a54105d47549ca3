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
flagged (``flag``) or filtered (``filter``, the default, as GA's known-bot exclusion).
HTTP libraries and command-line clients (``tool:…``) and an empty User-Agent are not bots
here: they are how Measurement Protocol clients, which are servers, send real users' hits
(GA does not drop those for their client library either).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collector.bots import BotDetector, BotVerdict
from collector.campaign import campaign_fields, is_paid_click
from collector.clientip import client_ip, override_ip
from collector.device import ClientHints, DeviceDetector
from collector.geo import GeoLookup, geo_ip
from collector.privacy import truncate_ip
from collector.referrer import ReferrerClassifier

if TYPE_CHECKING:
    from collector.http import RawRequest

BOT = "bot"
NOT_BOTS = ("tool:", "empty_user_agent")  # BotDetector reasons that do not make a hit a bot
REFERRER_SPAM = "referrer_spam"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What enrichment found that decides the hit's fate."""

    filter_reason: str | None = None  # BOT or REFERRER_SPAM: not forwarded
    bot_reason: str | None = None  # set for every bot, forwarded or not


class Enricher:
    def __init__(self, *, geo: GeoLookup, devices: DeviceDetector, bots: BotDetector,
                 referrers: ReferrerClassifier, trusted_proxy_hops: int = 0,
                 bot_policy: str = "filter") -> None:
        if bot_policy not in ("flag", "filter"):
            raise ValueError("bot_policy must be 'flag' or 'filter'")
        self.geo = geo
        self.devices = devices
        self.bots = bots
        self.referrers = referrers
        self.trusted_proxy_hops = trusted_proxy_hops
        self.filter_bots = bot_policy == "filter"

    def address(self, request: RawRequest, ip_override: str | None) -> tuple[str | None, bool]:
        """The client address for this hit and whether it was overridden by ``uip``."""
        if ip_override is not None:
            valid = override_ip(ip_override)
            if valid is not None:
                return valid, True
        return client_ip(request.client_ip, request.forwarded_for, self.trusted_proxy_hops), False

    def apply(self, fields: dict[str, Any], request: RawRequest, *, ip_override: str | None,
              ua_override: str | None, anonymize: bool) -> Verdict:
        """Fill the enrichment fields of one hit in place."""
        ip, overridden = self.address(request, ip_override)
        anonymized = anonymize or overridden
        fields["ip_anonymized"] = anonymized
        if ip is not None:
            fields["ip_truncated"] = truncate_ip(ip)
            if "geo_country" not in fields:  # geoid wins over the address
                geo = self.geo.lookup(geo_ip(ip, anonymized))
                if geo is not None:
                    fields["geo_continent"] = geo.continent
                    fields["geo_country"] = geo.country
                    fields["geo_region"] = geo.region
                    fields["geo_city"] = geo.city
                    fields["geo_timezone"] = geo.timezone

        user_agent = ua_override if ua_override is not None else request.user_agent
        hints = None if ua_override is not None else ClientHints.from_headers(request.headers)
        device = self.devices.detect(user_agent, hints)
        bot = self.bots.check(user_agent, hints)
        if bot.is_bot and (bot.reason or "").startswith(NOT_BOTS):
            bot = BotVerdict(False, None)
        fields["device_category"] = "bot" if bot.is_bot else device.category
        fields["device_brand"] = device.brand
        fields["device_model"] = device.model
        fields["browser"] = device.browser
        fields["browser_version"] = device.browser_version
        fields["os"] = device.os
        fields["os_version"] = device.os_version
        fields["is_bot"] = bot.is_bot
        if bot.is_bot:
            fields["bot_reason"] = bot.reason

        fields.update(campaign_fields(fields.get("page_location"), fields))
        referrer = fields.get("page_referrer")
        if referrer and self.referrers.is_spam(referrer):
            return Verdict(REFERRER_SPAM, bot.reason)
        classified = self.referrers.classify(
            referrer, fields.get("page_hostname"),
            campaign_medium=fields.get("campaign_medium"), paid_click=is_paid_click(fields))
        fields["referrer_medium"] = classified.medium
        fields["referrer_source"] = classified.source
        fields["referrer_term"] = classified.term

        if bot.is_bot and self.filter_bots:
            return Verdict(BOT, bot.reason)
        return Verdict(None, bot.reason)
