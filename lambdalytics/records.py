"""Kinesis records (DESIGN.md contract 2).

Every record's data is one JSON object. A hit record is the canonical Hit itself (it has
``schema_version`` and ``hit_id``). Filtered traffic travels as compact counter records,
one per (property or claimed id, reason, minute) per flush, never one per rejected request;
bot-filtered hits also by agent family (``agent``: what the agent claimed and which rule
filtered it, never the raw agent), so a false positive shows in the excluded-traffic report.
A counter without a family is encoded without the field, as before it existed (an archiver
older than the field rejects a counter that has it: deploy the archiver first).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import orjson

from lambdalytics import hit as hitmod

RECORD_FILTERED = "filtered"


@dataclass(frozen=True, slots=True)
class FilteredCount:
    """How many requests/hits for one property (or claimed id) were filtered for one reason."""

    property_id: str | None  # our property, when the claimed id resolved to one
    tracking_id: str  # the id the request claimed ("" when it sent none)
    reason: str
    minute: str  # UTC minute, "YYYY-MM-DDTHH:MMZ"
    count: int
    agent: str | None = None  # reason "bot": the agent family (collector.filtered.agent_family)
    record: str = RECORD_FILTERED

    def partition_key(self) -> str:
        return (self.property_id or self.tracking_id or "-")[:256]


def encode_counter(count: FilteredCount) -> bytes:
    if count.agent is None:
        fields = dataclasses.asdict(count)
        del fields["agent"]
        return orjson.dumps(fields)
    return orjson.dumps(count)


def decode(data: bytes) -> hitmod.Hit | FilteredCount:
    """Decode one record; raises ValueError (orjson.JSONDecodeError, TypeError) on garbage."""
    obj: Any = orjson.loads(data)
    if not isinstance(obj, dict):
        raise ValueError("record is not a JSON object")
    if obj.get("record") == RECORD_FILTERED:
        return FilteredCount(**obj)
    return hitmod.from_dict(obj)
