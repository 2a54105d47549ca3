"""The stack's configuration: every key ``pulumi config set`` takes, its default, and the checks
AWS would otherwise fail half-way through an update with (README "Deploying on AWS" lists them).

Read once in :func:`infra.program.main` into a frozen :class:`StackConfig`; the components
never read configuration themselves."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import pulumi

from lambdalytics.resources import resources

# Fargate's task sizes: CPU units → the memory (MiB) each allows
# (docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html)
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# CloudWatch Logs' accepted retention values (PutRetentionPolicy)
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)

# short enough that every name built from it fits AWS's shortest limit (a target group or load
# balancer: 32 characters, "<prefix>-dashboard"), lower case for S3 and Glue
PREFIX = re.compile(r"(?!.*--)[a-z]([a-z0-9-]{0,18}[a-z0-9])?\Z")
REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d\Z")
DOMAIN = re.compile(r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")
# Kinesis's on-demand mode starts with 4 shards: the archiver's ceiling when none is configured
ON_DEMAND_INITIAL_SHARDS = 4


class ConfigError(ValueError):
    """A stack configuration AWS would refuse, or one that would not do what it says."""


@dataclass(frozen=True, slots=True)
class TaskSize:
    cpu: int  # CPU units (1024 = 1 vCPU)
    memory: int  # MiB

    def check(self, what: str) -> None:
        allowed = FARGATE_MEMORY.get(self.cpu)
        if allowed is None:
            raise ConfigError(f"{what}: cpu {self.cpu} is not a Fargate size "
                              f"({', '.join(map(str, FARGATE_MEMORY))})")
        if self.memory not in allowed:
            raise ConfigError(f"{what}: {self.cpu} CPU units take memory {allowed[0]}–"
                              f"{allowed[-1]} MiB in steps of {allowed[1] - allowed[0]}, "
                              f"not {self.memory}")


@dataclass(frozen=True, slots=True)
class StackConfig:
    prefix: str = "lambdalytics"
    region: str = "us-east-1"
    replica_region: str = "us-west-2"
    az_count: int = 3
    vpc_cidr: str = "10.64.0.0/16"
    # HTTPS: the collector on ``domain``, the dashboard on ``dashboard_domain``; the
    # certificate is given, or created and validated in the Route 53 zone ``hosted_zone_id``
    # (which then also gets the two alias records)
    domain: str | None = None
    dashboard_domain: str | None = None
    certificate_arn: str | None = None
    hosted_zone_id: str | None = None
    http_only: bool = False  # a trial without a domain: plain HTTP on the ALB's own name
    shard_count: int | None = None  # None: on-demand
    collector: TaskSize = TaskSize(1024, 2048)
    collector_min_tasks: int = 2
    collector_max_tasks: int = 20
    collector_requests_per_target: int = 30_000  # ALB requests per task per minute
    collector_cpu_target: float = 60.0
    archiver: TaskSize = TaskSize(1024, 2048)
    archiver_min_tasks: int = 1
    archiver_max_tasks: int | None = None  # default: the shard count (on-demand: 4)
    archiver_iterator_age_ms: int = 60_000  # scale out past this much lag
    dashboard: TaskSize = TaskSize(512, 1024)
    dashboard_tasks: int = 1
    compactor: TaskSize = TaskSize(2048, 8192)
    compaction_schedule: str = "cron(30 4 * * ? *)"  # daily, after compact's 4 h close delay
    retention_days: int | None = None  # the archive's default expiry; None: keep
    log_retention_days: int = 30
    alb_log_days: int = 7  # ALB access logs hold client addresses: kept this long
    collector_image: str | None = None
    archiver_image: str | None = None
    dashboard_image: str | None = None
    architecture: Literal["X86_64", "ARM64"] = "X86_64"
    waf_rate_limit: int | None = None  # requests per client address per 5 minutes
    alarm_email: str | None = None
    replica_endpoint: bool = True  # a cross-region S3 endpoint so retention reaches the replica
    force_destroy: bool = False  # let `pulumi destroy` delete non-empty buckets (test stacks)
    maxmind_license_key: pulumi.Output[str] | None = field(default=None, compare=False)
    admin_token: pulumi.Output[str] | None = field(default=None, compare=False)

    @property
    def archiver_ceiling(self) -> int:
        """The most archiver tasks there can be: one per shard at most (each holds leases)."""
        return self.shard_count if self.shard_count is not None else ON_DEMAND_INITIAL_SHARDS

    @property
    def archiver_max(self) -> int:
        return self.archiver_max_tasks if self.archiver_max_tasks is not None \
            else self.archiver_ceiling

    @property
    def https(self) -> bool:
        return not self.http_only

    def check(self) -> StackConfig:
        """Raise :class:`ConfigError` for what AWS would refuse or what would not work; returns
        self."""
        if not PREFIX.match(self.prefix):
            raise ConfigError(f"prefix {self.prefix!r}: 1–20 characters, a-z, 0-9 and single "
                              "hyphens, from a letter to a letter or digit (every resource "
                              "name is built from it)")
        resources(self.prefix, shard_count=self.shard_count)  # the services' own rules
        for name, region in (("region", self.region), ("replica_region", self.replica_region)):
            if not REGION.match(region):
                raise ConfigError(f"{name} {region!r} is not an AWS region name")
        if self.region == self.replica_region:
            raise ConfigError("replica_region must differ from the region: the replica is "
                              "what survives losing it")
        if not 2 <= self.az_count <= 6:
            raise ConfigError("az_count: 2–6 (the ALB and the collector need two zones)")
        for what, size in (("collector", self.collector), ("archiver", self.archiver),
                           ("dashboard", self.dashboard), ("compactor", self.compactor)):
            size.check(what)
        self._check_edge()
        self._check_scaling()
        if self.retention_days is not None and self.retention_days < 1:
            raise ConfigError("retention_days: 1 or more (or unset: keep everything)")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ConfigError(f"log_retention_days: one of {LOG_RETENTION_DAYS}")
        if not 1 <= self.alb_log_days <= 90:
            raise ConfigError("alb_log_days: 1–90 (they hold client addresses)")
        if self.waf_rate_limit is not None and not 10 <= self.waf_rate_limit <= 2_000_000_000:
            raise ConfigError("waf_rate_limit: 10–2,000,000,000 requests per 5 minutes")
        if not self.compaction_schedule.startswith(("cron(", "rate(")):
            raise ConfigError("compaction_schedule: an EventBridge Scheduler cron(…) or rate(…)")
        return self

    def _check_edge(self) -> None:
        if self.http_only:
            if self.domain or self.certificate_arn or self.hosted_zone_id:
                raise ConfigError("http_only takes no domain, certificate_arn or hosted_zone_id")
            return
        if not self.domain:
            raise ConfigError("set domain (and certificate_arn or hosted_zone_id): the "
                              "collector is served over HTTPS; http_only=true for a trial")
        for name in (self.domain, self.dashboard_domain):
            if name is not None and not DOMAIN.match(name):
                raise ConfigError(f"{name!r} is not a lower-case DNS name")
        if self.certificate_arn is None and self.hosted_zone_id is None:
            raise ConfigError("set certificate_arn (covering domain and dashboard_domain) or "
                              "hosted_zone_id (a certificate is then created and validated)")
        if self.certificate_arn is not None and not self.certificate_arn.startswith("arn:"):
            raise ConfigError("certificate_arn must be an ACM certificate ARN")

    def _check_scaling(self) -> None:
        if self.shard_count is not None and not 1 <= self.shard_count <= 10_000:
            raise ConfigError("shard_count: 1 or more (unset: on-demand)")
        if not 2 <= self.collector_min_tasks <= self.collector_max_tasks:
            raise ConfigError("collector tasks: 2 ≤ min ≤ max (two zones, always)")
        if not 1 <= self.archiver_min_tasks <= self.archiver_max:
            raise ConfigError("archiver tasks: 1 ≤ min ≤ max")
        if self.shard_count is not None and self.archiver_max > self.shard_count:
            raise ConfigError(f"archiver_max_tasks {self.archiver_max} > shard_count "
                              f"{self.shard_count}: a worker without a shard only costs")
        if self.collector_requests_per_target < 1 or not 10 <= self.collector_cpu_target <= 90:
            raise ConfigError("collector scaling targets: requests ≥ 1, CPU 10–90 %")
        if not 1 <= self.dashboard_tasks <= 10:
            raise ConfigError("dashboard_tasks: 1–10")

    @property
    def dashboard_host(self) -> str | None:
        if self.http_only or self.domain is None:
            return None
        return self.dashboard_domain or f"dashboard.{self.domain}"


def _int(cfg: pulumi.Config, key: str, default: int) -> int:
    value = cfg.get_int(key)
    return default if value is None else value


def load(cfg: pulumi.Config | None = None, aws_cfg: pulumi.Config | None = None) -> StackConfig:
    """The stack's configuration (project namespace; the region from ``aws:region``), checked."""
    cfg = cfg or pulumi.Config()
    aws_cfg = aws_cfg or pulumi.Config("aws")
    d = StackConfig()

    def size(name: str, default: TaskSize) -> TaskSize:
        return TaskSize(cfg.get_int(f"{name}_cpu") or default.cpu,
                        cfg.get_int(f"{name}_memory") or default.memory)

    region = aws_cfg.get("region")
    if not region:
        raise ConfigError("set aws:region (pulumi config set aws:region eu-west-1)")
    arch = cfg.get("architecture") or d.architecture
    if arch not in ("X86_64", "ARM64"):
        raise ConfigError("architecture: X86_64 or ARM64")
    return StackConfig(
        prefix=cfg.get("prefix") or d.prefix,
        region=region,
        replica_region=cfg.get("replica_region") or d.replica_region,
        az_count=_int(cfg, "az_count", d.az_count),
        vpc_cidr=cfg.get("vpc_cidr") or d.vpc_cidr,
        domain=cfg.get("domain"),
        dashboard_domain=cfg.get("dashboard_domain"),
        certificate_arn=cfg.get("certificate_arn"),
        hosted_zone_id=cfg.get("hosted_zone_id"),
        http_only=cfg.get_bool("http_only") or False,
        shard_count=cfg.get_int("shard_count"),
        collector=size("collector", d.collector),
        collector_min_tasks=_int(cfg, "collector_min_tasks", d.collector_min_tasks),
        collector_max_tasks=_int(cfg, "collector_max_tasks", d.collector_max_tasks),
        collector_requests_per_target=_int(cfg, "collector_requests_per_target",
                                           d.collector_requests_per_target),
        collector_cpu_target=cfg.get_float("collector_cpu_target") or d.collector_cpu_target,
        archiver=size("archiver", d.archiver),
        archiver_min_tasks=_int(cfg, "archiver_min_tasks", d.archiver_min_tasks),
        archiver_max_tasks=cfg.get_int("archiver_max_tasks"),
        archiver_iterator_age_ms=_int(cfg, "archiver_iterator_age_ms",
                                      d.archiver_iterator_age_ms),
        dashboard=size("dashboard", d.dashboard),
        dashboard_tasks=_int(cfg, "dashboard_tasks", d.dashboard_tasks),
        compactor=size("compactor", d.compactor),
        compaction_schedule=cfg.get("compaction_schedule") or d.compaction_schedule,
        retention_days=cfg.get_int("retention_days"),
        log_retention_days=_int(cfg, "log_retention_days", d.log_retention_days),
        alb_log_days=_int(cfg, "alb_log_days", d.alb_log_days),
        collector_image=cfg.get("collector_image"),
        archiver_image=cfg.get("archiver_image"),
        dashboard_image=cfg.get("dashboard_image"),
        architecture="ARM64" if arch == "ARM64" else "X86_64",
        waf_rate_limit=cfg.get_int("waf_rate_limit"),
        alarm_email=cfg.get("alarm_email"),
        replica_endpoint=cfg.get_bool("replica_endpoint") is not False,
        force_destroy=cfg.get_bool("force_destroy") or False,
        maxmind_license_key=cfg.get_secret("maxmind_license_key"),
        admin_token=cfg.get_secret("admin_token"),
    ).check()
