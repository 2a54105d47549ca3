"""The ECS side under Pulumi's mocks: task sizes Fargate accepts, each container's command and
environment (every variable a field of that service's settings, every value one its settings
accept), non-root and read-only, the stop and drain timings, autoscaling, the compaction
schedule and its role, and each role's recorded policy equal to the documents test_iam checks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest
from pulumi.runtime import MockResourceArgs

from archiver.settings import ArchiverSettings
from collector.settings import CollectorSettings
from dashboard.settings import DashboardSettings
from infra import config, images
from infra.services import Services, ServicesArgs
from lambdalytics import cli
from lambdalytics.settings import CommonSettings
from tests.infra import mocks
from tests.infra.test_iam import IMPLIED, derived_actions

SETTINGS: dict[str, type[CommonSettings]] = {
    "collector": CollectorSettings, "archiver": ArchiverSettings,
    "dashboard": DashboardSettings, "compactor": CommonSettings}  # `lambdalytics compact`
ACCOUNT = mocks.ACCOUNT


@dataclass
class Computed(mocks.Recorder):
    """The shared recorder, plus the outputs AWS and the image builder compute that the
    program reads back: a repository's URL, an image's digest-pinned ``ref``, ACM's validation
    records, a gateway endpoint's prefix list, a record's FQDN, the load balancer's and target
    groups' ARN suffixes and DNS name. (tests/infra/mocks.py could take these for everyone.)"""

    computed: dict[str, Any] = field(default_factory=dict)

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        rid, outputs = super().new_resource(args)
        if args.typ == "docker-build:index:Image":
            outputs["ref"] = f"{args.inputs['tags'][0].rsplit(':', 1)[0]}@sha256:{'0' * 64}"
        elif args.typ == "aws:acm/certificate:Certificate":
            names = [args.inputs["domainName"], *args.inputs.get("subjectAlternativeNames", [])]
            outputs["domainValidationOptions"] = [
                {"domainName": n, "resourceRecordName": f"_x.{n}.",
                 "resourceRecordType": "CNAME", "resourceRecordValue": f"_y.{n}.acm."}
                for n in names]
        elif args.typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
            outputs["prefixListId"] = f"pl-{args.name}"
        elif args.typ == "aws:lb/loadBalancer:LoadBalancer":
            outputs["arnSuffix"] = f"app/{args.inputs['name']}/0123456789abcdef"
            outputs["dnsName"] = f"{args.inputs['name']}-1.{mocks.REGION}.elb.amazonaws.com"
            outputs["zoneId"] = "Z35SXDOTRQ7X7K"
        elif args.typ == "aws:ecr/repository:Repository":
            outputs["repositoryUrl"] = (f"{mocks.ACCOUNT}.dkr.ecr.{mocks.REGION}.amazonaws.com/"
                                        f"{args.inputs['name']}")
            outputs["registryId"] = mocks.ACCOUNT
        elif args.typ == "aws:route53/record:Record":
            outputs["fqdn"] = str(args.inputs["name"]).rstrip(".")
        elif args.typ == "aws:lb/targetGroup:TargetGroup":
            outputs["arnSuffix"] = f"targetgroup/{args.inputs['name']}/fedcba9876543210"
        return rid, outputs


def run(program: Any, cfg: Mapping[str, str] | None = None) -> mocks.Recorder:
    """mocks.run with :class:`Computed` as the recorder."""
    recorder = Computed()
    asyncio.set_event_loop(asyncio.new_event_loop())  # as mocks.run: pytest-asyncio leaves none
    pulumi.runtime.set_mocks(recorder, project="lambdalytics", stack="test", preview=False)
    pulumi.runtime.set_all_config({f"lambdalytics:{k}" if ":" not in k else k: v
                                   for k, v in (cfg or {}).items()})
    pulumi.runtime.test(program)()
    return recorder


def arn(service: str, rest: str) -> str:
    return f"arn:aws:{service}:us-east-1:{ACCOUNT}:{rest}"


DEPLOYMENT = images.Deployment(prefix="t", region="us-east-1", archive_bucket="t-archive-1",
                               replica_bucket="t-replica-1", athena_workgroup="t",
                               athena_database="t", public_url="https://dashboard.example.com")
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/t/{{}}:v1"


def services_args(**over: Any) -> ServicesArgs:
    base: dict[str, Any] = dict(
        prefix="t", region="us-east-1", account_id=ACCOUNT, vpc_id="vpc-1",
        vpc_cidr="10.64.0.0/16", private_subnet_ids=["subnet-a", "subnet-b"],
        gateway_prefix_list_ids=["pl-s3", "pl-ddb"], alb_security_group_id="sg-alb",
        alb_arn_suffix="app/t-alb/1", collector_target_group_arn=arn("elasticloadbalancing",
                                                                     "targetgroup/t-collector/1"),
        collector_target_group_arn_suffix="targetgroup/t-collector/1",
        dashboard_target_group_arn=arn("elasticloadbalancing", "targetgroup/t-dashboard/2"),
        image_refs={s: IMAGE.format(s) for s in images.SERVICES},
        repository_arns=[arn("ecr", f"repository/t/{s}") for s in images.SERVICES],
        deployment=DEPLOYMENT, admin_token_arn=arn("secretsmanager", "secret:t/admin-token-x"),
        stream_name="t-hits", stream_arn=arn("kinesis", "stream/t-hits"),
        table_arns={n: arn("dynamodb", f"table/t-{n}") for n in
                    ("properties", "rollups", "leases", "recent")},
        archive_bucket_arn="arn:aws:s3:::t-archive-1", replica_bucket_arn="arn:aws:s3:::t-replica-1",
        results_bucket_arn="arn:aws:s3:::t-results-1", kms_key_arns=[arn("kms", "key/k")],
        workgroup_arn=arn("athena", "workgroup/t"), athena_database="t",
        sizes={"collector": config.TaskSize(1024, 2048), "archiver": config.TaskSize(512, 1024),
               "dashboard": config.TaskSize(512, 1024), "compactor": config.TaskSize(2048, 8192)},
        archiver_tasks=(1, 4))
    return ServicesArgs(**(base | over))


@pytest.fixture(scope="module")
def rec() -> mocks.Recorder:
    return run(lambda: Services("services", services_args()))


def containers(rec: mocks.Recorder) -> dict[str, dict[str, Any]]:
    out = {}
    for td in rec.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        (container,) = json.loads(td.inputs["containerDefinitions"])
        out[container["name"]] = container
    return out


def test_every_task_size_is_one_fargate_runs(rec: mocks.Recorder) -> None:
    tds = rec.of_type("aws:ecs/taskDefinition:TaskDefinition")
    assert sorted(td.inputs["family"] for td in tds) == [
        "t-archiver", "t-collector", "t-compactor", "t-dashboard"]
    for td in tds:
        assert int(td.inputs["memory"]) in config.FARGATE_MEMORY[int(td.inputs["cpu"])]
        assert td.inputs["requiresCompatibilities"] == ["FARGATE"]
        assert td.inputs["networkMode"] == "awsvpc"
        assert td.inputs["runtimePlatform"]["operatingSystemFamily"] == "LINUX"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_environment_names_settings_fields_and_their_values_parse(
        rec: mocks.Recorder, service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    container = containers(rec)[service]
    names = [e["name"] for e in container["environment"]] + \
        [s["name"] for s in container.get("secrets", [])]
    model = SETTINGS[service]
    fields = {f"LAMBDALYTICS_{f.upper()}" for f in model.model_fields}
    assert set(names) <= fields, f"{service}: no such setting {set(names) - fields}"
    assert len(names) == len(set(names))
    # the values are ones the service's own settings accept
    for key in list(__import__("os").environ):
        if key.startswith("LAMBDALYTICS_"):
            monkeypatch.delenv(key)
    for e in container["environment"]:
        monkeypatch.setenv(e["name"], e["value"])
    settings = model()
    assert settings.resource_prefix == "t"
    assert settings.archive_bucket == "t-archive-1"
    assert settings.emf is True


def test_each_service_has_its_deployment_settings(rec: mocks.Recorder) -> None:
    env = {name: {e["name"]: e["value"] for e in c["environment"]}
           for name, c in containers(rec).items()}
    assert env["collector"]["LAMBDALYTICS_HOST"] == "0.0.0.0"  # noqa: S104
    assert env["collector"]["LAMBDALYTICS_TRUSTED_PROXY_HOPS"] == "1"  # the ALB
    assert env["dashboard"]["LAMBDALYTICS_DASHBOARD_ENGINE"] == "athena"
    assert env["dashboard"]["LAMBDALYTICS_ARCHIVE_BUCKETS"] == "t-archive-1,t-replica-1"
    assert env["dashboard"]["LAMBDALYTICS_PUBLIC_URL"] == "https://dashboard.example.com"
    assert containers(rec)["dashboard"]["secrets"] == [
        {"name": "LAMBDALYTICS_ADMIN_TOKEN", "valueFrom": arn("secretsmanager",
                                                               "secret:t/admin-token-x")}]
    for svc in ("collector", "archiver", "compactor"):
        assert "secrets" not in containers(rec)[svc]  # only the dashboard holds the token


def test_commands_are_the_services_own_entrypoints(rec: mocks.Recorder) -> None:
    c = containers(rec)
    for svc in ("collector", "archiver", "dashboard"):
        assert c[svc]["command"] == images.COMMANDS[svc]
    compact = c["compactor"]["command"]
    assert compact[0] == "lambdalytics"
    args = cli.parser().parse_args(compact[1:])
    assert args.func.__name__ == "_compact"
    assert args.athena is True
    assert args.memory_limit == "6144MB"  # three quarters of the task's 8 GiB
    assert c["compactor"]["image"] == c["archiver"]["image"] == IMAGE.format("archiver")


def test_containers_run_as_nobody_much(rec: mocks.Recorder) -> None:
    for name, c in containers(rec).items():
        assert c["user"] == images.UID != "0", name
        assert c["readonlyRootFilesystem"] is True
        assert c["linuxParameters"]["capabilities"] == {"drop": ["ALL"]}
        assert c["mountPoints"] == [{"sourceVolume": "scratch", "containerPath": "/tmp",
                                     "readOnly": False}]
        assert c["logConfiguration"]["options"]["mode"] == "non-blocking"
    for td in rec.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        assert td.inputs["volumes"] == [{"name": "scratch"}]


def test_stop_timeout_outlasts_the_collectors_drain(rec: mocks.Recorder) -> None:
    drain = CollectorSettings.model_fields["drain_timeout_s"].default
    c = containers(rec)
    assert drain < c["collector"]["stopTimeout"] <= 120  # Fargate's ceiling
    assert c["archiver"]["stopTimeout"] <= 120
    env = {e["name"]: e["value"] for e in c["collector"]["environment"]}
    assert float(env["LAMBDALYTICS_DRAIN_TIMEOUT_S"]) < c["collector"]["stopTimeout"]


def test_health_checks_probe_liveness_on_the_mapped_port(rec: mocks.Recorder) -> None:
    c = containers(rec)
    for svc, port in (("collector", images.COLLECTOR_PORT), ("dashboard", images.DASHBOARD_PORT)):
        assert c[svc]["portMappings"][0]["containerPort"] == port
        probe = c[svc]["healthCheck"]["command"]
        assert probe[:2] == ["CMD", "python"]
        assert f"http://127.0.0.1:{port}/healthz" in probe[-1]
    assert "healthCheck" not in c["archiver"]  # no listener: ECS replaces it when it exits


def test_services_roll_back_and_spread(rec: mocks.Recorder) -> None:
    by_name = {s.inputs["name"]: s.inputs for s in rec.of_type("aws:ecs/service:Service")}
    assert set(by_name) == {"collector", "archiver", "dashboard"}
    for name, s in by_name.items():
        assert s["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}, name
        assert s["launchType"] == "FARGATE"
        assert s["networkConfiguration"]["assignPublicIp"] is False
        assert len(s["networkConfiguration"]["subnets"]) >= 2
        assert s["availabilityZoneRebalancing"] == "ENABLED"
    assert by_name["collector"]["desiredCount"] >= 2
    assert by_name["collector"]["loadBalancers"][0]["containerPort"] == images.COLLECTOR_PORT
    assert by_name["dashboard"]["loadBalancers"][0]["containerPort"] == images.DASHBOARD_PORT
    assert "loadBalancers" not in by_name["archiver"] or not by_name["archiver"]["loadBalancers"]


def test_autoscaling(rec: mocks.Recorder) -> None:
    targets = {t.inputs["resourceId"]: t.inputs
               for t in rec.of_type("aws:appautoscaling/target:Target")}
    assert targets["service/t/collector"]["minCapacity"] >= 2
    assert targets["service/t/archiver"]["maxCapacity"] == 4
    policies = {p.inputs["name"]: p.inputs for p in rec.of_type("aws:appautoscaling/policy:Policy")}
    requests = policies["t-collector-requests"]["targetTrackingScalingPolicyConfiguration"]
    metric = requests["predefinedMetricSpecification"]
    assert metric["predefinedMetricType"] == "ALBRequestCountPerTarget"
    assert metric["resourceLabel"] == "app/t-alb/1/targetgroup/t-collector/1"
    cpu = policies["t-collector-cpu"]["targetTrackingScalingPolicyConfiguration"]
    assert cpu["predefinedMetricSpecification"]["predefinedMetricType"] == \
        "ECSServiceAverageCPUUtilization"
    out, scale_in = policies["t-archiver-scale-out"], policies["t-archiver-scale-in"]
    assert out["stepScalingPolicyConfiguration"]["stepAdjustments"][0]["scalingAdjustment"] == 1
    assert scale_in["stepScalingPolicyConfiguration"]["stepAdjustments"][0][
        "scalingAdjustment"] == -1
    alarms = {a.inputs["name"]: a.inputs for a in rec.of_type(
        "aws:cloudwatch/metricAlarm:MetricAlarm")}
    for direction in ("out", "in"):
        alarm = alarms[f"t-archiver-scale-{direction}"]
        assert alarm["metricName"] == "GetRecords.IteratorAgeMilliseconds"
        assert alarm["dimensions"] == {"StreamName": "t-hits"}
        assert alarm["alarmActions"] == [arn("appautoscaling", f"services-archiver-{direction}")]
    assert alarms["t-archiver-scale-in"]["threshold"] < alarms["t-archiver-scale-out"]["threshold"]


def test_compaction_is_scheduled_with_a_role_that_passes_exactly_its_two_roles(
        rec: mocks.Recorder) -> None:
    sched = rec.one("aws:scheduler/schedule:Schedule").inputs
    assert sched["scheduleExpression"].startswith("cron(")
    ecs = sched["target"]["ecsParameters"]
    assert ecs["taskDefinitionArn"] == arn("ecs", "services-compactor")
    assert ecs["networkConfiguration"]["assignPublicIp"] is False
    policies = {p.name: json.loads(p.inputs["policy"])
                for p in rec.of_type("aws:iam/rolePolicy:RolePolicy")}
    passed = next(st for st in policies["services-scheduler"]["Statement"]
                  if st["Sid"] == "PassRoles")
    assert passed["Resource"] == [arn("iam", "services-compactor-task"),
                                  arn("iam", "services-compactor-exec")]
    trusts = {r.inputs["name"]: json.loads(r.inputs["assumeRolePolicy"])
              for r in rec.of_type("aws:iam/role:Role")}
    assert trusts["t-scheduler"]["Statement"][0]["Principal"] == {
        "Service": "scheduler.amazonaws.com"}


def test_recorded_role_policies_allow_what_the_code_calls(rec: mocks.Recorder) -> None:
    policies = {p.name: json.loads(p.inputs["policy"])
                for p in rec.of_type("aws:iam/rolePolicy:RolePolicy")}
    for svc in SETTINGS:
        granted = {a for st in policies[f"services-{svc}-task"]["Statement"] for a in st["Action"]}
        assert granted == derived_actions(svc) | IMPLIED[svc], svc
        execution = policies[f"services-{svc}-exec"]
        logs = next(st for st in execution["Statement"] if st["Sid"] == "Logs")
        # its own log group's streams (the mocks' ARN for the group is arn:aws:cloudwatch:…)
        assert logs["Resource"] == [arn("cloudwatch", f"services-{svc}") + ":log-stream:*"]
        has_secret = any(st["Sid"] == "Secrets" for st in execution["Statement"])
        assert has_secret == (svc == "dashboard")


def test_names_within_limits(rec: mocks.Recorder) -> None:
    for r in rec.of_type("aws:iam/role:Role"):
        assert len(r.inputs["name"]) <= 64
    for r in rec.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert len(r.inputs["name"]) <= 512
        assert r.inputs["retentionInDays"] in config.LOG_RETENTION_DAYS
    assert len(rec.one("aws:scheduler/schedule:Schedule").inputs["name"]) <= 64


def test_archiver_ceiling_is_the_shard_count() -> None:
    with pytest.raises(config.ConfigError, match="shard_count"):
        config.StackConfig(http_only=True, shard_count=2, archiver_max_tasks=3).check()
    assert config.StackConfig(http_only=True, shard_count=2).archiver_max == 2
    assert config.StackConfig(http_only=True).archiver_max == config.ON_DEMAND_INITIAL_SHARDS


@pytest.mark.parametrize(("cpu", "memory", "ok"), [
    (256, 512, True), (256, 4096, False), (512, 1024, True), (512, 1536, False),
    (1024, 8192, True), (4096, 30720, True), (4096, 32768, False), (8192, 20480, True),
    (8192, 18432, False), (300, 1024, False)])
def test_fargate_pairs(cpu: int, memory: int, ok: bool) -> None:
    size = config.TaskSize(cpu, memory)
    if ok:
        size.check("x")
    else:
        with pytest.raises(config.ConfigError):
            size.check("x")


def test_a_built_image_is_pushed_to_the_stacks_repository_and_pinned_by_digest() -> None:
    refs: dict[str, str] = {}

    def program() -> None:
        built = images.Images("images", images.ImagesArgs(
            prefix="t", given={"collector": None, "archiver": IMAGE.format("archiver"),
                               "dashboard": IMAGE.format("dashboard")}))
        built.refs["collector"].apply(lambda r: refs.setdefault("collector", r))

    rec = run(program)
    repo = rec.one("aws:ecr/repository:Repository").inputs
    assert repo["name"] == "t/collector"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    image = rec.one("docker-build:index:Image").inputs
    assert image["push"] is True
    assert image["dockerfile"]["location"].endswith("docker/collector.Dockerfile")
    assert image["context"]["location"] == str(images.ROOT)
    assert image["registries"][0]["username"] == "AWS"
    url = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/t/collector"
    assert image["tags"] == [f"{url}:latest"]
    assert image["registries"][0]["address"] == url
    assert refs["collector"] == f"{url}@sha256:{'0' * 64}"  # by digest: a new build rolls
    cache = f"{repo['name']}:buildcache"
    assert image["cacheFrom"][0]["registry"]["ref"].endswith(cache)
    assert image["cacheTo"][0]["registry"]["imageManifest"] is True  # what ECR accepts


def test_every_image_has_its_dockerfile() -> None:
    assert [s for s in images.SERVICES if not images.dockerfile(s).is_file()] == []


def test_an_image_without_a_dockerfile_must_be_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "dockerfile",
                        lambda image: images.ROOT / "docker" / f"{image}.missing")
    with pytest.raises(Exception, match="collector_image is required"):
        run(lambda: images.Images("images", images.ImagesArgs(
            prefix="t", given={s: None for s in images.SERVICES})))


def test_ecr_repository_arn() -> None:
    assert images.ecr_repository_arn(IMAGE.format("collector")) == arn(
        "ecr", "repository/t/collector")
    assert images.ecr_repository_arn("ghcr.io/x/y:1") is None


def test_the_archiver_is_deployed_before_the_collector() -> None:
    """Dependencies never reach the mocks; a stack transformation sees each resource's
    options as the program gave them."""
    seen: dict[str, list[str]] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        if args.type_ == "aws:ecs/service:Service":
            seen[args.name] = [d._name for d in (args.opts.depends_on or [])  # type: ignore
                               if isinstance(d, pulumi.Resource)]

    def program() -> None:
        pulumi.runtime.register_stack_transformation(record)
        Services("services", services_args())

    run(program)
    assert seen["services-collector"] == ["services-archiver"]
    assert seen["services-archiver"] == []
