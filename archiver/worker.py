"""The worker: keeps its leases renewed, takes and steals leases on KCL's rules, keeps the
lease table in step with the stream's shards, and runs one consumer per held shard.

Expiry without clocks (reference/aws.md §1.3): each scan remembers, per lease, when this
worker last saw its counter change; a lease not seen to change for ``lease_duration_s`` is
expired. Balancing (§1.4): take expired or unowned leases up to ceil(leases / workers); only
when none is free, steal one from the most loaded worker.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
import time
from collections import Counter
from contextlib import AsyncExitStack, suppress
from typing import TYPE_CHECKING

from archiver.consumer import RETRYABLE, HeldLease, ShardConsumer
from archiver.faults import CrashPoints
from archiver.leases import Lease, LeaseLost, LeaseTable
from archiver.metrics import ArchiverMetrics
from archiver.objects import ObjectStore
from archiver.rollup_store import RollupStore
from archiver.stream import ShardReader
from lambdalytics import aws, emf
from lambdalytics.properties import PropertyError, PropertyStore

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_kinesis import KinesisClient
    from types_aiobotocore_s3 import S3Client

    from archiver.settings import ArchiverSettings

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, settings: ArchiverSettings, *, kinesis: KinesisClient,
                 dynamodb: DynamoDBClient, s3: S3Client) -> None:
        res = settings.resources
        self.settings = settings
        self.id = settings.worker_id
        self.reader = ShardReader(kinesis, res.stream.name)
        self.table = LeaseTable(dynamodb, res.leases.name)
        self.objects = ObjectStore(s3, res.archive.name, concurrency=settings.s3_concurrency)
        self.rollups = RollupStore(dynamodb, res.rollups.name)
        self.recent = RollupStore(dynamodb, res.recent.name)
        self.properties = PropertyStore(dynamodb, res.properties.name)
        self.retention: dict[str, int] = {}  # property → retention days, for rollup TTLs
        self.crash = CrashPoints(settings.crash_at)
        self.held: dict[str, HeldLease] = {}
        self._consumers: dict[str, asyncio.Task[str]] = {}
        self._seen: dict[str, tuple[int, float]] = {}  # lease → (counter, when it last changed)
        self._listed: set[str] | None = None
        self._sync_now = asyncio.Event()
        self._take_now = asyncio.Event()
        self._renew_stop = asyncio.Event()
        self._stopping = False
        self.metrics = ArchiverMetrics()  # read by lambdalytics.emf
        self.metrics.track_leases(lambda: len(self.held))

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then flush, checkpoint and let every lease go."""
        log.info("archiver worker %s starting on stream %s", self.id, self.reader.stream)
        loops = [asyncio.create_task(self._renew_loop(), name="renew"),
                 asyncio.create_task(self._take_loop(), name="take"),
                 asyncio.create_task(self._sync_loop(), name="shard-sync"),
                 asyncio.create_task(self._retention_loop(), name="retention")]
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopped, *loops], return_when=asyncio.FIRST_COMPLETED)
            for t in loops:
                if t.done() and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        finally:
            stopped.cancel()
            await self._shutdown(loops)

    async def _shutdown(self, loops: list[asyncio.Task[None]]) -> None:
        self._stopping = True
        for loop in loops[1:]:  # take no more, sync no more
            loop.cancel()
        for held in self.held.values():
            held.stop.set()
        if self._consumers:
            await asyncio.wait(list(self._consumers.values()))
        # renew until every consumer has checkpointed; then let the renewal in flight finish
        # rather than cancel it: cancelled after its write landed, it would leave the lease's
        # counter moved on unseen, and letting the lease go below would fail
        self._renew_stop.set()
        await asyncio.gather(*loops, return_exceptions=True)
        for held in list(self.held.values()):
            if held.lost.is_set():
                continue
            try:
                await held.update(lambda lease: self.table.evict(lease, self.id))
                log.info("released lease %s", held.key)
            except (LeaseLost, *RETRYABLE) as exc:
                log.warning("could not release lease %s: %s", held.key, exc)
        self.held.clear()
        log.info("archiver worker %s stopped", self.id)

    # -- renewing -------------------------------------------------------------------------------

    async def _renew_loop(self) -> None:
        every = self.settings.renew_interval_s
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._renew_stop.wait(), every)
            if self._renew_stop.is_set():
                return
            for held in list(self.held.values()):
                if held.lost.is_set():
                    continue
                try:
                    await held.update(lambda lease: self.table.renew(lease, self.id))
                except LeaseLost:
                    log.warning("lease %s lost (counter moved on)", held.key)
                except RETRYABLE as exc:
                    log.warning("renewing lease %s failed: %s", held.key, exc)
                    if time.monotonic() - held.last_renewed > self.settings.lease_duration_s:
                        log.warning("lease %s not renewed within its duration: giving it up",
                                    held.key)
                        held.lost.set()

    # -- taking ---------------------------------------------------------------------------------

    async def _take_loop(self) -> None:
        while True:
            self._take_now.clear()
            try:
                await self.take_round()
            except RETRYABLE as exc:
                log.warning("lease taking round failed: %s", exc)
            with suppress(TimeoutError):  # new leases: look at once
                await asyncio.wait_for(self._take_now.wait(),
                                       self.settings.taker_every_s * random.uniform(0.9, 1.1))

    async def take_round(self) -> None:
        leases = await self.table.list()
        now = time.monotonic()
        duration = self.settings.lease_duration_s
        seen: dict[str, tuple[int, float]] = {}
        for lease in leases:
            prev = self._seen.get(lease.key)
            if prev is not None and prev[0] == lease.counter:
                seen[lease.key] = prev
            elif prev is None and lease.owner is None:
                seen[lease.key] = (lease.counter, -math.inf)  # never renewed: expired at once
            else:
                seen[lease.key] = (lease.counter, now)
        self._seen = seen
        await self._clean_up(leases)
        active = [lease for lease in leases if not lease.finished]

        def expired(lease: Lease) -> bool:
            return lease.owner is None or now - seen[lease.key][1] > duration

        mine = {k for k, h in self.held.items() if not h.lost.is_set()}
        owners = Counter(lease.owner for lease in active
                         if lease.key not in mine and not expired(lease))
        owners[self.id] = len(mine)
        target = min(math.ceil(len(active) / len(owners)) if active else 0,
                     self.settings.max_leases)
        free = [lease for lease in active if lease.key not in mine and expired(lease)
                and lease.key not in self._consumers]  # a lost lease's consumer still winding down
        random.shuffle(free)
        very_old = [lease for lease in free if now - seen[lease.key][1] > 3 * duration]
        room = self.settings.max_leases - len(mine)
        if very_old:
            to_take = very_old[:room]
        elif free:
            to_take = free[:max(0, min(target - len(mine), room))]
        else:
            to_take = self._to_steal(active, owners, target, len(mine))
        for lease in to_take:
            await self._take(lease, steal=not expired(lease))

    def _to_steal(self, active: list[Lease], owners: Counter[str | None], target: int,
                  held: int) -> list[Lease]:
        need = target - held
        if need <= 0:
            return []
        others = [(n, o) for o, n in owners.items() if o != self.id and o is not None]
        if not others:
            return []
        n, victim = max(others, key=lambda x: (x[0], x[1] or ""))
        if n > target or (n == target and need > 1):
            theirs = [lease for lease in active if lease.owner == victim]
            return [random.choice(theirs)] if theirs else []
        return []

    async def _take(self, lease: Lease, *, steal: bool) -> None:
        if self._stopping:
            return
        try:
            taken = await self.table.take(lease, self.id)
        except LeaseLost:
            return  # someone else was quicker
        log.info("%s lease %s (from %s, counter %d)", "stole" if steal else "took", lease.key,
                 lease.owner, taken.counter)
        held = HeldLease(taken)
        self.held[lease.key] = held
        consumer = ShardConsumer(held, owner=self.id, reader=self.reader, table=self.table,
                                 objects=self.objects, rollups=self.rollups, recent=self.recent,
                                 settings=self.settings, crash=self.crash,
                                 on_shard_end=self._shard_ended, retention=self.retention,
                                 metrics=self.metrics)
        task = asyncio.create_task(consumer.run(), name=f"consumer-{lease.key}")
        self._consumers[lease.key] = task
        task.add_done_callback(functools.partial(self._consumer_done, lease.key))

    def _consumer_done(self, key: str, task: asyncio.Task[str]) -> None:
        self._consumers.pop(key, None)
        self.metrics.forget(key)
        held = self.held.get(key)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("consumer of %s failed", key, exc_info=exc)
            if held is not None:
                held.lost.set()  # stop renewing: another worker (or this one) takes it over
        outcome = None if exc is not None else task.result()
        if outcome in ("shard_end", "lost") or exc is not None:
            self.held.pop(key, None)

    async def _retention_loop(self) -> None:
        """Keep each property's retention at hand: its rollups expire no later than its data
        (a property without one keeps rollups for ``rollup_ttl_days``)."""
        while True:
            try:
                props = await self.properties.list()
                fresh = {p.property_id: p.retention_days for p in props
                         if p.retention_days is not None}
                self.retention.clear()
                self.retention.update(fresh)
            except (PropertyError, *RETRYABLE) as exc:
                log.warning("reading the properties' retention failed: %s", exc)
            await asyncio.sleep(self.settings.property_refresh_s)

    async def _shard_ended(self) -> None:
        self._sync_now.set()

    # -- the shards -----------------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        while True:
            try:
                await self.sync_shards()
            except RETRYABLE as exc:
                log.warning("shard sync failed: %s", exc)
            self._sync_now.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._sync_now.wait(), self.settings.shard_sync_interval_s)

    async def sync_shards(self) -> None:
        """A lease for every shard of the stream (creation is conditional: safe to race)."""
        shards = await self.reader.shards()
        self._listed = {s.shard_id for s in shards}
        known = {lease.key for lease in await self.table.list()}
        for shard in shards:
            if shard.shard_id not in known and await self.table.create(shard.shard_id,
                                                                        shard.parents):
                log.info("new lease for shard %s (parents %s)", shard.shard_id,
                         sorted(shard.parents))
                self._take_now.set()

    async def _clean_up(self, leases: list[Lease]) -> None:
        """Finished leases of shards the stream no longer lists (trimmed past retention)."""
        if self._listed is None:
            return
        for lease in leases:
            if lease.finished and lease.key not in self._listed:
                await self.table.delete(lease)
                log.info("deleted the lease of trimmed shard %s", lease.key)


async def run(settings: ArchiverSettings, stop: asyncio.Event) -> None:
    """The worker with its clients, until ``stop``."""
    session = aws.session()
    async with AsyncExitStack() as stack:
        kinesis = await stack.enter_async_context(aws.client(session, "kinesis", settings))
        dynamodb = await stack.enter_async_context(aws.client(session, "dynamodb", settings))
        s3 = await stack.enter_async_context(aws.client(session, "s3", settings))
        worker = Worker(settings, kinesis=kinesis, dynamodb=dynamodb, s3=s3)
        if settings.emf:  # EMF lines; the last one after the worker stopped
            await emf.publish(stack, worker.metrics.registry, emf.ARCHIVER,
                              settings.resource_prefix)
        await worker.run(stop)
