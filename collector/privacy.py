"""Client IP handling: the raw address never leaves this process."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

# GA's own anonymisation (aip): the last octet of IPv4, the last 80 bits of IPv6.
DEFAULT_V4_PREFIX = 24
DEFAULT_V6_PREFIX = 48
# Longer than any textual address (45 characters at most, plus room for spaces and a %zone):
# such a value is refused before it reaches a cache, where client-sent junk (uip is free
# text) would otherwise pin up to the body limit per entry.
MAX_ADDRESS_CHARS = 64


def ipv4_octets(text: str) -> list[str] | None:
    """The four octets of a dotted-quad IPv4 address exactly as :mod:`ipaddress` accepts one
    (ASCII decimal, 0-255, no leading zeros), or None. The hot path's parse: a string split
    instead of an ``IPv4Address``; such an address is already in its normal form."""
    octets = text.split(".")
    if len(octets) != 4:
        return None
    for octet in octets:
        if not (0 < len(octet) <= 3 and octet.isascii() and octet.isdigit()):
            return None
        if (octet[0] == "0" and len(octet) > 1) or int(octet) > 255:
            return None
    return octets


def truncate_ip(address: str, v4_prefix: int = DEFAULT_V4_PREFIX,
                v6_prefix: int = DEFAULT_V6_PREFIX) -> str | None:
    """The network address of ``address`` at the given prefix lengths: by default IPv4 → /24
    (a.b.c.0) and IPv6 → /48, as GA anonymises; a property may ask for less (IPv4 /16,
    IPv6 /32). IPv4-mapped IPv6 addresses are truncated as IPv4. None when it is not an IP
    address (or longer than :data:`MAX_ADDRESS_CHARS`). A prefix out of range (IPv4 0–32,
    IPv6 0–128) is a ValueError."""
    if not 0 <= v4_prefix <= 32:
        raise ValueError(f"IPv4 prefix {v4_prefix} is not in 0..32")
    if not 0 <= v6_prefix <= 128:
        raise ValueError(f"IPv6 prefix {v6_prefix} is not in 0..128")
    if len(address) > MAX_ADDRESS_CHARS:
        return None
    if v4_prefix == DEFAULT_V4_PREFIX and "." in address and ":" not in address:
        octets = ipv4_octets(address.strip())
        if octets is not None:  # the common case, without ipaddress
            return f"{octets[0]}.{octets[1]}.{octets[2]}.0"
    return _truncate(address, v4_prefix, v6_prefix)


@lru_cache(maxsize=65536)
def _truncate(address: str, v4_prefix: int, v6_prefix: int) -> str | None:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is None:
            # int() drops any %zone; the mask keeps the top v6_prefix bits
            mask = ((1 << v6_prefix) - 1) << (128 - v6_prefix)
            return str(ipaddress.IPv6Address(int(ip) & mask))
        ip = ip.ipv4_mapped
    mask = ((1 << v4_prefix) - 1) << (32 - v4_prefix)
    return str(ipaddress.IPv4Address(int(ip) & mask))
