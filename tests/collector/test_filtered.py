"""collector.filtered: filtered-traffic counters by property, claimed id, reason and minute,
bot-filtered hits also by agent family (bounded per property and minute); sent through a
real GroupCommitSink to a writer that keeps what it is given."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson
import pytest

from collector.errors import TerminalWriteError
from collector.filtered import AGENT_MAX, MAX_AGENTS, OTHER, FilteredCounters, agent_family
from collector.sink import GroupCommitSink, SinkLimits
from lambdalytics.records import FilteredCount, decode

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z


class Keeping:
    """A batch writer that keeps every record; fails its first ``fail`` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.records: list[tuple[bytes, str]] = []
        self.fail = fail

    async def write(self, records: Sequence[tuple[bytes, str]]) -> list[int]:
        await asyncio.sleep(0)
        if self.fail:
            self.fail -= 1
            raise TerminalWriteError("AccessDenied")
        self.records.extend(records)
        return []

    def counters(self) -> list[FilteredCount]:
        out = [decode(data) for data, _ in self.records]
        assert all(isinstance(c, FilteredCount) for c in out)
        return out  # type: ignore[return-value]


def _counters(writer: Keeping, **kwargs: int) -> FilteredCounters:
    sink = GroupCommitSink(writer, SinkLimits(linger=0, retry_budget=0.2))
    return FilteredCounters(sink, clock=lambda: T0, **kwargs)


async def test_counts_by_key_and_minute_without_an_agent_field() -> None:
    writer = Keeping()
    counters = _counters(writer)
    counters.add("p1", "UA-1-1", "disallowed_hostname")
    counters.add("p1", "UA-1-1", "disallowed_hostname", 2)
    counters.add(None, "UA-9-1", "unknown_property")
    await counters.flush()
    assert sorted(writer.counters(), key=lambda c: c.reason) == [
        FilteredCount("p1", "UA-1-1", "disallowed_hostname", "2026-11-18T11:06Z", 3),
        FilteredCount(None, "UA-9-1", "unknown_property", "2026-11-18T11:06Z", 1)]
    # without a family the record is as it was before the field existed (older archivers)
    assert all(b"agent" not in data for data, _ in writer.records)
    await counters.flush()
    assert len(writer.records) == 2  # nothing new: nothing sent


async def test_bot_filtered_hits_are_counted_by_agent_family() -> None:
    writer = Keeping()
    counters = _counters(writer)
    instagram = "Instagram on Android (crawler:AP3A.240617.008)"
    counters.add("p1", "UA-1-1", "bot", agent="Googlebot on Other (crawler:Googlebot)")
    counters.add("p1", "UA-1-1", "bot", agent=instagram)
    counters.add("p1", "UA-1-1", "bot", agent=instagram)
    await counters.flush()
    got = {c.agent: c.count for c in writer.counters()}
    assert got == {"Googlebot on Other (crawler:Googlebot)": 1, instagram: 2}
    assert orjson.loads(writer.records[0][0])["agent"]


async def test_agent_families_are_bounded_per_property_and_minute() -> None:
    writer = Keeping()
    counters = _counters(writer)
    for i in range(MAX_AGENTS + 15):
        counters.add("p1", "UA-1-1", "bot", 2, agent=f"Bot{i} on Other (heuristic:keyword:Bot{i})")
        counters.add("p2", "UA-2-1", "bot", agent=f"Bot{i} on Other (crawler:Bot{i})")
    counters.add("p1", "UA-1-1", "bot", agent="x" * 1_000)  # capped
    await counters.flush()
    got = writer.counters()
    p1 = {c.agent: c.count for c in got if c.property_id == "p1"}
    assert len(p1) == MAX_AGENTS + 1
    assert p1[OTHER] == 2 * 15 + 1  # the long one came after the bound too
    assert sum(p1.values()) == 2 * (MAX_AGENTS + 15) + 1
    p2 = {c.agent: c.count for c in got if c.property_id == "p2"}
    assert len(p2) == MAX_AGENTS + 1
    assert sum(p2.values()) == MAX_AGENTS + 15
    # the bound starts again with the next flush
    counters.add("p1", "UA-1-1", "bot", agent="y" * 1_000)
    await counters.flush()
    assert writer.counters()[-1].agent == "y" * AGENT_MAX


async def test_over_max_keys_claimed_ids_are_counted_together_per_property() -> None:
    writer = Keeping()
    counters = _counters(writer, max_keys=3)
    for i in range(5):
        counters.add(None, f"UA-{i}-1", "unknown_property")
    counters.add("p1", "UA-1-1", "bot", agent="Googlebot on Other (crawler:Googlebot)")
    counters.add("p1", "UA-1-1", "invalid_hit")
    counters.add("p1", "UA-1-2", "invalid_hit")
    await counters.flush()
    got = {(c.property_id, c.tracking_id, c.reason, c.agent): c.count for c in writer.counters()}
    assert got == {(None, "UA-0-1", "unknown_property", None): 1,
                   (None, "UA-1-1", "unknown_property", None): 1,
                   (None, "UA-2-1", "unknown_property", None): 1,
                   (None, OTHER, "unknown_property", None): 2,
                   # a flood of made-up ids does not move a property's counts to _unknown
                   ("p1", OTHER, "bot", OTHER): 1,
                   ("p1", OTHER, "invalid_hit", None): 2}


async def test_counts_not_sent_are_kept_for_the_next_flush() -> None:
    writer = Keeping(fail=1)
    counters = _counters(writer)
    counters.add("p1", "UA-1-1", "bot", 4, agent="Googlebot on Other (crawler:Googlebot)")
    await counters.flush()
    assert writer.records == []
    counters.add("p1", "UA-1-1", "bot", 1, agent="Googlebot on Other (crawler:Googlebot)")
    await counters.flush()
    assert [(c.count, c.agent) for c in writer.counters()] == [
        (5, "Googlebot on Other (crawler:Googlebot)")]


@pytest.mark.parametrize(("fields", "family"), [
    ({"browser": "Instagram", "os": "Android", "bot_reason": "crawler:AP3A.240617.008"},
     "Instagram on Android (crawler:AP3A.240617.008)"),
    ({"bot_reason": "headless:HeadlessChrome"}, "(not set) on (not set) (headless:HeadlessChrome)"),
    ({"browser": "B" * 300, "os": "Linux", "bot_reason": "crawler:x"}, "B" * AGENT_MAX),
])
def test_agent_family(fields: dict[str, str], family: str) -> None:
    assert agent_family(fields) == family
