"""From one cut of a shard's records to the objects and rollup items that represent it.

Pure and deterministic: the same records with the same duplicate window give byte-identical
objects under the same keys and identical rollup items, which is what makes a replayed cut
harmless (DESIGN.md, delivery contract). Nothing here touches the network.

Records are decoded into plain dicts, not Hit objects: the archiver only needs a handful of
fields to route a hit, and keeps the collector's bytes as the stored line.
"""

from __future__ import annotations

import base64
import gzip
import re
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from archiver import rollup
from lambdalytics import archive_layout
from lambdalytics.records import RECORD_FILTERED, FilteredCount

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
GZIP_LEVEL = 6


@dataclass(frozen=True, slots=True)
class Record:
    """What the archiver needs of one Kinesis record."""

    sequence: str
    arrival_ms: int
    data: bytes


class DuplicateWindow:
    """The hit ids seen in the last ``window_ms`` of a shard's arrival times.

    A hit is a duplicate when an earlier record of the shard carried the same ``hit_id`` and
    arrived at most ``window_ms`` before it. The decision depends only on the records before
    it in the shard, so a worker that rebuilt the window from the shard (see
    :mod:`archiver.consumer`) decides exactly as the one before it did.
    """

    def __init__(self, window_ms: int, *, slack_ms: int = 60_000) -> None:
        self.window_ms = window_ms
        self._slack_ms = slack_ms  # kept beyond the window: arrival times are approximate
        self._seen: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, hit_id: str, arrival_ms: int) -> bool:
        """True if ``hit_id`` is a duplicate. Every copy, dropped or not, becomes the id's
        latest arrival, so a decision only ever looks back one window: a rebuild that starts
        a window before the checkpoint decides the records after it exactly as before."""
        prev = self._seen.pop(hit_id, None)
        self._seen[hit_id] = arrival_ms
        return prev is not None and arrival_ms - prev <= self.window_ms

    def evict(self, arrival_ms: int) -> None:
        horizon = arrival_ms - self.window_ms - self._slack_ms
        seen = self._seen
        while seen:
            hit_id, at = next(iter(seen.items()))
            if at >= horizon:
                return
            del seen[hit_id]

    def seen_at(self, hit_id: str) -> int | None:
        """The latest arrival of ``hit_id`` (None if not in the window); changes nothing."""
        return self._seen.get(hit_id)

    def horizon_ms(self, arrival_ms: int) -> int:
        """Where a rebuild must start reading for decisions after ``arrival_ms``."""
        return arrival_ms - self.window_ms - self._slack_ms


@dataclass(slots=True)
class CutOutput:
    objects: dict[str, bytes] = field(default_factory=dict)  # key → gzip JSON Lines
    rollup_items: list[dict[str, Any]] = field(default_factory=list)
    recent_items: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0
    duplicates: int = 0
    counters: int = 0
    rejected: int = 0


class RejectedRecord(ValueError):
    pass


def _route_hit(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    hit_id, prop, kind, event_time = (obj.get("hit_id"), obj.get("property_id"),
                                      obj.get("type"), obj.get("event_time"))
    if not (isinstance(hit_id, str) and hit_id and isinstance(prop, str)
            and isinstance(kind, str) and isinstance(event_time, str)):
        raise RejectedRecord("not a canonical hit: hit_id, property_id, type or event_time missing")
    date = event_time[:10]
    if not _DATE.match(date):
        raise RejectedRecord(f"event_time is not an RFC 3339 time: {event_time[:40]!r}")
    return hit_id, prop, kind, date


def _gzip_lines(lines: Sequence[bytes]) -> bytes:
    return gzip.compress(b"\n".join(lines) + b"\n", compresslevel=GZIP_LEVEL, mtime=0)


def _rejected_line(rec: Record, reason: str) -> bytes:
    return orjson.dumps({
        "sequence_number": rec.sequence,
        "arrival_time": datetime.fromtimestamp(rec.arrival_ms / 1000, UTC),
        "error": reason[:500],
        "data_base64": base64.b64encode(rec.data).decode(),
    }, option=orjson.OPT_UTC_Z)


def recent_item(obj: dict[str, Any], data: bytes, ttl_s: int, shards: int) -> dict[str, Any]:
    """The recent-hits item of one hit: key deterministic from the hit (a replay overwrites
    it), spread over ``shards`` keys per property-minute by its hit id."""
    event_time: str = obj["event_time"]
    hit_id: str = obj["hit_id"]
    k = zlib.crc32(hit_id.encode()) % shards
    expires = int(datetime.fromisoformat(event_time).timestamp()) + ttl_s
    return {
        "pk": {"S": f"{obj['property_id']}#{event_time[:16]}#{k}"},
        "sk": {"S": f"{event_time}#{hit_id}"},
        "hit": {"S": data.decode()},
        "expires_at": {"N": str(expires)},
    }


Decoded = tuple[dict[str, Any], tuple[str, str, str]] | tuple[FilteredCount, tuple[str, str]]

# validation of the partition values uses a dummy segment; the real one is per cut
_CHECK_SEGMENT = "check"


def decode(data: bytes, archive_prefix: str = "") -> Decoded:
    """A hit (its JSON object and (property, type, date)) or a counter record (and (property,
    date)); raises RejectedRecord (or ValueError, TypeError) for anything else."""
    obj = orjson.loads(data)
    if not isinstance(obj, dict):
        raise RejectedRecord("record is not a JSON object")
    if obj.get("record") == RECORD_FILTERED:
        try:
            count = FilteredCount(**obj)
        except TypeError as exc:
            raise RejectedRecord(f"bad counter record: {exc}") from exc
        date = count.minute[:10] if isinstance(count.minute, str) else ""
        if not _DATE.match(date) or not isinstance(count.count, int):
            raise RejectedRecord("bad counter record: minute or count")
        if count.agent is not None and not isinstance(count.agent, str):
            raise RejectedRecord("bad counter record: agent")
        prop = count.property_id or archive_layout.UNKNOWN_PROPERTY
        archive_layout.filtered_key(archive_prefix, prop, date, _CHECK_SEGMENT)
        return count, (prop, date)
    _, prop, kind, date = _route_hit(obj)
    archive_layout.hits_key(archive_prefix, prop, kind, date, _CHECK_SEGMENT)
    return obj, (prop, kind, date)


def hit_id_of(data: bytes, archive_prefix: str = "") -> str | None:
    """The hit id :func:`process` would check against the duplicate window, or None."""
    try:
        obj, _ = decode(data, archive_prefix)
    except (ValueError, TypeError):
        return None
    return obj["hit_id"] if isinstance(obj, dict) else None


def process(records: Iterable[Record], *, shard_id: str, first: str, last: str,
            window: DuplicateWindow, archive_prefix: str = "", rollup_ttl_s: int = 7 * 86400,
            recent_ttl_s: int = 0, recent_shards: int = 32,
            retention_days: Mapping[str, int] | None = None) -> CutOutput:
    """Decode, drop duplicates, partition and encode one cut (``first``..``last``); with
    ``recent_ttl_s``, also one recent-hits item per hit."""
    out = CutOutput()
    segment = archive_layout.segment_name(shard_id, first, last)
    hit_lines: dict[tuple[str, str, str], list[bytes]] = {}
    counter_lines: dict[tuple[str, str], list[bytes]] = {}
    rejected: dict[str, list[bytes]] = {}
    hits: list[dict[str, Any]] = []
    counters: list[FilteredCount] = []
    last_arrival = 0
    for rec in records:
        last_arrival = rec.arrival_ms
        try:
            decoded = decode(rec.data, archive_prefix)
        except (ValueError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
            day = datetime.fromtimestamp(rec.arrival_ms / 1000, UTC).strftime("%Y-%m-%d")
            rejected.setdefault(day, []).append(_rejected_line(rec, str(exc)))
            out.rejected += 1
            continue
        if isinstance(decoded[0], FilteredCount):
            counter_lines.setdefault(decoded[1], []).append(rec.data)
            counters.append(decoded[0])
            continue
        obj, where = decoded
        if window.check(obj["hit_id"], rec.arrival_ms):
            out.duplicates += 1
            continue
        hit_lines.setdefault(where, []).append(rec.data)
        hits.append(obj)
        if recent_ttl_s:
            out.recent_items.append(recent_item(obj, rec.data, recent_ttl_s, recent_shards))
    if last_arrival:
        window.evict(last_arrival)
    out.hits = len(hits)
    out.counters = len(counters)
    for (prop, kind, date), lines in hit_lines.items():
        out.objects[archive_layout.hits_key(archive_prefix, prop, kind, date, segment)] = \
            _gzip_lines(lines)
    for (prop, date), lines in counter_lines.items():
        out.objects[archive_layout.filtered_key(archive_prefix, prop, date, segment)] = \
            _gzip_lines(lines)
    for day, lines in rejected.items():
        out.objects[archive_layout.rejected_key(archive_prefix, day, segment)] = _gzip_lines(lines)
    out.rollup_items = rollup_items(hits, counters, shard_id=shard_id, first=first, last=last,
                                    rollup_ttl_s=rollup_ttl_s, retention_days=retention_days)
    return out


def rollup_items(hits: Iterable[Mapping[str, Any]], counters: Iterable[FilteredCount], *,
                 shard_id: str, first: str, last: str, rollup_ttl_s: int,
                 retention_days: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """The rollup items of the cut ``first``..``last`` (also of its early part, archiver.early:
    the same keys, so the cut's own items overwrite them)."""
    items = []
    for (prop, minute), agg in sorted(rollup.build(hits, counters).items()):
        # rollups live rollup_ttl_s, or less when the property keeps its data for less
        days = (retention_days or {}).get(prop)
        ttl = rollup_ttl_s if days is None else min(rollup_ttl_s, days * 86400)
        expires = int(datetime.fromisoformat(minute + ":00+00:00").timestamp()) + ttl
        items.append(rollup.to_item(agg, shard_id=shard_id, first_seq=first, last_seq=last,
                                    expires_at=expires))
    return items
