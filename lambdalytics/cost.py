"""`lambdalytics cost`: the monthly AWS bill of a deployment with the default settings, by
service, from the dated price table (lambdalytics/data/prices.json) and the quantities
:mod:`lambdalytics.cost_model` derives. docs/costs.md explains every line and assumption."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

from lambdalytics import emf
from lambdalytics.cost_model import (
    MONTH_S,
    Capacity,
    Deployment,
    Usage,
    Workload,
    load_capacity,
    usage,
)

HOURS = MONTH_S / 3600
CONTAINER_INSIGHTS_METRICS = 8 + 10 * 4  # cluster metrics + ~10 per service (assumed)
ECR_GB = 1.5  # three images and a few old versions
KMS_CALLS_PER_OBJECT_OP = 0.01  # S3 Bucket Keys: ~1 KMS call per 100 object operations
GROUPS = ("ingestion", "archive", "dashboards", "operations")


@dataclass(frozen=True, slots=True)
class Prices:
    checked: str
    region: str
    usd: dict[str, float]
    unconfirmed: tuple[str, ...]

    def __getitem__(self, key: str) -> float:
        return self.usd[key]


def load_prices(text: str | None = None) -> Prices:
    if text is None:
        text = (resources.files("lambdalytics") / "data" / "prices.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    if doc.get("schema_version") != 1:
        raise ValueError(f"prices.json: schema_version {doc.get('schema_version')!r}, not 1")
    table: dict[str, dict[str, Any]] = doc["prices"]
    return Prices(doc["checked"], doc["region"], {k: float(v["usd"]) for k, v in table.items()},
                  tuple(k for k, v in table.items() if not v["confirmed"]))


@dataclass(frozen=True, slots=True)
class Line:
    service: str
    item: str
    quantity: float
    unit: str
    usd: float
    group: str


@dataclass(slots=True)
class Bill:
    workload: Workload
    lines: list[Line]
    usage: Usage
    capacity: Capacity
    prices: Prices
    alternatives: list[Line]  # the other Kinesis mode, the other architecture: not in the total

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def per_million(self, usd: float | None = None) -> float:
        return (self.total if usd is None else usd) / (self.usage.q["hits"] / 1e6)

    def per_million_events(self) -> float:
        return self.total / (self.usage.q["records"] / 1e6)

    def by(self, attr: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.lines:
            key = getattr(line, attr)
            out[key] = out.get(key, 0.0) + line.usd
        return out


def _fargate(p: Prices, arch: str, cpu: int, memory: int, hours: float) -> float:
    kind = "arm" if arch == "ARM64" else "x86"
    return hours * (cpu / 1024 * p[f"fargate_{kind}_vcpu_hour"]
                    + memory / 1024 * p[f"fargate_{kind}_gb_hour"])


def _kinesis(p: Prices, mode: str, q: dict[str, float], n_shards: float) -> list[Line]:
    if mode == "provisioned":
        return [Line("Kinesis", "shard-hours", n_shards * HOURS, "shard-h",
                     n_shards * HOURS * p["kinesis_shard_hour"], "ingestion"),
                Line("Kinesis", "PUT payload units", q["kinesis_put_units"], "units",
                     q["kinesis_put_units"] / 1e6 * p["kinesis_put_units_million"], "ingestion")]
    return [Line("Kinesis", "on-demand stream-hours", HOURS, "h",
                 HOURS * p["kinesis_od_stream_hour"], "ingestion"),
            Line("Kinesis", "data in (1 KiB per record started)", q["kinesis_ingest_gib"],
                 "GiB", q["kinesis_ingest_gib"] * p["kinesis_od_ingest_gb"], "ingestion"),
            Line("Kinesis", "data out", q["kinesis_retrieval_gib"], "GiB",
                 q["kinesis_retrieval_gib"] * p["kinesis_od_retrieval_gb"], "archive")]


def bill(w: Workload, d: Deployment | None = None, cap: Capacity | None = None,
         prices: Prices | None = None) -> Bill:
    d, cap, p = d or Deployment(), cap or load_capacity(), prices or load_prices()
    u = usage(w, d, cap)
    q, arch = u.q, w.architecture
    lcu = max(q["alb_new_connections_per_s"] / 25, q["alb_active_connections"] / 3000,
              q["alb_gib_per_hour"] / 1, q["alb_rule_evaluations_per_s"] / 1000)
    s3_objects = q["landing_objects"] + q["lake_puts"] + q["athena_result_puts"]
    s3_gets = q["compaction_gets"] + q["athena_gets"]
    endpoints = d.interface_endpoints + (1 if d.replica_endpoint else 0)
    wru = q["rollup_wru"] + q["early_wru"] + q["lease_wru"] + q.get("recent_wru", 0.0)
    rru = q["realtime_rru"] + q["property_rru"]
    stored = q["s3_gib"] + q["s3_noncurrent_gib"]
    metrics = sum(len(c.metrics) for c in emf.CATALOGS) \
        + (CONTAINER_INSIGHTS_METRICS if d.container_insights else 0)
    L = Line
    lines = [
        L("ALB", "load balancer-hours", HOURS, "h", HOURS * p["alb_hour"], "ingestion"),
        L("ALB", "LCU-hours (the largest dimension)", lcu * HOURS, "LCU-h",
          lcu * HOURS * p["alb_lcu_hour"], "ingestion"),
        L("ALB", "public IPv4 addresses (one per zone)", d.az_count * HOURS, "IP-h",
          d.az_count * HOURS * p["public_ipv4_hour"], "ingestion"),
        L("Data transfer", "out to the internet (answers, TLS handshakes)",
          q["internet_out_gib"], "GiB", q["internet_out_gib"] * p["internet_out_gb"],
          "ingestion"),
        L("Fargate", f"collector: {q['collector_tasks']:.0f} tasks", q["collector_tasks"] * HOURS,
          "task-h", q["collector_tasks"] * _fargate(p, arch, d.collector_cpu,
                                                    d.collector_memory, HOURS), "ingestion"),
        L("Fargate", f"archiver: {q['archiver_tasks']:.0f} tasks", q["archiver_tasks"] * HOURS,
          "task-h", q["archiver_tasks"] * _fargate(p, arch, d.archiver_cpu, d.archiver_memory,
                                                   HOURS), "archive"),
        L("Fargate", "compactor: the daily run", q["compactor_task_hours"], "task-h",
          _fargate(p, arch, d.compactor_cpu, d.compactor_memory, q["compactor_task_hours"]),
          "archive"),
        L("Fargate", f"dashboard: {d.dashboard_tasks} task", d.dashboard_tasks * HOURS, "task-h",
          d.dashboard_tasks * _fargate(p, arch, d.dashboard_cpu, d.dashboard_memory, HOURS),
          "dashboards"),
        *_kinesis(p, w.kinesis, q, q["shards"]),
        L("DynamoDB", "writes: rollups, early rollups, leases", wru, "WRU",
          wru / 1e6 * p["dynamodb_wru_million"], "archive"),
        L("DynamoDB", "reads: realtime, property lookups", rru, "RRU",
          rru / 1e6 * p["dynamodb_rru_million"], "dashboards"),
        L("DynamoDB", "storage and PITR (rollups live 7 days)", q["dynamodb_gib"], "GiB",
          q["dynamodb_gib"] * (p["dynamodb_storage_gb_month"] + p["dynamodb_pitr_gb_month"]),
          "archive"),
        L("S3", "archive storage: landing + lake, noncurrent, ALB logs",
          stored + q["alb_log_gib"], "GiB-mo",
          (stored + q["alb_log_gib"]) * p["s3_standard_gb_month"], "archive"),
        L("S3", "PUT (landing objects per cut, lake, results) and LIST",
          s3_objects + q["compaction_lists"], "requests",
          (s3_objects + q["compaction_lists"]) / 1000 * p["s3_put_thousand"], "archive"),
        L("S3", "GET (compaction, Athena)", s3_gets, "requests",
          s3_gets / 1000 * p["s3_get_thousand"], "dashboards"),
        L("Replication", "replica storage", stored, "GiB-mo", stored * p["s3_standard_gb_month"],
          "archive"),
        L("Replication", "replica PUTs", q["landing_objects"] + q["lake_puts"], "requests",
          (q["landing_objects"] + q["lake_puts"]) / 1000 * p["s3_put_thousand"], "archive"),
        L("Replication", "inter-region transfer (every object version)", q["replication_gib"],
          "GiB", q["replication_gib"] * p["inter_region_gb"], "archive"),
        L("Athena", f"reports: {q['athena_queries']:,.0f} queries", q["athena_tib"], "TiB",
          q["athena_tib"] * p["athena_tb"], "dashboards"),
        L("VPC endpoints", f"{endpoints} interface endpoints × {d.az_count} zones",
          endpoints * d.az_count * HOURS, "AZ-h",
          endpoints * d.az_count * HOURS * p["vpce_az_hour"], "ingestion"),
        L("VPC endpoints", "data processed (Kinesis both ways, base64)", q["endpoint_gib"],
          "GiB", q["endpoint_gib"] * p["vpce_gb"], "ingestion"),
        L("CloudWatch", "logs ingested (EMF lines, cut lines, Container Insights)",
          q["log_gib"], "GiB", q["log_gib"] * p["cw_logs_ingest_gb"]
          + q["log_stored_gib"] * p["cw_logs_storage_gb_month"], "operations"),
        L("CloudWatch", "custom metrics (EMF, Container Insights)", metrics, "metrics",
          metrics * p["cw_metric_month"], "operations"),
        L("CloudWatch", "alarms and the dashboard", d.alarm_metrics, "alarm metrics",
          d.alarm_metrics * p["cw_alarm_metric_month"] + p["cw_dashboard_month"], "operations"),
        L("KMS", f"{d.kms_keys} keys and S3's calls", d.kms_keys, "keys",
          d.kms_keys * p["kms_key_month"] + (s3_objects + s3_gets) * KMS_CALLS_PER_OBJECT_OP
          / 1e4 * p["kms_requests_10k"], "operations"),
        L("Secrets Manager", "the admin token", d.secrets, "secrets",
          d.secrets * p["secret_month"], "operations"),
        L("ECR", "images", ECR_GB, "GB-mo", ECR_GB * p["ecr_gb_month"], "operations"),
    ]
    other = "provisioned" if w.kinesis == "on-demand" else "on-demand"
    alt = _kinesis(p, other, q, q["shards_other_mode"])
    arch_other = "X86_64" if arch == "ARM64" else "ARM64"
    sizes = [(q["collector_tasks"] * HOURS, d.collector_cpu, d.collector_memory),
             (q["archiver_tasks"] * HOURS, d.archiver_cpu, d.archiver_memory),
             (q["compactor_task_hours"], d.compactor_cpu, d.compactor_memory),
             (d.dashboard_tasks * HOURS, d.dashboard_cpu, d.dashboard_memory)]
    alternatives = [
        Line("Kinesis", f"{other} instead ({q['shards_other_mode']:.0f} shards)", 0, "",
             sum(x.usd for x in alt), "ingestion"),
        Line("Fargate", f"{arch_other} instead", 0, "",
             sum(_fargate(p, arch_other, cpu, mem, hours) for hours, cpu, mem in sizes), "")]
    return Bill(w, lines, u, cap, p, alternatives)


def assumptions(b: Bill) -> list[str]:
    w, q = b.workload, b.usage.q
    return [
        f"prices: {b.prices.region}, list prices checked {b.prices.checked}"
        + (f"; not confirmed: {', '.join(b.prices.unconfirmed)}" if b.prices.unconfirmed
           else ""),
        f"capacity: {b.capacity.source}",
        f"load: {w.hits_per_second:,.0f} requests/s around the clock, {w.events_per_hit:g} "
        f"events per request, {w.properties} properties sharing it, records of "
        f"{w.record_bytes:,} B, {w.hits_per_connection:g} requests per new TLS connection",
        f"archive: kept {w.retention_days} days (steady state: storage of a full retention), "
        f"replicated; first retention period's average {q['s3_average_gib'] * 2:,.0f} GiB "
        "in both buckets",
        f"stream: {w.kinesis}, {q['shards']:.0f} shards; a cut every {q['cut_interval_s']:.1f} s "
        f"per shard of {q['hits_per_cut']:,.0f} hits",
        f"dashboards: {w.dashboard_views_per_day:g} page views a day × 15 reports over 30 days "
        f"and the previous period (no cached answers), realtime open "
        f"{w.realtime_hours_per_day:g} h a day",
        "not priced: free tiers, WAF (off by default), Route 53, taxes, support",
    ]


def to_json(b: Bill) -> dict[str, Any]:
    return {"workload": asdict(b.workload), "total_usd": round(b.total, 2),
            "usd_per_million_hits": round(b.per_million(), 4),
            "usd_per_million_events": round(b.per_million_events(), 4),
            "by_group": {k: round(v, 2) for k, v in b.by("group").items()},
            "by_service": {k: round(v, 2) for k, v in b.by("service").items()},
            "lines": [asdict(line) for line in b.lines],
            "alternatives": [asdict(a) for a in b.alternatives],
            "quantities": b.usage.q, "warnings": b.usage.notes, "assumptions": assumptions(b),
            "capacity_provisional": b.capacity.provisional}


def render(b: Bill) -> str:
    rows = [f"{'service':<16}{'item':<58}{'USD/month':>12}"]
    for line in b.lines:
        rows.append(f"{line.service:<16}{line.item[:57]:<58}{line.usd:>12,.2f}")
    rows.append(f"{'':<16}{'total':<58}{b.total:>12,.2f}")
    rows.append(f"{'':<16}{'per million hits (requests)':<58}{b.per_million():>12,.4f}")
    if b.workload.events_per_hit != 1:
        rows.append(f"{'':<16}{'per million events':<58}{b.per_million_events():>12,.4f}")
    for group, usd in b.by("group").items():
        rows.append(f"{'':<16}{'  of which ' + group:<58}{usd:>12,.2f}")
    for alt in b.alternatives:
        rows.append(f"{alt.service:<16}{alt.item[:57]:<58}{alt.usd:>12,.2f}  (not in the total)")
    rows += [""] + [f"warning: {n}" for n in b.usage.notes] + [f"- {a}" for a in assumptions(b)]
    return "\n".join(rows)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("cost", help="the monthly AWS bill at a given load (docs/costs.md)")
    c.add_argument("--hits-per-second", type=float, required=True, metavar="N")
    c.add_argument("--events-per-hit", type=float, default=1.0)
    c.add_argument("--retention-days", type=int, default=400)
    c.add_argument("--properties", type=int, default=5)
    c.add_argument("--hits-per-connection", type=float, default=3.0)
    c.add_argument("--dashboard-views-per-day", type=float, default=20.0)
    c.add_argument("--realtime-hours-per-day", type=float, default=8.0)
    c.add_argument("--kinesis", choices=("on-demand", "provisioned"), default="on-demand")
    c.add_argument("--architecture", choices=("X86_64", "ARM64"), default="X86_64")
    c.add_argument("--format", choices=("table", "json"), default="table")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    w = Workload(args.hits_per_second, args.events_per_hit, args.retention_days,
                 args.properties, hits_per_connection=args.hits_per_connection,
                 dashboard_views_per_day=args.dashboard_views_per_day,
                 realtime_hours_per_day=args.realtime_hours_per_day, kinesis=args.kinesis,
                 architecture=args.architecture)
    try:
        b = bill(w)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(json.dumps(to_json(b), indent=2) if args.format == "json" else render(b))
