"""Operations: an SNS topic, the alarms, and one CloudWatch dashboard.

Alarms come from one table (:func:`alarm_specs`, pure: every name, threshold and period
readable and testable without Pulumi), on AWS's own metrics — the ALB, Kinesis, DynamoDB,
ECS — and on the services' EMF metrics (namespace ``Lambdalytics``, dimensions Deployment
and Service, names imported from :mod:`lambdalytics.emf`, never spelled here).

Choices worth knowing:
- DynamoDB ``ThrottledRequests`` carries an ``Operation`` dimension, so per table there is no
  such metric to alarm on; the per-table ``ReadThrottleEvents`` + ``WriteThrottleEvents`` are,
  and they also count throttled items inside a BatchWriteItem (the archiver's rollup writes),
  which ``ThrottledRequests`` does not.
- Kinesis iterator age is only reported while someone calls GetRecords: missing data is
  breaching, so an archiver that is down entirely alarms too.
- Filtered-traffic spikes: an anomaly-detection band on ``HitsFiltered`` (it needs about two
  weeks of history to be tight), and from day one a static share of filtered hits.
- The topic is encrypted with a key of its own: CloudWatch cannot publish to a topic under the
  AWS-managed ``alias/aws/sns`` key (its policy cannot grant cloudwatch.amazonaws.com).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from lambdalytics import emf

ALB, KINESIS, DYNAMODB, ECS = "AWS/ApplicationELB", "AWS/Kinesis", "AWS/DynamoDB", "AWS/ECS"
TARGETS = ("collector", "dashboard")  # the services behind the ALB
SERVICES = ("collector", "archiver", "dashboard")
TABLES = ("properties", "rollups", "leases", "recent")
# per target group: (5xx % of requests, requests a minute below which the share is not
# judged, p99 response time in s); the dashboard's Athena reports take seconds
TARGET_LIMITS = {"collector": (1.0, 50, 1.0), "dashboard": (5.0, 10, 10.0)}


@dataclass(frozen=True)
class OperationsArgs:
    prefix: str
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffixes: Mapping[str, pulumi.Input[str]]  # keys: TARGETS
    stream_name: pulumi.Input[str]
    table_names: Mapping[str, pulumi.Input[str]]  # keys: TABLES
    cluster_name: pulumi.Input[str]
    service_names: Mapping[str, pulumi.Input[str]]  # keys: SERVICES (ECS service names)
    alarm_email: str | None = None


@dataclass(frozen=True)
class Query:
    """One metric of an alarm (``stat``: Sum, Average, Maximum, Minimum or pNN)."""

    namespace: str
    name: str
    stat: str
    dimensions: Mapping[str, Any]
    period: int = 60


@dataclass(frozen=True)
class AlarmSpec:
    slug: str  # the alarm is named "<prefix>-<slug>"
    description: str
    metrics: Mapping[str, Query]  # id → metric; one without ``expression``: that metric itself
    comparison: str
    threshold: float | None
    evaluation_periods: int
    datapoints: int
    treat_missing: str = "notBreaching"
    expression: str | None = None  # metric math over the ids, or ANOMALY_DETECTION_BAND(…)
    anomaly: bool = False  # ``expression`` is the band; compared with GreaterThanUpperThreshold


def _emf(name: str, stat: str, prefix: str, period: int = 300) -> Query:
    return Query(emf.NAMESPACE, name, stat,
                 {emf.DEPLOYMENT: prefix, emf.SERVICE: emf.owner(name)}, period)


def alarm_specs(prefix: str, alb: Any, target_groups: Mapping[str, Any], stream: Any,
                tables: Mapping[str, Any], cluster: Any,
                services: Mapping[str, Any]) -> list[AlarmSpec]:
    """Every alarm of the deployment; the references may be plain strings or Outputs."""
    lb = {"LoadBalancer": alb}
    s = {"StreamName": stream}
    out = [
        AlarmSpec("alb-elb-5xx", "The load balancer itself answered 5xx (no healthy target, "
                  "or a target that would not answer) at least 5 times a minute",
                  {"e": Query(ALB, "HTTPCode_ELB_5XX_Count", "Sum", lb)},
                  "GreaterThanOrEqualToThreshold", 5, 5, 3),
    ]
    for svc in TARGETS:
        share, floor, p99 = TARGET_LIMITS[svc]
        tg = {**lb, "TargetGroup": target_groups[svc]}
        out += [
            AlarmSpec(f"{svc}-target-5xx", f"Over {share:g}% of the {svc}'s responses are 5xx "
                      f"(judged from {floor} requests a minute)",
                      {"e": Query(ALB, "HTTPCode_Target_5XX_Count", "Sum", tg),
                       "r": Query(ALB, "RequestCount", "Sum", tg)},
                      "GreaterThanThreshold", share, 5, 3,
                      expression=f"IF(r >= {floor}, 100 * FILL(e, 0) / r, 0)"),
            AlarmSpec(f"{svc}-latency-p99", f"The {svc}'s p99 response time is over {p99:g} s",
                      {"t": Query(ALB, "TargetResponseTime", "p99", tg)},
                      "GreaterThanThreshold", p99, 5, 3),
            AlarmSpec(f"{svc}-unhealthy-hosts", f"A {svc} target failed its health checks for "
                      "5 minutes", {"u": Query(ALB, "UnHealthyHostCount", "Maximum", tg)},
                      "GreaterThanThreshold", 0, 5, 5),
            AlarmSpec(f"{svc}-no-healthy-hosts", f"No healthy {svc} target", {
                "h": Query(ALB, "HealthyHostCount", "Minimum", tg)},
                "LessThanThreshold", 1, 2, 2, treat_missing="breaching"),
        ]
    out += [
        AlarmSpec("stream-iterator-age", "The archiver is over 10 minutes behind the stream, "
                  "or not reading it at all", {
                      "a": Query(KINESIS, "GetRecords.IteratorAgeMilliseconds", "Maximum", s, 300)},
                  "GreaterThanThreshold", 600_000, 3, 3, treat_missing="breaching"),
        AlarmSpec("stream-write-throttled", "Kinesis throttles the collector's PutRecords "
                  "(more shards, or on-demand)", {
                      "w": Query(KINESIS, "WriteProvisionedThroughputExceeded", "Sum", s, 300)},
                  "GreaterThanThreshold", 0, 3, 2),
        AlarmSpec("stream-read-throttled", "Kinesis throttles GetRecords (readers over 5 calls "
                  "or 2 MB/s per shard)", {
                      "r": Query(KINESIS, "ReadProvisionedThroughputExceeded", "Sum", s, 300)},
                  "GreaterThanThreshold", 0, 3, 2),
        AlarmSpec("stream-put-failed-records", "PutRecords entries failed inside Kinesis "
                  "(retried by the collector; sustained, they turn into 503s)", {
                      "f": Query(KINESIS, "PutRecords.FailedRecords", "Sum", s, 300)},
                  "GreaterThanThreshold", 10, 3, 2),
        AlarmSpec("collector-records-failed", "Hits given up after the retry budget: answered "
                  "503 (gtag.js and analytics.js do not retry)",
                  {"f": _emf(emf.RECORDS_FAILED, "Sum", prefix)},
                  "GreaterThanThreshold", 0, 1, 1),
        AlarmSpec("archiver-records-rejected", "The archiver quarantined records under the "
                  "rejected prefix (not canonical hits)",
                  {"r": _emf(emf.RECORDS_REJECTED, "Sum", prefix)},
                  "GreaterThanThreshold", 0, 1, 1),
        AlarmSpec("archiver-write-retries", "The archiver keeps retrying S3 or DynamoDB writes",
                  {"w": _emf(emf.CUT_WRITE_RETRIES, "Sum", prefix)},
                  "GreaterThanThreshold", 10, 3, 2),
        AlarmSpec("collector-filtered-anomaly", "Filtered hits far above their usual level "
                  "(bots, spam, a broken tag)", {"f": _emf(emf.HITS_FILTERED, "Sum", prefix)},
                  "GreaterThanUpperThreshold", None, 3, 3,
                  expression="ANOMALY_DETECTION_BAND(f, 3)", anomaly=True),
        AlarmSpec("collector-filtered-share", "Over half the hits are filtered (judged from "
                  "500 hits in 5 minutes)", {
                      "f": _emf(emf.HITS_FILTERED, "Sum", prefix),
                      "a": _emf(emf.HITS_ACCEPTED, "Sum", prefix)},
                  "GreaterThanThreshold", 50, 3, 3,
                  expression="IF(FILL(a, 0) + FILL(f, 0) >= 500, "
                             "100 * FILL(f, 0) / (FILL(a, 0) + FILL(f, 0)), 0)"),
    ]
    for key in TABLES:
        t = {"TableName": tables[key]}
        out.append(AlarmSpec(
            f"table-{key}-throttled", f"DynamoDB throttles reads or writes of the {key} table",
            {"r": Query(DYNAMODB, "ReadThrottleEvents", "Sum", t, 300),
             "w": Query(DYNAMODB, "WriteThrottleEvents", "Sum", t, 300)},
            "GreaterThanThreshold", 0, 3, 2, expression="FILL(r, 0) + FILL(w, 0)"))
    for svc in SERVICES:
        d = {"ClusterName": cluster, "ServiceName": services[svc]}
        out += [
            AlarmSpec(f"{svc}-cpu-high", f"The {svc}'s CPU over 85% for 15 minutes (scaling "
                      "at its maximum?)", {"c": Query(ECS, "CPUUtilization", "Average", d, 300)},
                      "GreaterThanThreshold", 85, 3, 3),
            AlarmSpec(f"{svc}-memory-high", f"The {svc}'s memory over 90% for 15 minutes",
                      {"m": Query(ECS, "MemoryUtilization", "Average", d, 300)},
                      "GreaterThanThreshold", 90, 3, 3),
        ]
    return out


def _metric_row(q: Query, **options: Any) -> list[Any]:
    row: list[Any] = [q.namespace, q.name]
    for k, v in q.dimensions.items():
        row += [k, v]
    return [*row, {"stat": q.stat, **options}]


def dashboard_body(prefix: str, region: str, specs: Sequence[AlarmSpec],
                   alarm_arns: Sequence[str]) -> dict[str, Any]:
    """The dashboard: the alarms' state, then every alarmed metric and the EMF metrics by
    service. ``specs`` must carry resolved (string) dimension values."""
    by_name: dict[tuple[str, str], list[Query]] = {}
    for spec in specs:
        for q in spec.metrics.values():
            if q not in by_name.setdefault((q.namespace, q.name), []):
                by_name[(q.namespace, q.name)].append(q)

    def aws_rows(namespace: str, *names: str) -> list[list[Any]]:
        return [_metric_row(q) for n in names for q in by_name.get((namespace, n), [])]

    def emf_rows(catalog: emf.Catalog, kinds: tuple[emf.Kind, ...]) -> list[list[Any]]:
        return [_metric_row(_emf(m.name, "Sum" if m.kind is emf.Kind.DELTA else "Average"
                                 if m.kind is emf.Kind.MEAN else "Maximum", prefix, 60),
                            label=m.name)
                for m in catalog.metrics if m.kind in kinds]

    d, g, mean = emf.Kind.DELTA, emf.Kind.GAUGE, emf.Kind.MEAN
    panels: list[tuple[str, list[list[Any]]]] = [
        ("Collector: hits a minute", emf_rows(emf.COLLECTOR, (d,))),
        ("Collector: sink", emf_rows(emf.COLLECTOR, (g, mean))),
        ("ALB: 5xx and requests", aws_rows(ALB, "HTTPCode_ELB_5XX_Count",
                                           "HTTPCode_Target_5XX_Count", "RequestCount")),
        ("ALB: p99 response time (s)", aws_rows(ALB, "TargetResponseTime")),
        ("ALB: targets", aws_rows(ALB, "HealthyHostCount", "UnHealthyHostCount")),
        ("Kinesis", aws_rows(KINESIS, "GetRecords.IteratorAgeMilliseconds",
                             "WriteProvisionedThroughputExceeded",
                             "ReadProvisionedThroughputExceeded", "PutRecords.FailedRecords")),
        ("Archiver: a minute", emf_rows(emf.ARCHIVER, (d,))),
        ("Archiver: lag, leases, cut time", emf_rows(emf.ARCHIVER, (g, mean))),
        ("DynamoDB throttling", aws_rows(DYNAMODB, "ReadThrottleEvents", "WriteThrottleEvents")),
        ("ECS: CPU and memory (%)", aws_rows(ECS, "CPUUtilization", "MemoryUtilization")),
        ("Dashboard service", emf_rows(emf.DASHBOARD, (d, g, mean))),
    ]
    widgets: list[dict[str, Any]] = [{
        "type": "alarm", "x": 0, "y": 0, "width": 24, "height": 4,
        "properties": {"title": f"{prefix}: alarms", "alarms": sorted(alarm_arns)}}]
    for i, (title, rows) in enumerate(panels):
        widgets.append({
            "type": "metric", "x": 12 * (i % 2), "y": 4 + 6 * (i // 2), "width": 12, "height": 6,
            "properties": {"title": title, "region": region, "view": "timeSeries",
                           "stacked": False, "period": 60, "metrics": rows}})
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": widgets}


def alarm_key_policy(account_id: str, partition: str) -> dict[str, Any]:
    """The topic key's policy: the account administers it; CloudWatch (this account's
    alarms only) may encrypt the messages it publishes."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministers", "Effect": "Allow",
         "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "CloudWatchAlarmsPublish", "Effect": "Allow",
         "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
    ]}


def _query_args(qid: str, q: Query, returned: bool) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=qid, return_data=returned, metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace=q.namespace, metric_name=q.name, stat=q.stat, period=q.period,
            dimensions=dict(q.dimensions)))


class Operations(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    alarm_arns: dict[str, pulumi.Output[str]]
    dashboard_name: pulumi.Output[str]

    def __init__(self, name: str, args: OperationsArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lambdalytics:infra:Operations", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = args.prefix
        ident = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        part = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        key = aws.kms.Key(
            f"{name}-alarms-key", description=f"{p}: alarm notifications", enable_key_rotation=True,
            deletion_window_in_days=30, opts=child,
            policy=pulumi.Output.all(ident.account_id, part.partition).apply(
                lambda a: json.dumps(alarm_key_policy(a[0], a[1]))))
        topic = aws.sns.Topic(f"{name}-alarms", name=f"{p}-alarms", kms_master_key_id=key.arn,
                              opts=child)
        if args.alarm_email:
            aws.sns.TopicSubscription(f"{name}-alarms-email", topic=topic.arn, protocol="email",
                                      endpoint=args.alarm_email, opts=child)
        specs = alarm_specs(p, args.alb_arn_suffix, args.target_group_arn_suffixes,
                            args.stream_name, args.table_names, args.cluster_name,
                            args.service_names)
        self.alarm_arns = {}
        for spec in specs:
            self.alarm_arns[spec.slug] = self._alarm(name, p, spec, topic.arn, child).arn
        # the dashboard needs every reference resolved: the same table, built from the values
        refs = pulumi.Output.all(
            region=region, alb=args.alb_arn_suffix, stream=args.stream_name,
            cluster=args.cluster_name, arns=pulumi.Output.all(*self.alarm_arns.values()),
            tgs=pulumi.Output.all(**args.target_group_arn_suffixes),
            tables=pulumi.Output.all(**args.table_names),
            services=pulumi.Output.all(**args.service_names))
        body = refs.apply(lambda r: json.dumps(dashboard_body(
            p, r["region"], alarm_specs(p, r["alb"], r["tgs"], r["stream"], r["tables"],
                                        r["cluster"], r["services"]), r["arns"])))
        board = aws.cloudwatch.Dashboard(f"{name}-dashboard", dashboard_name=f"{p}-operations",
                                         dashboard_body=body, opts=child)
        self.topic_arn = topic.arn
        self.dashboard_name = board.dashboard_name
        self.register_outputs({"topic_arn": topic.arn, "dashboard_name": board.dashboard_name,
                               "alarm_arns": self.alarm_arns})

    @staticmethod
    def _alarm(name: str, prefix: str, spec: AlarmSpec, topic: pulumi.Output[str],
               opts: pulumi.ResourceOptions) -> aws.cloudwatch.MetricAlarm:
        if spec.expression is None and len(spec.metrics) != 1:
            raise ValueError(f"{spec.slug}: several metrics need an expression")
        single = next(iter(spec.metrics.values())) if spec.expression is None else None
        percentile = single is not None and single.stat.startswith("p")
        queries = None
        if spec.expression is not None:
            # an anomaly alarm returns the metric and its band; any other only the expression
            queries = [_query_args(qid, q, spec.anomaly) for qid, q in spec.metrics.items()]
            queries.append(aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="x", expression=spec.expression, label=spec.slug, return_data=True))
        return aws.cloudwatch.MetricAlarm(f"{name}-{spec.slug}", aws.cloudwatch.MetricAlarmArgs(
            name=f"{prefix}-{spec.slug}", alarm_description=spec.description,
            comparison_operator=spec.comparison, evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.datapoints, treat_missing_data=spec.treat_missing,
            alarm_actions=[topic], ok_actions=[topic],
            namespace=single.namespace if single else None,
            metric_name=single.name if single else None,
            period=single.period if single else None,
            dimensions=dict(single.dimensions) if single else None,
            statistic=single.stat if single and not percentile else None,
            extended_statistic=single.stat if single and percentile else None,
            evaluate_low_sample_count_percentiles="ignore" if percentile else None,
            metric_queries=queries,
            threshold=None if spec.anomaly else spec.threshold,
            threshold_metric_id="x" if spec.anomaly else None), opts=opts)
