"""Early rollups: the open batch's rollups, written every few seconds, before its cut closes.

A cut closes every ``flush_interval_s`` (20 s by default), so that S3 gets few, large objects.
Realtime cannot wait that long, so while a batch fills, the consumer writes the rollups of
the records read so far every ``early_rollup_interval_s`` (2 s), under the keys the cut's own
rollup items will have (``pk = property#minute``, ``sk = shard#first sequence``): each early
write overwrites the last, and the cut's items overwrite the early ones. S3 objects are still
written once per cut; only DynamoDB sees the extra writes (one item per property-minute that
changed since the last early write).

Exactly once, whatever fails (DESIGN.md, delivery contract):

- Before an early write, the consumer records its range (first and last sequence number) in
  the lease item, under the fencing counter (``archiver.leases.LeaseTable.record_early``). A
  worker that takes the lease over finds it there and makes its first cut reach at least that
  last record: the cut has the same first record (the one after the checkpoint), so it covers
  every record the early items counted, and its items overwrite every one of them. Without
  that, a shorter cut would leave early items for minutes it does not reach, counted again by
  the next cut.
- The checkpoint clears the early range with the cut.
- Early items carry ``early = true`` and are written with a condition that they only replace
  an early item or nothing: a worker that lost its lease between recording the range and
  writing cannot overwrite its successor's final items with a shorter count.

Duplicates are decided as the cut will decide them: against the shard's duplicate window as
it stood when the batch began (read, never changed: the cut's own processing changes it) and
the batch's own earlier records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from archiver.processor import DuplicateWindow, Record, RejectedRecord, decode, rollup_items
from lambdalytics.records import FilteredCount

EARLY = "early"  # the attribute that marks an early item


class EarlyRollups:
    """The open batch's hits and counters, decoded once as records arrive."""

    def __init__(self, window: DuplicateWindow, *, shard_id: str, archive_prefix: str = "",
                 rollup_ttl_s: int, retention_days: Mapping[str, int] | None = None) -> None:
        self._window = window
        self._shard_id = shard_id
        self._prefix = archive_prefix
        self._ttl_s = rollup_ttl_s
        self._retention = retention_days
        self.reset()

    def reset(self) -> None:
        """A new batch begins (the last one was cut and its items written)."""
        self._seen: dict[str, int] = {}  # this batch's hit ids → latest arrival
        self._hits: list[dict[str, Any]] = []
        self._counters: list[FilteredCount] = []
        self._written: dict[tuple[str, str], dict[str, Any]] = {}  # key → what it counted
        self.first: str | None = None
        self.last: str | None = None
        self.records = 0  # records added since the batch began
        self.written_records = 0  # records the last early write covered

    def add(self, records: Iterable[Record]) -> None:
        window_ms = self._window.window_ms
        for rec in records:
            if self.first is None:
                self.first = rec.sequence
            self.last = rec.sequence
            self.records += 1
            try:
                decoded = decode(rec.data, self._prefix)
            except (RejectedRecord, ValueError, TypeError):
                continue  # the cut puts it under rejected/; rollups never count it
            obj = decoded[0]
            if isinstance(obj, FilteredCount):
                self._counters.append(obj)
                continue
            hit_id: str = obj["hit_id"]
            prev = self._seen.get(hit_id)
            if prev is None:
                prev = self._window.seen_at(hit_id)
            self._seen[hit_id] = rec.arrival_ms
            if prev is not None and rec.arrival_ms - prev <= window_ms:
                continue  # DuplicateWindow.check's decision, without changing the window
            self._hits.append(obj)

    @property
    def pending(self) -> bool:
        """Records arrived since the last early write."""
        return self.records > self.written_records

    def changed_items(self) -> tuple[list[dict[str, Any]], int]:
        """The early items that differ from what the last early write wrote (a quiet
        property-minute is not written again), and how many records they cover; once they
        are written, :meth:`written` records it."""
        if self.first is None or self.last is None:
            return [], self.records
        items = rollup_items(self._hits, self._counters, shard_id=self._shard_id,
                             first=self.first, last=self.last, rollup_ttl_s=self._ttl_s,
                             retention_days=self._retention)
        changed = [item | {EARLY: {"BOOL": True}} for item in items
                   if self._written.get(_key(item)) != _body(item)]
        return changed, self.records

    def written(self, items: Iterable[dict[str, Any]], records: int) -> None:
        for item in items:
            self._written[_key(item)] = _body(item)
        self.written_records = records


def _key(item: Mapping[str, Any]) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]


def _body(item: Mapping[str, Any]) -> dict[str, Any]:
    """What an item counts: without its last sequence number and the early mark."""
    return {k: v for k, v in item.items() if k not in ("last_seq", EARLY)}
