"""What a deployment with the default settings does in a month at a given load: tasks, shards,
requests, bytes. Pure arithmetic over three inputs — the deployment's defaults
(:class:`Deployment`, mirrored from the code that sets them and held to it by
tests/lambdalytics/test_cost.py), the capacity figures (:class:`Capacity`, package data
written by bench/capacity.py) and the workload (:class:`Workload`, the command's options).
Prices live in :mod:`lambdalytics.cost`; this module counts."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

MONTH_S = 730 * 3600  # AWS's pricing month: 730 hours
DAYS = MONTH_S / 86_400  # 30.42
GIB = 2**30
KIB = 1024

# --- measured or documented constants (docs/benchmarks.md unless said otherwise) -------------
ROLLUP_ITEM_BYTES = 3_129  # median rollup item ("Archiver benchmark": 3,129 B → 4 WCU)
LANDING_BYTES_PER_HIT = 100.3  # gzip JSON Lines: 1,003 MB per 10 M hits (lake bench, 10 M)
LAKE_BYTES_PER_HIT = 60.6  # Parquet: 606 MB per 10 M hits
LAKE_BYTES_PER_HIT_PER_REPORT = 15.0  # Athena bytes: overview 30 B/hit (137 MB / 4.6 M),
# `pages` 10 B/hit (45 MB); a page of 15 reports taken as 4 like the overview, 11 like `pages`
REQUEST_US, EVENT_US = 120.0, 57.0  # collector CPU: per request + per event (GA4 section)
COMPACTOR_CORES = 87 / 56  # compaction CPU / wall at 1 M hits on 2 cores (lake bench)
TYPE_MIX = {"pageview": 0.58, "event": 0.25, "item": 0.08, "transaction": 0.05,
            "timing": 0.04}  # the benchmark workload's hit types
REPORTS_PER_VIEW = 15  # dashboard/reports_api.py: "a dashboard page shows about 15"
REPORT_DAYS = 60  # the default range, 30 days, and its previous period
LANDING_DAYS_PER_REPORT = 0.6  # today's (and a closing day's) landing objects, unioned in
PARQUET_GETS_PER_DAY = 3  # footer and column-chunk range reads per lake object
REALTIME_REFRESH_S = 5.0  # dashboard/static/realtime.js REFRESH_MS
REALTIME_NEWEST, REALTIME_MINUTES, REALTIME_SETTLED_S = 3, 30, 15.0  # dashboard/realtime.py
PUT_RESPONSE_BYTES_PER_RECORD = 90  # SequenceNumber and ShardId per record in the answer
CALL_OVERHEAD_BYTES = 1_500  # HTTP headers, SigV4, the answer's envelope per API call
CALL_LATENCY_S = 0.020  # PutRecords round trip assumed on AWS (moto's is not AWS's)
BASE64 = 4 / 3  # Kinesis's JSON protocol carries Data in base64, both ways
LEASE_WRU = 1  # lease items stay under 1 KB
COUNTER_REASONS = 2  # filtered-traffic reasons a property sees per flush (bots, spam)


@dataclass(frozen=True, slots=True)
class Deployment:
    """The defaults the model follows, each from the code that sets it (tests compare)."""

    # infra/config.py StackConfig
    az_count: int = 3
    shard_count: int | None = None  # None: on-demand
    collector_cpu: int = 1024
    collector_memory: int = 2048
    collector_min_tasks: int = 2
    collector_max_tasks: int = 20
    collector_requests_per_target: int = 30_000  # per task per minute
    collector_cpu_target: float = 60.0
    archiver_cpu: int = 1024
    archiver_memory: int = 2048
    archiver_min_tasks: int = 1
    dashboard_cpu: int = 512
    dashboard_memory: int = 1024
    dashboard_tasks: int = 1
    compactor_cpu: int = 2048
    compactor_memory: int = 8192
    log_retention_days: int = 30
    alb_log_days: int = 7
    replica_endpoint: bool = True
    on_demand_initial_shards: int = 4  # infra/config.py ON_DEMAND_INITIAL_SHARDS
    # infra/network.py, edge.py, storage.py, athena.py, operations.py, services.py
    interface_endpoints: int = 7  # INTERFACE_SERVICES
    alb_idle_timeout_s: int = 60  # edge.IDLE_TIMEOUT_S
    noncurrent_days: int = 30  # StorageArgs.noncurrent_days
    athena_cutoff_bytes: int = 10 * GIB  # AthenaArgs.bytes_scanned_cutoff
    alarm_metrics: int = 43  # alarm_specs' metrics, + 2 for the anomaly band, + 6 scaling alarms
    kms_keys: int = 3  # archive, replica, SNS topic
    secrets: int = 1  # the admin token
    container_insights: bool = True  # the cluster setting
    # archiver/settings.py ArchiverSettings
    flush_interval_s: float = 20.0
    batch_max_records: int = 20_000
    batch_max_bytes: int = 32 * 1024 * 1024
    early_rollup_interval_s: float = 2.0
    lease_duration_s: float = 10.0
    rollup_ttl_days: int = 7
    recent_hits_ttl_s: int = 0
    # collector/settings.py CollectorSettings, collector/sink.py SinkLimits
    sink_max_records: int = 500
    sink_linger_ms: float = 10.0
    sink_max_in_flight: int = 4
    filtered_flush_s: float = 10.0
    property_ttl_s: float = 60.0
    # lambdalytics/emf.py
    emf_interval_s: float = 60.0

    @property
    def renew_interval_s(self) -> float:  # ArchiverSettings.renew_interval_s
        return max(self.lease_duration_s / 3 - 0.025, 0.05)


@dataclass(frozen=True, slots=True)
class Capacity:
    """Saturation throughput per Fargate CPU size, from lambdalytics/data/capacity.json."""

    collector_hits_per_s: dict[int, float]  # CPU units → UA hits/s at 100 % of the task's CPU
    archiver_hits_per_cpu_s: float
    compactor_hits_per_cpu_s: float
    rss_mib: float
    source: str
    provisional: bool

    def collector(self, cpu_units: int) -> float:
        """Hits/s of one task of ``cpu_units``: the size measured, else the largest below it."""
        sizes = sorted(u for u in self.collector_hits_per_s if u <= cpu_units)
        if not sizes:
            raise ValueError(f"no collector capacity figure at or below {cpu_units} CPU units")
        return self.collector_hits_per_s[sizes[-1]]


# docs/benchmarks.md, used while capacity.json holds placeholders: the compiled collector with
# full enrichment writing to Kinesis took 280-350 µs of one core per hit (c = 512, 2026-11-29,
# "hits per record" table's runs) → 300 µs; one process uses one core, so 2 vCPU = 1 vCPU;
# the archiver 8,863-10,870 hits per CPU-second (the lower); compaction 11.5-19 k (the lower)
PROVISIONAL = Capacity(
    collector_hits_per_s={256: 833.0, 512: 1_667.0, 1024: 3_333.0, 2048: 3_333.0},
    archiver_hits_per_cpu_s=8_863.0, compactor_hits_per_cpu_s=11_500.0, rss_mib=150.0,
    source="PROVISIONAL: docs/benchmarks.md (300 µs/hit collector, 8,863 hits/CPU-s archiver, "
           "11,500 compaction); capacity.json still holds placeholders", provisional=True)


def load_capacity(text: str | None = None) -> Capacity:
    """The capacity figures (package data unless ``text`` is given); placeholders → PROVISIONAL."""
    if text is None:
        text = (resources.files("lambdalytics") / "data" / "capacity.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    if doc.get("schema_version") != 1:
        raise ValueError(f"capacity.json: schema_version {doc.get('schema_version')!r}, not 1")
    if doc.get("placeholder", True):
        return PROVISIONAL
    col, measured = doc["collector"], doc.get("measured") or {}
    return Capacity(
        collector_hits_per_s={int(s["cpu_units"]): float(s["ua_hits_per_s"])
                              for s in col["sizes"]},
        archiver_hits_per_cpu_s=float(doc["archiver"]["hits_per_cpu_s"]),
        compactor_hits_per_cpu_s=float(doc["compactor"]["hits_per_cpu_s"]),
        rss_mib=float(col.get("rss_mib_peak", 0)),
        source=f"measured {measured.get('date')} on {measured.get('machine')}",
        provisional=False)


@dataclass(frozen=True, slots=True)
class Workload:
    hits_per_second: float  # requests (UA hits, GA4 requests) per second, a steady average
    events_per_hit: float = 1.0  # canonical Hits (Kinesis records) per request
    retention_days: int = 400  # how long the archive keeps landing and lake objects
    properties: int = 5  # sites, sharing the traffic equally
    record_bytes: int = 1_172  # an enriched hit record (docs/benchmarks.md: 1,172 B)
    hits_per_connection: float = 3.0  # browser requests per new TLS connection to the ALB
    request_bytes: int = 1_100  # request line, headers, payload (464 B) as the ALB sees it
    response_bytes: int = 300  # 204 / 1×1 GIF with headers
    tls_bytes_out: int = 2_500  # per new connection: full handshakes ~4.5 KB, resumed ~0.3 KB
    dashboard_views_per_day: float = 20.0  # page loads of ~15 reports, spread over properties
    realtime_hours_per_day: float = 8.0  # one realtime view open, all properties together
    kinesis: Literal["on-demand", "provisioned"] = "on-demand"
    architecture: Literal["X86_64", "ARM64"] = "X86_64"

    def check(self) -> Workload:
        if self.hits_per_second <= 0 or self.events_per_hit < 1 or self.properties < 1:
            raise ValueError("hits per second > 0, events per hit ≥ 1, properties ≥ 1")
        if self.retention_days < 1 or self.hits_per_connection < 1:
            raise ValueError("retention days ≥ 1, hits per connection ≥ 1")
        return self


@dataclass(slots=True)
class Usage:
    """Monthly quantities by name (units in the name), and the model's warnings."""

    q: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def occupied(n: float, weights: list[float]) -> float:
    """Expected number of distinct cells hit by ``n`` hits spread by ``weights`` (Poisson)."""
    return sum(1 - math.exp(-n * w) for w in weights)


def collector_tasks(requests_per_s: float, events_per_hit: float, d: Deployment,
                    cap: Capacity) -> tuple[int, int, int]:
    """(tasks, by the request-count target, by the CPU target) as the two target-tracking
    policies settle them: the larger wins, never under the minimum (the maximum is reported,
    not applied: the caller warns)."""
    per_request = (REQUEST_US + EVENT_US * events_per_hit) / (REQUEST_US + EVENT_US)
    per_task = cap.collector(d.collector_cpu) / per_request  # requests/s at 100 % CPU
    by_cpu = math.ceil(requests_per_s / (per_task * d.collector_cpu_target / 100))
    by_requests = math.ceil(requests_per_s * 60 / d.collector_requests_per_target)
    return max(d.collector_min_tasks, by_cpu, by_requests), by_requests, by_cpu


def shards(records_per_s: float, bytes_per_s: float, mode: str, d: Deployment) -> int:
    """Open shards: provisioned as configured (or sized at 80 % of the write limits); on-demand
    as AWS grows it — room for double the peak, never under the initial four."""
    need = max(records_per_s / 1000, bytes_per_s / 2**20)
    if mode == "provisioned":
        return d.shard_count or max(1, math.ceil(need / 0.8))
    return max(d.on_demand_initial_shards, math.ceil(2 * need))


def cut_interval(rate: float, record_bytes: int, d: Deployment) -> float:
    """Seconds a shard's cut spans at ``rate`` records/s: time, records or bytes first."""
    return min(d.flush_interval_s, d.batch_max_records / rate,
               d.batch_max_bytes / (rate * record_bytes))


def put_calls_per_s(records_per_s: float, d: Deployment) -> float:
    """PutRecords calls one collector task makes: alone while the sink is idle, then batches
    filling for ``linger`` behind ``max_in_flight`` calls, at most ``max_records`` each."""
    busy = d.sink_max_in_flight / (d.sink_linger_ms / 1000 + CALL_LATENCY_S)
    return max(min(records_per_s, busy), records_per_s / d.sink_max_records)


def task_counts(hits_per_second: float, d: Deployment | None = None,
                cap: Capacity | None = None) -> dict[str, int]:
    """The tasks and shards the defaults give at a load (docs/capacity.md's table uses it)."""
    q = usage(Workload(hits_per_second), d, cap).q
    return {k: int(q[k]) for k in ("collector_tasks", "collector_tasks_by_requests",
                                   "collector_tasks_by_cpu", "archiver_tasks", "shards",
                                   "shards_other_mode")}


def usage(w: Workload, d: Deployment | None = None, cap: Capacity | None = None) -> Usage:
    """Every monthly quantity :mod:`lambdalytics.cost` prices, for workload ``w``."""
    d, cap, w = d or Deployment(), cap or load_capacity(), w.check()
    u, q = Usage(), {}
    req_s, rec_s = w.hits_per_second, w.hits_per_second * w.events_per_hit
    hits_month, records_month = req_s * MONTH_S, rec_s * MONTH_S
    q["hits"], q["records"] = hits_month, records_month

    # collector: the two target-tracking policies
    tasks, by_req, by_cpu = collector_tasks(req_s, w.events_per_hit, d, cap)
    if tasks > d.collector_max_tasks:
        u.notes.append(f"collector needs {tasks} tasks, over collector_max_tasks "
                       f"{d.collector_max_tasks}: raise it (priced at {tasks})")
    q["collector_tasks"], q["collector_tasks_by_requests"], q["collector_tasks_by_cpu"] = \
        tasks, by_req, by_cpu
    # the stream: one record per canonical Hit, plus each property's filtered-traffic counters
    counter_month = tasks * w.properties * COUNTER_REASONS / d.filtered_flush_s * MONTH_S
    bytes_s = rec_s * w.record_bytes
    n_shards = shards(rec_s, bytes_s, w.kinesis, d)
    q["shards"] = n_shards
    q["shards_other_mode"] = shards(rec_s, bytes_s, "provisioned" if w.kinesis == "on-demand"
                                    else "on-demand", d)
    q["counter_records"] = counter_month  # ~200 B each: 1 KiB and one PUT unit
    q["kinesis_ingest_gib"] = (records_month * math.ceil(w.record_bytes / KIB) + counter_month) \
        * KIB / GIB
    q["kinesis_retrieval_gib"] = records_month * w.record_bytes / GIB
    q["kinesis_put_units"] = records_month * math.ceil(w.record_bytes / (25 * KIB)) \
        + counter_month
    calls_s = tasks * put_calls_per_s(rec_s / tasks, d)
    q["put_calls"] = calls_s * MONTH_S
    # archiver: cuts per shard, S3 objects per cut, rollup items, early rollups, leases
    rate = rec_s / n_shards
    cut = cut_interval(rate, w.record_bytes, d)
    cuts_s = n_shards / cut
    per_cut = rate * cut
    cells = [t / w.properties for t in TYPE_MIX.values() for _ in range(w.properties)]
    objects = occupied(per_cut, cells)
    active = occupied(per_cut, [1 / w.properties] * w.properties)
    counter_objects_s = w.properties / cut  # a property's counters all go to one shard's cuts
    q["cut_interval_s"], q["cuts"], q["hits_per_cut"] = cut, cuts_s * MONTH_S, per_cut
    q["landing_objects"] = (cuts_s * objects + counter_objects_s) * MONTH_S
    items_per_cut = active * (1 + cut / 60)
    item_wru = math.ceil(ROLLUP_ITEM_BYTES / KIB)
    early_s = d.early_rollup_interval_s
    early_per_cut = max(0, math.ceil(cut / early_s) - 1) if early_s else 0
    changed = occupied(rate * early_s, [1 / w.properties] * w.properties) if early_s else 0
    q["rollup_items"] = cuts_s * items_per_cut * MONTH_S
    q["rollup_wru"] = q["rollup_items"] * item_wru
    q["early_wru"] = cuts_s * early_per_cut * (changed * item_wru + LEASE_WRU) * MONTH_S
    q["lease_wru"] = (cuts_s * 2 + n_shards / d.renew_interval_s) * LEASE_WRU * MONTH_S
    if d.recent_hits_ttl_s:
        q["recent_wru"] = records_month * math.ceil(w.record_bytes / KIB)
    vcpu = rec_s / cap.archiver_hits_per_cpu_s
    archivers = max(d.archiver_min_tasks, math.ceil(vcpu / (d.archiver_cpu / 1024)))
    if archivers > n_shards:
        u.notes.append(f"the archiver needs {vcpu:.1f} vCPU: more than one task per shard "
                       f"({n_shards}) can give; use bigger archiver tasks")
        archivers = n_shards
    q["archiver_tasks"] = archivers
    # compaction: a daily run of the compactor task
    cpu_s_day = rec_s * 86_400 / cap.compactor_hits_per_cpu_s
    q["compactor_task_hours"] = cpu_s_day / min(COMPACTOR_CORES, d.compactor_cpu / 1024) \
        / 3600 * DAYS
    q["lake_puts"] = w.properties * 3 * 2 * DAYS  # object, manifest, through; late days again
    q["compaction_gets"] = q["landing_objects"]
    # a run lists every landing object twice: all properties' (to find them), then each one's
    # (archiver/compact.py): 1,000 keys a LIST, the whole retention each day
    q["compaction_lists"] = 2 * q["landing_objects"] * w.retention_days / 1000
    # storage: every hit stays retention_days, in the archive and its replica
    day_bytes = rec_s * 86_400
    q["s3_gib"] = day_bytes * (LANDING_BYTES_PER_HIT + LAKE_BYTES_PER_HIT) * w.retention_days / GIB
    q["s3_noncurrent_gib"] = day_bytes * LAKE_BYTES_PER_HIT * d.noncurrent_days / GIB
    q["s3_average_gib"] = q["s3_gib"] / 2  # the first retention period's average
    q["alb_log_gib"] = req_s * 86_400 * d.alb_log_days * 80 / GIB  # 636 B a line, gzip 8:1
    # every version goes to the replica: landing once, a lake day twice (written, rewritten)
    q["replication_gib"] = records_month * (LANDING_BYTES_PER_HIT + 2 * LAKE_BYTES_PER_HIT) / GIB
    items_live = cuts_s * items_per_cut * 86_400 * d.rollup_ttl_days
    q["dynamodb_gib"] = items_live * ROLLUP_ITEM_BYTES / GIB
    _reads(w, d, q, n_shards, cut, tasks, day_bytes, u)
    _edge(w, d, q, req_s, rec_s, calls_s, tasks, archivers)
    u.q = q
    return u


def _reads(w: Workload, d: Deployment, q: dict[str, float], n_shards: int, cut: float,
           tasks: int, day_bytes: float, u: Usage) -> None:
    """Dashboards: Athena reports, realtime Queries, property lookups."""
    per_property_day = day_bytes / w.properties
    lake = REPORT_DAYS * per_property_day * LAKE_BYTES_PER_HIT_PER_REPORT
    landing = LANDING_DAYS_PER_REPORT * per_property_day * LANDING_BYTES_PER_HIT
    per_query = max(10 * 2**20, lake + landing)
    if per_query > d.athena_cutoff_bytes:
        u.notes.append(f"a report scans {per_query / GIB:.1f} GiB, over the workgroup's "
                       f"{d.athena_cutoff_bytes / GIB:.0f} GiB cutoff: Athena cancels it "
                       "(billed up to the cutoff, the report fails)")
        per_query = d.athena_cutoff_bytes
    queries = w.dashboard_views_per_day * REPORTS_PER_VIEW * DAYS
    q["athena_queries"], q["athena_tib"] = queries, queries * per_query / 2**40
    landing_objects_day = q["landing_objects"] / DAYS / w.properties
    q["athena_gets"] = queries * (REPORT_DAYS * PARQUET_GETS_PER_DAY
                                  + LANDING_DAYS_PER_REPORT * landing_objects_day)
    q["athena_result_puts"] = queries
    items_per_minute = n_shards * (60 / cut + 1) if q["hits"] else 0
    rru_per_query = max(0.5, math.ceil(items_per_minute * ROLLUP_ITEM_BYTES / 4096) * 0.5)
    queries_per_s = REALTIME_NEWEST / REALTIME_REFRESH_S \
        + (REALTIME_MINUTES - REALTIME_NEWEST) / REALTIME_SETTLED_S
    q["realtime_rru"] = queries_per_s * rru_per_query * w.realtime_hours_per_day * 3600 * DAYS
    q["property_rru"] = tasks * w.properties / d.property_ttl_s * 0.5 * MONTH_S


def _edge(w: Workload, d: Deployment, q: dict[str, float], req_s: float, rec_s: float,
          calls_s: float, tasks: int, archivers: int) -> None:
    """The load balancer, the VPC endpoints' bytes, logs and metrics."""
    new_conn_s = req_s / w.hits_per_connection
    q["alb_new_connections_per_s"] = new_conn_s
    q["alb_active_connections"] = new_conn_s * (d.alb_idle_timeout_s + 30)
    q["alb_gib_per_hour"] = req_s * (w.request_bytes + w.response_bytes) * 3600 / GIB
    q["alb_rule_evaluations_per_s"] = 0.0  # the HTTPS listener has < 10 rules: free
    q["internet_out_gib"] = (req_s * w.response_bytes + new_conn_s * w.tls_bytes_out) \
        * MONTH_S / GIB
    record_wire = w.record_bytes * BASE64
    kinesis_bytes = rec_s * (2 * record_wire + PUT_RESPONSE_BYTES_PER_RECORD) \
        + calls_s * CALL_OVERHEAD_BYTES
    q["endpoint_gib"] = kinesis_bytes * MONTH_S / GIB
    task_count = tasks + archivers + 1
    q["task_count"] = task_count
    # logs: an EMF line per task a minute, a line per cut, start-up and warnings
    emf_bytes = task_count * 1_500 * MONTH_S / d.emf_interval_s
    cut_logs = q["cuts"] * 300
    insights = task_count * 1_000 * MONTH_S / 60 if d.container_insights else 0
    q["log_gib"] = (emf_bytes + cut_logs + insights) / GIB
    q["log_stored_gib"] = q["log_gib"] / DAYS * d.log_retention_days
