"""Per-property rate limits, per collector task: a token bucket per property.

Each bucket refills at the property's ``rate_limit`` hits/s and holds one second's worth
(at least one hit). A request passes when every property it has hits for holds enough
tokens for them (a batch counts each hit; a batch larger than the burst needs a full bucket
and leaves it in debt, so the average rate still holds); then its tokens are taken, else
none are and the caller answers 429 with the wait as Retry-After. Each task counts alone:
N tasks behind a load balancer let up to N × the rate through (documented as approximate).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.tokens = self.burst
        self.stamp = now

    def retune(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.tokens = min(self.tokens, self.burst)

    def wait(self, n: int, now: float) -> float:
        """Seconds until ``n`` hits may pass (0: now); refills first."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        need = min(float(n), self.burst)
        return 0.0 if self.tokens >= need else (need - self.tokens) / self.rate


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}  # property id → bucket

    def admit(self, demand: Mapping[str, tuple[int, int]]) -> float:
        """``demand``: property id → (rate limit, hits). 0.0 when all pass (their tokens
        taken), else the longest wait in seconds (nothing taken)."""
        now = self._clock()
        buckets = []
        longest = 0.0
        for property_id, (rate, n) in demand.items():
            bucket = self._buckets.get(property_id)
            if bucket is None:
                bucket = self._buckets[property_id] = TokenBucket(float(rate), now)
            elif bucket.rate != rate:
                bucket.retune(float(rate))
            longest = max(longest, bucket.wait(n, now))
            buckets.append((bucket, n))
        if longest:
            return longest
        for bucket, n in buckets:
            bucket.tokens -= n
        return 0.0
