"""The whole deployment: read the stack configuration, build each concern's component, wire
their outputs together, export what a user needs (README "Deploying on AWS")."""

from __future__ import annotations

import html

import pulumi
import pulumi_aws as aws

from infra import config as stack_config
from infra.athena import Athena, AthenaArgs
from infra.data import Data, DataArgs
from infra.edge import Edge, EdgeArgs
from infra.images import Deployment, Images, ImagesArgs
from infra.network import Network, NetworkArgs
from infra.operations import Operations, OperationsArgs
from infra.secrets import Secrets, SecretsArgs
from infra.services import Services, ServicesArgs
from infra.storage import Storage, StorageArgs

OUTPUTS = ("collector_url", "dashboard_url", "archive_bucket", "replica_bucket",
           "athena_workgroup", "athena_database", "stream_name", "cluster_name",
           "admin_token_secret", "gtag_snippet")
MEASUREMENT_ID_PLACEHOLDER = "G-XXXXXXXXXX"


def gtag_snippet(collector_url: str, measurement_id: str = MEASUREMENT_ID_PLACEHOLDER) -> str:
    """The tag to paste into a site's pages: Google's gtag.js, its hits sent to our collector
    (``server_container_url``: gtag then posts to ``<url>/g/collect``)."""
    mid = html.escape(measurement_id, quote=True)
    url = collector_url.rstrip("/").replace("\\", "\\\\").replace("'", "\\'")
    return (f'<script async src="https://www.googletagmanager.com/gtag/js?id={mid}"></script>\n'
            "<script>\n"
            "  window.dataLayer = window.dataLayer || [];\n"
            "  function gtag(){dataLayer.push(arguments);}\n"
            "  gtag('js', new Date());\n"
            f"  gtag('config', '{mid}', {{server_container_url: '{url}'}});\n"
            "</script>\n")


def main() -> dict[str, pulumi.Output[str]]:
    """Build the stack; returns what it exports (the stack outputs)."""
    cfg = stack_config.load()
    account = aws.get_caller_identity().account_id
    partition = aws.get_partition().partition

    network = Network("network", NetworkArgs(
        prefix=cfg.prefix, region=cfg.region, az_count=cfg.az_count, cidr=cfg.vpc_cidr,
        replica_region=cfg.replica_region if cfg.replica_endpoint else None))
    storage = Storage("storage", StorageArgs(
        prefix=cfg.prefix, replica_region=cfg.replica_region, retention_days=cfg.retention_days,
        force_destroy=cfg.force_destroy))
    data = Data("data", DataArgs(prefix=cfg.prefix, shard_count=cfg.shard_count,
                                 deletion_protection=not cfg.force_destroy))
    athena = Athena("athena", AthenaArgs(
        prefix=cfg.prefix, archive_bucket=storage.archive_bucket,
        results_bucket=storage.athena_results_bucket))
    secrets = Secrets("secrets", SecretsArgs(prefix=cfg.prefix, admin_token=cfg.admin_token,
                                             force_destroy=cfg.force_destroy))
    edge = Edge("edge", EdgeArgs(
        prefix=cfg.prefix, region=cfg.region, account_id=account, vpc_id=network.vpc_id,
        vpc_cidr=network.vpc_cidr, public_subnet_ids=network.public_subnet_ids,
        domain=cfg.domain, dashboard_domain=cfg.dashboard_host,
        certificate_arn=cfg.certificate_arn, hosted_zone_id=cfg.hosted_zone_id,
        waf_rate_limit=cfg.waf_rate_limit, log_days=cfg.alb_log_days,
        force_destroy=cfg.force_destroy))
    built = Images("images", ImagesArgs(
        prefix=cfg.prefix, platform="linux/arm64" if cfg.architecture == "ARM64" else "linux/amd64",
        given={"collector": cfg.collector_image, "archiver": cfg.archiver_image,
               "dashboard": cfg.dashboard_image},
        maxmind_license_key=cfg.maxmind_license_key, force_destroy=cfg.force_destroy))
    deployment = pulumi.Output.all(storage.archive_bucket, storage.replica_bucket,
                                   athena.workgroup, athena.database, edge.dashboard_url).apply(
        lambda v: Deployment(prefix=cfg.prefix, region=cfg.region, archive_bucket=v[0],
                             replica_bucket=v[1], athena_workgroup=v[2], athena_database=v[3],
                             public_url=v[4] if cfg.https else None))
    services = Services("services", ServicesArgs(
        prefix=cfg.prefix, region=cfg.region, account_id=account, partition=partition,
        vpc_id=network.vpc_id, vpc_cidr=network.vpc_cidr,
        private_subnet_ids=network.private_subnet_ids,
        gateway_prefix_list_ids=network.gateway_prefix_list_ids,
        alb_security_group_id=edge.security_group_id, alb_arn_suffix=edge.alb_arn_suffix,
        collector_target_group_arn=edge.collector_target_group_arn,
        collector_target_group_arn_suffix=edge.collector_target_group_arn_suffix,
        dashboard_target_group_arn=edge.dashboard_target_group_arn,
        image_refs=built.refs, repository_arns=built.repository_arns, deployment=deployment,
        admin_token_arn=secrets.admin_token_arn, stream_name=data.stream_name,
        stream_arn=data.stream_arn, table_arns=data.table_arns,
        archive_bucket_arn=storage.archive_bucket_arn,
        replica_bucket_arn=storage.replica_bucket_arn,
        results_bucket_arn=storage.athena_results_bucket_arn,
        kms_key_arns=[storage.kms_key_arn], workgroup_arn=athena.workgroup_arn,
        athena_database=athena.database,
        sizes={"collector": cfg.collector, "archiver": cfg.archiver,
               "dashboard": cfg.dashboard, "compactor": cfg.compactor},
        collector_tasks=(cfg.collector_min_tasks, cfg.collector_max_tasks),
        collector_requests_per_target=cfg.collector_requests_per_target,
        collector_cpu_target=cfg.collector_cpu_target,
        archiver_tasks=(cfg.archiver_min_tasks, cfg.archiver_max),
        archiver_iterator_age_ms=cfg.archiver_iterator_age_ms,
        dashboard_tasks=cfg.dashboard_tasks, compaction_schedule=cfg.compaction_schedule,
        log_retention_days=cfg.log_retention_days, architecture=cfg.architecture),
        opts=pulumi.ResourceOptions(depends_on=[storage, data, athena]))
    Operations("operations", OperationsArgs(
        prefix=cfg.prefix, alb_arn_suffix=edge.alb_arn_suffix,
        target_group_arn_suffixes={"collector": edge.collector_target_group_arn_suffix,
                                   "dashboard": edge.dashboard_target_group_arn_suffix},
        stream_name=data.stream_name, table_names=data.table_names,
        cluster_name=services.cluster_name,
        service_names={k: v for k, v in services.service_names.items()
                       if k in ("collector", "archiver", "dashboard")},
        alarm_email=cfg.alarm_email))

    outputs: dict[str, pulumi.Output[str]] = {
        "collector_url": edge.collector_url,
        "dashboard_url": edge.dashboard_url,
        "archive_bucket": storage.archive_bucket,
        "replica_bucket": storage.replica_bucket,
        "athena_workgroup": athena.workgroup,
        "athena_database": athena.database,
        "stream_name": data.stream_name,
        "cluster_name": services.cluster_name,
        "admin_token_secret": secrets.admin_token_arn,
        "gtag_snippet": edge.collector_url.apply(gtag_snippet),
    }
    for name, value in outputs.items():
        pulumi.export(name, value)
    return outputs
