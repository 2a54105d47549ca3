"""The demo's past: 30 days of traffic, taken by the real collector, archived as the archiver
archives, compacted into the lake.

The path, exactly:

1. :class:`lambdalytics.demo.traffic.Traffic` draws each day's sessions as the requests the
   tags send (UA ``/collect``, gtag ``/g/collect``, Measurement Protocol ``/mp/collect``).
2. The collector takes them: :func:`collector.app.create_app` — the application
   ``lambdalytics local`` serves, started through its lifespan (uvicorn's ``LifespanOn``),
   with its properties cache over the properties table, its enricher (GeoIP, devices, bots,
   referrers), its filtered-traffic counters and its group-commit sink — and
   :func:`collector.edge.dispatch`, the routing every hit request goes through, with a
   :class:`~collector.http.RawRequest` whose ``received`` is the backfilled instant. So the
   protocol parsers, :class:`collector.ingest.Ingest` (property check, API secret, allowed
   hostnames, policy, enrichment, bot and spam filtering) and the canonical Hit are the
   production ones. Two seams, both ``collector.app.Overrides``: ``writer`` (existing: the
   sink's batches go to :class:`Captured` instead of Kinesis) and ``clock`` (added for this:
   the filtered counters' minute, read from :data:`RECEIVED`, a context variable each
   request's task carries). Every answer must be the 200/204 a tag gets.
3. The captured records — the bytes the collector would have put to Kinesis — go through
   the archiver's own encoding, one cut per UTC day: :func:`archiver.processor.process`
   (duplicate window, partitioning, gzip JSON Lines, rollup items) →
   :class:`archiver.objects.ObjectStore` (the archive bucket on the embedded AWS) and
   :class:`archiver.rollup_store.RollupStore` (rollups of the last :data:`ROLLUP_MINUTES`
   only: realtime reads 30 minutes, and older items would just wait for their TTL).
4. :class:`archiver.compact.Compactor` compacts every closed day into the Parquet lake, as
   ``lambdalytics compact`` does.

Why not through Kinesis, like live hits: kinesalite itself takes ~10,000 records/s
(lambdalytics.kinesalite), but the archiver would then cut the backfill into many cuts
across 30 days (an object per cut, property, type and date) and write a rollup item per
property-minute touched — some 70,000 for the default demo (3 sites × 30 days × the minutes
with hits), 130,000 for a million requests — and moto's DynamoDB took ~700 items/s here
(RollupStore.put of 5,000 items): two to three minutes on their own, against the one-minute
budget; and the lake would still need the compaction. Going through the archiver's
processor directly gives the same objects, one cut a day, in seconds (measured: 90,000
requests in 15-45 s on this 2-core machine, depending on its load, for generation,
collector and archiver together); the live trickle (:mod:`lambdalytics.demo.live`) then
takes the whole path over HTTP and Kinesis.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import itertools
import logging
import multiprocessing
import signal
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from uvicorn.lifespan.on import LifespanOn

from archiver.compact import Compactor
from archiver.lake_store import S3Store
from archiver.objects import ObjectStore
from archiver.processor import DuplicateWindow, Record, process
from archiver.rollup_store import RollupStore
from collector.app import Overrides, create_app
from collector.edge import dispatch
from collector.http import RawRequest
from collector.settings import CollectorSettings
from lambdalytics import aws, ddl
from lambdalytics.demo.traffic import HITS_PER_SESSION, DemoRequest, Traffic

log = logging.getLogger(__name__)

RECEIVED: contextvars.ContextVar[float] = contextvars.ContextVar("demo_received")
ROLLUP_MINUTES = 60
CONCURRENCY = 400  # requests taken at once (the sink groups their records)
NOISE = 0.04  # of the requests: bots, spam, foreign hostnames, unknown ids
SHARD = "demo-backfill"


class Captured:
    """A :class:`collector.sink.BatchWriter` that keeps what it is given."""

    def __init__(self) -> None:
        self.records: list[bytes] = []

    async def write(self, records: Sequence[tuple[bytes, str]]) -> list[int]:
        self.records.extend(data for data, _key in records)
        return []


@dataclass(slots=True)
class Report:
    requests: int = 0
    hits: int = 0  # archived
    counters: int = 0
    objects: int = 0
    rollup_items: int = 0
    days_compacted: int = 0
    collect_s: float = 0.0
    archive_s: float = 0.0
    compact_s: float = 0.0


def day_requests(traffic: Traffic, begin: float, end: float, requests: float,
                 growth: float = 1.0) -> list[DemoRequest]:
    """A window's requests (about ``requests`` a day), in the order they are sent."""
    sessions = requests * (1 - NOISE) / HITS_PER_SESSION * growth
    out: list[DemoRequest] = []
    for site in traffic.sites:
        for at in traffic.starts(site, begin, end, sessions * site.share):
            out.extend(traffic.session(site, at))
    rng = traffic.rng
    for _ in range(round(requests * NOISE * (end - begin) / 86400 / 2)):
        out.extend(traffic.noise(rng.uniform(begin, end)))
    out.sort(key=lambda r: r.at)
    return out


def raw(r: DemoRequest) -> RawRequest:
    headers = {b"user-agent": r.user_agent.encode("latin-1")}
    if r.origin:
        headers[b"origin"] = r.origin.encode()
    return RawRequest(method=r.method, path=r.path, query=r.query, body=r.body, received=r.at,
                      client_ip=r.address, user_agent=r.user_agent, origin=r.origin,
                      headers=headers)


async def take(runtime: Any, requests: Sequence[DemoRequest]) -> None:
    """Each request through the collector's routing, ``CONCURRENCY`` at a time, each in a
    task whose context says when it was received."""
    for i in range(0, len(requests), CONCURRENCY):
        tasks = []
        for r in requests[i:i + CONCURRENCY]:
            ctx = contextvars.copy_context()
            ctx.run(RECEIVED.set, r.at)
            tasks.append(asyncio.create_task(dispatch(runtime, raw(r)), context=ctx))
        for r, response in zip(requests[i:], await asyncio.gather(*tasks), strict=False):
            if response.status not in (200, 204):
                raise RuntimeError(f"the collector answered {response.status} to a demo hit "
                                   f"({r.path}): {response.body[:200]!r}")


@dataclass(frozen=True, slots=True)
class Span:
    """Days ``first``..``stop`` − 1 of a backfill of ``days`` days before ``now``: what one
    worker process does (picklable)."""

    settings: CollectorSettings
    secrets: dict[str, str]
    seed: int
    per_day: float  # requests
    now: float
    days: int
    first: int
    stop: int


async def run(settings: CollectorSettings, secrets: dict[str, str], *, requests: int,
              days: int, now: float, seed: int = 1, workers: int = 1) -> Report:
    """Backfill ``requests`` requests over the ``days`` days before ``now`` (the module
    docstring), the days split among ``workers`` processes (each its own collector, with
    visitors of its own): the work is CPU, and the collector's is one core's."""
    bounds = [days * i // workers for i in range(workers + 1)]
    spans = [Span(settings, secrets, seed + i, requests / days, now, days, a, b)
             for i, (a, b) in enumerate(itertools.pairwise(bounds)) if b > a]
    if len(spans) == 1:
        return await run_span(spans[0])
    loop = asyncio.get_running_loop()
    # spawned, not forked: this process runs threads (moto, the Kinesis client's loop)
    pool = multiprocessing.get_context("spawn").Pool(len(spans), initializer=_worker_init)
    try:
        futures = []
        for span in spans:
            fut: asyncio.Future[Report] = loop.create_future()
            pool.apply_async(_worker, (span,), callback=_settle(loop, fut),
                             error_callback=_settle(loop, fut))
            futures.append(fut)
        reports = await asyncio.gather(*futures)
    finally:  # done, failed or cancelled (Ctrl-C): no worker outlives the backfill
        pool.terminate()
        pool.join()
    total = Report()
    for r in reports:
        for f in dataclasses.fields(Report):
            setattr(total, f.name, getattr(total, f.name) + getattr(r, f.name))
    return total


def _settle(loop: asyncio.AbstractEventLoop,
            fut: asyncio.Future[Report]) -> Callable[[Report | BaseException], None]:
    """A pool callback (it runs on the pool's thread) that settles ``fut`` on ``loop``."""
    def done(result: Report | BaseException) -> None:
        def settle() -> None:
            if fut.done():
                return
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)
        loop.call_soon_threadsafe(settle)
    return done


def _worker_init() -> None:
    # the terminal's Ctrl-C reaches the whole process group: `local` stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker(span: Span) -> Report:
    return asyncio.run(run_span(span))


async def run_span(span: Span) -> Report:
    """One worker's days, through a collector of its own into the archive."""
    settings, now = span.settings, span.now
    traffic = Traffic(span.seed, span.secrets)
    report = Report()
    captured = Captured()
    quick = settings.model_copy(update={"sink_linger_ms": 0.0, "sink_max_in_flight": 64,
                                        "sink_max_queued": 10 * CONCURRENCY * 25})
    edge = create_app(quick, Overrides(writer=captured, clock=RECEIVED.get))
    lifespan = LifespanOn(uvicorn.Config(edge, lifespan="on", log_config=None))
    res = settings.resources
    async with AsyncExitStack() as stack:
        s3 = await stack.enter_async_context(aws.client(aws.session(), "s3", settings))
        ddb = await stack.enter_async_context(aws.client(aws.session(), "dynamodb", settings))
        objects = ObjectStore(s3, res.archive.name)
        rollups = RollupStore(ddb, res.rollups.name)
        await lifespan.startup()
        if lifespan.startup_failed:
            raise RuntimeError("the demo's collector did not start (see the log)")
        begin = now - span.days * 86400
        try:
            for day in range(span.first, span.stop):
                start, end = begin + day * 86400, min(now, begin + (day + 1) * 86400)
                batch = [r for r in day_requests(traffic, start, end, span.per_day,
                                                 0.85 + 0.3 * day / span.days) if r.at <= now]
                t = time.perf_counter()
                await take(edge.runtime, batch)
                report.requests += len(batch)
                report.collect_s += time.perf_counter() - t
                await _archive(captured, objects, rollups, int(end * 1000), now, report)
        finally:
            await lifespan.shutdown()  # the counters flush into the sink, the sink drains
        await _archive(captured, objects, rollups, int(begin * 1000) + span.stop * 86400_000 + 1,
                       now, report)
    return report


async def compact(settings: CollectorSettings, properties: Sequence[str], report: Report,
                  now: float | None = None) -> None:
    """Compact the closed days of ``properties``, as ``lambdalytics compact`` does: the
    properties side by side, each with a DuckDB connection of its own."""
    t = time.perf_counter()
    at = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    bucket = settings.resources.archive.name
    async with aws.client(aws.session(), "s3", settings) as s3:
        async def one(prop: str) -> int:
            compactor = Compactor(S3Store(s3, bucket), _duckdb(settings))
            return len((await compactor.run([prop], now=at)).days)

        done = await asyncio.gather(*(one(p) for p in properties))
    report.days_compacted = sum(done)
    report.compact_s = time.perf_counter() - t


async def _archive(captured: Captured, objects: ObjectStore, rollups: RollupStore,
                   arrival_ms: int, now: float, report: Report) -> None:
    """One cut of what the collector put since the last: objects and recent rollups. Each
    cut has a duplicate window of its own: the demo's hit ids are unique, and a worker's
    cuts never meet another's."""
    data, captured.records = captured.records, []
    if not data:
        return
    t = time.perf_counter()
    first = arrival_ms * 1000  # sequence numbers that grow cut after cut
    records = [Record(str(first + i), arrival_ms, d) for i, d in enumerate(data)]
    out = process(records, shard_id=SHARD, first=records[0].sequence, last=records[-1].sequence,
                  window=DuplicateWindow(600_000))
    if out.rejected:
        raise RuntimeError(f"the archiver rejected {out.rejected} demo records")
    await objects.put_all(out.objects)
    cutoff = datetime.fromtimestamp(now - ROLLUP_MINUTES * 60, UTC).strftime("%Y-%m-%dT%H:%M")
    recent = [i for i in out.rollup_items if i["pk"]["S"].partition("#")[2] >= cutoff]
    await rollups.put(recent)
    report.hits += out.hits
    report.counters += out.counters
    report.objects += len(out.objects)
    report.rollup_items += len(recent)
    report.archive_s += time.perf_counter() - t


def _duckdb(settings: CollectorSettings) -> Any:
    import duckdb

    conn = duckdb.connect()
    ddl.register_s3(conn, endpoint_url=settings.endpoint_url("s3"), region=settings.aws_region)
    return conn
