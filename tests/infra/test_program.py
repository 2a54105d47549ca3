"""The whole program under Pulumi's mocks, as `pulumi up` would run it: what a reviewer and
`pulumi preview` would catch, asserted on the recorded inputs."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pytest

from infra import config, images, program
from lambdalytics.resources import resources
from tests.infra import mocks
from tests.infra.test_services import run

IMAGE = f"{mocks.ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/lambdalytics/{{}}:v1"
BASE = {"aws:region": "us-east-1", "domain": "stats.example.com", "hosted_zone_id": "Z123",
        "archiver_image": IMAGE.format("archiver"), "dashboard_image": IMAGE.format("dashboard")}


def deploy(cfg: Mapping[str, str]) -> tuple[mocks.Recorder, dict[str, Any]]:
    """Run the program with this stack configuration; the recorder and the resolved outputs."""
    resolved: dict[str, Any] = {}

    def main() -> Any:
        outputs = program.main()
        assert list(outputs) == list(program.OUTPUTS)
        return pulumi.Output.all(**outputs).apply(resolved.update)

    return run(main, cfg), resolved


@pytest.fixture(scope="module")
def stack() -> tuple[mocks.Recorder, dict[str, Any]]:
    return deploy(BASE)


@pytest.fixture(scope="module")
def rec(stack: tuple[mocks.Recorder, dict[str, Any]]) -> mocks.Recorder:
    return stack[0]


def test_every_output_is_there(stack: tuple[mocks.Recorder, dict[str, Any]]) -> None:
    _rec, out = stack
    assert set(out) == set(program.OUTPUTS)
    assert all(out[k] for k in program.OUTPUTS), {k: out[k] for k in program.OUTPUTS}
    assert out["collector_url"] == "https://stats.example.com"
    assert out["dashboard_url"] == "https://dashboard.stats.example.com"
    assert out["stream_name"] == resources("lambdalytics").stream.name
    assert "server_container_url: 'https://stats.example.com'" in out["gtag_snippet"]
    assert out["gtag_snippet"].startswith('<script async src="https://www.googletagmanager.com/')


def test_no_nat_gateway_anywhere(rec: mocks.Recorder) -> None:
    assert rec.of_type("aws:ec2/natGateway:NatGateway") == []
    assert rec.of_type("aws:ec2/eip:Eip") == []
    for svc in rec.of_type("aws:ecs/service:Service"):
        assert svc.inputs["networkConfiguration"]["assignPublicIp"] is False


def test_alb_subnets_are_public_ones_in_at_least_two_zones(rec: mocks.Recorder) -> None:
    subnets = {f"{s.name}-id": s.inputs for s in rec.of_type("aws:ec2/subnet:Subnet")}
    alb = rec.one("aws:lb/loadBalancer:LoadBalancer").inputs
    zones = {subnets[s]["availabilityZone"] for s in alb["subnets"]}
    assert len(zones) >= 2
    assert all(subnets[s]["tags"]["tier"] == "public" for s in alb["subnets"])
    for svc in rec.of_type("aws:ecs/service:Service"):
        ids = svc.inputs["networkConfiguration"]["subnets"]
        assert all(subnets[s]["tags"]["tier"] == "private" for s in ids)
        assert len({subnets[s]["availabilityZone"] for s in ids}) >= 2


def test_fargate_sizes_and_the_collector_floor(rec: mocks.Recorder) -> None:
    for td in rec.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        assert int(td.inputs["memory"]) in config.FARGATE_MEMORY[int(td.inputs["cpu"])]
    collector = next(s.inputs for s in rec.of_type("aws:ecs/service:Service")
                     if s.inputs["name"] == "collector")
    assert collector["desiredCount"] >= 2


def test_names_within_aws_limits(rec: mocks.Recorder) -> None:
    limits = {"aws:lb/loadBalancer:LoadBalancer": 32, "aws:lb/targetGroup:TargetGroup": 32,
              "aws:iam/role:Role": 64, "aws:cloudwatch/logGroup:LogGroup": 512,
              "aws:ecs/cluster:Cluster": 255, "aws:ecs/service:Service": 255,
              "aws:scheduler/schedule:Schedule": 64, "aws:ec2/securityGroup:SecurityGroup": 255,
              "aws:wafv2/webAcl:WebAcl": 128, "aws:appautoscaling/policy:Policy": 256,
              "aws:cloudwatch/metricAlarm:MetricAlarm": 255,
              "aws:secretsmanager/secret:Secret": 512}
    for token, limit in limits.items():
        for r in rec.of_type(token):
            # without a name Pulumi makes one: the resource's name and 8 random characters
            name = r.inputs.get("name") or f"{r.name}-abcdefg"
            assert len(name) <= limit, (token, name)
    for td in rec.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        assert len(td.inputs["family"]) <= 255
    for b in rec.of_type("aws:s3/bucket:Bucket"):
        assert 3 <= len(b.inputs["bucket"]) <= 63


def test_a_prefix_at_its_longest_still_fits() -> None:
    prefix = "a" * 20
    rec, _out = deploy({**BASE, "prefix": prefix, "waf_rate_limit": "1000"})
    for r in rec.of_type("aws:lb/targetGroup:TargetGroup") + rec.of_type(
            "aws:lb/loadBalancer:LoadBalancer"):
        assert len(r.inputs["name"]) <= 32
        assert r.inputs["name"].startswith(prefix)  # not cut short: names stay unique
    for r in rec.of_type("aws:iam/role:Role"):
        assert len(r.inputs["name"]) <= 64


def test_every_bucket_is_private_encrypted_versioned_and_tls_only(rec: mocks.Recorder) -> None:
    buckets = {f"{b.name}-id": b.inputs["bucket"] for b in rec.of_type("aws:s3/bucket:Bucket")}
    assert len(buckets) >= 4  # archive, replica, athena results, ALB logs

    def by_bucket(token: str) -> dict[str, dict[str, Any]]:
        return {r.inputs["bucket"]: r.inputs for r in rec.of_type(token)}

    pab = by_bucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    sse = by_bucket("aws:s3/bucketServerSideEncryptionConfiguration:"
                    "BucketServerSideEncryptionConfiguration")
    ver = by_bucket("aws:s3/bucketVersioning:BucketVersioning")
    pol = by_bucket("aws:s3/bucketPolicy:BucketPolicy")
    life = by_bucket("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    for bucket_id, name in buckets.items():
        assert all(pab[bucket_id][k] is True for k in (
            "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
            "restrictPublicBuckets")), name
        assert sse[bucket_id]["rules"][0]["applyServerSideEncryptionByDefault"][
            "sseAlgorithm"] in ("aws:kms", "AES256"), name
        assert ver[bucket_id]["versioningConfiguration"]["status"] == "Enabled", name
        statements = json.loads(pol[bucket_id]["policy"])["Statement"]
        assert any(st["Effect"] == "Deny" and st.get("Condition") == {
            "Bool": {"aws:SecureTransport": "false"}} for st in statements), name
        assert not any(st["Effect"] == "Allow" and st.get("Principal") == "*"
                       for st in statements), name
        assert life[bucket_id]["rules"], name


def test_no_deprecated_resource_types(rec: mocks.Recorder) -> None:
    # pulumi-aws 7 keeps its V2 S3 resources only as deprecated aliases
    assert not [r.type for r in rec.resources if r.type.startswith("aws:s3/") and "V2" in r.type]


def test_the_deployment_names_match_what_the_services_compute(rec: mocks.Recorder) -> None:
    res = resources("lambdalytics")
    assert rec.one("aws:kinesis/stream:Stream").inputs["name"] == res.stream.name
    tables = {t.inputs["name"] for t in rec.of_type("aws:dynamodb/table:Table")}
    assert tables == {t.name for t in res.tables}
    wg = rec.one("aws:athena/workgroup:Workgroup").inputs["name"]
    db = rec.one("aws:glue/catalogDatabase:CatalogDatabase").inputs["name"]
    for td in rec.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        (c,) = json.loads(td.inputs["containerDefinitions"])
        env = {e["name"]: e["value"] for e in c["environment"]}
        assert env["LAMBDALYTICS_RESOURCE_PREFIX"] == "lambdalytics"
        archive = next(b.inputs["bucket"] for b in rec.of_type("aws:s3/bucket:Bucket")
                       if "archive" in b.inputs["bucket"])
        assert env["LAMBDALYTICS_ARCHIVE_BUCKET"] == archive
        if c["name"] in ("dashboard", "compactor"):
            assert env["LAMBDALYTICS_ATHENA_WORKGROUP"] == wg
            assert env["LAMBDALYTICS_ATHENA_DATABASE"] == db


def test_target_groups_match_the_containers_ports(rec: mocks.Recorder) -> None:
    tgs = {f"arn:aws:lb:{mocks.REGION}:{mocks.ACCOUNT}:{t.name}": t.inputs  # the mocks' ARN
           for t in rec.of_type("aws:lb/targetGroup:TargetGroup")}
    for svc in rec.of_type("aws:ecs/service:Service"):
        for lb in svc.inputs.get("loadBalancers") or []:
            assert tgs[lb["targetGroupArn"]]["port"] == lb["containerPort"]
    # and the tasks admit the ALB on exactly those ports
    groups = {s.inputs.get("name", s.name): s.inputs
              for s in rec.of_type("aws:ec2/securityGroup:SecurityGroup")}
    assert [r["fromPort"] for r in groups["lambdalytics-collector"]["ingress"]] == [
        images.COLLECTOR_PORT]
    assert [r["fromPort"] for r in groups["lambdalytics-dashboard"]["ingress"]] == [
        images.DASHBOARD_PORT]
    assert not groups["lambdalytics-worker"].get("ingress")


def test_autoscaling_and_alarms_are_present(rec: mocks.Recorder) -> None:
    targets = {t.inputs["resourceId"] for t in rec.of_type("aws:appautoscaling/target:Target")}
    assert targets == {"service/lambdalytics/collector", "service/lambdalytics/archiver"}
    assert len(rec.of_type("aws:appautoscaling/policy:Policy")) == 4
    assert len(rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")) > 2  # OPS's too


def test_images_are_built_for_the_architecture_the_tasks_run_on() -> None:
    for arch, platform in (("X86_64", "linux/amd64"), ("ARM64", "linux/arm64")):
        rec, _out = deploy({**BASE, "architecture": arch})
        assert rec.one("docker-build:index:Image").inputs["platforms"] == [platform]
        for td in rec.of_type("aws:ecs/taskDefinition:TaskDefinition"):
            assert td.inputs["runtimePlatform"]["cpuArchitecture"] == arch


def test_a_provisioned_stream_caps_the_archiver_at_its_shards() -> None:
    rec, _out = deploy({**BASE, "shard_count": "2"})
    stream = rec.one("aws:kinesis/stream:Stream").inputs
    assert stream["shardCount"] == 2
    target = next(t.inputs for t in rec.of_type("aws:appautoscaling/target:Target")
                  if t.inputs["resourceId"].endswith("/archiver"))
    assert target["maxCapacity"] == 2


@pytest.mark.parametrize(("cfg", "error"), [
    ({"replica_region": "us-east-1"}, "replica_region must differ"),
    ({"az_count": "1"}, "az_count"),
    ({"collector_cpu": "256", "collector_memory": "4096"}, "256 CPU units"),
    ({"domain": ""}, "set domain"),
    ({"hosted_zone_id": ""}, "set certificate_arn"),
    ({"shard_count": "2", "archiver_max_tasks": "3"}, "shard_count"),
    ({"collector_min_tasks": "1"}, "collector tasks"),
    ({"prefix": "Has_Upper"}, "prefix"),
    ({"prefix": "a--b"}, "prefix"),
    ({"prefix": "trailing-"}, "prefix"),
    ({"prefix": "a" * 21}, "prefix"),
    ({"log_retention_days": "10"}, "log_retention_days"),
    ({"http_only": "true"}, "http_only takes no domain"),
])
def test_bad_configuration_is_refused_before_anything_is_made(cfg: dict[str, str],
                                                               error: str) -> None:
    merged = {k: v for k, v in ({**BASE, **cfg}).items() if v != ""}
    with pytest.raises(Exception, match=error):
        deploy(merged)


def test_http_only_trial_stack() -> None:
    _rec, out = deploy({"aws:region": "eu-west-1", "http_only": "true", "az_count": "2",
                        "archiver_image": IMAGE.format("archiver"),
                        "dashboard_image": IMAGE.format("dashboard")})
    assert out["collector_url"].startswith("http://")
    assert out["dashboard_url"].endswith(":8081")


def readme_table() -> dict[str, str]:
    """README "Deploying on AWS": config key → its default as written."""
    readme = (images.ROOT / "README.md").read_text()
    section = readme.split("\n## Deploying on AWS\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            keys = [k.strip("` ") for k in cells[0].split(" / ")]
            defaults = [d.strip() for d in cells[1].split(" / ")]
            for j, key in enumerate(keys):
                table[key] = defaults[j] if len(defaults) == len(keys) else cells[1]
    return table


def test_every_config_key_is_in_the_readme_with_its_default() -> None:
    table = readme_table()
    d = config.StackConfig()
    read = set(re.findall(r"""(?:cfg\.get\w*\(|_int\(cfg, )["']([a-z_]+)["']""",
                          (images.ROOT / "infra" / "config.py").read_text()))
    read |= {f"{s}_{k}" for s in ("collector", "archiver", "dashboard", "compactor")
             for k in ("cpu", "memory")}  # read through size()
    assert read - {"region"} <= set(table), f"undocumented: {read - set(table)}"
    documented = set(table) - {"aws:region"}
    assert documented <= read, f"documented, not read: {documented - read}"
    for key, value in table.items():
        if not value.startswith("`") or "<" in value:
            continue  # "none", "(required)", a sentence, a derived default
        default: object
        if key.endswith(("_cpu", "_memory")):
            size = getattr(d, key.rsplit("_", 1)[0])
            default = getattr(size, key.rsplit("_", 1)[1])
        else:
            default = getattr(d, key)
        shown = str(default).lower() if isinstance(default, bool) else \
            f"{default:g}" if isinstance(default, float) else str(default)
        assert value == f"`{shown}`", (key, value, default)
