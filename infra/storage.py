"""The S3 archive, its replica in a second region, and Athena's results bucket.

Every bucket: public access blocked (all four flags), ``BucketOwnerEnforced`` (no ACLs),
versioned, encrypted by default, a bucket policy that denies any request without TLS, and a
lifecycle. Bucket settings are separate resources in pulumi-aws 7; each one depends on the
one before, because S3 refuses concurrent configuration changes of one bucket
(``OperationAborted: A conflicting conditional operation is currently in progress``).

- **archive** (the deployment's region): SSE-KMS with a customer managed key (rotated
  yearly) and an S3 Bucket Key, so KMS is called per bucket key, not per object. Readers and
  writers of the archive need ``kms:Decrypt`` / ``kms:GenerateDataKey`` on :attr:`kms_key_arn`.
- **replica** (``replica_region``): the same settings with a key of its own in that region;
  every object version and delete marker written to the archive is replicated there by
  S3 replication (its own IAM role, :func:`replication_policy`), SSE-KMS objects included.
- **athena results**: SSE-S3, objects expire after :data:`RESULTS_DAYS` days.

Lifecycle and :mod:`lambdalytics.retention`: a bucket's lifecycle is one document.
Retention adds, at run time, one rule per property prefix (ids ``lambdalytics:<prefix>``) by
reading the document, merging its rules and writing it back, keeping every rule that is not
its own. Pulumi writes the deployment's rules (:func:`lifecycle_rules`, ids ``deployment-…``,
which retention never touches) when it creates the configuration, and then ignores changes
to ``rules``: a later ``pulumi up`` (or ``refresh``) never drops the per-property rules.
The price: changing ``retention_days`` or ``noncurrent_days`` in the stack configuration
after the first deployment does not rewrite the rules; replace the configuration
(``pulumi up --replace <urn of the BucketLifecycleConfiguration>``) and then run
``lambdalytics properties sync-retention`` to put the per-property rules back. (Pulumi
sends ``rules`` only when another input of that resource changes, from its state: so set
no other input on it, and ``pulumi refresh`` before changing one.)
Lifecycle actions are not replicated (S3 replicates no delete marker that lifecycle
creates), so the replica gets the same rules, and retention must name it too
(``LAMBDALYTICS_ARCHIVE_BUCKETS=<archive>,<replica>``).

When rules overlap S3 honours the shortest expiration: ``retention_days``, when set, is an
upper bound on every object's age; a property's own retention can only shorten it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from lambdalytics import archive_layout
from lambdalytics.resources import resources
from lambdalytics.retention import RULE_PREFIX

RESULTS_DAYS = 7  # Athena query results are kept this long
MULTIPART_DAYS = 7  # incomplete multipart uploads are aborted after this long
RESULTS_NONCURRENT_DAYS = 1
RULE_EXPIRATION = "deployment-expiration"
RULE_HOUSEKEEPING = "deployment-housekeeping"
REPLICATION_RULE = "archive-to-replica"  # the RuleId dimension of S3's replication metrics
ROLES = ("archive", "replica", "results")  # one bucket each: {prefix}-{role}-{account id}
_PREFIX = re.compile(r"[a-z0-9][a-z0-9-]*\Z")


@dataclass(frozen=True)
class StorageArgs:
    prefix: str
    replica_region: str
    retention_days: int | None
    noncurrent_days: int = 30
    force_destroy: bool = False

    def __post_init__(self) -> None:
        resources(self.prefix)  # 1–40 characters
        if not _PREFIX.match(self.prefix) or "--" in self.prefix:
            raise ValueError(f"prefix {self.prefix!r}: bucket names need lower-case [a-z0-9-]")
        if self.retention_days is not None and self.retention_days < 1:
            raise ValueError("retention_days must be at least 1 (or None: keep)")
        if self.noncurrent_days < 1:
            raise ValueError("noncurrent_days must be at least 1")
        for role in ROLES:
            bucket_name(self.prefix, role, "000000000000")


def bucket_name(prefix: str, role: str, account_id: str) -> str:
    """``{prefix}-{role}-{account id}``: bucket names are global, so the account id keeps
    another account's deployment with the same prefix from taking ours (≤ 61 characters)."""
    if role not in ROLES:
        raise ValueError(f"no bucket role {role!r}")
    return archive_layout.bucket_name(f"{prefix}-{role}-{account_id}")


# --- documents (pure functions over plain strings) ------------------------------------------


def lifecycle_rules(retention_days: int | None, noncurrent_days: int) -> list[dict[str, Any]]:
    """The deployment's own lifecycle rules, in the S3 API's shape (as retention.py reads and
    writes them). ``ExpiredObjectDeleteMarker`` cannot share a rule with ``Days``, hence two."""
    everything = {"Prefix": ""}
    rules: list[dict[str, Any]] = []
    if retention_days is not None:
        rules.append({"ID": RULE_EXPIRATION, "Filter": everything, "Status": "Enabled",
                      "Expiration": {"Days": retention_days}})
    rules.append({"ID": RULE_HOUSEKEEPING, "Filter": everything, "Status": "Enabled",
                  "Expiration": {"ExpiredObjectDeleteMarker": True},
                  "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_days},
                  "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": MULTIPART_DAYS}})
    if any(r["ID"].startswith(RULE_PREFIX) for r in rules):  # retention's namespace
        raise ValueError(f"a deployment rule id starts with retention's {RULE_PREFIX!r}")
    return rules


def results_lifecycle_rules() -> list[dict[str, Any]]:
    return [{"ID": RULE_EXPIRATION, "Filter": {"Prefix": ""}, "Status": "Enabled",
             "Expiration": {"Days": RESULTS_DAYS},
             "NoncurrentVersionExpiration": {"NoncurrentDays": RESULTS_NONCURRENT_DAYS},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]


def tls_only_policy(bucket_arn: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def replication_trust_policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}


def replication_policy(source_arn: str, replica_arn: str, source_key_arn: str,
                       replica_key_arn: str, source_region: str, replica_region: str,
                       dns_suffix: str = "amazonaws.com") -> dict[str, Any]:
    """What S3 needs to replicate the archive's versions (SSE-KMS ones included) to the
    replica. With S3 Bucket Keys the KMS encryption context is the bucket's ARN, without
    them the object's: both are allowed, nothing else."""
    def kms(action: list[str], key: str, region: str, bucket: str) -> dict[str, Any]:
        return {"Effect": "Allow", "Action": action, "Resource": key, "Condition": {
            "StringEquals": {"kms:ViaService": f"s3.{region}.{dns_suffix}"},
            "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket, f"{bucket}/*"]}}}
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
         "Resource": source_arn},
        {"Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication",
                                       "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
         "Resource": f"{source_arn}/*"},
        {"Effect": "Allow", "Action": ["s3:ReplicateObject", "s3:ReplicateDelete",
                                       "s3:ReplicateTags"],
         "Resource": f"{replica_arn}/*"},
        kms(["kms:Decrypt"], source_key_arn, source_region, source_arn),
        kms(["kms:Encrypt", "kms:GenerateDataKey"], replica_key_arn, replica_region, replica_arn),
    ]}


def lifecycle_rule_args(rule: Mapping[str, Any]) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """One S3-API-shaped rule of :func:`lifecycle_rules` as pulumi-aws's typed input."""
    known = {"ID", "Filter", "Status", "Expiration", "NoncurrentVersionExpiration",
             "AbortIncompleteMultipartUpload"}
    if set(rule) - known:
        raise ValueError(f"lifecycle rule fields without a mapping: {sorted(set(rule) - known)}")
    exp = rule.get("Expiration")
    nc = rule.get("NoncurrentVersionExpiration")
    abort = rule.get("AbortIncompleteMultipartUpload")
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=rule["ID"], status=rule["Status"],
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=rule["Filter"]["Prefix"]),
        expiration=None if exp is None else aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
            days=exp.get("Days"), expired_object_delete_marker=exp.get("ExpiredObjectDeleteMarker")),
        noncurrent_version_expiration=None if nc is None else
        aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=nc["NoncurrentDays"]),
        abort_incomplete_multipart_upload=None if abort is None else
        aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=abort["DaysAfterInitiation"]))


# --- resources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bucket:
    bucket: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning
    last: pulumi.Resource  # the last setting: what depends on the bucket being ready


def _secure_bucket(name: str, bucket: pulumi.Input[str], *, parent: pulumi.Resource,
                   region: str | None, kms_key_arn: pulumi.Input[str] | None,
                   rules: list[dict[str, Any]], force_destroy: bool,
                   retention_owns_rules: bool) -> _Bucket:
    """A bucket and its settings, each applied after the one before."""
    def opts(after: pulumi.Resource | None = None, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, depends_on=[after] if after else None,
                                      **extra)
    b = aws.s3.Bucket(name, bucket=bucket, force_destroy=force_destroy, region=region,
                      opts=opts())
    pab = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access", bucket=b.id, region=region, block_public_acls=True,
        block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
        opts=opts())
    own = aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=b.id, region=region,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=opts(pab))
    default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
        sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn) if kms_key_arn is not None else \
        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="AES256")
    sse = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption", bucket=b.id, region=region,
        rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
            apply_server_side_encryption_by_default=default,
            bucket_key_enabled=kms_key_arn is not None)],
        opts=opts(own))
    ver = aws.s3.BucketVersioning(
        f"{name}-versioning", bucket=b.id, region=region,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
        opts=opts(sse))
    pol = aws.s3.BucketPolicy(
        f"{name}-tls-only", bucket=b.id, region=region,
        policy=b.arn.apply(lambda arn: json.dumps(tls_only_policy(arn))), opts=opts(ver))
    life = aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle", bucket=b.id, region=region,
        rules=[lifecycle_rule_args(r) for r in rules],
        opts=opts(pol, ignore_changes=["rules"] if retention_owns_rules else None))
    return _Bucket(b, ver, life)


def _other_region(region: str, replica_region: str) -> str:
    if region == replica_region:
        raise ValueError(f"replica_region {replica_region} is the stack's own region: a "
                         "region loss would take both copies")
    return region


class Storage(pulumi.ComponentResource):
    archive_bucket: pulumi.Output[str]
    archive_bucket_arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]
    replica_bucket: pulumi.Output[str]
    replica_bucket_arn: pulumi.Output[str]
    replica_kms_key_arn: pulumi.Output[str]
    athena_results_bucket: pulumi.Output[str]
    athena_results_bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: StorageArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lambdalytics:infra:Storage", name, None, opts)
        # the stack's region: from its configuration now, else checked once the provider says
        _other_region(pulumi.Config("aws").get("region") or "", args.replica_region)
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))

        def named(role: str) -> pulumi.Output[str]:
            return account.account_id.apply(lambda a: bucket_name(args.prefix, role, a))

        key = aws.kms.Key(f"{name}-archive-key", description=f"{args.prefix}: S3 archive",
                          enable_key_rotation=True, deletion_window_in_days=30, opts=child)
        aws.kms.Alias(f"{name}-archive-key-alias", name=f"alias/{args.prefix}-archive",
                      target_key_id=key.key_id, opts=child)
        replica_key = aws.kms.Key(
            f"{name}-replica-key", description=f"{args.prefix}: S3 archive replica",
            enable_key_rotation=True, deletion_window_in_days=30, region=args.replica_region,
            opts=child)
        aws.kms.Alias(f"{name}-replica-key-alias", name=f"alias/{args.prefix}-archive-replica",
                      target_key_id=replica_key.key_id, region=args.replica_region, opts=child)

        rules = lifecycle_rules(args.retention_days, args.noncurrent_days)
        archive = _secure_bucket(f"{name}-archive", named("archive"), parent=self, region=None,
                                 kms_key_arn=key.arn, rules=rules,
                                 force_destroy=args.force_destroy, retention_owns_rules=True)
        replica = _secure_bucket(f"{name}-replica", named("replica"), parent=self,
                                 region=args.replica_region, kms_key_arn=replica_key.arn,
                                 rules=rules, force_destroy=args.force_destroy,
                                 retention_owns_rules=True)
        results = _secure_bucket(f"{name}-athena-results", named("results"), parent=self,
                                 region=None, kms_key_arn=None, rules=results_lifecycle_rules(),
                                 force_destroy=True, retention_owns_rules=False)

        role = aws.iam.Role(f"{name}-replication-role", name=f"{args.prefix}-s3-replication",
                            description="S3 replication of the archive to its second region",
                            assume_role_policy=json.dumps(replication_trust_policy()), opts=child)
        policy = aws.iam.RolePolicy(
            f"{name}-replication-policy", role=role.id,
            policy=pulumi.Output.all(archive.bucket.arn, replica.bucket.arn, key.arn,
                                     replica_key.arn, region.region, partition.dns_suffix).apply(
                lambda a: json.dumps(replication_policy(a[0], a[1], a[2], a[3],
                                                        _other_region(a[4], args.replica_region),
                                                        args.replica_region, a[5]))),
            opts=child)
        aws.s3.BucketReplicationConfig(
            f"{name}-replication", bucket=archive.bucket.id, role=role.arn,
            rules=[aws.s3.BucketReplicationConfigRuleArgs(
                id=REPLICATION_RULE, status="Enabled", priority=1,
                filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
                delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                    status="Enabled"),
                source_selection_criteria=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
                    sse_kms_encrypted_objects=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(
                        status="Enabled")),
                destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                    bucket=replica.bucket.arn, storage_class="STANDARD",
                    # AWS/S3 OperationsFailedReplication, ReplicationLatency, …: a replica
                    # falling behind or failing is otherwise silent
                    metrics=aws.s3.BucketReplicationConfigRuleDestinationMetricsArgs(
                        status="Enabled"),
                    encryption_configuration=aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                        replica_kms_key_id=replica_key.arn)))],
            # S3 refuses a replication configuration until both buckets are versioned; the
            # role's policy must exist before the first object is replicated
            opts=pulumi.ResourceOptions(parent=self, depends_on=[
                archive.versioning, replica.versioning, archive.last, replica.last, policy]))

        self.archive_bucket = archive.bucket.bucket
        self.archive_bucket_arn = archive.bucket.arn
        self.kms_key_arn = key.arn
        self.replica_bucket = replica.bucket.bucket
        self.replica_bucket_arn = replica.bucket.arn
        self.replica_kms_key_arn = replica_key.arn
        self.athena_results_bucket = results.bucket.bucket
        self.athena_results_bucket_arn = results.bucket.arn
        self.register_outputs({
            "archive_bucket": self.archive_bucket, "archive_bucket_arn": self.archive_bucket_arn,
            "kms_key_arn": self.kms_key_arn, "replica_bucket": self.replica_bucket,
            "replica_bucket_arn": self.replica_bucket_arn,
            "replica_kms_key_arn": self.replica_kms_key_arn,
            "athena_results_bucket": self.athena_results_bucket,
            "athena_results_bucket_arn": self.athena_results_bucket_arn,
        })
