"""infra.operations under Pulumi's mocks: every alarm is one CloudWatch would accept and is
wired to the topic, the alarms cover what the issue lists, EMF alarms name exactly the metrics
lambdalytics.emf writes (with its dimensions), and the dashboard is valid and shows only
alarmed or emitted metrics."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pulumi
import pytest

from infra import operations
from infra.operations import Operations, OperationsArgs
from lambdalytics import emf
from lambdalytics.resources import resources
from tests.infra.mocks import ACCOUNT, REGION, Recorder, run

PREFIX = "lambdalytics"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPARISONS = {"GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold",
               "LessThanOrEqualToThreshold", "LessThanLowerOrGreaterThanUpperThreshold",
               "LessThanLowerThreshold", "GreaterThanUpperThreshold"}
ANOMALY_COMPARISONS = {"LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold",
                       "GreaterThanUpperThreshold"}
STATISTICS = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"}
EMF_NAMES = {m.name for c in emf.CATALOGS for m in c.metrics}
RES = resources(PREFIX)
TABLE_NAMES = {key: spec.name for key, spec in
               {"properties": RES.properties, "rollups": RES.rollups, "leases": RES.leases,
                "recent": RES.recent}.items()}
TARGET_GROUPS = {"collector": "targetgroup/lambdalytics-collector/0123456789abcdef",
                 "dashboard": "targetgroup/lambdalytics-dashboard/fedcba9876543210"}
ALB_SUFFIX = "app/lambdalytics/0123456789abcdef"


def _out(value: str) -> pulumi.Output[str]:
    return pulumi.Output.from_input(value)  # as the other components hand them over


def deploy(alarm_email: str | None = None) -> Recorder:
    def program() -> None:
        Operations("ops", OperationsArgs(
            prefix=PREFIX, alb_arn_suffix=_out(ALB_SUFFIX),
            target_group_arn_suffixes={k: _out(v) for k, v in TARGET_GROUPS.items()},
            stream_name=_out(RES.stream.name),
            table_names={k: _out(v) for k, v in TABLE_NAMES.items()},
            cluster_name=_out(PREFIX),
            service_names={s: _out(f"{PREFIX}-{s}") for s in operations.SERVICES},
            alarm_email=alarm_email))
    return run(program)


@cache
def recorded() -> Recorder:
    return deploy("ops@example.com")


def alarms() -> list[dict[str, Any]]:
    return [r.inputs for r in recorded().of_type(ALARM)]


def metrics_of(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric name, dimensions) of every metric the alarm reads."""
    if "metricName" in alarm:
        return [(alarm["namespace"], alarm["metricName"], alarm.get("dimensions", {}))]
    return [(q["metric"]["namespace"], q["metric"]["metricName"], q["metric"].get("dimensions", {}))
            for q in alarm["metricQueries"] if "metric" in q]


def topic_arn() -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNT}:ops-alarms"


def test_every_alarm_is_one_cloudwatch_accepts_and_notifies_the_topic() -> None:
    found = alarms()
    assert len(found) >= 20
    names = [a["name"] for a in found]
    assert len(names) == len(set(names))
    for a in found:
        where = a["name"]
        assert where.startswith(f"{PREFIX}-")
        assert len(where) <= 255
        assert 1 <= len(a["alarmDescription"]) <= 1024, where
        assert a["comparisonOperator"] in COMPARISONS, where
        assert a["evaluationPeriods"] >= 1, where
        assert 1 <= a["datapointsToAlarm"] <= a["evaluationPeriods"], where
        assert a["treatMissingData"] in {"breaching", "notBreaching", "ignore", "missing"}, where
        assert a["alarmActions"] == [topic_arn()], where
        assert a["okActions"] == [topic_arn()], where
        if "metricName" in a:
            assert ("statistic" in a) != ("extendedStatistic" in a), where
            assert a.get("statistic", "Sum") in STATISTICS, where
            if "extendedStatistic" in a:
                assert re.fullmatch(r"p\d{1,2}(\.\d+)?", a["extendedStatistic"]), where
                assert a["evaluateLowSampleCountPercentiles"] == "ignore", where
            assert "metricQueries" not in a, where
            assert isinstance(a["threshold"], int | float), where
            periods = [a["period"]]
        else:
            periods = _check_queries(a)
        for period in periods:
            assert period % 60 == 0, where
            assert period * a["evaluationPeriods"] <= 86_400, where


def _check_queries(a: dict[str, Any]) -> list[int]:
    where = a["name"]
    queries = a["metricQueries"]
    ids = [q["id"] for q in queries]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9_]*", i) for i in ids)
    metric_ids = {q["id"] for q in queries if "metric" in q}
    expressions = [q for q in queries if "expression" in q]
    assert len(expressions) == 1, where
    used = set(re.findall(r"\b([a-z][A-Za-z0-9_]*)\b", expressions[0]["expression"]))
    # functions are upper case (IF, FILL, ANOMALY_DETECTION_BAND); every lower-case name is an id
    assert used == metric_ids, f"{where}: the expression reads {used}, the queries are {metric_ids}"
    returned = [q["id"] for q in queries if q.get("returnData")]
    if a["comparisonOperator"] in ANOMALY_COMPARISONS:
        assert "ANOMALY_DETECTION_BAND" in expressions[0]["expression"], where
        assert a["thresholdMetricId"] == expressions[0]["id"], where
        assert "threshold" not in a, where
        assert set(returned) == set(ids), f"{where}: the metric and its band both return data"
    else:
        assert returned == [expressions[0]["id"]], where
        assert "thresholdMetricId" not in a, where
        assert isinstance(a["threshold"], int | float), where
    for q in queries:
        if "metric" in q:
            assert q["metric"]["stat"] in STATISTICS or q["metric"]["stat"].startswith("p"), where
    return [q["metric"]["period"] for q in queries if "metric" in q]


def test_the_alarms_cover_the_edge_the_stream_the_tables_and_the_services() -> None:
    seen = {(ns, name, tuple(sorted(d.items()))) for a in alarms() for ns, name, d in metrics_of(a)}
    lb = ("LoadBalancer", ALB_SUFFIX)

    def has(ns: str, name: str, **dims: str) -> bool:
        return any(n == ns and m == name and set(dims.items()) <= set(d) for n, m, d in seen)

    assert has("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", LoadBalancer=ALB_SUFFIX)
    for tg in TARGET_GROUPS.values():
        for metric in ("HTTPCode_Target_5XX_Count", "RequestCount", "TargetResponseTime",
                       "UnHealthyHostCount", "HealthyHostCount"):
            assert has("AWS/ApplicationELB", metric, LoadBalancer=lb[1], TargetGroup=tg), metric
    for metric in ("GetRecords.IteratorAgeMilliseconds", "WriteProvisionedThroughputExceeded",
                   "ReadProvisionedThroughputExceeded", "PutRecords.FailedRecords"):
        assert has("AWS/Kinesis", metric, StreamName=RES.stream.name), metric
    for table in TABLE_NAMES.values():
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
            assert has("AWS/DynamoDB", metric, TableName=table), (table, metric)
    for svc in operations.SERVICES:
        assert has("AWS/ECS", "CPUUtilization", ClusterName=PREFIX, ServiceName=f"{PREFIX}-{svc}")
    for name in (emf.RECORDS_REJECTED, emf.HITS_FILTERED, emf.RECORDS_FAILED):
        assert has(emf.NAMESPACE, name), name
    age = next(a for a in alarms() if a["name"] == f"{PREFIX}-stream-iterator-age")
    assert age["treatMissingData"] == "breaching"  # no GetRecords at all: the archiver is down
    spike = next(a for a in alarms() if a["name"] == f"{PREFIX}-collector-filtered-anomaly")
    assert spike["comparisonOperator"] == "GreaterThanUpperThreshold"


def test_emf_alarms_read_exactly_what_the_services_write() -> None:
    emf_metrics = [(name, d) for a in alarms() for ns, name, d in metrics_of(a)
                   if ns == emf.NAMESPACE]
    assert emf_metrics
    for name, dims in emf_metrics:
        assert name in EMF_NAMES, f"{name}: no service writes it"
        assert dims == {emf.DEPLOYMENT: PREFIX, emf.SERVICE: emf.owner(name)}, name
    for ns, _name, _d in (m for a in alarms() for m in metrics_of(a)):
        assert ns == emf.NAMESPACE or ns.startswith("AWS/")


def test_an_alarm_on_a_metric_no_service_writes_cannot_be_built() -> None:
    with pytest.raises(KeyError):
        operations._emf("HitsAcceptd", "Sum", PREFIX)


def dashboard() -> dict[str, Any]:
    body = recorded().one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]
    assert "Output" not in body
    assert "__str__" not in body
    doc: dict[str, Any] = json.loads(body)
    return doc


def test_the_dashboard_is_valid_and_shows_only_alarmed_or_emitted_metrics() -> None:
    board = recorded().one("aws:cloudwatch/dashboard:Dashboard").inputs
    assert board["dashboardName"] == f"{PREFIX}-operations"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,255}", board["dashboardName"])
    doc = dashboard()
    alarmed = {(ns, name) for a in alarms() for ns, name, _ in metrics_of(a)}
    shown: set[str] = set()
    cells: set[tuple[int, int]] = set()
    for w in doc["widgets"]:
        assert w["type"] in {"metric", "alarm", "text"}
        assert w["x"] >= 0
        assert w["x"] + w["width"] <= 24
        assert w["height"] >= 1
        area = {(x, y) for x in range(w["x"], w["x"] + w["width"])
                for y in range(w["y"], w["y"] + w["height"])}
        assert not area & cells, f"{w['properties']['title']} overlaps another widget"
        cells |= area
        if w["type"] == "alarm":
            assert sorted(w["properties"]["alarms"]) == sorted(
                f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:ops-{a['name'][len(PREFIX) + 1:]}"
                for a in alarms())
            continue
        props = w["properties"]
        assert props["region"] == REGION, props["title"]
        assert props["metrics"], props["title"]
        for row in props["metrics"]:
            ns, name, *rest = row
            options = rest.pop() if rest and isinstance(rest[-1], dict) else {}
            dims = dict(zip(rest[::2], rest[1::2], strict=True))
            assert all(isinstance(v, str) and v for v in dims.values()), row
            assert (ns, name) in alarmed or (ns == emf.NAMESPACE and name in EMF_NAMES), row
            if ns == emf.NAMESPACE:
                assert dims == {emf.DEPLOYMENT: PREFIX, emf.SERVICE: emf.owner(name)}, row
                shown.add(name)
            assert options.get("stat") in STATISTICS or options["stat"].startswith("p")
    assert shown == EMF_NAMES  # every metric a service writes is on the dashboard


def test_the_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_mails_the_operator() -> None:
    rec = recorded()
    topic = rec.one("aws:sns/topic:Topic")
    key = rec.one("aws:kms/key:Key")
    assert topic.inputs["name"] == f"{PREFIX}-alarms"
    assert topic.inputs["kmsMasterKeyId"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:ops-alarms-key"
    assert key.inputs["enableKeyRotation"] is True
    policy = json.loads(key.inputs["policy"])
    cw = next(s for s in policy["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"})
    assert set(cw["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cw["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    sub = rec.one("aws:sns/topicSubscription:TopicSubscription")
    assert sub.inputs == {"topic": topic_arn(), "protocol": "email", "endpoint": "ops@example.com"}


def test_without_an_email_there_is_no_subscription() -> None:
    assert deploy(None).of_type("aws:sns/topicSubscription:TopicSubscription") == []


def test_the_alarm_table_is_pure_and_its_limits_name_every_target() -> None:
    assert set(operations.TARGET_LIMITS) == set(operations.TARGETS)
    specs = operations.alarm_specs(PREFIX, ALB_SUFFIX, TARGET_GROUPS, RES.stream.name,
                                   TABLE_NAMES, PREFIX, {s: s for s in operations.SERVICES})
    body = operations.dashboard_body(PREFIX, REGION, specs, ["arn:a"])
    assert json.loads(json.dumps(body)) == body
    assert {s.slug for s in specs} == {a["name"][len(PREFIX) + 1:] for a in alarms()}
