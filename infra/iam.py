"""Every IAM document of the deployment, as pure functions of plain ARN strings (the call site
wraps them: ``Output.all(...).apply(lambda a: json.dumps(iam.fn(*a)))``).

Each task role allows what its service's code calls and nothing else;
tests/infra/test_iam.py derives those calls from the code and lints every document with
parliament. Statements are scoped to single resources (a stream, a table, a prefix) wherever
the action supports it; the few ``"*"`` resources are the actions that take no other
(``ecr:GetAuthorizationToken``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lambdalytics import archive_layout

Document = dict[str, Any]
VERSION = "2012-10-17"


def _doc(*statements: Document) -> Document:
    return {"Version": VERSION, "Statement": [s for s in statements if s]}


def _allow(sid: str, actions: Iterable[str], resources: Sequence[str] | str,
           condition: Document | None = None) -> Document:
    st: Document = {"Sid": sid, "Effect": "Allow", "Action": sorted(set(actions)),
                    "Resource": resources if isinstance(resources, str) else list(resources)}
    if condition:
        st["Condition"] = condition
    return st


def assume_role(service: str, account_id: str, source_arn: str | None = None) -> Document:
    """Trust for one AWS service principal, from this account only (confused deputy)."""
    condition: Document = {"StringEquals": {"aws:SourceAccount": account_id}}
    if source_arn:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    return _doc({"Sid": "Service", "Effect": "Allow", "Principal": {"Service": service},
                 "Action": "sts:AssumeRole", "Condition": condition})


def ecs_tasks_trust(account_id: str, region: str, partition: str = "aws") -> Document:
    return assume_role("ecs-tasks.amazonaws.com", account_id,
                       f"arn:{partition}:ecs:{region}:{account_id}:*")


def scheduler_trust(account_id: str) -> Document:
    return assume_role("scheduler.amazonaws.com", account_id)


def execution_role(repository_arns: Sequence[str], log_group_arns: Sequence[str],
                   secret_arns: Sequence[str]) -> Document:
    """What ECS itself needs to start a task: pull its image, write its logs, read the secrets
    its container definition names (the task's own code never sees these permissions)."""
    return _doc(
        # GetAuthorizationToken takes no resource; the pull itself is per repository
        _allow("EcrToken", ["ecr:GetAuthorizationToken"], "*") if repository_arns else {},
        _allow("EcrPull", ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                           "ecr:GetDownloadUrlForLayer"], repository_arns)
        if repository_arns else {},
        _allow("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"],
               [f"{arn}:log-stream:*" for arn in log_group_arns]),
        _allow("Secrets", ["secretsmanager:GetSecretValue"], secret_arns) if secret_arns else {},
    )


def _kms(key_arns: Sequence[str], *, write: bool) -> Document:
    actions = ["kms:Decrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"]
    return _allow("Kms", actions, key_arns) if key_arns else {}


def collector_task(stream_arn: str, properties_table_arn: str) -> Document:
    """The collector: put hits to the one stream; read the properties table (property and
    tracking-id items), and create the day's visitor salt item there — only ``salt#`` keys.
    The stream's encryption is Kinesis's AWS managed key, usable by any principal of the
    account allowed to put to the stream: no KMS statement."""
    from collector.visitor import SALT_PREFIX

    return _doc(
        _allow("Stream", ["kinesis:DescribeStreamSummary", "kinesis:PutRecords"], [stream_arn]),
        _allow("Properties", ["dynamodb:DescribeTable", "dynamodb:GetItem"],
               [properties_table_arn]),
        _allow("Salts", ["dynamodb:PutItem"], [properties_table_arn],
               {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{SALT_PREFIX}*"]}}),
    )


def _objects(bucket_arn: str, archive_prefix: str, *tables: str) -> list[str]:
    root = archive_layout.prefix_value(archive_prefix)
    return [f"{bucket_arn}/{root}{table}/*" for table in tables]


def _list_prefixes(archive_prefix: str, *tables: str) -> Document:
    root = archive_layout.prefix_value(archive_prefix)
    return {"StringLike": {"s3:prefix": [f"{root}{t}/*" for t in tables]}}


def archiver_task(stream_arn: str, leases_arn: str, rollups_arn: str, recent_arn: str,
                  properties_arn: str, archive_bucket_arn: str, archive_prefix: str = "",
                  kms_key_arns: Sequence[str] = ()) -> Document:
    """An archiver worker: read the stream's shards, hold leases, write rollups (and recent
    hits when enabled), read the properties' retention, write its landing prefixes."""
    return _doc(
        _allow("Stream", ["kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"],
               [stream_arn]),
        _allow("Leases", ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem",
                          "dynamodb:Scan", "dynamodb:UpdateItem"], [leases_arn]),
        _allow("Rollups", ["dynamodb:BatchWriteItem", "dynamodb:PutItem"], [rollups_arn]),
        _allow("RecentHits", ["dynamodb:BatchWriteItem"], [recent_arn]),
        # the properties' retention, for the rollups' TTL
        _allow("Properties", ["dynamodb:Scan"], [properties_arn]),
        _allow("Landing", ["s3:PutObject"], _objects(
            archive_bucket_arn, archive_prefix, archive_layout.HITS, archive_layout.FILTERED,
            archive_layout.REJECTED)),
        _kms(kms_key_arns, write=True),
    )


@dataclass(frozen=True, slots=True)
class AthenaAccess:
    """What a role that runs Athena queries in the deployment's workgroup needs (Athena reads
    the tables' objects and writes results with the caller's credentials)."""

    workgroup_arn: str
    catalog_arn: str  # arn:aws:glue:<region>:<account>:catalog
    database_arn: str  # …:database/<db>
    tables_arn: str  # …:table/<db>/*
    results_bucket_arn: str
    write_views: bool = False  # CREATE OR REPLACE VIEW (the compactor)


def _athena(a: AthenaAccess) -> list[Document]:
    glue = ["glue:GetDatabase", "glue:GetPartitions", "glue:GetTable"]
    if a.write_views:
        glue += ["glue:CreateTable", "glue:UpdateTable"]
    return [
        _allow("Athena", ["athena:GetQueryExecution", "athena:GetQueryResults",
                          "athena:StartQueryExecution", "athena:StopQueryExecution"],
               [a.workgroup_arn]),
        _allow("Glue", glue, [a.catalog_arn, a.database_arn, a.tables_arn]),
        _allow("ResultsBucket", ["s3:GetBucketLocation", "s3:ListBucket",
                                 "s3:ListBucketMultipartUploads"], [a.results_bucket_arn]),
        _allow("Results", ["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts",
                           "s3:PutObject"], [f"{a.results_bucket_arn}/*"]),
    ]


def compactor_task(archive_bucket_arn: str, athena: AthenaAccess, archive_prefix: str = "",
                   kms_key_arns: Sequence[str] = ()) -> Document:
    """`lambdalytics compact --athena`: read closed days' landing objects, write the lake and
    its manifests, then create the events views again in Athena."""
    tables = (archive_layout.HITS, archive_layout.FILTERED, archive_layout.LAKE,
              archive_layout.LAKE_MANIFESTS)
    return _doc(
        _allow("List", ["s3:ListBucket"], [archive_bucket_arn],
               _list_prefixes(archive_prefix, *tables)),
        _allow("Read", ["s3:GetObject"], _objects(archive_bucket_arn, archive_prefix, *tables)),
        _allow("Lake", ["s3:AbortMultipartUpload", "s3:PutObject"], _objects(
            archive_bucket_arn, archive_prefix, archive_layout.LAKE,
            archive_layout.LAKE_MANIFESTS)),
        *_athena(athena),
        _kms(kms_key_arns, write=True),
    )


def dashboard_task(properties_arn: str, rollups_arn: str, archive_bucket_arns: Sequence[str],
                   athena: AthenaAccess, archive_prefix: str = "",
                   kms_key_arns: Sequence[str] = ()) -> Document:
    """The dashboard (reports in Athena, realtime from the rollups, share links) and its admin
    API (properties, tracking ids, API secrets; retention as lifecycle rules on every archive
    bucket, the replica's included; deleting a property's data)."""
    archive, *_ = archive_bucket_arns
    tables = (archive_layout.HITS, archive_layout.FILTERED, archive_layout.LAKE,
              archive_layout.LAKE_MANIFESTS)
    owned = [f"{arn}/{archive_layout.prefix_value(archive_prefix)}{t}/property=*"
             for arn in archive_bucket_arns for t in tables]
    return _doc(
        # (TransactWriteItems is authorised item by item: PutItem and DeleteItem)
        _allow("Properties", ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem",
                              "dynamodb:Scan", "dynamodb:UpdateItem"], [properties_arn]),
        _allow("Rollups", ["dynamodb:BatchWriteItem", "dynamodb:Query", "dynamodb:Scan"],
               [rollups_arn]),
        _allow("List", ["s3:ListBucket"], [archive], _list_prefixes(archive_prefix, *tables)),
        _allow("Read", ["s3:GetObject"], _objects(archive, archive_prefix, *tables)),
        _allow("Lifecycle", ["s3:GetLifecycleConfiguration", "s3:ListBucketVersions",
                             "s3:PutLifecycleConfiguration"], list(archive_bucket_arns)),
        _allow("DeleteProperty", ["s3:DeleteObject", "s3:DeleteObjectVersion"], owned),
        *_athena(athena),
        _kms(kms_key_arns, write=True),
    )


def scheduler_role(task_definition_family_arn: str, cluster_arn: str,
                   pass_role_arns: Sequence[str]) -> Document:
    """EventBridge Scheduler running the compaction task: RunTask of that family in the one
    cluster, and passing exactly its task and execution roles to ECS."""
    return _doc(
        _allow("RunTask", ["ecs:RunTask"], [f"{task_definition_family_arn}:*"],
               {"ArnEquals": {"ecs:cluster": cluster_arn}}),
        _allow("PassRoles", ["iam:PassRole"], list(pass_role_arns),
               {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
    )


# Elastic Load Balancing's log-delivery accounts of the regions opened before August 2022;
# newer regions take the log-delivery service principal instead (ELB's access-logs guide)
ELB_ACCOUNTS: dict[str, str] = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "af-south-1": "098369216593", "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580", "ap-south-1": "718504428378",
    "ap-northeast-3": "383597477331", "ap-northeast-2": "600734575887",
    "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864", "ca-central-1": "985666609251",
    "eu-central-1": "054676820928", "eu-west-1": "156460612806", "eu-west-2": "652711504416",
    "eu-south-1": "635631232127", "eu-west-3": "009996457667", "eu-north-1": "897822967062",
    "me-south-1": "076674570225", "sa-east-1": "507241528517",
    "us-gov-west-1": "048591011584", "us-gov-east-1": "190560391635",
}


def tls_only(bucket_arn: str) -> Document:
    """The statement every bucket policy carries: no request over plain HTTP."""
    return {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def alb_log_bucket(bucket_arn: str, region: str, account_id: str, prefix: str) -> Document:
    """The ALB access-log bucket: log delivery may write under ``prefix`` for this account."""
    principal: Document = ({"AWS": f"arn:aws:iam::{ELB_ACCOUNTS[region]}:root"}
                           if region in ELB_ACCOUNTS
                           else {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"})
    return _doc(
        tls_only(bucket_arn),
        {"Sid": "ElbLogDelivery", "Effect": "Allow", "Principal": principal,
         "Action": "s3:PutObject",
         "Resource": f"{bucket_arn}/{prefix}/AWSLogs/{account_id}/*"},
    )
