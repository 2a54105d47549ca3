"""The token buckets behind per-property rate limits, and the policy values the hot path
reads, on a fake clock (the HTTP behaviour is in test_policy_http.py)."""

from __future__ import annotations

import pytest

from collector.policy import DEFAULT_PRECISION, hostname_problem, origin_host, policy_of, precision
from collector.ratelimit import RateLimiter
from lambdalytics.properties import Property


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_burst_is_one_second_of_hits_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert [limiter.admit({"p": (5, 1)}) for _ in range(5)] == [0.0] * 5
    assert limiter.admit({"p": (5, 1)}) == pytest.approx(0.2)
    clock.now += 0.2
    assert limiter.admit({"p": (5, 1)}) == 0.0
    assert limiter.admit({"p": (5, 1)}) > 0
    clock.now += 60  # the bucket holds one second's worth, however long it waited
    assert [limiter.admit({"p": (5, 1)}) for _ in range(6)].count(0.0) == 5


def test_a_rate_under_one_still_lets_one_hit_through() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert limiter.admit({"p": (1, 1)}) == 0.0
    assert limiter.admit({"p": (1, 1)}) == pytest.approx(1.0)


def test_a_request_passes_whole_or_not_at_all() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert limiter.admit({"a": (2, 2)}) == 0.0  # a's bucket empty
    # b could pass, a cannot: nothing is taken from b
    assert limiter.admit({"a": (2, 1), "b": (3, 3)}) == pytest.approx(0.5)
    assert limiter.admit({"b": (3, 3)}) == 0.0


def test_a_batch_over_the_burst_needs_a_full_bucket_and_leaves_debt() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert limiter.admit({"p": (2, 10)}) == 0.0  # 2 tokens, 10 hits: 8 owed
    assert limiter.admit({"p": (2, 1)}) == pytest.approx(4.5)
    clock.now += 4.5
    assert limiter.admit({"p": (2, 1)}) == 0.0


def test_a_changed_rate_applies_at_once() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert limiter.admit({"p": (100, 1)}) == 0.0
    assert limiter.admit({"p": (1, 1)}) == 0.0  # 99 left, clipped to the new burst of 1
    assert limiter.admit({"p": (1, 1)}) == pytest.approx(1.0)


def test_precisions_are_shared_objects() -> None:
    assert precision("24/48", "city") is DEFAULT_PRECISION
    coarse = precision("16/32", "region")
    assert coarse is precision("16/32", "region")
    assert coarse.prefixes == (16, 32)
    assert coarse.geo_dropped == ("geo_city",)
    nothing = precision("none", "none")
    assert nothing.prefixes is None
    assert nothing.geo_kept == ()
    with pytest.raises(KeyError):
        precision("8/16", "city")


def test_policy_of_a_property() -> None:
    prop = Property("p1", "site", ("UA-1-1",), allowed_hostnames=("a.example",),
                    ip_precision="none", geo_precision="country", bot_policy="flag",
                    rate_limit=7)
    policy = policy_of(prop)
    assert policy.allowed_hostnames == ("a.example",)
    assert policy.precision is precision("none", "country")
    assert policy.bot_policy == "flag"
    assert policy.rate_limit == 7
    assert policy_of(Property("p2", "site", ("UA-2-1",))).bot_policy is None
    for level in ("filter", "filter_all"):
        assert policy_of(Property("p3", "site", ("UA-3-1",), bot_policy=level)).bot_policy == level


@pytest.mark.parametrize(("host", "origin", "expected"), [
    ("shop.example", None, None),
    ("www.shop.example", "https://shop.example:8443", None),
    ("evil.example", None, "page"),
    (None, None, "page"),
    ("shop.example", "https://evil.example", "origin"),
    ("shop.example", "null", "origin"),
    ("shop.example", "http://[::1]:8080", "origin"),
])
def test_hostname_problem(host: str | None, origin: str | None, expected: str | None) -> None:
    fields = {} if host is None else {"page_hostname": host}
    assert hostname_problem(("shop.example", "*.shop.example"), fields, origin) == expected


def test_origin_host() -> None:
    assert origin_host("https://a.example:8443") == "a.example:8443"
    assert origin_host("null") == "null"
