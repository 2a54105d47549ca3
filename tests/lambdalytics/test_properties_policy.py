"""The pure policy helpers the collector and reports will apply."""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdalytics import api_secrets
from lambdalytics.api_secrets import ApiSecret
from lambdalytics.property_policy import Goal, geo_fields, hostname_allowed, ip_prefixes


@pytest.mark.parametrize(("host", "ok"), [
    ("example.com", True), ("EXAMPLE.com.", True), ("example.com:8443", True),
    ("a.shop.example", True), ("a.b.shop.example", True), ("shop.example", False),
    ("evilexample.com", False), ("example.com.evil", False), ("", False), (None, False),
    ("[::1]:80", False),
])
def test_hostname_allowlist(host: str | None, ok: bool) -> None:
    assert hostname_allowed(("example.com", "*.shop.example"), host) is ok
    assert hostname_allowed((), host) is True  # no list: every host


@given(st.text(max_size=80))
def test_hostname_check_never_raises(host: str) -> None:
    assert isinstance(hostname_allowed(("example.com", "*.example.org"), host), bool)


def test_goals_match_their_field() -> None:
    assert Goal("g", "page_path", "equals", "/a").matches("/a", None)
    assert not Goal("g", "page_path", "equals", "/a").matches("/a/b", "x")
    assert Goal("g", "page_path", "prefix", "/docs/").matches("/docs/x", None)
    assert Goal("g", "event_name", "regex", "^sign_(up|in)$").matches(None, "sign_in")
    assert not Goal("g", "event_name", "regex", "^sign").matches("sign", None)


def test_precision_levels() -> None:
    assert ip_prefixes("24/48") == (24, 48)
    assert ip_prefixes("none") is None
    assert geo_fields("country") == ("geo_continent", "geo_country")
    assert geo_fields("none") == ()
    assert "geo_city" in geo_fields("city")
    assert "geo_city" not in geo_fields("region")


def test_secrets_have_192_bits_and_digests_compare_in_constant_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    made = {api_secrets.new_secret() for _ in range(100)}
    assert len(made) == 100
    assert all(len(s) == 32 and api_secrets.check_secret(s) for s in made)
    stored = [ApiSecret("s1", api_secrets.digest("a" * 32), ""),
              ApiSecret("s2", api_secrets.digest("b" * 32), "")]
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(api_secrets.hmac, "compare_digest", counting)
    assert api_secrets.verify("a" * 32, stored) == "s1"
    assert len(calls) == 2  # no early exit on the first match
    assert api_secrets.verify("c" * 32, stored) is None
    assert api_secrets.verify("x" * 10_000, stored) is None
