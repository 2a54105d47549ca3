"""The client address of a request: the TCP peer, or X-Forwarded-For read through trusted proxies.

Each proxy in front of the collector appends the address of the peer it saw to
X-Forwarded-For, so behind exactly N proxies that we run (behind one ALB, N = 1; CloudFront in
front of the ALB, N = 2) the last N entries were written by them and the N-th from the right
is the address that connected to the outermost one: the client. Everything further left came
with the request and is whatever the client chose to write, so it is never read.

The rules, in order:

- ``trusted_hops == 0``: X-Forwarded-For is ignored entirely; the client is the peer.
- Several X-Forwarded-For fields are one list, joined with commas in the order received
  (RFC 7230 §3.2.2); empty list elements and the spaces or tabs around elements are ignored
  (RFC 7230 §7).
- A chain with fewer entries than ``trusted_hops`` (or none) did not come the whole configured
  way, e.g. a request that reached the ALB directly instead of through the CDN, or the task
  directly instead of through the ALB. Then the answer is the peer: the one address that no
  client can write. The leftmost entry could be the true client in the first case, but it is
  client-written in the second, and nothing tells the two apart.
- The selected entry may carry a port (``203.0.113.9:51234``; the ALB writes one when
  ``routing.http.xff_client_port.enabled`` is on), brackets for IPv6 with or without a port
  (``[2001:db8::1]:443``) and surrounding double quotes. Anything else that is not an address
  (``unknown``, an RFC 7239 obfuscated ``_hidden`` identifier, garbage) means the trusted proxy
  did not know or would not tell: the answer is None, not a guess.
- A bare IPv6 address with a port appended (``2001:db8::1:443``) cannot be told from an
  address; proxies bracket it (the ALB does).
- Addresses come back normalised: IPv4-mapped IPv6 (``::ffff:198.51.100.7``, as a dual-stack
  socket reports IPv4 peers) as IPv4, IPv6 compressed and lower case, without a ``%zone``.

The Measurement Protocol's ``uip`` parameter overrides the address of a hit; which one wins is
the caller's decision (GA: a valid ``uip`` wins, and implies anonymisation). :func:`override_ip`
validates it.

Both results are raw client addresses: they stay in this process (see collector.privacy).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from collector.privacy import MAX_ADDRESS_CHARS, ipv4_octets

__all__ = ["client_ip", "client_source", "normalize_ip", "override_ip", "source_address"]

_OWS = b" \t"
# Only a client writes empty list elements (each proxy appends one address), so a walk from
# the right that meets this many elements without finding its entry is in client-written junk:
# it stops there, bounding the work a huge header of commas can cause.
_MAX_ELEMENTS_PAST_HOPS = 32
_MAX_PORT_DIGITS = 5
# An element longer than any address with brackets, port and quotes is junk: refused before
# the cache, which must not pin client-sent bytes.
_MAX_ENTRY_BYTES = MAX_ADDRESS_CHARS + 16


def client_ip(peer: str | None, forwarded_for: Sequence[bytes] | bytes | None,
              trusted_hops: int) -> str | None:
    """The normalised client address, or None when there is none to be had.

    ``peer`` is the TCP peer's host as the server reports it; ``forwarded_for`` the raw value
    of each X-Forwarded-For field in the order received (or one value); ``trusted_hops`` the
    number of proxies we run in front of the collector. See the module docstring for the rules.
    """
    return source_address(client_source(peer, forwarded_for, trusted_hops))


def client_source(peer: str | None, forwarded_for: Sequence[bytes] | bytes | None,
                  trusted_hops: int) -> str | bytes | None:
    """Where :func:`client_ip` reads the address from, not yet checked: the selected
    X-Forwarded-For element (bytes, stripped, at most a few dozen bytes), the peer (str), or
    None when there is nothing to read (no peer; a selected element too long to be an
    address). A cheap, bounded cache key for everything derived from the address."""
    if trusted_hops <= 0:
        if trusted_hops < 0:
            raise ValueError(f"trusted_hops must be 0 or more, not {trusted_hops}")
        return peer or None
    if not forwarded_for:
        return peer or None
    if isinstance(forwarded_for, bytes):
        chain = forwarded_for
    elif len(forwarded_for) == 1:
        chain = forwarded_for[0]
    else:
        chain = b",".join(forwarded_for)
    # the common case: one proxy, one entry (find, not "in": a bytes "in" bytes formats and
    # clears a TypeError first on CPython 3.11, docs/benchmarks.md)
    if trusted_hops == 1 and chain.find(b",") < 0:
        entry: bytes | None = chain.strip(_OWS) or None
    else:
        entry = _nth_from_right(chain, trusted_hops)
    if entry is None:
        return peer or None
    return entry if len(entry) <= _MAX_ENTRY_BYTES else None


def source_address(source: str | bytes | None) -> str | None:
    """The normalised address of a :func:`client_source`."""
    if source is None:
        return None
    if isinstance(source, bytes):
        return _entry_address(source)
    return normalize_ip(source)


def override_ip(value: str | None) -> str | None:
    """A ``uip`` value as a normalised address, or None when it is absent or not a plain IPv4
    or IPv6 address (no port, brackets or host names)."""
    return normalize_ip(value) if value else None


def normalize_ip(text: str) -> str | None:
    """A plain address (spaces around it allowed) in its normal form; None if it is not one."""
    if len(text) > MAX_ADDRESS_CHARS:
        return None
    text = text.strip(" \t")
    if ":" not in text and ipv4_octets(text) is not None:
        return text  # a valid dotted quad is its own normal form
    return _normalize(text)


def _normalize(text: str) -> str | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if ip.scope_id is not None:
            return str(ipaddress.IPv6Address(int(ip)))
    return str(ip)


def _nth_from_right(chain: bytes, n: int) -> bytes | None:
    """The n-th non-empty element from the right of a comma-separated list, stripped; None if
    the list has fewer (or the walk gives up in client-written junk)."""
    end = len(chain)
    budget = n + _MAX_ELEMENTS_PAST_HOPS
    while budget > 0:
        budget -= 1
        comma = chain.rfind(b",", 0, end)
        element = chain[comma + 1:end].strip(_OWS)
        if element:
            n -= 1
            if n == 0:
                return element
        if comma < 0:
            return None
        end = comma
    return None


def _entry_address(entry: bytes) -> str | None:
    """One X-Forwarded-For element (already stripped) as a normalised address, or None."""
    try:
        text = entry.decode("ascii")
    except UnicodeDecodeError:
        return None
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or not _is_port_suffix(text[close + 1:], optional=True):
            return None
        host = text[1:close]
        if ":" not in host:  # brackets are for IPv6 literals only
            return None
    elif text.count(":") == 1:  # IPv4 with a port; IPv6 has at least two colons
        host, _, port = text.partition(":")
        if not _is_port_suffix(":" + port, optional=False):
            return None
    else:
        host = text
    if not host or host != host.strip(" \t"):
        return None
    return normalize_ip(host)


def _is_port_suffix(suffix: str, *, optional: bool) -> bool:
    if not suffix:
        return optional
    digits = suffix[1:]
    return (suffix[0] == ":" and 0 < len(digits) <= _MAX_PORT_DIGITS and digits.isascii()
            and digits.isdigit() and int(digits) <= 65535)
