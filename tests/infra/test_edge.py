"""The edge under Pulumi's mocks: the ALB, its listeners and rules, target groups, the
certificate, WAF and the access-log bucket."""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest

from collector.edge import ROUTES
from collector.settings import CollectorSettings
from infra import edge as edge_module
from infra.edge import Edge, EdgeArgs
from tests.infra import mocks
from tests.infra.test_services import run

SUBNETS = ["subnet-a", "subnet-b", "subnet-c"]
ROOT = edge_module.images.ROOT


def edge(**over: Any) -> mocks.Recorder:
    args: dict[str, Any] = dict(prefix="t", region="us-east-1", account_id=mocks.ACCOUNT,
                                vpc_id="vpc-1", vpc_cidr="10.64.0.0/16", public_subnet_ids=SUBNETS,
                                domain="stats.example.com", dashboard_domain="dash.example.com",
                                hosted_zone_id="Z123", waf_rate_limit=2000)
    return run(lambda: Edge("edge", EdgeArgs(**(args | over))))


@pytest.fixture(scope="module")
def rec() -> mocks.Recorder:
    return edge()


def listeners(rec: mocks.Recorder) -> dict[int, dict[str, Any]]:
    return {int(r.inputs["port"]): r.inputs for r in rec.of_type("aws:lb/listener:Listener")}


def rules(rec: mocks.Recorder, listener: str) -> list[dict[str, Any]]:
    return [r.inputs for r in rec.of_type("aws:lb/listenerRule:ListenerRule")
            if r.inputs["listenerArn"].endswith(f":{listener}")]


def test_alb_is_public_in_the_public_subnets(rec: mocks.Recorder) -> None:
    alb = rec.one("aws:lb/loadBalancer:LoadBalancer").inputs
    assert alb["internal"] is False
    assert alb["loadBalancerType"] == "application"
    assert alb["subnets"] == SUBNETS
    assert alb["dropInvalidHeaderFields"] is True
    assert alb["xffHeaderProcessingMode"] == "append"  # one hop: trusted_proxy_hops=1
    assert alb["accessLogs"] == {"bucket": "t-alb-logs-123456789012", "prefix": "alb",
                                 "enabled": True}
    assert len(alb["name"]) <= 32
    assert alb["enableDeletionProtection"] is True  # unless force_destroy


def test_https_forwards_to_the_collector_and_the_dashboard_by_host(rec: mocks.Recorder) -> None:
    https = listeners(rec)[443]
    assert https["protocol"] == "HTTPS"
    assert https["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    assert https["certificateArn"] == "arn:aws:acm:us-east-1:123456789012:edge-cert"
    assert https["defaultActions"][0]["targetGroupArn"].endswith(":edge-collector")
    private, dash = sorted(rules(rec, "edge-https"), key=lambda r: r["priority"])
    assert dash["conditions"] == [{"hostHeader": {"values": ["dash.example.com"]}}]
    assert dash["actions"][0]["targetGroupArn"].endswith(":edge-dashboard")
    # the collector's Prometheus page is answered 404 by the ALB, before any other rule
    assert private["conditions"] == [{"pathPattern": {"values": ["/metrics", "/metrics/*"]}}]
    assert private["actions"][0]["fixedResponse"]["statusCode"] == "404"
    assert private["priority"] < dash["priority"]


def test_http_redirects_but_forwards_the_hit_paths_old_tags_send(rec: mocks.Recorder) -> None:
    http = listeners(rec)[80]
    assert http["defaultActions"] == [{"type": "redirect", "redirect": {
        "protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}]
    forwarded = []
    for rule in rules(rec, "edge-http"):
        values = [v for c in rule["conditions"] for v in c["pathPattern"]["values"]]
        assert len(values) <= edge_module.MAX_RULE_VALUES  # AWS's limit per rule
        assert rule["actions"][0]["targetGroupArn"].endswith(":edge-collector")
        forwarded += values
    # every hit route of the collector but the debug ones, and nothing else
    assert sorted(forwarded) == sorted(p for p in ROUTES if not p.startswith("/debug/"))
    assert {"/collect", "/r/collect", "/j/collect", "/batch", "/g/collect"} <= set(forwarded)


def test_rule_priorities_are_unique_per_listener(rec: mocks.Recorder) -> None:
    for listener in ("edge-http", "edge-https"):
        priorities = [r["priority"] for r in rules(rec, listener)]
        assert len(priorities) == len(set(priorities))
        assert all(1 <= p <= 50_000 for p in priorities)


def test_health_check_and_draining_outlast_the_collectors_drain(rec: mocks.Recorder) -> None:
    drain = CollectorSettings.model_fields["drain_timeout_s"].default
    for tg in rec.of_type("aws:lb/targetGroup:TargetGroup"):
        inputs = tg.inputs
        assert inputs["healthCheck"]["path"] == "/healthz"  # liveness, not /readyz
        assert inputs["targetType"] == "ip"  # awsvpc tasks
        assert int(inputs["deregistrationDelay"]) > drain
        assert len(inputs["name"]) <= 32
        hc = inputs["healthCheck"]
        assert hc["timeout"] < hc["interval"]


def test_certificate_is_validated_in_the_zone_and_names_point_at_the_alb(
        rec: mocks.Recorder) -> None:
    cert = rec.one("aws:acm/certificate:Certificate").inputs
    assert cert["domainName"] == "stats.example.com"
    assert cert["subjectAlternativeNames"] == ["dash.example.com"]
    assert cert["validationMethod"] == "DNS"
    records = {r.name: r.inputs for r in rec.of_type("aws:route53/record:Record")}
    validation = [r for n, r in records.items() if "validation" in n]
    assert sorted(r["name"] for r in validation) == ["_x.dash.example.com.",
                                                     "_x.stats.example.com."]
    assert rec.one("aws:acm/certificateValidation:CertificateValidation").inputs[
        "validationRecordFqdns"] == [r["name"].rstrip(".") for r in validation]
    aliases = [r for n, r in records.items() if "validation" not in n]
    assert sorted(r["name"] for r in aliases) == ["dash.example.com", "stats.example.com"]
    assert all(r["type"] == "A" and r["zoneId"] == "Z123" for r in aliases)


def test_a_given_certificate_is_used_as_it_is() -> None:
    rec = edge(hosted_zone_id=None, certificate_arn="arn:aws:acm:us-east-1:1:certificate/x",
               waf_rate_limit=None)
    assert rec.of_type("aws:acm/certificate:Certificate") == []
    assert listeners(rec)[443]["certificateArn"] == "arn:aws:acm:us-east-1:1:certificate/x"
    assert rec.of_type("aws:route53/record:Record") == []
    assert rec.of_type("aws:wafv2/webAcl:WebAcl") == []


def test_http_only_serves_plain_http_without_a_certificate() -> None:
    rec = edge(domain=None, dashboard_domain=None, hosted_zone_id=None, waf_rate_limit=None)
    ls = listeners(rec)
    assert set(ls) == {80, 8081}
    assert ls[80]["defaultActions"][0]["type"] == "forward"
    assert ls[8081]["defaultActions"][0]["targetGroupArn"].endswith(":edge-dashboard")
    (private,) = rules(rec, "edge-http")
    assert private["actions"][0]["type"] == "fixed-response"
    sg = rec.one("aws:ec2/securityGroup:SecurityGroup").inputs
    assert sorted(r["fromPort"] for r in sg["ingress"]) == [80, 8081]


def test_waf_rate_rule(rec: mocks.Recorder) -> None:
    acl = rec.one("aws:wafv2/webAcl:WebAcl").inputs
    assert acl["scope"] == "REGIONAL"
    (rule,) = acl["rules"]
    assert rule["statement"]["rateBasedStatement"]["limit"] == 2000
    assert rule["action"] == {"block": {}}
    # sampled requests would keep client addresses in the WAF console
    assert rule["visibilityConfig"]["sampledRequestsEnabled"] is False
    assoc = rec.one("aws:wafv2/webAclAssociation:WebAclAssociation").inputs
    assert assoc["resourceArn"].endswith(":edge-alb")


def test_alb_security_group(rec: mocks.Recorder) -> None:
    sg = rec.one("aws:ec2/securityGroup:SecurityGroup").inputs
    assert sorted(r["fromPort"] for r in sg["ingress"]) == [80, 443]
    (egress,) = sg["egress"]
    assert egress["cidrBlocks"] == ["10.64.0.0/16"]  # to the tasks only
    assert (egress["fromPort"], egress["toPort"]) == (8080, 8081)


def test_access_log_bucket_is_private_encrypted_versioned_and_short_lived(
        rec: mocks.Recorder) -> None:
    pab = rec.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy",
                                         "ignorePublicAcls", "restrictPublicBuckets"))
    sse = rec.one("aws:s3/bucketServerSideEncryptionConfiguration:"
                  "BucketServerSideEncryptionConfiguration").inputs
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    ver = rec.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert ver["versioningConfiguration"]["status"] == "Enabled"
    (rule,) = rec.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration") \
        .inputs["rules"]
    assert rule["expiration"]["days"] == 7  # client addresses: kept a week
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 1
    policy = json.loads(rec.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    tls, delivery = policy["Statement"]
    assert tls["Effect"] == "Deny"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert delivery["Principal"] == {"AWS": "arn:aws:iam::127311923021:root"}  # us-east-1's ELB
    assert delivery["Resource"].endswith("/alb/AWSLogs/123456789012/*")


def test_http_hit_paths_come_from_the_collector() -> None:
    assert edge_module.http_hit_paths() == sorted(set(ROUTES) - edge_module.DEBUG_PATHS)
    assert all(p.startswith("/debug/") for p in edge_module.DEBUG_PATHS)
    assert edge_module.chunks(list("abcdefg"), 5) == [list("abcde"), list("fg")]


def keep_alive(path: str) -> int:
    """The ``timeout_keep_alive`` a server module gives uvicorn (uvicorn's default: 5 s)."""
    tree = ast.parse((ROOT / path).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "timeout_keep_alive":
            assert isinstance(node.value, ast.Constant)
            return int(node.value.value)
    return 5


@pytest.mark.parametrize("path", ["collector/server.py", "dashboard/__main__.py"])
def test_targets_keep_connections_open_longer_than_the_alb(path: str) -> None:
    assert keep_alive(path) > edge_module.IDLE_TIMEOUT_S
