"""A property's policy, as pure values and checks: hostnames, timezone, currency, goals,
retention, IP and geo precision, bot policy and rate limit.

Every check raises :class:`PolicyError` (a ValueError) with a message fit for an API
client; the store runs them on every create and update, the admin API maps them to 422.
The helpers at the end (:func:`hostname_allowed`, :func:`ip_prefixes`, :func:`geo_fields`,
:meth:`Goal.matches`) are what the collector and the reports apply.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

IP_PRECISIONS: dict[str, tuple[int, int] | None] = {
    "24/48": (24, 48),  # GA's anonymisation: IPv4 /24, IPv6 /48 (the default)
    "16/32": (16, 32),  # coarser
    "none": None,       # no address kept at all
}
DEFAULT_IP_PRECISION = "24/48"
GEO_PRECISIONS: dict[str, tuple[str, ...]] = {
    "city": ("geo_continent", "geo_country", "geo_region", "geo_city", "geo_timezone"),
    "region": ("geo_continent", "geo_country", "geo_region", "geo_timezone"),
    "country": ("geo_continent", "geo_country"),
    "none": (),
}
DEFAULT_GEO_PRECISION = "city"
DEFAULT_BOT_POLICY = "default"  # the collector's own setting
BOT_POLICIES = (DEFAULT_BOT_POLICY, "filter", "filter_all", "flag")
GOAL_FIELDS = ("page_path", "event_name")
GOAL_MATCHES = ("equals", "prefix", "regex")
MAX_GOALS = 50
MAX_GOAL_VALUE = 256
MAX_HOSTNAMES = 100
MAX_RETENTION_DAYS = 36_500
MAX_RATE_LIMIT = 1_000_000
MAX_NAME = 200

# ISO 4217 currency codes in use (funds, metals and test codes left out)
CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
""".split())  # noqa: SIM905 (a table reads better than a list literal)

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*\Z")


class PolicyError(ValueError):
    """A policy value that cannot be stored."""


@dataclass(frozen=True, slots=True)
class Goal:
    """A named condition on a hit's page path or event name."""

    name: str
    field: str  # one of GOAL_FIELDS
    match: str  # one of GOAL_MATCHES
    value: str

    def matches(self, page_path: str | None, event_name: str | None) -> bool:
        subject = page_path if self.field == "page_path" else event_name
        if subject is None:
            return False
        if self.match == "equals":
            return subject == self.value
        if self.match == "prefix":
            return subject.startswith(self.value)
        return _compiled(self.value).search(subject) is not None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@functools.lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(not c.isprintable() for c in name):
        raise PolicyError(f"name must be 1–{MAX_NAME} printable characters")
    return name


def check_timezone(tz: str) -> str:
    if tz not in _zones():
        raise PolicyError(f"timezone {tz!r} is not an IANA time zone name (e.g. Europe/Paris)")
    zoneinfo.ZoneInfo(tz)
    return tz


def check_currency(code: str) -> str:
    if code not in CURRENCIES:
        raise PolicyError(f"currency {code!r} is not an ISO 4217 code (e.g. EUR, USD)")
    return code


def check_hostname(host: str) -> str:
    """A lower-case DNS name, optionally ``*.`` + name (any subdomain, not the name itself);
    IDNs in their ``xn--`` form."""
    if len(host) > 253 or not _HOSTNAME.match(host):
        raise PolicyError(f"{host!r} is not a lower-case hostname or *.hostname")
    return host


def check_hostnames(hosts: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(check_hostname(h) for h in hosts))
    if len(out) > MAX_HOSTNAMES:
        raise PolicyError(f"at most {MAX_HOSTNAMES} allowed hostnames")
    return out


def check_goal(goal: Goal) -> Goal:
    check_name(goal.name)
    if goal.field not in GOAL_FIELDS:
        raise PolicyError(f"goal {goal.name!r}: field must be one of {', '.join(GOAL_FIELDS)}")
    if goal.match not in GOAL_MATCHES:
        raise PolicyError(f"goal {goal.name!r}: match must be one of {', '.join(GOAL_MATCHES)}")
    if not goal.value or len(goal.value) > MAX_GOAL_VALUE:
        raise PolicyError(f"goal {goal.name!r}: value must be 1–{MAX_GOAL_VALUE} characters")
    if goal.match == "regex":
        try:
            re.compile(goal.value)
        except re.error as exc:
            raise PolicyError(f"goal {goal.name!r}: bad regular expression: {exc}") from None
    return goal


def check_goals(goals: Iterable[Goal]) -> tuple[Goal, ...]:
    out = tuple(check_goal(g) for g in goals)
    if len(out) > MAX_GOALS:
        raise PolicyError(f"at most {MAX_GOALS} goals")
    names = [g.name for g in out]
    if len(set(names)) != len(names):
        raise PolicyError("goal names must be unique")
    return out


def check_choice(what: str, value: str, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if value not in options:
        raise PolicyError(f"{what} must be one of {', '.join(options)}")
    return value


def check_optional_int(what: str, value: int | None, hi: int) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not 1 <= value <= hi):
        raise PolicyError(f"{what} must be empty or a whole number in 1..{hi}")
    return value


# --- what enforcement applies ----------------------------------------------------------------


def hostname_allowed(allowed: tuple[str, ...], host: str | None) -> bool:
    """Whether a page hostname (or an Origin's host) passes the allowlist; an empty list
    allows every host. Case, a port and a trailing dot are ignored; ``*.example.com`` matches
    ``a.example.com`` and ``a.b.example.com`` but not ``example.com``."""
    if not allowed:
        return True
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal never matches a hostname pattern
        return False
    host = host.rsplit(":", 1)[0].rstrip(".")
    for pattern in allowed:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def ip_prefixes(level: str) -> tuple[int, int] | None:
    """(IPv4, IPv6) prefix lengths to truncate to, or None: keep no address."""
    return IP_PRECISIONS[level]


def geo_fields(level: str) -> tuple[str, ...]:
    """The Hit's geo fields a property keeps at this precision (the others are dropped)."""
    return GEO_PRECISIONS[level]
