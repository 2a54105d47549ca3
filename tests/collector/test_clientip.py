"""The client address: the peer, or X-Forwarded-For read through the trusted proxy hops only."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.clientip import client_ip, normalize_ip, override_ip

PEER = "10.0.7.9"  # the ALB's address inside the VPC
CLIENT = "203.0.113.7"
CDN = "198.51.100.20"

# --- which entry is the client --------------------------------------------------------------


def test_zero_hops_ignores_forwarded_for() -> None:
    assert client_ip(PEER, b"203.0.113.7", 0) == PEER
    assert client_ip(PEER, [b"1.1.1.1", b"203.0.113.7"], 0) == PEER
    assert client_ip(None, b"203.0.113.7", 0) is None


def test_one_hop_takes_what_the_alb_appended() -> None:
    assert client_ip(PEER, CLIENT.encode(), 1) == CLIENT


@pytest.mark.parametrize("spoofed", [
    b"1.1.1.1",
    b"1.1.1.1, 8.8.8.8",
    b"127.0.0.1,10.0.0.1 ,\t192.168.1.1",
    b"unknown, [::1]:80, garbage",
])
def test_client_prepended_entries_are_ignored(spoofed: bytes) -> None:
    # the client sent X-Forwarded-For: <spoofed>; the ALB appended the peer it saw
    assert client_ip(PEER, spoofed + b", " + CLIENT.encode(), 1) == CLIENT


def test_two_hops_take_the_address_the_cdn_saw() -> None:
    # client → CDN (appends the client) → ALB (appends the CDN's address) → collector
    chain = f"6.6.6.6, {CLIENT}, {CDN}".encode()
    assert client_ip(PEER, chain, 2) == CLIENT
    assert client_ip(PEER, chain, 1) == CDN
    assert client_ip(PEER, chain, 3) == "6.6.6.6"  # misconfigured: one hop too many trusts the client


@pytest.mark.parametrize(("chain", "hops"), [
    (None, 1),
    (b"", 1),
    ([], 1),
    ([b""], 1),
    (b" , ,\t", 1),
    (CLIENT.encode(), 2),  # reached the ALB without the CDN
    (f"{CLIENT}, {CDN}".encode(), 3),
])
def test_a_chain_shorter_than_the_hops_falls_back_to_the_peer(
        chain: bytes | list[bytes] | None, hops: int) -> None:
    assert client_ip(PEER, chain, hops) == PEER
    assert client_ip(None, chain, hops) is None


def test_several_header_fields_are_one_list_in_order() -> None:
    fields = [b"6.6.6.6, 7.7.7.7", f"{CLIENT}".encode(), f" {CDN} ".encode()]
    assert client_ip(PEER, fields, 1) == CDN
    assert client_ip(PEER, fields, 2) == CLIENT
    assert client_ip(PEER, fields, 3) == "7.7.7.7"
    assert client_ip(PEER, fields, 5) == PEER


def test_empty_elements_and_whitespace_are_ignored() -> None:
    chain = f"6.6.6.6,, ,\t{CLIENT} ,\t{CDN}\t".encode()
    assert client_ip(PEER, chain, 1) == CDN
    assert client_ip(PEER, chain, 2) == CLIENT
    assert client_ip(PEER, chain, 3) == "6.6.6.6"


def test_a_header_of_junk_is_bounded_work_and_falls_back_to_the_peer() -> None:
    junk = b"," * 100_000
    assert client_ip(PEER, junk + CLIENT.encode(), 1) == CLIENT
    assert client_ip(PEER, junk + CLIENT.encode(), 2) == PEER
    assert client_ip(PEER, b"x" * 100_000 + b", " + CLIENT.encode(), 1) == CLIENT


def test_overlong_values_are_refused_before_any_cache() -> None:
    long_entry = b"1" * 5_000
    assert client_ip(PEER, long_entry, 1) is None
    assert client_ip(PEER, b" " * 5_000 + CLIENT.encode(), 1) == CLIENT  # spaces are stripped
    assert override_ip("2" * 8_000) is None
    assert normalize_ip(" " * 100 + CLIENT) is None


def test_negative_hops_are_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="trusted_hops"):
        client_ip(PEER, None, -1)


# --- entry forms ---------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "expected"), [
    (b"203.0.113.7", "203.0.113.7"),
    (b"203.0.113.7:51234", "203.0.113.7"),  # the ALB with xff_client_port enabled
    (b"203.0.113.7:0", "203.0.113.7"),
    (b"2001:db8::1", "2001:db8::1"),
    (b"[2001:db8::1]", "2001:db8::1"),
    (b"[2001:db8::1]:443", "2001:db8::1"),
    (b'"[2001:db8::1]:443"', "2001:db8::1"),  # RFC 7239 style quoting
    (b"2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    (b"::ffff:203.0.113.7", "203.0.113.7"),
    (b"[::ffff:203.0.113.7]:8080", "203.0.113.7"),
    (b"fe80::1%eth0", "fe80::1"),
])
def test_entry_forms(entry: bytes, expected: str) -> None:
    assert client_ip(PEER, b"6.6.6.6, " + entry, 1) == expected


@pytest.mark.parametrize("entry", [
    b"unknown",
    b"_hidden",  # RFC 7239 obfuscated identifier
    b"_SEVKISEK",
    b"203.0.113",
    b"203.0.113.7.9",
    b"203.0.113.256",
    b"01.2.3.4",  # leading zeros: octal or decimal? refused
    b"203.0.113.7:",
    b"203.0.113.7:65536",
    b"203.0.113.7:123456",
    b"203.0.113.7:http",
    b"203.0.113.7 :80",
    b"203.0.113.7 9",
    b"[2001:db8::1",
    b"2001:db8::1]:443",
    b"[2001:db8::1]443",
    b"[2001:db8::1]:",
    b"[2001:db8::1]:99999",
    b"[ 2001:db8::1 ]",
    b"[203.0.113.7]:80",  # brackets are for IPv6
    b"[]",
    b'"',
    b'""',
    b"host.example",
    b"localhost",
    b"\xff\xfe",
    "203.0.113.٧".encode(),  # a non-ASCII digit
])
def test_a_malformed_selected_entry_is_no_address(entry: bytes) -> None:
    assert client_ip(PEER, b"6.6.6.6, " + entry, 1) is None


@pytest.mark.parametrize(("peer", "expected"), [
    ("203.0.113.7", "203.0.113.7"),
    ("::ffff:203.0.113.7", "203.0.113.7"),  # a dual-stack socket's IPv4 peer
    ("2001:0db8::0001", "2001:db8::1"),
    ("not-an-address", None),
    ("", None),
    (None, None),
])
def test_the_peer_is_normalised(peer: str | None, expected: str | None) -> None:
    assert client_ip(peer, None, 0) == expected
    assert client_ip(peer, None, 1) == expected


# --- uip -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("203.0.113.77", "203.0.113.77"),
    (" 203.0.113.77 ", "203.0.113.77"),
    ("2001:DB8::77", "2001:db8::77"),
    ("::ffff:203.0.113.77", "203.0.113.77"),
    ("", None),
    (None, None),
    ("203.0.113.77:80", None),
    ("[2001:db8::77]", None),
    ("example.com", None),
    ("203.0.113", None),
    ("1.2.3.4, 5.6.7.8", None),
])
def test_override_ip(value: str | None, expected: str | None) -> None:
    assert override_ip(value) == expected


# --- properties ----------------------------------------------------------------------------

addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))


@given(client_part=st.binary(max_size=200), real=addresses, hops=st.integers(1, 4))
def test_nothing_the_client_writes_moves_the_answer(client_part: bytes, real: ipaddress.IPv4Address
                                                    | ipaddress.IPv6Address, hops: int) -> None:
    # each trusted proxy appends one address: the outermost one appended the real client
    appended = [str(real).encode()] + [f"10.0.0.{i}".encode() for i in range(1, hops)]
    chain = b", ".join([client_part, *appended])
    assert client_ip(PEER, chain, hops) == normalize_ip(str(real))


@given(headers=st.lists(st.binary(max_size=60), max_size=4), hops=st.integers(0, 4),
       peer=st.one_of(st.none(), st.text(max_size=40)))
def test_never_raises_and_answers_an_address_or_none(headers: list[bytes], hops: int,
                                                     peer: str | None) -> None:
    answer = client_ip(peer, headers, hops)
    if answer is not None:
        assert str(ipaddress.ip_address(answer)) == answer
