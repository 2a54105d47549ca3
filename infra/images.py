"""What runs in each task: the image (given by the stack configuration, or built from
``docker/<image>.Dockerfile`` and pushed to a repository of the stack's own), the command, the
environment and the container health check.

:func:`environment` and :data:`COMMANDS` are the one description of each service's process:
the ECS task definitions are built from them here, and tests/docker/test_parity.py holds
compose.yaml and `lambdalytics local` to the same commands and environment, so they cannot
drift apart. Every variable named is a
field of that service's settings class, with a value those settings accept
(tests/infra/test_services.py builds them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from collector.settings import CollectorSettings

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("collector", "archiver", "dashboard")
# the compactor is `lambdalytics compact` in the archiver's image
IMAGE_OF = {"collector": "collector", "archiver": "archiver", "dashboard": "dashboard",
            "compactor": "archiver"}
COLLECTOR_PORT = 8080
DASHBOARD_PORT = 8081
SCRATCH = "/tmp"  # noqa: S108 (the task's own ephemeral volume, nobody else's)
UID = "10001"  # the images' `lambdalytics` user: never root, whatever an image says
COMMANDS: dict[str, list[str]] = {
    "collector": ["python", "-m", "collector"],
    "archiver": ["python", "-m", "archiver"],
    "dashboard": ["python", "-m", "dashboard"],
    "compactor": ["lambdalytics", "compact", "--athena"],
}
HEALTH_PATH = "/healthz"  # liveness: a short DynamoDB outage must not fail every task
DRAIN_TIMEOUT_S = float(CollectorSettings.model_fields["drain_timeout_s"].default)
ECR_IMAGE = re.compile(r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
                       r"(\.cn)?/(?P<repo>[a-z0-9._/-]+)([:@].+)?\Z")


@dataclass(frozen=True)
class Deployment:
    """What a service's environment is made of (plain values: the call site resolves
    Outputs first)."""

    prefix: str
    region: str
    archive_bucket: str
    replica_bucket: str
    athena_workgroup: str
    athena_database: str
    archive_prefix: str = ""
    public_url: str | None = None  # the dashboard's origin, for share links


def environment(service: str, d: Deployment) -> dict[str, str]:
    """The LAMBDALYTICS_* variables of one service's container (secrets come separately)."""
    env = {
        "LAMBDALYTICS_RESOURCE_PREFIX": d.prefix,
        "LAMBDALYTICS_ARCHIVE_BUCKET": d.archive_bucket,
        "LAMBDALYTICS_AWS_REGION": d.region,
        "LAMBDALYTICS_LOG_FORMAT": "json",
        "LAMBDALYTICS_LOG_LEVEL": "INFO",
        # the metrics: CloudWatch embedded metric format in the log lines (lambdalytics.emf)
        "LAMBDALYTICS_EMF": "1",
    }
    if service == "collector":
        env |= {"LAMBDALYTICS_HOST": "0.0.0.0", "LAMBDALYTICS_PORT": str(COLLECTOR_PORT),  # noqa: S104
                # exactly one proxy in front: the ALB appends the client's address
                "LAMBDALYTICS_TRUSTED_PROXY_HOPS": "1",
                "LAMBDALYTICS_DRAIN_TIMEOUT_S": f"{DRAIN_TIMEOUT_S:g}"}
    elif service == "archiver":
        env |= {"LAMBDALYTICS_ARCHIVE_PREFIX": d.archive_prefix}
    elif service in ("dashboard", "compactor"):
        env |= {"LAMBDALYTICS_ATHENA_WORKGROUP": d.athena_workgroup,
                "LAMBDALYTICS_ATHENA_DATABASE": d.athena_database}
        if service == "dashboard":
            env |= {"LAMBDALYTICS_ADMIN_HOST": "0.0.0.0",  # noqa: S104
                    "LAMBDALYTICS_ADMIN_PORT": str(DASHBOARD_PORT),
                    "LAMBDALYTICS_DASHBOARD_ENGINE": "athena",
                    "LAMBDALYTICS_ARCHIVE_PREFIX": d.archive_prefix,
                    # lifecycle rules are not replicated: retention writes them to both
                    "LAMBDALYTICS_ARCHIVE_BUCKETS": f"{d.archive_bucket},{d.replica_bucket}"}
            if d.public_url:
                env["LAMBDALYTICS_PUBLIC_URL"] = d.public_url
    else:
        raise ValueError(f"no service {service!r}")
    return env


def command(service: str, memory_mib: int, archive_prefix: str = "") -> list[str]:
    """The container's command; the compactor's DuckDB gets three quarters of the task's
    memory and spills beyond it (to its scratch volume)."""
    cmd = list(COMMANDS[service])
    if service == "compactor":
        cmd += ["--memory-limit", f"{memory_mib * 3 // 4}MB"]
        if archive_prefix:
            cmd += ["--archive-prefix", archive_prefix]
    return cmd


def health_check(port: int) -> dict[str, object]:
    """The Dockerfile's own check, for ECS: liveness on loopback with the image's Python."""
    probe = ("import urllib.request,sys; sys.exit(urllib.request.urlopen("
             f"'http://127.0.0.1:{port}{HEALTH_PATH}', timeout=2).status != 200)")
    return {"command": ["CMD", "python", "-c", probe], "interval": 10, "timeout": 3,
            "retries": 3, "startPeriod": 30}


def dockerfile(image: str) -> Path:
    return ROOT / "docker" / f"{image}.Dockerfile"


def ecr_repository_arn(image: str, partition: str = "aws") -> str | None:
    """The ECR repository an image reference is in, or None when it is elsewhere."""
    m = ECR_IMAGE.match(image)
    if m is None:
        return None
    return f"arn:{partition}:ecr:{m['region']}:{m['account']}:repository/{m['repo']}"


@dataclass(frozen=True)
class ImagesArgs:
    prefix: str
    given: Mapping[str, str | None]  # image name → a reference to use as it is, or None
    platform: str = "linux/amd64"
    maxmind_license_key: pulumi.Input[str] | None = None
    force_destroy: bool = False


class Images(pulumi.ComponentResource):
    """One reference per image (``collector``, ``archiver``, ``dashboard``): the given ones as
    they are, the others built and pushed here, pinned by digest so a new build rolls the
    services."""

    refs: dict[str, pulumi.Output[str]]
    repository_arns: list[pulumi.Output[str]]

    def __init__(self, name: str, args: ImagesArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lambdalytics:infra:Images", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.refs, self.repository_arns = {}, []
        for image in SERVICES:
            ref = args.given.get(image)
            if ref:
                self.refs[image] = pulumi.Output.from_input(ref)
                if (arn := ecr_repository_arn(ref)) is not None:
                    self.repository_arns.append(pulumi.Output.from_input(arn))
                else:
                    pulumi.log.warn(f"{image}_image {ref!r} is not in ECR: the tasks' subnets "
                                    "have no NAT and reach only ECR (use a pull-through cache)")
                continue
            path = dockerfile(image)
            if not path.exists():
                raise ValueError(f"{image}_image is required: there is no "
                                 f"{path.relative_to(ROOT)} to build it from yet")
            built, repo_arn = self._build(name, image, path, args, child)
            self.refs[image] = built
            self.repository_arns.append(repo_arn)
        self.register_outputs({"refs": self.refs})

    @staticmethod
    def _build(name: str, image: str, path: Path, args: ImagesArgs,
               child: pulumi.ResourceOptions) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        repo = aws.ecr.Repository(
            f"{name}-{image}", name=f"{args.prefix}/{image}", image_tag_mutability="MUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "AES256"}],
            force_delete=args.force_destroy, opts=child)
        aws.ecr.LifecyclePolicy(f"{name}-{image}", repository=repo.name, policy=(
            '{"rules":[{"rulePriority":1,"description":"keep the last 10 images",'
            '"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},'
            '"action":{"type":"expire"}}]}'), opts=child)
        token = aws.ecr.get_authorization_token_output(registry_id=repo.registry_id)
        cache = repo.repository_url.apply(lambda url: f"{url}:buildcache")
        built = docker_build.Image(
            f"{name}-{image}",
            context={"location": str(ROOT)},
            dockerfile={"location": str(path)},
            platforms=[docker_build.Platform(args.platform)],
            push=True,
            tags=[repo.repository_url.apply(lambda url: f"{url}:latest")],
            # the layers of the last build, kept in the repository itself (ECR takes cache
            # manifests in the image-manifest form only)
            cache_from=[{"registry": {"ref": cache}}],
            cache_to=[{"registry": {"ref": cache, "image_manifest": True,
                                    "oci_media_types": True, "mode": docker_build.CacheMode.MAX}}],
            registries=[{"address": repo.repository_url, "username": token.user_name,
                         "password": token.password}],
            secrets={"maxmind_license_key": args.maxmind_license_key}
            if args.maxmind_license_key is not None else None,
            opts=child)
        return built.ref, repo.arn


def container_definition(service: str, image: str, env: Mapping[str, str], *, memory: int,
                         log_group: str, region: str, secrets: Mapping[str, str] | None = None,
                         archive_prefix: str = "") -> dict[str, object]:
    """One task's only container (ECS's camelCase JSON): non-root, read-only root file
    system with a scratch volume on /tmp, every capability dropped, logs to CloudWatch
    without ever blocking the process (the EMF metrics travel in the same lines)."""
    port = {"collector": COLLECTOR_PORT, "dashboard": DASHBOARD_PORT}.get(service)
    container: dict[str, object] = {
        "name": service,
        "image": image,
        "essential": True,
        "command": command(service, memory, archive_prefix),
        "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "user": UID,
        "readonlyRootFilesystem": True,
        "mountPoints": [{"sourceVolume": "scratch", "containerPath": SCRATCH,
                         "readOnly": False}],
        "workingDirectory": SCRATCH,  # DuckDB spills under the working directory
        "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": log_group, "awslogs-region": region,
            "awslogs-stream-prefix": service, "mode": "non-blocking",
            "max-buffer-size": "25m"}},
    }
    if service == "collector":
        # SIGTERM → the collector drains (in-flight requests, then its queue into Kinesis)
        # for up to drain_timeout_s; ECS waits this long before SIGKILL (Fargate's ceiling: 120)
        container["stopTimeout"] = stop_timeout()
    elif service == "archiver":
        # flush, checkpoint, release the leases
        container["stopTimeout"] = 120
    if port is not None:
        container["portMappings"] = [{"containerPort": port, "protocol": "tcp", "name": service}]
        container["healthCheck"] = health_check(port)
    if secrets:
        container["secrets"] = [{"name": k, "valueFrom": v} for k, v in sorted(secrets.items())]
    return container


def stop_timeout() -> int:
    """Seconds ECS gives the collector between SIGTERM and SIGKILL: its drain and then some."""
    return int(DRAIN_TIMEOUT_S) + 10


def deregistration_delay() -> int:
    """Seconds the ALB keeps a leaving collector's connections: longer than its drain."""
    return int(DRAIN_TIMEOUT_S) + 10
