"""The ECS side: one Fargate cluster; the collector, archiver and dashboard services; their
roles, log groups, security groups and autoscaling; compaction as a scheduled task.

- collector: behind the ALB, at least two tasks spread over the zones (ECS rebalances them),
  scaled on ALB requests per target and on CPU;
- archiver: scaled in steps on the stream's iterator age, never to more tasks than shards
  (each task holds shard leases; one more would only wait);
- dashboard: behind the ALB on its own host name; the admin token from Secrets Manager;
- compactor: EventBridge Scheduler runs ``lambdalytics compact --athena`` in the archiver's
  image daily (RunTask; the scheduler's role may pass exactly the task's two roles).

Deployments roll with the circuit breaker and roll back by themselves; the archiver is
deployed before the collector, so a schema change is readable before it is written."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam, images
from infra.config import TaskSize

_PredefinedMetric = \
    aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgsDict
SERVICES = ("collector", "archiver", "dashboard", "compactor")
ADMIN_TOKEN_VARIABLE = "LAMBDALYTICS_ADMIN_TOKEN"  # noqa: S105 (a variable's name)


@dataclass(frozen=True)
class ServicesArgs:
    prefix: str
    region: str
    account_id: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    private_subnet_ids: Sequence[pulumi.Input[str]]
    gateway_prefix_list_ids: Sequence[pulumi.Input[str]]
    alb_security_group_id: pulumi.Input[str]
    alb_arn_suffix: pulumi.Input[str]
    collector_target_group_arn: pulumi.Input[str]
    collector_target_group_arn_suffix: pulumi.Input[str]
    dashboard_target_group_arn: pulumi.Input[str]
    image_refs: Mapping[str, pulumi.Input[str]]  # collector, archiver, dashboard
    repository_arns: Sequence[pulumi.Input[str]]
    deployment: pulumi.Input[images.Deployment]  # resolved to plain values by the caller
    admin_token_arn: pulumi.Input[str]
    stream_name: pulumi.Input[str]
    stream_arn: pulumi.Input[str]
    table_arns: Mapping[str, pulumi.Input[str]]  # properties, rollups, leases, recent
    archive_bucket_arn: pulumi.Input[str]
    replica_bucket_arn: pulumi.Input[str]
    results_bucket_arn: pulumi.Input[str]
    kms_key_arns: Sequence[pulumi.Input[str]]
    workgroup_arn: pulumi.Input[str]
    athena_database: pulumi.Input[str]
    sizes: Mapping[str, TaskSize]  # per service
    collector_tasks: tuple[int, int] = (2, 20)
    collector_requests_per_target: int = 30_000
    collector_cpu_target: float = 60.0
    archiver_tasks: tuple[int, int] = (1, 4)
    archiver_iterator_age_ms: int = 60_000
    dashboard_tasks: int = 1
    compaction_schedule: str = "cron(30 4 * * ? *)"
    log_retention_days: int = 30
    architecture: str = "X86_64"
    archive_prefix: str = ""
    partition: str = "aws"


@dataclass(frozen=True)
class Task:
    definition: aws.ecs.TaskDefinition
    task_role: aws.iam.Role
    execution_role: aws.iam.Role


class Services(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    service_names: dict[str, pulumi.Output[str]]
    task_role_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ServicesArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lambdalytics:infra:Services", name, None, opts)
        self._name, self._a = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        p = args.prefix
        cluster = aws.ecs.Cluster(f"{name}-cluster", name=p, settings=[
            {"name": "containerInsights", "value": "enabled"}], opts=self._child)
        self.cluster_name, self.cluster_arn = cluster.name, cluster.arn
        self._groups = self._security_groups()
        self.task_role_arns, self.service_names = {}, {}
        tasks = {svc: self._task(svc) for svc in SERVICES}
        archiver = self._service("archiver", cluster, tasks["archiver"].definition, None,
                                 args.archiver_tasks[0])
        self._service("dashboard", cluster, tasks["dashboard"].definition,
                      args.dashboard_target_group_arn, args.dashboard_tasks)
        # a new Hit field is readable before it is written
        collector = self._service("collector", cluster, tasks["collector"].definition,
                                  args.collector_target_group_arn, args.collector_tasks[0],
                                  depends_on=[archiver])
        self._collector_scaling(cluster, collector)
        self._archiver_scaling(cluster, archiver)
        self._schedule(cluster, tasks["compactor"])
        self.register_outputs({"cluster_name": self.cluster_name,
                               "service_names": self.service_names})

    # -- security groups ----------------------------------------------------------------------

    def _security_groups(self) -> dict[str, aws.ec2.SecurityGroup]:
        a, n = self._a, self._name
        egress: list[aws.ec2.SecurityGroupEgressArgsDict] = [
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": [a.vpc_cidr],
             "description": "interface endpoints"},
            {"protocol": "tcp", "from_port": 443, "to_port": 443,
             "prefix_list_ids": list(a.gateway_prefix_list_ids),
             "description": "S3 and DynamoDB gateway endpoints"}]
        groups = {}
        for svc, port in (("collector", images.COLLECTOR_PORT),
                          ("dashboard", images.DASHBOARD_PORT), ("worker", None)):
            ingress: list[aws.ec2.SecurityGroupIngressArgsDict] = [] if port is None else [{
                "protocol": "tcp", "from_port": port, "to_port": port,
                "security_groups": [a.alb_security_group_id], "description": "the ALB"}]
            groups[svc] = aws.ec2.SecurityGroup(
                f"{n}-{svc}", name=f"{a.prefix}-{svc}", vpc_id=a.vpc_id,
                description=f"Lambdalytics {svc} tasks", ingress=ingress, egress=egress,
                opts=self._child)
        return groups

    # -- roles and task definitions -----------------------------------------------------------

    def _role(self, role_name: str, trust: str, policy: pulumi.Input[str]) -> aws.iam.Role:
        role = aws.iam.Role(f"{self._name}-{role_name}", name=f"{self._a.prefix}-{role_name}",
                            assume_role_policy=trust, max_session_duration=3600,
                            opts=self._child)
        aws.iam.RolePolicy(f"{self._name}-{role_name}", role=role.id, policy=policy,
                           opts=self._child)
        return role

    def _task_policy(self, svc: str) -> pulumi.Output[str]:
        a = self._a
        t = a.table_arns
        athena = pulumi.Output.all(a.workgroup_arn, a.athena_database, a.results_bucket_arn) \
            .apply(lambda v: self._athena_access(str(v[0]), str(v[1]), str(v[2]),
                                                 write_views=svc == "compactor"))
        keys = pulumi.Output.all(*a.kms_key_arns)
        if svc == "collector":
            doc = pulumi.Output.all(a.stream_arn, t["properties"]).apply(
                lambda v: iam.collector_task(v[0], v[1]))
        elif svc == "archiver":
            doc = pulumi.Output.all(a.stream_arn, t["leases"], t["rollups"], t["recent"],
                                    t["properties"], a.archive_bucket_arn, keys).apply(
                lambda v: iam.archiver_task(v[0], v[1], v[2], v[3], v[4], v[5],
                                            archive_prefix=a.archive_prefix, kms_key_arns=v[6]))
        elif svc == "dashboard":
            doc = pulumi.Output.all(t["properties"], t["rollups"], a.archive_bucket_arn,
                                    a.replica_bucket_arn, athena, keys).apply(
                lambda v: iam.dashboard_task(v[0], v[1], [v[2], v[3]], v[4],
                                             archive_prefix=a.archive_prefix, kms_key_arns=v[5]))
        else:
            doc = pulumi.Output.all(a.archive_bucket_arn, athena, keys).apply(
                lambda v: iam.compactor_task(v[0], v[1], archive_prefix=a.archive_prefix,
                                             kms_key_arns=v[2]))
        return doc.apply(json.dumps)

    def _athena_access(self, workgroup_arn: str, database: str, results_arn: str, *,
                       write_views: bool) -> iam.AthenaAccess:
        a = self._a
        glue = f"arn:{a.partition}:glue:{a.region}:{a.account_id}"
        return iam.AthenaAccess(workgroup_arn, f"{glue}:catalog", f"{glue}:database/{database}",
                                f"{glue}:table/{database}/*", results_arn,
                                write_views=write_views)

    def _task(self, svc: str) -> Task:
        a, n = self._a, self._name
        trust = json.dumps(iam.ecs_tasks_trust(a.account_id, a.region, a.partition))
        task_role = self._role(f"{svc}-task", trust, self._task_policy(svc))
        self.task_role_arns[svc] = task_role.arn
        log = aws.cloudwatch.LogGroup(f"{n}-{svc}", name=f"/lambdalytics/{a.prefix}/{svc}",
                                      retention_in_days=a.log_retention_days, opts=self._child)
        secrets = {ADMIN_TOKEN_VARIABLE: a.admin_token_arn} if svc == "dashboard" else {}
        exec_doc = pulumi.Output.all(pulumi.Output.all(*a.repository_arns), log.arn,
                                     pulumi.Output.all(*secrets.values())).apply(
            lambda v: json.dumps(iam.execution_role(v[0], [v[1]], v[2])))
        exec_role = self._role(f"{svc}-exec", trust, exec_doc)
        size = a.sizes[svc]
        container = pulumi.Output.all(
            a.image_refs[images.IMAGE_OF[svc]], a.deployment, log.name,
            pulumi.Output.all(*secrets.values())).apply(
            lambda v: json.dumps([images.container_definition(
                svc, v[0], images.environment(svc, v[1]), memory=size.memory, log_group=v[2],
                region=a.region, secrets=dict(zip(secrets, v[3], strict=True)),
                archive_prefix=a.archive_prefix)]))
        definition = aws.ecs.TaskDefinition(
            f"{n}-{svc}", family=f"{a.prefix}-{svc}", requires_compatibilities=["FARGATE"],
            network_mode="awsvpc", cpu=str(size.cpu), memory=str(size.memory),
            execution_role_arn=exec_role.arn, task_role_arn=task_role.arn,
            runtime_platform={"operating_system_family": "LINUX",
                              "cpu_architecture": a.architecture},
            volumes=[{"name": "scratch"}], container_definitions=container,
            ephemeral_storage={"size_in_gib": 50} if svc == "compactor" else None,
            opts=self._child)
        return Task(definition, task_role, exec_role)

    # -- services -----------------------------------------------------------------------------

    def _service(self, svc: str, cluster: aws.ecs.Cluster, task: aws.ecs.TaskDefinition,
                 target_group_arn: pulumi.Input[str] | None, desired: int,
                 depends_on: Sequence[pulumi.Resource] = ()) -> aws.ecs.Service:
        a = self._a
        group = self._groups.get(svc, self._groups["worker"])
        lbs: list[aws.ecs.ServiceLoadBalancerArgsDict] = [] if target_group_arn is None else [
            {"target_group_arn": target_group_arn, "container_name": svc,
             "container_port": images.COLLECTOR_PORT if svc == "collector"
             else images.DASHBOARD_PORT}]
        scaled = svc in ("collector", "archiver")
        service = aws.ecs.Service(
            f"{self._name}-{svc}", name=svc, cluster=cluster.arn, task_definition=task.arn,
            desired_count=desired, launch_type="FARGATE", platform_version="LATEST",
            availability_zone_rebalancing="ENABLED",
            network_configuration={"subnets": list(a.private_subnet_ids),
                                   "security_groups": [group.id], "assign_public_ip": False},
            load_balancers=lbs,
            health_check_grace_period_seconds=60 if lbs else None,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            deployment_minimum_healthy_percent=100, deployment_maximum_percent=200,
            enable_ecs_managed_tags=True, propagate_tags="SERVICE",
            wait_for_steady_state=True,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(depends_on),
                # autoscaling owns the running count once the service exists
                ignore_changes=["desiredCount"] if scaled else None))
        self.service_names[svc] = service.name
        return service

    def _target(self, svc: str, cluster: aws.ecs.Cluster, service: aws.ecs.Service,
                bounds: tuple[int, int]) -> aws.appautoscaling.Target:
        return aws.appautoscaling.Target(
            f"{self._name}-{svc}", service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", cluster.name, "/", service.name),
            min_capacity=bounds[0], max_capacity=bounds[1], opts=self._child)

    def _collector_scaling(self, cluster: aws.ecs.Cluster, service: aws.ecs.Service) -> None:
        a = self._a
        target = self._target("collector", cluster, service, a.collector_tasks)
        self._target_tracking(target, "requests", float(a.collector_requests_per_target), {
            "predefined_metric_type": "ALBRequestCountPerTarget",
            "resource_label": pulumi.Output.concat(
                a.alb_arn_suffix, "/", a.collector_target_group_arn_suffix)})
        self._target_tracking(target, "cpu", a.collector_cpu_target, {
            "predefined_metric_type": "ECSServiceAverageCPUUtilization"})

    def _target_tracking(self, target: aws.appautoscaling.Target, what: str, value: float,
                         metric: _PredefinedMetric) -> None:
        """A collector target-tracking policy on ``metric`` (quick out, slow in)."""
        a, n = self._a, self._name
        aws.appautoscaling.Policy(
            f"{n}-collector-{what}", name=f"{a.prefix}-collector-{what}",
            policy_type="TargetTrackingScaling", resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            service_namespace=target.service_namespace,
            target_tracking_scaling_policy_configuration={
                "predefined_metric_specification": metric,
                "target_value": value, "scale_in_cooldown": 300, "scale_out_cooldown": 60},
            opts=self._child)

    def _archiver_scaling(self, cluster: aws.ecs.Cluster, service: aws.ecs.Service) -> None:
        """Iterator age is lag, not load: it does not fall in proportion to the task count, so
        step scaling (one task at a time, alarms with their own periods), not target tracking."""
        a, n = self._a, self._name
        target = self._target("archiver", cluster, service, a.archiver_tasks)
        for direction, step, compare, threshold, periods in (
                ("out", 1, "GreaterThanThreshold", a.archiver_iterator_age_ms, 3),
                ("in", -1, "LessThanThreshold", max(a.archiver_iterator_age_ms // 10, 1000), 15)):
            policy = aws.appautoscaling.Policy(
                f"{n}-archiver-{direction}", name=f"{a.prefix}-archiver-scale-{direction}",
                policy_type="StepScaling", resource_id=target.resource_id,
                scalable_dimension=target.scalable_dimension,
                service_namespace=target.service_namespace,
                step_scaling_policy_configuration={
                    "adjustment_type": "ChangeInCapacity", "metric_aggregation_type": "Maximum",
                    "cooldown": 300 if direction == "out" else 900,
                    "step_adjustments": [
                        {"scaling_adjustment": step, "metric_interval_lower_bound": "0"}
                        if direction == "out" else
                        {"scaling_adjustment": step, "metric_interval_upper_bound": "0"}]},
                opts=self._child)
            aws.cloudwatch.MetricAlarm(
                f"{n}-archiver-{direction}", name=f"{a.prefix}-archiver-scale-{direction}",
                alarm_description=f"archiver: scale {direction} on the stream's iterator age",
                namespace="AWS/Kinesis", metric_name="GetRecords.IteratorAgeMilliseconds",
                dimensions={"StreamName": a.stream_name}, statistic="Maximum", period=60,
                evaluation_periods=periods, threshold=float(threshold),
                comparison_operator=compare, treat_missing_data="notBreaching",
                alarm_actions=[policy.arn], opts=self._child)

    def _schedule(self, cluster: aws.ecs.Cluster, task: Task) -> None:
        a, n = self._a, self._name
        task_role, exec_role = task.task_role, task.execution_role
        family_arn = (f"arn:{a.partition}:ecs:{a.region}:{a.account_id}:task-definition/"
                      f"{a.prefix}-compactor")
        policy = pulumi.Output.all(cluster.arn, task_role.arn, exec_role.arn).apply(
            lambda v: json.dumps(iam.scheduler_role(family_arn, v[0], [v[1], v[2]])))
        role = self._role("scheduler", json.dumps(iam.scheduler_trust(a.account_id)), policy)
        aws.scheduler.Schedule(
            f"{n}-compaction", name=f"{a.prefix}-compaction",
            description="lambdalytics compact --athena: closed days to the Parquet lake",
            schedule_expression=a.compaction_schedule, schedule_expression_timezone="UTC",
            flexible_time_window={"mode": "FLEXIBLE", "maximum_window_in_minutes": 15},
            target={"arn": cluster.arn, "role_arn": role.arn,
                    "ecs_parameters": {
                        "task_definition_arn": task.definition.arn, "launch_type": "FARGATE",
                        "platform_version": "LATEST", "task_count": 1,
                        "network_configuration": {
                            "subnets": list(a.private_subnet_ids),
                            "security_groups": [self._groups["worker"].id],
                            "assign_public_ip": False}},
                    "retry_policy": {"maximum_retry_attempts": 2,
                                     "maximum_event_age_in_seconds": 3600}},
            opts=self._child)
