"""lambdalytics.emf: every line is a valid EMF document (checked against the spec's rules
here, not against the module's own idea of them), values are the right deltas across
flushes, and each catalog reads families its service's registry really has."""

from __future__ import annotations

import asyncio
import math
import re
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from archiver.metrics import ArchiverMetrics
from archiver.processor import CutOutput
from collector.app import Overrides
from collector.metrics import Metrics
from collector.settings import CollectorSettings
from collector.sink import NullWriter
from dashboard.app import create_app as create_dashboard
from dashboard.metrics import DashboardMetrics, RequestMetrics
from dashboard.settings import DashboardSettings
from lambdalytics import emf
from lambdalytics.properties import Property
from tests.archiver.harness import Stack, counter_record, encoded, make_hits, new_stack, wait_until
from tests.conftest import Spawn
from tests.support import UA_TID, running_collector

# CloudWatch's StandardUnit values (PutMetricData / MetricDatum.Unit)
UNITS = frozenset({
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None"})
NOW = 1_765_000_000.0  # epoch seconds


def emf_errors(doc: Any, *, now_ms: int | None = None) -> list[str]:
    """Every way ``doc`` breaks the EMF specification (empty: valid)."""
    errors: list[str] = []
    if not isinstance(doc, dict):
        return ["the root is not an object"]
    meta = doc.get("_aws")
    if not isinstance(meta, dict):
        return ["no _aws object at the root"]
    if set(meta) - {"Timestamp", "CloudWatchMetrics", "LogGroupName"}:
        errors.append(f"unknown _aws members {set(meta) - {'Timestamp', 'CloudWatchMetrics'}}")
    ts = meta.get("Timestamp")
    if not isinstance(ts, int) or isinstance(ts, bool):
        errors.append(f"Timestamp {ts!r} is not an integer of milliseconds")
    elif now_ms is not None and abs(ts - now_ms) > 1000:
        errors.append(f"Timestamp {ts} is not the flush time {now_ms} in ms")
    elif ts < 10**12:
        errors.append(f"Timestamp {ts} looks like seconds, not milliseconds")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return [*errors, "CloudWatchMetrics is not a non-empty array"]
    for d in directives:
        if not isinstance(d, dict) or set(d) - {"Namespace", "Dimensions", "Metrics"}:
            errors.append(f"bad MetricDirective {d!r}")
            continue
        ns = d.get("Namespace")
        if not isinstance(ns, str) or not 1 <= len(ns) <= 1024 or ns.startswith("AWS/"):
            errors.append(f"bad Namespace {ns!r}")
        dims = d.get("Dimensions")
        if not isinstance(dims, list):
            errors.append("Dimensions is not an array")
            dims = []
        for dset in dims:
            if not isinstance(dset, list) or len(dset) > 30:
                errors.append(f"bad DimensionSet {dset!r}")
                continue
            for name in dset:
                value = doc.get(name)
                if not isinstance(value, str) or not 1 <= len(value) <= 1024:
                    errors.append(f"dimension {name!r} is not a string member at the root")
        metrics = d.get("Metrics")
        if not isinstance(metrics, list) or len(metrics) > 100:
            errors.append("Metrics is not an array of at most 100")
            continue
        seen: set[str] = set()
        for m in metrics:
            if not isinstance(m, dict) or set(m) - {"Name", "Unit", "StorageResolution"}:
                errors.append(f"bad MetricDefinition {m!r}")
                continue
            name = m.get("Name")
            if not isinstance(name, str) or not 1 <= len(name) <= 255:
                errors.append(f"bad metric Name {name!r}")
                continue
            if name in seen:
                errors.append(f"{name} defined twice")
            seen.add(name)
            if "Unit" in m and m["Unit"] not in UNITS:
                errors.append(f"{name}: unit {m['Unit']!r} is not a CloudWatch unit")
            if m.get("StorageResolution", 60) not in (1, 60):
                errors.append(f"{name}: StorageResolution must be 1 or 60")
            value = doc.get(name)
            values = value if isinstance(value, list) else [value]
            if not values or len(values) > 100 or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                    for v in values):
                errors.append(f"{name}: the root member {value!r} is not a number")
    if len(orjson.dumps(doc)) > 1024 * 1024:
        errors.append("over 1 MB")
    return errors


def lines(emitted: list[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in emitted]


def publisher(registry: Any, catalog: emf.Catalog, emitted: list[bytes],
              clock: list[float] | None = None) -> emf.Publisher:
    times = clock if clock is not None else [NOW]
    return emf.Publisher(registry, catalog, "lambdalytics", emit=emitted.append,
                         clock=lambda: times[0])


def metric_names(doc: dict[str, Any]) -> list[str]:
    return [m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]]


def test_the_validator_catches_what_cloudwatch_rejects() -> None:
    good: dict[str, Any] = {"_aws": {"Timestamp": 1_765_000_000_000, "CloudWatchMetrics": [
        {"Namespace": "N", "Dimensions": [["Service"]], "Metrics": [{"Name": "X", "Unit": "Count"}]}]},
        "Service": "s", "X": 1}
    assert emf_errors(good) == []
    assert emf_errors({**good, "X": "1"})  # a string value
    assert emf_errors({k: v for k, v in good.items() if k != "X"})  # the value missing
    assert emf_errors({k: v for k, v in good.items() if k != "Service"})  # the dimension missing
    assert emf_errors({**good, "_aws": {**good["_aws"], "Timestamp": 1_765_000_000}})  # seconds
    bad_unit = {**good, "_aws": {**good["_aws"], "CloudWatchMetrics": [
        {"Namespace": "N", "Dimensions": [["Service"]], "Metrics": [{"Name": "X", "Unit": "ms"}]}]}}
    assert emf_errors(bad_unit)


@pytest.mark.parametrize("catalog", emf.CATALOGS, ids=lambda c: c.service)
def test_each_catalog_reads_its_service_registry_and_writes_valid_emf(catalog: emf.Catalog) -> None:
    registry = {"collector": lambda: Metrics().registry,
                "archiver": lambda: ArchiverMetrics().registry,
                "dashboard": lambda: DashboardMetrics().registry}[catalog.service]()
    emitted: list[bytes] = []
    doc = publisher(registry, catalog, emitted).flush()
    assert emf_errors(doc, now_ms=int(NOW * 1000)) == []
    assert lines(emitted) == [doc]
    assert doc["Service"] == catalog.service
    assert doc["Deployment"] == "lambdalytics"
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Lambdalytics"
    assert directive["Dimensions"] == [["Deployment", "Service"]]
    # idle: every counter and gauge is there (zero), means (nothing observed) are not
    expected = [m.name for m in catalog.metrics if m.kind is not emf.Kind.MEAN]
    assert metric_names(doc) == expected


def test_a_catalog_naming_a_family_the_registry_lacks_fails_at_once() -> None:
    broken = emf.Catalog("collector", (emf.Metric("Nope", emf.Unit.COUNT, emf.Kind.DELTA,
                                                  "lambdalytics_no_such_family"),))
    with pytest.raises(LookupError, match="lambdalytics_no_such_family"):
        publisher(Metrics().registry, broken, [])


def test_metric_names_are_unique_and_within_cloudwatch_limits() -> None:
    names = [m.name for c in emf.CATALOGS for m in c.metrics]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,254}", n) for n in names)
    assert all(len(c.metrics) <= emf.MAX_METRICS for c in emf.CATALOGS)
    for const in (emf.HITS_ACCEPTED, emf.HITS_FILTERED, emf.HITS_REFUSED, emf.RECORDS_FAILED,
                  emf.RECORDS_REJECTED, emf.CUT_WRITE_RETRIES, emf.DASHBOARD_SERVER_ERRORS):
        assert emf.owner(const) in ("collector", "archiver", "dashboard")
    with pytest.raises(KeyError):
        emf.owner("NotEmitted")


def test_collector_counters_are_deltas_across_flushes() -> None:
    m = Metrics()
    m.accepted("ua", 100)  # before the publisher: not this deployment's first minute
    emitted: list[bytes] = []
    clock = [NOW]
    pub = publisher(m.registry, emf.COLLECTOR, emitted, clock)

    m.accepted("gtag", 3)
    m.accepted("ua", 1)
    m.hits_filtered.labels("gtag", "bot").inc(2)
    m.hits_refused.labels("ua", "rate_limited").inc(1)
    m.hits_refused.labels("gtag", "sink_unavailable").inc(2)
    m.records_failed.inc(2)
    m.observe_put(100, 0.010, 0)
    m.observe_put(300, 0.030, 2)
    m.property_lookups.labels("error").inc()
    m.property_lookups.labels("hit").inc(50)
    m.track_queue(lambda: 7)
    first = pub.flush()
    assert first["HitsAccepted"] == 4
    assert first["HitsFiltered"] == 2
    assert first["HitsRefused"] == 3
    assert first["HitsRateLimited"] == 1
    assert first["RecordsFailed"] == 2
    assert first["PutRecordsFailedEntries"] == 2
    assert first["PutRecordsCalls"] == 2
    assert first["PutRecordsBatchSize"] == 200
    assert first["PutRecordsLatency"] == pytest.approx(20.0)
    assert first["PropertyLookupErrors"] == 1
    assert first["PropertyLookupsStale"] == 0
    assert first["SinkQueueDepth"] == 7

    clock[0] = NOW + 60
    m.accepted("ua", 5)
    m.observe_put(50, 0.005, 0)
    second = pub.flush()
    assert second["_aws"]["Timestamp"] == int((NOW + 60) * 1000)
    assert second["HitsAccepted"] == 5
    assert second["HitsFiltered"] == second["HitsRefused"] == second["RecordsFailed"] == 0
    assert second["PutRecordsCalls"] == 1
    assert second["PutRecordsLatency"] == pytest.approx(5.0)
    assert second["SinkQueueDepth"] == 7  # a gauge: as is, not a delta

    third = pub.flush()  # nothing happened: counters zero, the means absent (no data)
    assert third["HitsAccepted"] == 0
    assert third["PutRecordsCalls"] == 0
    assert "PutRecordsLatency" not in third
    assert "PutRecordsLatency" not in metric_names(third)
    for doc in (first, second, third):
        assert emf_errors(doc) == []
    assert len(emitted) == 3


def test_a_counter_that_went_down_was_reset_and_counts_from_zero() -> None:
    metric = emf.Metric("X", emf.Unit.COUNT, emf.Kind.DELTA, "x")
    assert emf.line_values([metric], {"X": (3.0, 0.0)}, {"X": (10.0, 0.0)}) == {"X": 3}
    assert emf.line_values([metric], {"X": (12.0, 0.0)}, {"X": (10.0, 0.0)}) == {"X": 2}


def test_archiver_metrics_cuts_lag_and_leases() -> None:
    am = ArchiverMetrics()
    held = {"a": 1, "b": 2}
    am.track_leases(lambda: len(held))
    emitted: list[bytes] = []
    pub = publisher(am.registry, emf.ARCHIVER, emitted)
    am.cut(10, CutOutput(objects={"k1": b"", "k2": b""}, hits=7, duplicates=1, counters=1,
                         rejected=1), 0.25)
    am.cut(5, CutOutput(hits=5), 0.75)
    am.write_retries.inc()
    am.behind("shard-1", 1500)
    am.behind("shard-2", 90_000)
    doc = pub.flush()
    assert emf_errors(doc) == []
    assert (doc["RecordsArchived"], doc["HitsArchived"], doc["DuplicatesDropped"],
            doc["CounterRecords"], doc["RecordsRejected"], doc["ObjectsWritten"]) == (15, 12, 1, 1, 1, 2)
    assert doc["Cuts"] == 2
    assert doc["CutLatency"] == pytest.approx(500.0)
    assert doc["CutWriteRetries"] == 1
    assert doc["MillisBehindLatest"] == 90_000  # the furthest-behind shard
    assert doc["LeasesHeld"] == 2
    am.forget("shard-2")
    held.pop("a")
    doc = pub.flush()
    assert doc["MillisBehindLatest"] == 1500
    assert doc["LeasesHeld"] == 1
    assert doc["RecordsRejected"] == 0
    assert "CutLatency" not in doc


async def test_dashboard_middleware_counts_status_classes_and_errors() -> None:
    dm = DashboardMetrics()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/boom":
            raise RuntimeError("unhandled")
        code = int(scope["path"].strip("/"))
        await send({"type": "http.response.start", "status": code, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    emitted: list[bytes] = []
    pub = publisher(dm.registry, emf.DASHBOARD, emitted)
    wrapped = RequestMetrics(app, dm)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped, raise_app_exceptions=False),
                                 base_url="http://t") as client:
        for path in ("/200", "/204", "/401", "/404", "/503", "/boom"):
            await client.get(path)
    doc = pub.flush()
    assert emf_errors(doc) == []
    assert doc["DashboardRequests"] == 6
    assert doc["DashboardClientErrors"] == 2
    assert doc["DashboardServerErrors"] == 2  # the 503 and the unhandled error
    assert doc["DashboardLatency"] >= 0


async def test_the_loop_writes_a_line_per_interval_and_a_last_one_on_close() -> None:
    m = Metrics()
    emitted: list[bytes] = []
    async with AsyncExitStack() as stack:
        await emf.publish(stack, m.registry, emf.COLLECTOR, "lambdalytics", interval=0.05,
                          emit=emitted.append)
        m.accepted("ua", 2)
        await asyncio.sleep(0.18)
        m.accepted("ua", 1)  # after the last timed line: only the closing line has it
        ticks = len(emitted)
    assert ticks >= 2
    docs = lines(emitted)
    assert len(docs) == ticks + 1
    assert sum(d["HitsAccepted"] for d in docs) == 3
    assert docs[-1]["HitsAccepted"] == 1
    assert all(emf_errors(d) == [] for d in docs)


async def test_a_failing_emit_does_not_stop_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[bytes] = []

    def flaky(line: bytes) -> None:
        calls.append(line)
        if len(calls) == 1:
            raise OSError("stdout closed")

    pub = emf.Publisher(Metrics().registry, emf.COLLECTOR, "x", interval=0.02, emit=flaky)
    await pub.start()
    await asyncio.sleep(0.09)
    await pub.close()
    assert len(calls) >= 3
    assert "EMF flush failed" in caplog.text


def test_the_setting_is_off_by_default_and_read_from_lambdalytics_emf(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert CollectorSettings().emf is False
    monkeypatch.setenv("LAMBDALYTICS_EMF", "1")  # as the task definitions set it
    assert CollectorSettings().emf is True


class OneProperty:
    async def lookup(self, tracking_id: str) -> Property | None:
        return Property("p1", "site", (UA_TID,)) if tracking_id == UA_TID else None


def test_a_running_collector_writes_emf_to_stdout_and_a_last_line_on_shutdown(
        capfd: pytest.CaptureFixture[str]) -> None:
    settings = CollectorSettings(emf=True, resource_prefix="tstemf", log_format="text")
    with running_collector(settings, Overrides(writer=NullWriter(), properties=OneProperty())) as c:
        for i in range(3):
            r = httpx.get(f"{c.url}/collect", params={"v": "1", "tid": UA_TID, "cid": f"c{i}",
                                                      "t": "pageview", "dl": "https://e.x/"})
            assert r.status_code == 200
    out, err = capfd.readouterr()
    docs = [orjson.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    assert docs, f"no EMF line on stdout; stderr: {err[-2000:]}"
    assert all(emf_errors(d) == [] for d in docs)
    assert {d["Service"] for d in docs} == {"collector"}
    assert {d["Deployment"] for d in docs} == {"tstemf"}
    assert sum(d["HitsAccepted"] for d in docs) == 3
    assert '"_aws"' not in err  # metrics never in the log stream's JSON records


def test_docs_list_every_metric() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    missing = [m.name for c in emf.CATALOGS for m in c.metrics
               if f"| `{m.name}` | {c.service} |" not in doc]
    assert missing == []


def test_an_archiver_process_counts_its_cuts_in_emf_lines(moto_url: str, spawn: Spawn) -> None:
    stack: Stack = new_stack(moto_url)
    stack.create(shards=2)
    hits = make_hits(300)
    records = list(encoded(hits))
    copies = [records[3], records[200]]
    garbage = [(b"not json", "k1"), (b'{"hit_id": "x"}', "k2")]
    counters = [counter_record("pa", "bot", 5)]
    stack.put(records[:150] + copies + garbage + counters + records[150:])
    worker = spawn(stack, "w1", emf=True)
    wait_until(lambda: len(stack.archived_hits()) >= len(hits), 90, "every hit archived")
    assert worker.terminate() == 0, worker.log()
    docs = [orjson.loads(line) for line in worker.log().splitlines() if line.startswith('{"_aws"')]
    assert docs, worker.log()[-3000:]
    assert all(emf_errors(d) == [] for d in docs)
    assert {d["Service"] for d in docs} == {"archiver"}

    def total(name: str) -> int:
        return sum(d[name] for d in docs)

    assert total("HitsArchived") == 300
    assert total("DuplicatesDropped") == 2
    assert total("RecordsRejected") == 2
    assert total("CounterRecords") == 1
    assert total("RecordsArchived") == 305
    assert total("Cuts") >= 2
    assert docs[-1]["LeasesHeld"] == 0  # the last line comes after the leases were released


async def test_the_dashboard_app_counts_every_response_outermost() -> None:
    app = create_dashboard(DashboardSettings(resource_prefix="tstemf", admin_token="a" * 40))
    outermost = app.user_middleware[0]
    assert outermost.cls is RequestMetrics  # outside the guard: its 401s are counted too
    metrics: DashboardMetrics = outermost.kwargs["metrics"]
    emitted: list[bytes] = []
    pub = publisher(metrics.registry, emf.DASHBOARD, emitted)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/v1/me")).status_code == 401  # no token
    doc = pub.flush()
    assert doc["DashboardRequests"] == 2
    assert doc["DashboardClientErrors"] == 1
