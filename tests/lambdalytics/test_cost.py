"""The cost model: its defaults are the code's, its counts follow them, its prices are dated
and sourced, and `lambdalytics cost` prints the bill."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from archiver.settings import ArchiverSettings
from collector.settings import CollectorSettings
from collector.sink import SinkLimits
from dashboard import realtime
from infra import operations
from infra.athena import AthenaArgs
from infra.config import ON_DEMAND_INITIAL_SHARDS, StackConfig
from infra.edge import IDLE_TIMEOUT_S
from infra.network import INTERFACE_SERVICES
from infra.storage import StorageArgs
from lambdalytics import cli, emf
from lambdalytics.cost import bill, load_prices, render, to_json
from lambdalytics.cost_model import (
    KIB,
    MONTH_S,
    PROVISIONAL,
    REALTIME_MINUTES,
    REALTIME_NEWEST,
    REALTIME_REFRESH_S,
    REALTIME_SETTLED_S,
    Capacity,
    Deployment,
    Workload,
    collector_tasks,
    cut_interval,
    load_capacity,
    put_calls_per_s,
    task_counts,
    usage,
)

ROOT = Path(__file__).resolve().parents[2]
D = Deployment()
CAP = Capacity({1024: 3_000.0}, 9_000.0, 12_000.0, 150.0, "test figures", provisional=False)


def default(model: type[Any], name: str) -> Any:
    return model.model_fields[name].default


# --- the defaults are the code's -------------------------------------------------------------

def test_stack_defaults_are_infra_configs() -> None:
    s = StackConfig()
    assert (D.az_count, D.shard_count, D.log_retention_days, D.alb_log_days,
            D.replica_endpoint) == (s.az_count, s.shard_count, s.log_retention_days,
                                    s.alb_log_days, s.replica_endpoint)
    assert (D.collector_cpu, D.collector_memory) == (s.collector.cpu, s.collector.memory)
    assert (D.archiver_cpu, D.archiver_memory) == (s.archiver.cpu, s.archiver.memory)
    assert (D.dashboard_cpu, D.dashboard_memory) == (s.dashboard.cpu, s.dashboard.memory)
    assert (D.compactor_cpu, D.compactor_memory) == (s.compactor.cpu, s.compactor.memory)
    assert (D.collector_min_tasks, D.collector_max_tasks, D.collector_requests_per_target,
            D.collector_cpu_target) == (s.collector_min_tasks, s.collector_max_tasks,
                                        s.collector_requests_per_target, s.collector_cpu_target)
    assert (D.archiver_min_tasks, D.dashboard_tasks) == (s.archiver_min_tasks, s.dashboard_tasks)
    assert D.on_demand_initial_shards == ON_DEMAND_INITIAL_SHARDS
    assert s.architecture == "X86_64" == Workload(1).architecture


def test_network_edge_storage_athena_defaults() -> None:
    assert D.interface_endpoints == len(INTERFACE_SERVICES)
    assert D.alb_idle_timeout_s == IDLE_TIMEOUT_S
    assert D.noncurrent_days == StorageArgs("p", "us-west-2", None).noncurrent_days
    assert D.athena_cutoff_bytes == AthenaArgs("p", "b", "r").bytes_scanned_cutoff


def test_alarm_metrics_are_the_deployments() -> None:
    specs = operations.alarm_specs("p", "alb", dict.fromkeys(operations.TARGETS, "tg"), "s",
                                   dict.fromkeys(operations.TABLES, "t"), "c",
                                   dict.fromkeys(operations.SERVICES, "svc"))
    # an anomaly band bills as three metrics; services.py adds two step-scaling alarms and
    # two per target-tracking policy (high and low), two policies
    expected = sum(len(a.metrics) + (2 if a.anomaly else 0) for a in specs) + 2 + 2 * 2
    assert D.alarm_metrics == expected
    services = (ROOT / "infra" / "services.py").read_text()
    assert services.count("TargetTrackingScaling") == 2
    assert services.count("aws.cloudwatch.MetricAlarm(") == 1  # in the loop over out/in


def test_keys_secrets_and_insights_are_the_deployments() -> None:
    infra = "".join(p.read_text() for p in (ROOT / "infra").glob("*.py"))
    assert infra.count("aws.kms.Key(") == D.kms_keys
    assert infra.count("aws.secretsmanager.Secret(") == D.secrets
    assert ('"containerInsights", "value": "enabled"' in infra) is D.container_insights


def test_archiver_defaults_are_its_settings() -> None:
    for name in ("flush_interval_s", "batch_max_records", "batch_max_bytes",
                 "early_rollup_interval_s", "lease_duration_s", "rollup_ttl_days",
                 "recent_hits_ttl_s"):
        assert getattr(D, name) == default(ArchiverSettings, name), name
    assert D.renew_interval_s == pytest.approx(
        max(default(ArchiverSettings, "lease_duration_s") / 3 - 0.025, 0.05))


def test_collector_defaults_are_its_settings() -> None:
    limits = SinkLimits()
    assert D.sink_max_records == limits.max_records
    assert D.sink_linger_ms == default(CollectorSettings, "sink_linger_ms") == limits.linger * 1000
    assert D.sink_max_in_flight == default(CollectorSettings, "sink_max_in_flight")
    assert D.filtered_flush_s == default(CollectorSettings, "filtered_flush_s")
    assert D.property_ttl_s == default(CollectorSettings, "property_ttl_s")
    assert D.emf_interval_s == emf.FLUSH_INTERVAL_S


def test_realtime_reads_are_the_dashboards() -> None:
    assert REALTIME_MINUTES == realtime.MINUTES
    assert REALTIME_SETTLED_S == realtime.SETTLED_TTL_S
    assert REALTIME_NEWEST == realtime.SETTLED_AFTER_S // 60 + 1  # the minutes not settled
    js = (ROOT / "dashboard" / "static" / "realtime.js").read_text()
    assert f"REFRESH_MS = {REALTIME_REFRESH_S * 1000:.0f};" in js


# --- the counts follow the defaults ----------------------------------------------------------

def test_cuts_follow_the_flush_interval_and_batch_limits() -> None:
    w = Workload(1000)
    base = usage(w, D, CAP).q
    slower = usage(w, dataclasses.replace(D, flush_interval_s=40.0), CAP).q
    assert base["cut_interval_s"] == D.flush_interval_s
    assert slower["cuts"] == pytest.approx(base["cuts"] / 2)
    assert slower["rollup_items"] < base["rollup_items"]
    # a shard fast enough to fill batch_max_records first cuts by records
    assert cut_interval(2_000, 1_000, D) == pytest.approx(D.batch_max_records / 2_000)
    assert cut_interval(1_000, 4 * 1024 * 1024, D) == pytest.approx(8 / 1_000)


def test_early_rollups_follow_their_interval() -> None:
    w = Workload(1000)
    off = usage(w, dataclasses.replace(D, early_rollup_interval_s=0.0), CAP).q
    base = usage(w, D, CAP).q
    faster = usage(w, dataclasses.replace(D, early_rollup_interval_s=1.0), CAP).q
    assert off["early_wru"] == 0
    # 20 s cuts: 9 early writes each at 2 s, 19 at 1 s; every property's item changes each time
    assert faster["early_wru"] / base["early_wru"] == pytest.approx(19 / 9)
    assert base["rollup_wru"] == base["rollup_items"] * 4  # 3,129 B items: 4 WRU


def test_put_calls_follow_the_sink_limits() -> None:
    assert put_calls_per_s(10, D) == 10  # an idle sink sends each record at once
    busy = D.sink_max_in_flight / (D.sink_linger_ms / 1000 + 0.020)
    assert put_calls_per_s(5_000, D) == pytest.approx(busy)
    assert put_calls_per_s(200_000, D) == 200_000 / D.sink_max_records
    more = dataclasses.replace(D, sink_max_in_flight=8)
    assert put_calls_per_s(5_000, more) == pytest.approx(2 * busy)


def test_collector_tasks_by_the_two_targets() -> None:
    assert collector_tasks(10, 1, D, CAP) == (2, 1, 1)  # the minimum
    assert collector_tasks(1000, 1, D, CAP)[0] == 2  # 60,000 requests a minute / 30,000
    assert collector_tasks(10_000, 1, D, CAP)[:2] == (20, 20)
    slow = Capacity({1024: 100.0}, 1.0, 1.0, 1.0, "slow", provisional=False)
    tasks, by_requests, by_cpu = collector_tasks(1000, 1, D, slow)
    assert (tasks, by_requests, by_cpu) == (17, 2, 17)  # 1000 / (100 × 60 %)
    # ten events a request cost (120 + 10 × 57) / (120 + 57) = 3.9 times one, not ten
    assert collector_tasks(1000, 10, D, slow)[2] == 65


def test_task_counts_for_the_capacity_table() -> None:
    counts = task_counts(10_000, D, CAP)
    assert counts["collector_tasks"] == 20
    assert counts["shards"] == 23
    assert counts["archiver_tasks"] == 2  # 10,000 / 9,000 hits per CPU-second: 1.1 vCPU


def test_stream_rounding_and_shards() -> None:
    q = usage(Workload(1000), D, CAP).q
    records = 1000 * MONTH_S
    assert q["kinesis_ingest_gib"] == pytest.approx((records * 2 + q["counter_records"])
                                                    * KIB / 2**30)  # 1,172 B → 2 KiB
    assert q["kinesis_put_units"] == records + q["counter_records"]
    assert q["shards"] == 4  # on-demand's floor
    assert q["shards_other_mode"] == 2  # provisioned: 1.1 MiB/s at 80 %
    assert usage(Workload(10_000), D, CAP).q["shards"] == 23  # room for twice 11.2 MiB/s


def test_recent_hits_only_when_turned_on() -> None:
    assert "recent_wru" not in usage(Workload(10), D, CAP).q
    on = usage(Workload(10), dataclasses.replace(D, recent_hits_ttl_s=3600), CAP).q
    assert on["recent_wru"] == 10 * MONTH_S * 2


def test_athena_cutoff_is_a_warning() -> None:
    assert not usage(Workload(100), D, CAP).notes
    notes = usage(Workload(1000), D, CAP).notes
    assert any("cutoff" in n for n in notes)


# --- figures and prices ----------------------------------------------------------------------

def test_capacity_placeholders_give_the_provisional_figures() -> None:
    packaged = load_capacity()
    assert isinstance(packaged, Capacity)
    doc = {"schema_version": 1, "placeholder": True}
    assert load_capacity(json.dumps(doc)) is PROVISIONAL
    measured = {"schema_version": 1, "placeholder": False,
                "measured": {"date": "2026-12-07", "machine": "m"},
                "collector": {"sizes": [{"cpu_units": 512, "ua_hits_per_s": 700},
                                        {"cpu_units": 1024, "ua_hits_per_s": 1400}],
                              "rss_mib_peak": 120},
                "archiver": {"hits_per_cpu_s": 6000}, "compactor": {"hits_per_cpu_s": 15000}}
    cap = load_capacity(json.dumps(measured))
    assert not cap.provisional
    assert cap.collector(1024) == 1400
    assert cap.collector(4096) == 1400  # the largest size measured below
    with pytest.raises(ValueError, match="schema_version"):
        load_capacity(json.dumps({"schema_version": 2}))


def test_every_price_is_dated_and_sourced() -> None:
    doc = json.loads((ROOT / "lambdalytics" / "data" / "prices.json").read_text())
    assert doc["region"] == "us-east-1"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", doc["checked"])
    for key, price in doc["prices"].items():
        assert price["usd"] > 0, key
        assert price["unit"], key
        assert price["source"].startswith("https://aws.amazon.com/"), key
        assert isinstance(price["confirmed"], bool), key
        assert price["confirmed_in"], key
    prices = load_prices()
    assert set(prices.unconfirmed) == {k for k, v in doc["prices"].items() if not v["confirmed"]}


def test_the_bill_adds_up_and_names_what_is_unconfirmed() -> None:
    b = bill(Workload(1000), D, CAP)
    assert b.total == pytest.approx(sum(line.usd for line in b.lines))
    assert b.per_million() == pytest.approx(b.total / 2_628)
    assert sum(b.by("group").values()) == pytest.approx(b.total)
    provisioned = bill(Workload(1000, kinesis="provisioned"), D, CAP)
    kinesis, fargate = b.alternatives
    assert kinesis.usd == pytest.approx(
        sum(x.usd for x in provisioned.lines if x.service == "Kinesis"))
    arm = bill(Workload(1000, architecture="ARM64"), D, CAP)
    assert arm.by("service")["Fargate"] < b.by("service")["Fargate"]
    assert fargate.usd == pytest.approx(arm.by("service")["Fargate"])
    text = render(b)
    assert "per million hits" in text
    assert "not confirmed: alb_lcu_hour" in text
    assert to_json(b)["usd_per_million_hits"] == round(b.per_million(), 4)


def test_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["cost", "--hits-per-second", "1000", "--format", "json", "--kinesis",
              "provisioned", "--retention-days", "90"])
    out = json.loads(capsys.readouterr().out)
    assert out["workload"]["kinesis"] == "provisioned"
    assert out["workload"]["retention_days"] == 90
    assert out["quantities"]["hits"] == 1000 * MONTH_S
    cli.main(["cost", "--hits-per-second", "10"])
    assert "per million hits" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="hits per second"):
        cli.main(["cost", "--hits-per-second", "0"])
