"""A bounded in-memory cache with expiry and single flight, for the dashboard's answers.

Reports are cached by (property, report, resolved request, data version), realtime answers
for about a second per property, share and property look-ups for a few seconds. Sizes and
lifetimes are internal constants of the callers, not user settings: they trade memory for
S3 and DynamoDB reads, and nothing a user sees depends on them beyond freshness bounds that
the docs state.

Single flight: while a value is being made, other callers for the same key await the same
task instead of making it again, so twenty dashboards refreshing at once cost one read. A
failure is not cached; every caller waiting on it gets the error.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """At most ``max_entries`` values, each for ``ttl_s`` seconds; least recently used out first."""

    def __init__(self, max_entries: int, ttl_s: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1 or ttl_s <= 0:
            raise ValueError("a cache holds at least one entry for a positive time")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._making: dict[K, asyncio.Task[V]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (self._clock() + self.ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    async def get_or_make(self, key: K, make: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """The cached value and True, or the value ``make()`` gives (cached) and False."""
        value = self.get(key)
        if value is not None:
            self.hits += 1
            return value, True
        task = self._making.get(key)
        if task is None:
            self.misses += 1
            task = asyncio.ensure_future(self._make(key, make))
            self._making[key] = task
            task.add_done_callback(lambda t: self._done(key, t))
        # shielded: one caller giving up (a closed connection) does not cancel the others'
        return await asyncio.shield(task), False

    def _done(self, key: K, task: asyncio.Task[V]) -> None:
        self._making.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved: the callers that waited have raised it

    async def _make(self, key: K, make: Callable[[], Awaitable[V]]) -> V:
        value = await make()
        self.put(key, value)
        return value
