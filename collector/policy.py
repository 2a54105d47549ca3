"""A property's policy as the collector applies it (docs/properties.md, "Policy").

:func:`policy_of` turns a :class:`~lambdalytics.properties.Property` into the values the hot
path reads: the hostname allowlist, the :class:`Precision` the enricher keys its address
cache on, the bot policy (None: the collector's own setting) and the rate limit. The levels
come from :mod:`lambdalytics.property_policy`, which the store validated on every write.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from lambdalytics.property_policy import (
    DEFAULT_BOT_POLICY,
    DEFAULT_GEO_PRECISION,
    DEFAULT_IP_PRECISION,
    GEO_PRECISIONS,
    geo_fields,
    hostname_allowed,
    ip_prefixes,
)

if TYPE_CHECKING:
    from lambdalytics.properties import Property

DISALLOWED_HOSTNAME: Final = "disallowed_hostname"
_ALL_GEO: Final = GEO_PRECISIONS["city"]


@dataclass(frozen=True, slots=True, eq=False)
class Precision:
    """How much of the client's address and place a property keeps. One instance per pair of
    levels (:func:`precision`), so caches key on it by identity, at the cost of a pointer."""

    ip_level: str
    geo_level: str
    prefixes: tuple[int, int] | None  # (IPv4, IPv6) prefix lengths kept; None: no address
    geo_kept: tuple[str, ...]  # the Hit's geo fields kept
    geo_dropped: tuple[str, ...]  # the others (empty at city precision)


@cache
def precision(ip_level: str, geo_level: str) -> Precision:
    """The :class:`Precision` of these levels (a KeyError for a level that is not one)."""
    kept = geo_fields(geo_level)
    return Precision(ip_level, geo_level, ip_prefixes(ip_level), kept,
                     tuple(f for f in _ALL_GEO if f not in kept))


DEFAULT_PRECISION: Final = precision(DEFAULT_IP_PRECISION, DEFAULT_GEO_PRECISION)


@dataclass(frozen=True, slots=True)
class Policy:
    allowed_hostnames: tuple[str, ...]  # empty: any
    precision: Precision
    bot_policy: str | None  # filter, filter_all or flag; None: the collector's
    rate_limit: int | None  # hits/s in this task; None: no limit
    cookieless: bool = False  # the collector derives the client id (collector.visitor)


def policy_of(prop: Property) -> Policy:
    bots = None if prop.bot_policy == DEFAULT_BOT_POLICY else prop.bot_policy
    return Policy(prop.allowed_hostnames, precision(prop.ip_precision, prop.geo_precision),
                  bots, prop.rate_limit, prop.cookieless)


def origin_host(origin: str) -> str:
    """The host (with any port) of an ``Origin`` header; ``null`` stays ``null``."""
    return origin.partition("://")[2] or origin


def hostname_problem(allowed: tuple[str, ...], fields: dict[str, Any],
                     origin: str | None) -> str | None:
    """What is outside a non-empty allowlist: ``"page"`` when the page hostname (``dh``, else
    the host of ``dl``) is, or is missing (ghost spam names none; a server-side sender sets
    ``dh``), ``"origin"`` when the request's Origin host is; else None."""
    if not hostname_allowed(allowed, fields.get("page_hostname")):
        return "page"
    if origin is not None and not hostname_allowed(allowed, origin_host(origin)):
        return "origin"
    return None
