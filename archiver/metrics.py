"""Prometheus metrics of one archiver worker (its own registry: no module-level globals).

Counted once per cut, per GetRecords page or per retry — never per record — and read by
lambdalytics.emf once a minute (the CloudWatch names are in lambdalytics.emf.ARCHIVER).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from archiver.processor import CutOutput

CUT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ArchiverMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.records = Counter("lambdalytics_archiver_records", "Records in written cuts",
                               registry=r)
        self.hits = Counter("lambdalytics_archiver_hits", "Hits written to the archive",
                            registry=r)
        self.duplicates = Counter("lambdalytics_archiver_duplicates",
                                  "Hits dropped as duplicates of an earlier hit_id", registry=r)
        self.counter_records = Counter("lambdalytics_archiver_counter_records",
                                       "Filtered-traffic counter records written", registry=r)
        self.rejected = Counter("lambdalytics_archiver_rejected",
                                "Records quarantined under the rejected prefix", registry=r)
        self.objects = Counter("lambdalytics_archiver_objects", "S3 objects written", registry=r)
        self.write_retries = Counter("lambdalytics_archiver_write_retries",
                                     "Retries of a cut's S3 or DynamoDB writes", registry=r)
        self.cut_seconds = Histogram("lambdalytics_archiver_cut_seconds",
                                     "Time from recording a cut to its checkpoint",
                                     buckets=CUT_BUCKETS, registry=r)
        self.millis_behind = Gauge("lambdalytics_archiver_millis_behind",
                                   "MillisBehindLatest of the furthest-behind held shard",
                                   registry=r)
        self.leases_held = Gauge("lambdalytics_archiver_leases_held", "Leases this worker holds",
                                 registry=r)
        self._behind: dict[str, int] = {}
        self.millis_behind.set_function(lambda: max(self._behind.values(), default=0))

    def cut(self, records: int, out: CutOutput, seconds: float) -> None:
        self.records.inc(records)
        self.hits.inc(out.hits)
        self.duplicates.inc(out.duplicates)
        self.counter_records.inc(out.counters)
        self.rejected.inc(out.rejected)
        self.objects.inc(len(out.objects))
        self.cut_seconds.observe(seconds)

    def behind(self, shard_id: str, millis: int) -> None:
        self._behind[shard_id] = millis

    def forget(self, shard_id: str) -> None:
        """The shard is no longer read here (ended, lost or stopped)."""
        self._behind.pop(shard_id, None)

    def track_leases(self, held: Callable[[], float]) -> None:
        self.leases_held.set_function(held)
