"""The realtime answer: the last 30 minutes of a property, from the DynamoDB rollups.

One Query per minute (ten at a time): each minute's items counted for the series (their
visitor sketches unioned per minute), all 30 minutes' items merged once (top maps,
``visitors_30m``), and the last five minutes' unions unioned (``visitors_5m``): every item is
read once. Minutes that ended over two minutes ago are kept for 15 s, so a refresh reads
the newest three minutes and parses the rest from memory. The answer is
cached :data:`CACHE_TTL_S` per property, with single flight, so any number of open
dashboards costs one read of the rollups a second. Minutes are UTC; the current minute is
last (it is still filling up).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import datasketches

from archiver.rollup import LG_K, merge
from archiver.rollup_store import RollupStore
from dashboard.cache import TTLCache

MINUTES: Final = 30
RECENT: Final = 5  # "visitors_5m": the current minute and the four before
TOP: Final = 10
CONCURRENCY: Final = 10
CACHE_TTL_S: Final = 1.0
# A minute that ended this long ago gets few new items (a cut holds the hits of the last
# seconds; Measurement Protocol back-dating is rare), so its items are kept SETTLED_TTL_S and
# a refresh Queries only the newest minutes: parsing DynamoDB's JSON is most of a read's cost.
SETTLED_AFTER_S: Final = 120
SETTLED_TTL_S: Final = 15.0
MAPS: Final = ("pages", "sources", "countries", "devices", "browsers")
_MINUTE: Final = "%Y-%m-%dT%H:%M"


def _count(items: list[dict[str, Any]]) -> tuple[int, int, Any]:
    """One minute's hits, pageviews and visitors' union (None: no sketch), each cut's item
    once, as archiver.rollup.merge counts them; without the top maps, which are only shown
    for the whole window (so each sketch is read twice, not three times)."""
    unique = {(i["pk"]["S"], i["sk"]["S"]): i for i in items}
    hits = pageviews = 0
    union: Any = None
    for item in unique.values():
        hits += int(item["hits"]["N"]) if "hits" in item else 0
        pageviews += int(item["pageviews"]["N"]) if "pageviews" in item else 0
        sketch = item.get("visitors")
        if sketch is not None:
            if union is None:
                union = datasketches.hll_union(LG_K)
            union.update(datasketches.hll_sketch.deserialize(bytes(sketch["B"])))
    return hits, pageviews, union


def _top(counts: Mapping[str, int]) -> list[dict[str, Any]]:
    return [{"key": k, "count": v} for k, v in counts.items()]


class Realtime:
    def __init__(self, store: RollupStore, *, clock: Callable[[], float] = time.time,
                 cache_ttl_s: float = CACHE_TTL_S) -> None:
        self._store = store
        self._clock = clock
        self._cache: TTLCache[str, dict[str, Any]] = TTLCache(1000, cache_ttl_s)
        self._settled: TTLCache[tuple[str, str], list[dict[str, Any]]] = \
            TTLCache(MINUTES * 1000, SETTLED_TTL_S)

    async def answer(self, property_id: str) -> tuple[dict[str, Any], bool]:
        """The contract's realtime document, and whether it came from the cache."""
        return await self._cache.get_or_make(property_id, lambda: self.read(property_id))

    async def read(self, property_id: str) -> dict[str, Any]:
        now_s = self._clock()
        now = datetime.fromtimestamp(now_s, UTC)
        current = now.replace(second=0, microsecond=0)
        minutes = [(current - timedelta(minutes=MINUTES - 1 - i)).strftime(_MINUTE)
                   for i in range(MINUTES)]
        gate = asyncio.Semaphore(CONCURRENCY)

        settled_before = (now - timedelta(seconds=SETTLED_AFTER_S + 60)).strftime(_MINUTE)

        async def one(minute: str) -> list[dict[str, Any]]:
            if minute > settled_before:
                async with gate:
                    return await self._store.items(property_id, minute, now=now_s)

            async def fetch() -> list[dict[str, Any]]:
                async with gate:
                    return await self._store.items(property_id, minute, now=now_s)

            items, _ = await self._settled.get_or_make((property_id, minute), fetch)
            return items

        per_minute = await asyncio.gather(*(one(m) for m in minutes))
        counted = [_count(items) for items in per_minute]
        series = [{"minute": minute, "visitors": round(union.get_estimate()) if union else 0,
                   "pageviews": pageviews, "hits": hits}
                  for minute, (hits, pageviews, union) in zip(minutes, counted, strict=True)]
        everything = merge((i for items in per_minute for i in items), top_n=TOP)
        recent = datasketches.hll_union(LG_K)
        for _, _, union in counted[-RECENT:]:
            if union is not None:
                recent.update(union.get_result())
        out: dict[str, Any] = {
            "property": property_id,
            "now": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "minutes": MINUTES,
            "visitors_5m": round(recent.get_estimate()),
            "visitors_30m": everything.visitors,
            "pageviews_30m": everything.pageviews,
            "hits_30m": everything.hits,
            "series": series,
        }
        for name in MAPS:
            out[name] = _top(getattr(everything, name))
        return out
