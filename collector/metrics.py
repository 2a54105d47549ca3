"""Prometheus metrics of one collector app (its own registry: no module-level globals)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 200, 300, 400, 500)
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.hits_accepted = Counter(
            "lambdalytics_hits_accepted", "Hits durably put to Kinesis", ["protocol"], registry=r)
        self.hits_filtered = Counter(
            "lambdalytics_hits_filtered", "Hits answered 2xx but not forwarded, by reason",
            ["protocol", "reason"], registry=r)
        self.hits_refused = Counter(
            "lambdalytics_hits_refused", "Hits answered 4xx/5xx (not taken), by reason",
            ["protocol", "reason"], registry=r)
        self.records_failed = Counter(
            "lambdalytics_records_failed", "Records given up after the retry budget", registry=r)
        self.put_batch_size = Histogram(
            "lambdalytics_put_batch_records", "Records per PutRecords call",
            buckets=BATCH_BUCKETS, registry=r)
        self.put_latency = Histogram(
            "lambdalytics_put_seconds", "PutRecords call latency", buckets=LATENCY_BUCKETS,
            registry=r)
        self.put_failed_entries = Counter(
            "lambdalytics_put_failed_entries", "Entries a PutRecords call did not take",
            registry=r)
        self.queue_depth = Gauge(
            "lambdalytics_queue_records", "Records waiting for or in a PutRecords call",
            registry=r)
        self.property_lookups = Counter(
            "lambdalytics_property_lookups", "Property lookups by outcome", ["outcome"],
            registry=r)
        # children looked up once: labels() costs more than inc() on the hot path
        self._accepted = {p: self.hits_accepted.labels(p) for p in ("ua", "ga4mp", "gtag")}

    def accepted(self, protocol: str, n: int = 1) -> None:
        self._accepted[protocol].inc(n)

    def observe_put(self, records: int, seconds: float, failed: int) -> None:
        self.put_batch_size.observe(records)
        self.put_latency.observe(seconds)
        if failed:
            self.put_failed_entries.inc(failed)

    def track_queue(self, depth: Callable[[], float]) -> None:
        self.queue_depth.set_function(depth)
