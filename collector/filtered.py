"""Filtered-traffic counters: per (property or claimed id, reason, minute), sent as compact
counter records through the same sink as hits (DESIGN.md contract 2), so the excluded-traffic
report has a source and a flood of junk costs one record per key per flush, not per request.

Bot-filtered hits are counted by agent family too (:func:`agent_family`: the browser and OS
the agent claims and the rule that filtered it, capped at :data:`AGENT_MAX` characters),
at most :data:`MAX_AGENTS` families per property and minute in one flush, the rest as
``(other)``: a real browser filtered by mistake shows in the excluded-traffic report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from collector.errors import Unavailable
from collector.sink import GroupCommitSink
from lambdalytics.records import FilteredCount, encode_counter

log = logging.getLogger(__name__)

OTHER = "(other)"  # claimed ids beyond max_keys in one interval: counted together, per property
AGENT_MAX = 160  # characters of an agent family
MAX_AGENTS = 20  # agent families per (property, minute) in one flush; the rest: OTHER

# property_id, claimed tracking id, reason, minute, agent family
Key = tuple[str | None, str, str, str, str | None]


def agent_family(fields: Mapping[str, Any]) -> str:
    """A bot-filtered hit's agent family, from its enriched fields: "Instagram on Android
    (crawler:AP3A.240617.008)" — no versions, nothing of the raw agent but the rule's match."""
    browser = fields.get("browser") or "(not set)"
    os = fields.get("os") or "(not set)"
    return f"{browser} on {os} ({fields.get('bot_reason') or '(not set)'})"[:AGENT_MAX]


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
        self._agents: dict[tuple[str | None, str], int] = {}  # families per (property, minute)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def add(self, property_id: str | None, tracking_id: str, reason: str, n: int = 1,
            agent: str | None = None) -> None:
        minute = minute_of(self._clock())
        if agent is not None:
            agent = agent[:AGENT_MAX]
        key: Key = (property_id, tracking_id[:64], reason, minute, agent)
        counts = self._counts
        if key not in counts:
            if len(counts) >= self._max_keys:
                # a known property's stay under it: keys beyond the bound are one per property
                # (the table's, not the sender's), reason, minute and agent or not
                key = (property_id, OTHER, reason, minute, None if agent is None else OTHER)
            elif agent is not None:
                families = self._agents.get((property_id, minute), 0)
                if families >= MAX_AGENTS:
                    key = (property_id, key[1], reason, minute, OTHER)
                else:
                    self._agents[(property_id, minute)] = families + 1
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
        self._agents = {}
        if not counts:
            return
        sent: list[tuple[Key, int, asyncio.Future[None]]] = []
        for key, n in counts.items():
            property_id, tracking_id, reason, minute, agent = key
            record = FilteredCount(property_id, tracking_id, reason, minute, n, agent)
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
