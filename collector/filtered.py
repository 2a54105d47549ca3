"""Filtered-traffic counters: per (property or claimed id, reason, minute), sent as compact
counter records through the same sink as hits (DESIGN.md contract 2), so the excluded-traffic
report has a source and a flood of junk costs one record per key per flush, not per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from collector.errors import Unavailable
from collector.sink import GroupCommitSink
from lambdalytics.records import FilteredCount, encode_counter

log = logging.getLogger(__name__)

OTHER = "(other)"  # claimed ids beyond max_keys in one interval are counted together

Key = tuple[str | None, str, str, str]  # property_id, claimed tracking id, reason, minute


def minute_of(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%MZ")


class FilteredCounters:
    def __init__(self, sink: GroupCommitSink, *, interval: float = 10.0, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        self._sink = sink
        self._interval = interval
        self._max_keys = max_keys
        self._clock = clock
        self._counts: dict[Key, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def add(self, property_id: str | None, tracking_id: str, reason: str, n: int = 1) -> None:
        key: Key = (property_id, tracking_id[:64], reason, minute_of(self._clock()))
        counts = self._counts
        if key not in counts and len(counts) >= self._max_keys:
            key = (None, OTHER, reason, key[3])
        counts[key] = counts.get(key, 0) + n

    def pending(self) -> dict[Key, int]:
        return dict(self._counts)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="filtered-counters")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
            await self.flush()

    async def flush(self) -> None:
        """Send what has been counted; on failure, keep the counts for the next flush."""
        counts, self._counts = self._counts, {}
        if not counts:
            return
        sent: list[tuple[Key, int, asyncio.Future[None]]] = []
        for key, n in counts.items():
            property_id, tracking_id, reason, minute = key
            record = FilteredCount(property_id, tracking_id, reason, minute, n)
            try:
                fut = self._sink.put(encode_counter(record), record.partition_key())
            except Unavailable:
                self._merge(key, n)
                continue
            sent.append((key, n, fut))
        results = await asyncio.gather(*(f for _, _, f in sent), return_exceptions=True)
        failed = 0
        for (key, n, _), result in zip(sent, results, strict=True):
            if isinstance(result, BaseException):
                self._merge(key, n)
                failed += 1
        if failed:
            log.warning("%d filtered-traffic counters not sent; kept for the next flush", failed)

    def _merge(self, key: Key, n: int) -> None:
        self._counts[key] = self._counts.get(key, 0) + n

    async def close(self) -> None:
        """Stop the timer and send the last counts (call before the sink closes)."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        await self.flush()
