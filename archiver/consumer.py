"""One shard, read by the worker that holds its lease: the cut protocol.

For every batch (DESIGN.md, delivery contract):

1. record the cut (first and last sequence number) in the lease item, under the fencing
   counter;
2. write its S3 objects (deterministic keys and bytes);
3. write its rollup items (one item per cut per property-minute: a replay overwrites);
4. checkpoint the cut's last sequence number and clear the cut.

While a batch fills, its early rollups are written every few seconds under the cut's own
rollup keys, so realtime need not wait for the cut (:mod:`archiver.early`).

A worker that takes a lease with a cut in it replays exactly that cut before anything else,
so whatever the previous owner wrote is rewritten with the same bytes, and nothing is
counted twice. Duplicate hit ids are decided against a window of the shard's recent arrivals,
rebuilt from the shard itself when a lease changes hands (see
:class:`archiver.processor.DuplicateWindow`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from archiver.early import EarlyRollups
from archiver.leases import TRIM_HORIZON, Cut, Lease, LeaseLost, LeaseTable
from archiver.metrics import ArchiverMetrics
from archiver.processor import DuplicateWindow, Record, hit_id_of, process
from archiver.rollup_store import RollupStoreError
from archiver.stream import ExpiredIterator, ShardReader, seq_int

if TYPE_CHECKING:
    from archiver.faults import CrashPoints
    from archiver.objects import ObjectStore
    from archiver.rollup_store import RollupStore
    from archiver.settings import ArchiverSettings

log = logging.getLogger(__name__)

RETRYABLE = (ClientError, BotoCoreError, OSError, asyncio.TimeoutError)


class HeldLease:
    """A lease this worker holds: the latest copy of the item, and one lock, so that the
    renewer and the consumer never race each other's counter."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.lock = asyncio.Lock()
        self.lost = asyncio.Event()
        self.stop = asyncio.Event()  # graceful shutdown: flush, checkpoint, let go
        self.last_renewed = time.monotonic()

    @property
    def key(self) -> str:
        return self.lease.key

    async def update(self, op: Callable[[Lease], Awaitable[Lease]]) -> Lease:
        async with self.lock:
            if self.lost.is_set():
                raise LeaseLost(self.key)
            try:
                self.lease = await op(self.lease)
            except LeaseLost:
                self.lost.set()
                raise
            self.last_renewed = time.monotonic()
            return self.lease

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the lease is lost or the worker stops."""
        waits = [asyncio.ensure_future(self.lost.wait()), asyncio.ensure_future(self.stop.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()


class ShardConsumer:
    def __init__(self, held: HeldLease, *, owner: str, reader: ShardReader, table: LeaseTable,
                 objects: ObjectStore, rollups: RollupStore, recent: RollupStore,
                 settings: ArchiverSettings,
                 crash: CrashPoints, on_shard_end: Callable[[], Awaitable[None]],
                 retention: Mapping[str, int] | None = None,
                 metrics: ArchiverMetrics | None = None) -> None:
        self.held = held
        self._metrics = metrics or ArchiverMetrics()  # the worker's, for EMF
        self.shard_id = held.key
        self._owner = owner
        self._reader = reader
        self._table = table
        self._objects = objects
        self._rollups = rollups
        self._recent = recent
        self._s = settings
        self._crash = crash
        self._on_shard_end = on_shard_end
        self._retention = retention  # property → retention days (the worker keeps it fresh)
        self.window = DuplicateWindow(settings.duplicate_window_s * 1000)
        self.early = EarlyRollups(self.window, shard_id=self.shard_id,
                                  archive_prefix=settings.archive_prefix,
                                  rollup_ttl_s=settings.rollup_ttl_days * 86400,
                                  retention_days=retention)
        self._early_at = -float("inf")  # when early rollups were last written (monotonic)

    # -- the loop -----------------------------------------------------------------------------

    async def run(self) -> str:
        """Process the shard until it ends, the lease is lost or the worker stops; returns
        which ("shard_end", "lost", "stopped")."""
        try:
            return await self._run()
        except LeaseLost:
            log.warning("lease on %s lost to another worker", self.shard_id)
            return "lost"

    async def _run(self) -> str:
        if not await self._wait_for_parents():
            return "stopped"
        lease = self.held.lease
        await self._rebuild_window(lease)
        position = None if lease.checkpoint == TRIM_HORIZON else lease.checkpoint
        # early rollups the last owner wrote past its last cut: the first cut reaches their
        # last record, so that its items overwrite every one of them (archiver.early)
        reach = None if lease.early is None else seq_int(lease.early.last)
        early_first = None if lease.early is None else lease.early.first
        if lease.cut is not None:
            position = await self._replay(lease.cut, position)
            if position is None:
                return "lost" if self.held.lost.is_set() else "stopped"
            reach = None  # the early range was the replayed cut's (cuts only grow)
        iterator = await self._reader.iterator(self.shard_id, after=position)
        batch: list[Record] = []
        size = 0
        started = 0.0
        s = self._s
        flush_ms = s.flush_interval_s * 1000
        while True:
            if self.held.lost.is_set():
                return "lost"
            if self.held.stop.is_set():
                if batch:
                    await self._flush(batch)
                return "stopped"
            # never more than a cut holds (batch_max_records), unless the cut must first
            # reach the early range of the last owner
            limit = s.get_records_limit if reach is not None else \
                min(s.get_records_limit, s.batch_max_records - len(batch))
            try:
                page = await self._reader.read(iterator, limit)
            except ExpiredIterator:
                after = batch[-1].sequence if batch else position
                iterator = await self._reader.iterator(self.shard_id, after=after)
                continue
            except RETRYABLE as exc:
                log.warning("GetRecords on %s failed (%s); retrying", self.shard_id, exc)
                await self.held.pause(1.0 + random.random())
                continue
            self._metrics.behind(self.shard_id, page.millis_behind)
            if page.records:
                if not batch:
                    started = time.monotonic()
                    if reach is not None and page.records[0].sequence != early_first:
                        log.error("shard %s: early rollups from %s, but the next record is %s "
                                  "(trimmed from the stream?)", self.shard_id, early_first,
                                  page.records[0].sequence)
                batch.extend(page.records)
                size += sum(len(r.data) for r in page.records)
                self.early.add(page.records)
            if page.next_iterator is None:  # closed and read to the end
                if batch:
                    await self._flush(batch)
                children = page.children
                await self.held.update(
                    functools.partial(self._table.shard_end, owner=self._owner, children=children))
                log.info("shard %s ended; children %s", self.shard_id, sorted(children))
                await self._on_shard_end()
                return "shard_end"
            iterator = page.next_iterator
            # a cut closes by records, bytes, or time: the records' own arrival span (when
            # catching up on a backlog) or how long its first record has waited here
            if reach is not None and batch and seq_int(batch[-1].sequence) >= reach:
                reach = None
            if batch and reach is None and (
                    len(batch) >= s.batch_max_records or size >= s.batch_max_bytes
                    or batch[-1].arrival_ms - batch[0].arrival_ms >= flush_ms
                    or time.monotonic() - started >= s.flush_interval_s):
                await self._flush(batch)
                position = batch[-1].sequence
                batch, size = [], 0
            elif self.early.pending and s.early_rollup_interval_s and \
                    time.monotonic() - self._early_at >= s.early_rollup_interval_s:
                await self._write_early()
            if not page.records or page.millis_behind == 0:
                await self.held.pause(s.idle_between_reads_s)

    # -- the cut protocol ----------------------------------------------------------------------

    async def _flush(self, batch: list[Record], cut: Cut | None = None) -> None:
        t0 = time.perf_counter()
        if cut is None:
            cut = Cut(batch[0].sequence, batch[-1].sequence)
            await self.held.update(lambda lease: self._table.record_cut(lease, self._owner, cut))
            self._crash.reached("cut_recorded")
        out = process(batch, shard_id=self.shard_id, first=cut.first, last=cut.last,
                      window=self.window, archive_prefix=self._s.archive_prefix,
                      rollup_ttl_s=self._s.rollup_ttl_days * 86400,
                      recent_ttl_s=self._s.recent_hits_ttl_s,
                      recent_shards=self._s.recent_hits_write_shards,
                      retention_days=self._retention)
        delay = 0.5
        while True:
            if self.held.lost.is_set():
                raise LeaseLost(self.shard_id)
            try:
                await self._objects.put_all(out.objects,
                                            lambda: self._crash.reached("object_written"))
                self._crash.reached("objects_written")
                await self._rollups.put(out.rollup_items)
                if out.recent_items:  # the same idempotent batch writes, another table
                    await self._recent.put(out.recent_items)
                self._crash.reached("rollups_written")
                break
            except RETRYABLE as exc:
                log.warning("writing cut %s %s..%s failed (%s); retrying in %.1fs",
                            self.shard_id, cut.first, cut.last, exc, delay)
            except ExceptionGroup as group:  # from the S3 task group
                if not group.subgroup(RETRYABLE):
                    raise
                log.warning("writing cut %s %s..%s failed (%s); retrying in %.1fs",
                            self.shard_id, cut.first, cut.last, group.exceptions[0], delay)
            self._metrics.write_retries.inc()
            await self.held.pause(random.uniform(0, delay))
            delay = min(delay * 2, self._s.retry_max_backoff_s)
        arrival = batch[-1].arrival_ms
        await self.held.update(
            lambda lease: self._table.checkpoint(lease, self._owner, cut.last, arrival))
        self._crash.reached("checkpointed")
        self.early.reset()
        log.info("cut %s %s..%s: %d records, %d hits, %d duplicates, %d counters, %d rejected, "
                 "%d objects, %d rollup items in %.0f ms", self.shard_id, cut.first, cut.last,
                 len(batch), out.hits, out.duplicates, out.counters, out.rejected,
                 len(out.objects), len(out.rollup_items), (time.perf_counter() - t0) * 1000)
        self._metrics.cut(len(batch), out, time.perf_counter() - t0)

    async def _write_early(self) -> None:
        """Write the open batch's early rollups (archiver.early): the range into the lease
        first, then the items that changed. A failure only delays realtime: the cut's own
        items follow."""
        self._early_at = time.monotonic()
        early = self.early
        items, records = early.changed_items()
        if items and early.first is not None and early.last is not None:
            span = Cut(early.first, early.last)
            await self.held.update(lambda lease: self._table.record_early(lease, self._owner, span))
            try:
                kept_out = await self._rollups.put_early(items)
            except (*RETRYABLE, RollupStoreError) as exc:
                log.warning("early rollups of %s %s..%s not written (%s); the cut will write "
                            "them", self.shard_id, span.first, span.last, exc)
                return
            if kept_out:
                log.warning("early rollups of %s: %d items kept out by a cut's own items (a "
                            "successor wrote them)", self.shard_id, kept_out)
            self._crash.reached("early_written")
        early.written(items, records)

    async def _replay(self, cut: Cut, position: str | None) -> str | None:
        """Read exactly the recorded cut again and write it; returns the new position (None
        when stopped or the lease was lost before the cut was read)."""
        last = seq_int(cut.last)
        iterator: str | None = await self._reader.iterator(self.shard_id, after=position)
        batch: list[Record] = []
        while iterator is not None:
            if self.held.lost.is_set() or self.held.stop.is_set():
                return None
            page = await self._reader.read(iterator, self._s.get_records_limit)
            batch.extend(r for r in page.records if seq_int(r.sequence) <= last)
            if (batch and seq_int(batch[-1].sequence) >= last) or \
                    any(seq_int(r.sequence) > last for r in page.records):
                break
            iterator = page.next_iterator
            if not page.records:
                await self.held.pause(0.2)
        if not batch:
            log.error("cut %s %s..%s has no records left in the stream; clearing it",
                      self.shard_id, cut.first, cut.last)
            await self.held.update(lambda lease: self._table.checkpoint(
                lease, self._owner, cut.last, lease.checkpoint_arrival_ms or 0))
            return cut.last
        if batch[0].sequence != cut.first or batch[-1].sequence != cut.last:
            log.error("cut %s %s..%s replays as %s..%s (records trimmed from the stream?)",
                      self.shard_id, cut.first, cut.last, batch[0].sequence, batch[-1].sequence)
        log.info("replaying cut %s %s..%s (%d records)", self.shard_id, cut.first, cut.last,
                 len(batch))
        await self._flush(batch, cut)
        return cut.last

    # -- before reading -------------------------------------------------------------------------

    async def _wait_for_parents(self) -> bool:
        """Children start only when every parent is read to its end (or gone)."""
        while True:
            pending = []
            for parent in sorted(self.held.lease.parents):
                lease = await self._table.get(parent)
                if lease is not None and not lease.finished:
                    pending.append(parent)
            if not pending:
                return True
            log.info("shard %s waits for its parents %s", self.shard_id, pending)
            await self.held.pause(self._s.parent_poll_interval_s)
            if self.held.lost.is_set() or self.held.stop.is_set():
                return False

    async def _rebuild_window(self, lease: Lease) -> None:
        """Fill the duplicate window with the hits of the last window before the checkpoint
        (or, for a new child shard, before its parents' ends)."""
        sources: list[tuple[str, str, int]] = []
        if lease.checkpoint != TRIM_HORIZON and lease.checkpoint_arrival_ms is not None:
            sources.append((self.shard_id, lease.checkpoint, lease.checkpoint_arrival_ms))
        elif lease.checkpoint == TRIM_HORIZON:
            for parent in sorted(lease.parents):
                p = await self._table.get(parent)
                if p is not None and p.last_sequence and p.checkpoint_arrival_ms is not None:
                    sources.append((parent, p.last_sequence, p.checkpoint_arrival_ms))
        for shard_id, until, arrival in sources:
            until_int = seq_int(until)
            iterator: str | None = await self._reader.iterator(
                shard_id, at_ms=self.window.horizon_ms(arrival))
            n = 0
            while iterator is not None:
                page = await self._reader.read(iterator, self._s.get_records_limit)
                done = False
                for rec in page.records:
                    if seq_int(rec.sequence) > until_int:
                        done = True
                        break
                    hit_id = hit_id_of(rec.data, self._s.archive_prefix)
                    if hit_id is not None:
                        self.window.check(hit_id, rec.arrival_ms)
                        n += 1
                if done or (not page.records and page.millis_behind == 0):
                    break
                iterator = page.next_iterator
            log.info("shard %s: duplicate window rebuilt from %s (%d hits)", self.shard_id,
                     shard_id, n)
