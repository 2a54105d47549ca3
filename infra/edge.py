"""The edge: an internet-facing ALB in the public subnets, HTTPS with a given certificate or one
created and validated in Route 53, the collector on ``domain`` and the dashboard on its own host
name, an optional WAF rate rule, access logs to a bucket of their own.

Plain HTTP is redirected to HTTPS, except the hit paths old tags send over HTTP (analytics.js
on an http:// page, Measurement Protocol clients): those are forwarded, since a redirected hit
is a lost hit. The paths come from the collector's own route table.

The health check is the collector's liveness (``/healthz``), not its readiness: a short
DynamoDB outage must not take every task out of the target group. Deregistration waits longer
than the collector's drain, and ECS's stop timeout is longer still (infra.images).

ALB access logs carry client addresses (the ALB's own record, not ours): the bucket expires
them after ``log_days`` days and its noncurrent versions a day later."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import pulumi
import pulumi_aws as aws

from collector import collect, ga4
from collector.edge import ROUTES
from infra import iam, images

# TLS 1.3 and 1.2 with forward secrecy only
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
LOG_PREFIX = "alb"
# the ALB's idle timeout: every target's HTTP keep-alive must outlast it, or the ALB reuses a
# connection the target has just closed (a 502)
IDLE_TIMEOUT_S = 60
MAX_RULE_VALUES = 5  # an ALB rule's condition values, all conditions together
DEBUG_PATHS = frozenset({collect.DEBUG_PATH, ga4.MP_DEBUG_PATH})
PRIVATE_PATHS = ("/metrics", "/metrics/*")  # the collector's Prometheus exposition


def http_hit_paths() -> list[str]:
    """The collector's hit paths (its ROUTES, the debug ones aside) served over plain HTTP."""
    return sorted(set(ROUTES) - DEBUG_PATHS)


def chunks(values: Sequence[str], size: int = MAX_RULE_VALUES) -> list[list[str]]:
    return [list(values[i:i + size]) for i in range(0, len(values), size)]


def validation_option(options: Sequence[aws.acm.outputs.CertificateDomainValidationOption] | None,
                      host: str) -> aws.acm.outputs.CertificateDomainValidationOption:
    """ACM's DNS record proving control of ``host``."""
    for option in options or ():
        if option.domain_name == host:
            return option
    raise ValueError(f"ACM gave no validation record for {host}")


@dataclass(frozen=True)
class EdgeArgs:
    prefix: str
    region: str
    account_id: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    public_subnet_ids: Sequence[pulumi.Input[str]]
    domain: str | None = None
    dashboard_domain: str | None = None
    certificate_arn: str | None = None
    hosted_zone_id: str | None = None
    waf_rate_limit: int | None = None
    log_days: int = 7
    force_destroy: bool = False


class Edge(pulumi.ComponentResource):
    alb_arn: pulumi.Output[str]
    alb_arn_suffix: pulumi.Output[str]
    alb_dns_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    collector_target_group_arn: pulumi.Output[str]
    collector_target_group_arn_suffix: pulumi.Output[str]
    dashboard_target_group_arn: pulumi.Output[str]
    dashboard_target_group_arn_suffix: pulumi.Output[str]
    collector_url: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]
    log_bucket: pulumi.Output[str]

    def __init__(self, name: str, args: EdgeArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lambdalytics:infra:Edge", name, None, opts)
        self._name, self._a = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        a, n, child = args, name, self._child
        https = a.domain is not None
        ports = [443, 80] if https else [80, images.DASHBOARD_PORT]
        sg = aws.ec2.SecurityGroup(
            f"{n}-alb", name=f"{a.prefix}-alb", vpc_id=a.vpc_id,
            description="Lambdalytics ALB: the web in, the tasks out",
            ingress=[{"protocol": "tcp", "from_port": port, "to_port": port,
                      "cidr_blocks": ["0.0.0.0/0"], "description": "clients"}
                     for port in ports],
            egress=[{"protocol": "tcp", "from_port": images.COLLECTOR_PORT,
                     "to_port": images.DASHBOARD_PORT, "cidr_blocks": [a.vpc_cidr],
                     "description": "collector and dashboard tasks"}],
            opts=child)
        self.security_group_id = sg.id
        logs = self._log_bucket()
        alb = aws.lb.LoadBalancer(
            f"{n}-alb", name=f"{a.prefix}-alb", load_balancer_type="application",
            internal=False, security_groups=[sg.id], subnets=list(a.public_subnet_ids),
            drop_invalid_header_fields=True, desync_mitigation_mode="defensive",
            enable_http2=True, idle_timeout=IDLE_TIMEOUT_S,
            enable_deletion_protection=not a.force_destroy,
            # the collector reads the client's address through exactly one appended hop
            xff_header_processing_mode="append",
            access_logs={"bucket": logs.bucket, "prefix": LOG_PREFIX, "enabled": True},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self._log_policy]))
        self.alb_arn, self.alb_arn_suffix, self.alb_dns_name = alb.arn, alb.arn_suffix, alb.dns_name
        collector_tg = self._target_group("collector", images.COLLECTOR_PORT,
                                          "least_outstanding_requests")
        dashboard_tg = self._target_group("dashboard", images.DASHBOARD_PORT, "round_robin")
        self.collector_target_group_arn = collector_tg.arn
        self.collector_target_group_arn_suffix = collector_tg.arn_suffix
        self.dashboard_target_group_arn = dashboard_tg.arn
        self.dashboard_target_group_arn_suffix = dashboard_tg.arn_suffix
        if https:
            assert a.domain is not None
            assert a.dashboard_domain is not None
            certificate = self._certificate(a.domain, a.dashboard_domain)
            self._https(alb, certificate, collector_tg, dashboard_tg, a.dashboard_domain)
            self._http(alb, collector_tg, redirect=True)
            if a.hosted_zone_id:
                for host in (a.domain, a.dashboard_domain):
                    aws.route53.Record(
                        f"{n}-{host}", zone_id=a.hosted_zone_id, name=host, type="A",
                        aliases=[{"name": alb.dns_name, "zone_id": alb.zone_id,
                                  "evaluate_target_health": True}], opts=child)
            self.collector_url = pulumi.Output.from_input(f"https://{a.domain}")
            self.dashboard_url = pulumi.Output.from_input(f"https://{a.dashboard_domain}")
        else:
            pulumi.log.warn("http_only: the collector and the dashboard (its admin token too) "
                            "travel in plain HTTP, and browsers block hits from https:// pages")
            self._http(alb, collector_tg, redirect=False)
            aws.lb.Listener(f"{n}-dashboard", load_balancer_arn=alb.arn,
                            port=images.DASHBOARD_PORT, protocol="HTTP",
                            default_actions=[{"type": "forward",
                                              "target_group_arn": dashboard_tg.arn}], opts=child)
            self.collector_url = pulumi.Output.concat("http://", alb.dns_name)
            self.dashboard_url = pulumi.Output.concat("http://", alb.dns_name,
                                                      f":{images.DASHBOARD_PORT}")
        if a.waf_rate_limit is not None:
            self._waf(alb, a.waf_rate_limit)
        self.register_outputs({"alb_dns_name": self.alb_dns_name,
                               "collector_url": self.collector_url,
                               "dashboard_url": self.dashboard_url})

    def _log_bucket(self) -> aws.s3.Bucket:
        a, n, child = self._a, self._name, self._child
        bucket = aws.s3.Bucket(f"{n}-logs", bucket=f"{a.prefix}-alb-logs-{a.account_id}",
                               force_destroy=a.force_destroy, opts=child)
        self.log_bucket = bucket.bucket
        pab = aws.s3.BucketPublicAccessBlock(
            f"{n}-logs", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        own = aws.s3.BucketOwnershipControls(
            f"{n}-logs", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pab]))
        # ELB writes its logs with SSE-S3 only
        sse = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{n}-logs", bucket=bucket.id, rules=[{"apply_server_side_encryption_by_default": {
                "sse_algorithm": "AES256"}}], opts=pulumi.ResourceOptions(parent=self,
                                                                          depends_on=[own]))
        ver = aws.s3.BucketVersioning(
            f"{n}-logs", bucket=bucket.id, versioning_configuration={"status": "Enabled"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sse]))
        life = aws.s3.BucketLifecycleConfiguration(
            f"{n}-logs", bucket=bucket.id, rules=[{
                "id": "expire-access-logs", "status": "Enabled", "filter": {"prefix": ""},
                "expiration": {"days": a.log_days},
                "noncurrent_version_expiration": {"noncurrent_days": 1},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 1}}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ver]))
        self._log_policy = aws.s3.BucketPolicy(
            f"{n}-logs", bucket=bucket.id, policy=bucket.arn.apply(lambda arn: json.dumps(
                iam.alb_log_bucket(arn, a.region, a.account_id, LOG_PREFIX))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[life]))
        return bucket

    def _target_group(self, svc: str, port: int, algorithm: str) -> aws.lb.TargetGroup:
        a = self._a
        return aws.lb.TargetGroup(
            f"{self._name}-{svc}", name=f"{a.prefix}-{svc}", port=port, protocol="HTTP",
            protocol_version="HTTP1", target_type="ip", vpc_id=a.vpc_id,
            load_balancing_algorithm_type=algorithm,
            deregistration_delay=images.deregistration_delay(),
            health_check={"path": images.HEALTH_PATH, "protocol": "HTTP", "port": "traffic-port",
                          "matcher": "200", "interval": 10, "timeout": 5,
                          "healthy_threshold": 2, "unhealthy_threshold": 3},
            opts=self._child)

    def _certificate(self, domain: str, dashboard_domain: str) -> pulumi.Input[str]:
        a, n, child = self._a, self._name, self._child
        if a.certificate_arn:
            return a.certificate_arn
        assert a.hosted_zone_id is not None
        cert = aws.acm.Certificate(f"{n}-cert", domain_name=domain,
                                   subject_alternative_names=[dashboard_domain],
                                   validation_method="DNS", opts=child)  # RSA: old clients too
        fqdns = []
        for i, host in enumerate((domain, dashboard_domain)):
            option = cert.domain_validation_options.apply(partial(validation_option, host=host))
            record = aws.route53.Record(
                f"{n}-cert-validation-{i}", zone_id=a.hosted_zone_id, allow_overwrite=True,
                name=option.apply(lambda o: o.resource_record_name or ""),
                type=option.apply(lambda o: o.resource_record_type or "CNAME"),
                records=[option.apply(lambda o: o.resource_record_value or "")], ttl=300,
                opts=child)
            fqdns.append(record.fqdn)
        return aws.acm.CertificateValidation(f"{n}-cert", certificate_arn=cert.arn,
                                             validation_record_fqdns=fqdns,
                                             opts=child).certificate_arn

    def _https(self, alb: aws.lb.LoadBalancer, certificate: pulumi.Input[str],
               collector: aws.lb.TargetGroup, dashboard: aws.lb.TargetGroup,
               dashboard_domain: str) -> None:
        n, child = self._name, self._child
        listener = aws.lb.Listener(
            f"{n}-https", load_balancer_arn=alb.arn, port=443, protocol="HTTPS",
            ssl_policy=SSL_POLICY, certificate_arn=certificate,
            default_actions=[{"type": "forward", "target_group_arn": collector.arn}], opts=child)
        self._private_paths(listener, "https")
        aws.lb.ListenerRule(
            f"{n}-dashboard", listener_arn=listener.arn, priority=10,
            conditions=[{"host_header": {"values": [dashboard_domain]}}],
            actions=[{"type": "forward", "target_group_arn": dashboard.arn}], opts=child)

    def _private_paths(self, listener: aws.lb.Listener, listener_name: str) -> None:
        """The collector's Prometheus page is for the operators, not the web: the ALB answers
        404 for it on every host (CloudWatch gets the same numbers through EMF)."""
        aws.lb.ListenerRule(
            f"{self._name}-{listener_name}-private", listener_arn=listener.arn, priority=1,
            conditions=[{"path_pattern": {"values": list(PRIVATE_PATHS)}}],
            actions=[{"type": "fixed-response", "fixed_response": {
                "content_type": "text/plain", "message_body": "Not Found",
                "status_code": "404"}}], opts=self._child)

    def _http(self, alb: aws.lb.LoadBalancer, collector: aws.lb.TargetGroup, *,
              redirect: bool) -> None:
        n, child = self._name, self._child
        forward: aws.lb.ListenerDefaultActionArgsDict = {
            "type": "forward", "target_group_arn": collector.arn}
        default: aws.lb.ListenerDefaultActionArgsDict = {"type": "redirect", "redirect": {
            "protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}} if redirect else forward
        listener = aws.lb.Listener(f"{n}-http", load_balancer_arn=alb.arn, port=80,
                                   protocol="HTTP", default_actions=[default], opts=child)
        if not redirect:
            self._private_paths(listener, "http")
            return
        for i, paths in enumerate(chunks(http_hit_paths())):
            aws.lb.ListenerRule(
                f"{n}-http-hits-{i}", listener_arn=listener.arn, priority=100 + i,
                conditions=[{"path_pattern": {"values": paths}}],
                actions=[{"type": "forward", "target_group_arn": collector.arn}], opts=child)

    def _waf(self, alb: aws.lb.LoadBalancer, limit: int) -> None:
        a, n = self._a, self._name
        metric = f"{a.prefix}-rate"
        acl = aws.wafv2.WebAcl(
            f"{n}-waf", name=f"{a.prefix}-edge", scope="REGIONAL", default_action={"allow": {}},
            rules=[{"name": "rate-per-address", "priority": 1, "action": {"block": {}},
                    "statement": {"rate_based_statement": {
                        "limit": limit, "aggregate_key_type": "IP",
                        "evaluation_window_sec": 300}},
                    "visibility_config": {"cloudwatch_metrics_enabled": True,
                                          "metric_name": metric, "sampled_requests_enabled": False}}],
            visibility_config={"cloudwatch_metrics_enabled": True, "metric_name": f"{a.prefix}-edge",
                               "sampled_requests_enabled": False},
            opts=self._child)
        aws.wafv2.WebAclAssociation(f"{n}-waf", resource_arn=alb.arn, web_acl_arn=acl.arn,
                                    opts=self._child)
