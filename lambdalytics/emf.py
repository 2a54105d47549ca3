"""CloudWatch embedded metric format (EMF): the services' metrics into CloudWatch with no agent.

Once a minute (``FLUSH_INTERVAL_S``) a service writes one JSON line to stdout: the metric
values at the root and an ``_aws`` directive telling CloudWatch Logs which members are
metrics (the awslogs driver ships stdout and stderr to the same log group). Values come from
the service's own prometheus registry — the same counters ``/metrics`` serves — read on a
timer: counters as their increase since the last line, gauges as they are, histograms as the
mean of what they observed since the last line. Nothing is added to any request's path.

Off unless the setting ``emf`` (``LAMBDALYTICS_EMF=true``) is on; the task definitions set it.
Logs go to stderr (lambdalytics.logs), EMF lines to stdout: two pipes, so a metric line is
never interleaved with a log line. The catalogs below are the one list of metric names:
``infra/operations.py`` alarms on these names, and tests hold the catalogs against the
registries they read.

Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import orjson
from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

NAMESPACE = "Lambdalytics"
DEPLOYMENT = "Deployment"  # dimension: the resource prefix, so two stacks in one account differ
SERVICE = "Service"  # dimension: collector, archiver or dashboard
DIMENSIONS: tuple[str, ...] = (DEPLOYMENT, SERVICE)
FLUSH_INTERVAL_S = 60.0  # CloudWatch's standard resolution: one value per task per minute
MAX_METRICS = 100  # per MetricDirective (the spec's limit)


class Unit(StrEnum):
    COUNT = "Count"
    MILLISECONDS = "Milliseconds"


class Kind(StrEnum):
    DELTA = "delta"  # a counter (or a histogram's count): its increase since the last line
    GAUGE = "gauge"  # the value now
    MEAN = "mean"  # a histogram: sum / count of the observations since the last line


@dataclass(frozen=True, slots=True)
class Metric:
    """One EMF metric read from one prometheus family (its name as registered: no _total)."""

    name: str
    unit: Unit
    kind: Kind
    family: str
    where: tuple[tuple[str, str], ...] = ()  # only samples with these label values
    scale: float = 1.0  # e.g. 1000: seconds → milliseconds
    agg: Literal["sum", "max"] = "sum"  # over the samples left (labels not in ``where``)


@dataclass(frozen=True, slots=True)
class Catalog:
    service: str
    metrics: tuple[Metric, ...]

    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)


D, G, M = Kind.DELTA, Kind.GAUGE, Kind.MEAN
C, MS = Unit.COUNT, Unit.MILLISECONDS

# --- names the alarms use (infra/operations.py imports these, never spells them) -------------
HITS_ACCEPTED = "HitsAccepted"
HITS_FILTERED = "HitsFiltered"
HITS_REFUSED = "HitsRefused"
RECORDS_FAILED = "RecordsFailed"
RECORDS_REJECTED = "RecordsRejected"
CUT_WRITE_RETRIES = "CutWriteRetries"
DASHBOARD_SERVER_ERRORS = "DashboardServerErrors"

COLLECTOR = Catalog("collector", (
    Metric(HITS_ACCEPTED, C, D, "lambdalytics_hits_accepted"),
    Metric(HITS_FILTERED, C, D, "lambdalytics_hits_filtered"),
    Metric(HITS_REFUSED, C, D, "lambdalytics_hits_refused"),
    Metric("HitsRateLimited", C, D, "lambdalytics_hits_refused", (("reason", "rate_limited"),)),
    Metric(RECORDS_FAILED, C, D, "lambdalytics_records_failed"),  # given up: answered 503
    Metric("PutRecordsFailedEntries", C, D, "lambdalytics_put_failed_entries"),  # retried
    Metric("PutRecordsCalls", C, D, "lambdalytics_put_batch_records"),
    Metric("PutRecordsBatchSize", C, M, "lambdalytics_put_batch_records"),
    Metric("PutRecordsLatency", MS, M, "lambdalytics_put_seconds", scale=1000.0),
    Metric("SinkQueueDepth", C, G, "lambdalytics_queue_records"),
    Metric("PropertyLookupErrors", C, D, "lambdalytics_property_lookups", (("outcome", "error"),)),
    Metric("PropertyLookupsStale", C, D, "lambdalytics_property_lookups", (("outcome", "stale"),)),
))

ARCHIVER = Catalog("archiver", (
    Metric("RecordsArchived", C, D, "lambdalytics_archiver_records"),
    Metric("HitsArchived", C, D, "lambdalytics_archiver_hits"),
    Metric("DuplicatesDropped", C, D, "lambdalytics_archiver_duplicates"),
    Metric("CounterRecords", C, D, "lambdalytics_archiver_counter_records"),
    Metric(RECORDS_REJECTED, C, D, "lambdalytics_archiver_rejected"),
    Metric("Cuts", C, D, "lambdalytics_archiver_cut_seconds"),
    Metric("CutLatency", MS, M, "lambdalytics_archiver_cut_seconds", scale=1000.0),
    Metric("ObjectsWritten", C, D, "lambdalytics_archiver_objects"),
    Metric(CUT_WRITE_RETRIES, C, D, "lambdalytics_archiver_write_retries"),
    Metric("MillisBehindLatest", MS, G, "lambdalytics_archiver_millis_behind", agg="max"),
    Metric("LeasesHeld", C, G, "lambdalytics_archiver_leases_held"),
))

DASHBOARD = Catalog("dashboard", (
    Metric("DashboardRequests", C, D, "lambdalytics_dashboard_request_seconds"),
    Metric("DashboardClientErrors", C, D, "lambdalytics_dashboard_responses", (("class", "4xx"),)),
    Metric(DASHBOARD_SERVER_ERRORS, C, D, "lambdalytics_dashboard_responses", (("class", "5xx"),)),
    Metric("DashboardLatency", MS, M, "lambdalytics_dashboard_request_seconds", scale=1000.0),
))

CATALOGS: tuple[Catalog, ...] = (COLLECTOR, ARCHIVER, DASHBOARD)


def catalog_of(service: str) -> Catalog:
    return next(c for c in CATALOGS if c.service == service)


def owner(name: str) -> str:
    """The service whose lines carry metric ``name`` (KeyError: no service emits it)."""
    for c in CATALOGS:
        if name in c.names():
            return c.service
    raise KeyError(name)


# --- reading the registry ----------------------------------------------------------------------

_SUFFIX = {"counter": "_total", "histogram": "_count", "gauge": ""}


def _matches(labels: dict[str, str], where: tuple[tuple[str, str], ...]) -> bool:
    return all(labels.get(k) == v for k, v in where)


def read(registry: CollectorRegistry, metrics: Iterable[Metric]) -> dict[str, tuple[float, float]]:
    """Each metric's raw reading: (total, count) — count only matters for MEAN (the
    histogram's cumulative sum and count); DELTA and GAUGE carry their value in total."""
    wanted = list(metrics)
    families = {f.name: f for f in registry.collect()}
    out: dict[str, tuple[float, float]] = {}
    for m in wanted:
        family = families.get(m.family)
        if family is None:
            raise LookupError(f"{m.name}: no family {m.family!r} in the registry")
        if m.kind is Kind.MEAN:
            names = (m.family + "_sum", m.family + "_count")
        else:
            names = (m.family + _SUFFIX.get(family.type, ""), "")
        values = [s.value for s in family.samples
                  if s.name == names[0] and _matches(s.labels, m.where)]
        counts = [s.value for s in family.samples
                  if s.name == names[1] and _matches(s.labels, m.where)]
        total = (max(values, default=0.0) if m.agg == "max" else math.fsum(values))
        out[m.name] = (total, math.fsum(counts))
    return out


def _increase(now: float, before: float) -> float:
    """A counter's increase; a counter that went down was reset, and counted from zero."""
    return now - before if now >= before else now


def line_values(metrics: Iterable[Metric], now: dict[str, tuple[float, float]],
           before: dict[str, tuple[float, float]]) -> dict[str, float]:
    """The values of one line; a MEAN that observed nothing since ``before`` is left out
    (no data, rather than a made-up zero)."""
    out: dict[str, float] = {}
    for m in metrics:
        total, count = now[m.name]
        prev_total, prev_count = before.get(m.name, (0.0, 0.0))
        if m.kind is Kind.GAUGE:
            value = total
        elif m.kind is Kind.DELTA:
            value = _increase(total, prev_total)
        else:
            n = _increase(count, prev_count)
            if n <= 0:
                continue
            value = _increase(total, prev_total) / n
        value *= m.scale
        if math.isfinite(value):
            out[m.name] = int(value) if value.is_integer() else value
    return out


def document(catalog: Catalog, deployment: str, values: dict[str, float],
             timestamp_ms: int) -> dict[str, Any]:
    """One EMF document: the directive names every metric present at the root, and only those."""
    units = {m.name: m.unit for m in catalog.metrics}
    present = [name for name in catalog.names() if name in values]
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [list(DIMENSIONS)],
                "Metrics": [{"Name": n, "Unit": units[n].value} for n in present],
            }],
        },
        DEPLOYMENT: deployment,
        SERVICE: catalog.service,
        **{n: values[n] for n in present},
        "time": datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds"),
        "logger": __name__,
        "message": "metrics",
    }


def stdout_line(line: bytes) -> None:
    """One whole line in one write (well under a pipe's atomic size), flushed at once."""
    out = getattr(sys.stdout, "buffer", None)
    if out is None:  # a text-only stand-in
        sys.stdout.write(line.decode() + "\n")
        sys.stdout.flush()
        return
    out.write(line + b"\n")
    out.flush()


class Publisher:
    """Writes ``catalog``'s line every ``interval`` seconds, and a last one on close (so the
    final minute — a drain, say — is not lost)."""

    def __init__(self, registry: CollectorRegistry, catalog: Catalog, deployment: str, *,
                 interval: float = FLUSH_INTERVAL_S, emit: Callable[[bytes], None] = stdout_line,
                 clock: Callable[[], float] = time.time) -> None:
        if len(catalog.metrics) > MAX_METRICS:
            raise ValueError(f"{catalog.service}: over {MAX_METRICS} metrics in one directive")
        if not deployment:
            raise ValueError("the Deployment dimension must not be empty")
        self.registry = registry
        self.catalog = catalog
        self.deployment = deployment
        self.interval = interval
        self._emit = emit
        self._clock = clock
        self._last = read(registry, catalog.metrics)  # the baseline: a line counts from here
        self._task: asyncio.Task[None] | None = None

    def flush(self) -> dict[str, Any]:
        """Read the registry, write one line, remember this reading; returns the document."""
        now = read(self.registry, self.catalog.metrics)
        doc = document(self.catalog, self.deployment, line_values(self.catalog.metrics, now, self._last),
                       int(self._clock() * 1000))
        self._last = now
        self._emit(orjson.dumps(doc))
        return doc

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"emf-{self.catalog.service}")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.flush()
            except Exception:  # a metrics line must never take the service down
                log.exception("EMF flush failed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            self.flush()
        except Exception:
            log.exception("final EMF flush failed")


async def publish(stack: AsyncExitStack, registry: CollectorRegistry, catalog: Catalog,
                  deployment: str, **kwargs: Any) -> Publisher:
    """Start a publisher on ``stack``: it stops (with its last line) when the stack unwinds."""
    publisher = Publisher(registry, catalog, deployment, **kwargs)
    await publisher.start()
    stack.push_async_callback(publisher.close)
    log.info("EMF metrics every %.0f s: %s/%s", publisher.interval, NAMESPACE, catalog.service)
    return publisher
