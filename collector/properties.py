"""The collector's view of properties: a TTL cache in front of the properties table.

Positive answers live ``ttl`` seconds, negative ones (unknown ids) ``negative_ttl``. When a
refresh fails (a DynamoDB blip), the last answer keeps being served for up to ``stale_for``
seconds rather than failing hits; only an id never seen before, during an outage, raises
:class:`PropertiesUnavailable` (→ 503). Concurrent misses for one id share one lookup.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from collector.errors import PropertiesUnavailable

if TYPE_CHECKING:
    from collector.metrics import Metrics
    from lambdalytics.properties import Property

log = logging.getLogger(__name__)


class Stale:
    """The type of :data:`STALE`."""


STALE = Stale()


class PropertyLookup(Protocol):
    async def lookup(self, tracking_id: str) -> Property | None: ...


class PropertyCache:
    def __init__(self, store: PropertyLookup, *, ttl: float = 60.0, negative_ttl: float = 30.0,
                 stale_for: float = 3600.0, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic,
                 metrics: Metrics | None = None) -> None:
        self._store = store
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._stale_for = stale_for
        self._max_entries = max_entries
        self._clock = clock
        self._metrics = metrics
        # tracking id → (answer, fetched at)
        self._entries: dict[str, tuple[Property | None, float]] = {}
        self._loading: dict[str, asyncio.Future[Property | None]] = {}

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.property_lookups.labels(outcome).inc()

    def fresh(self, tracking_id: str) -> Property | Stale | None:
        """The cached answer while it is fresh, else :data:`STALE` (then :meth:`resolve`):
        the common case without a coroutine."""
        entry = self._entries.get(tracking_id)
        if entry is not None:
            answer, fetched = entry
            if self._clock() - fetched < (self._ttl if answer is not None else self._negative_ttl):
                return answer
        return STALE

    def last(self, tracking_id: str) -> Property | None:
        """The last answer cached for ``tracking_id``, however old (None: no property, or
        never looked up); no lookup."""
        entry = self._entries.get(tracking_id)
        return None if entry is None else entry[0]

    async def resolve(self, tracking_id: str) -> Property | None:
        entry = self._entries.get(tracking_id)
        now = self._clock()
        if entry is not None:
            answer, fetched = entry
            if now - fetched < (self._ttl if answer is not None else self._negative_ttl):
                return answer
        loading = self._loading.get(tracking_id)
        if loading is not None:
            return await asyncio.shield(loading)
        fut: asyncio.Future[Property | None] = asyncio.get_running_loop().create_future()
        self._loading[tracking_id] = fut
        try:
            answer = await self._load(tracking_id, entry, now)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved here; waiters re-raise it
            raise
        else:
            fut.set_result(answer)
            return answer
        finally:
            del self._loading[tracking_id]

    async def _load(self, tracking_id: str, entry: tuple[Property | None, float] | None,
                    now: float) -> Property | None:
        try:
            answer = await self._store.lookup(tracking_id)
        except Exception as exc:
            if entry is not None and now - entry[1] < self._stale_for:
                self._count("stale")
                log.warning("properties table unreadable (%s); serving cached answer for %s",
                            type(exc).__name__, tracking_id)
                return entry[0]
            self._count("error")
            log.warning("properties table unreadable (%s); no cached answer for %s",
                        type(exc).__name__, tracking_id)
            raise PropertiesUnavailable("properties table unavailable") from exc
        self._count("hit" if answer is not None else "miss")
        if answer is None and len(self._entries) >= self._max_entries:
            # bounded: a flood of made-up ids drops the negative answers, never the real ones
            self._entries = {k: v for k, v in self._entries.items() if v[0] is not None}
        self._entries[tracking_id] = (answer, self._clock())
        return answer
