"""Storage under Pulumi's mocks: what AWS and retention.py require of the recorded inputs."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import parliament
import pulumi
import pytest

from infra import storage
from infra.storage import Storage, StorageArgs
from lambdalytics import archive_layout, retention
from lambdalytics.properties import Property
from tests.infra import mocks
from tests.infra.mocks import Recorded, Recorder

ARGS = StorageArgs(prefix="lambdalytics", replica_region="us-west-2", retention_days=400)
BUCKET = "aws:s3/bucket:Bucket"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
SETTINGS = {
    "pab": "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "ownership": "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "sse": "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "versioning": "aws:s3/bucketVersioning:BucketVersioning",
    "policy": "aws:s3/bucketPolicy:BucketPolicy",
    "lifecycle": LIFECYCLE,
}


class Built:
    """One run of the component: the recorded registrations and each resource's options."""

    def __init__(self, args: StorageArgs = ARGS) -> None:
        self.options: dict[str, pulumi.ResourceOptions] = {}

        def record(a: pulumi.ResourceTransformationArgs) -> None:
            self.options[a.name] = a.opts

        self.rec: Recorder = mocks.run(lambda: Storage(
            "storage", args, opts=pulumi.ResourceOptions(transformations=[record])))

    def setting(self, kind: str, bucket: str) -> Recorded:
        return self.rec.one(SETTINGS[kind], {
            "pab": f"{bucket}-public-access", "ownership": f"{bucket}-ownership",
            "sse": f"{bucket}-encryption", "versioning": f"{bucket}-versioning",
            "policy": f"{bucket}-tls-only", "lifecycle": f"{bucket}-lifecycle"}[kind])

    def arn(self, name: str) -> str:  # what the mocks answer for a resource's ARN
        r = next(r for r in self.rec.resources if r.name == name)
        return f"arn:aws:{r.type.split(':')[1].split('/')[0]}:{mocks.REGION}:{mocks.ACCOUNT}:{name}"


@pytest.fixture(scope="module")
def built() -> Built:
    return Built()


BUCKETS = ("storage-archive", "storage-replica", "storage-athena-results")


def test_bucket_names_are_valid_unique_and_carry_the_account(built: Built) -> None:
    names = {r.name: r.inputs["bucket"] for r in built.rec.of_type(BUCKET)}
    assert set(names) == set(BUCKETS)
    for name in names.values():
        assert archive_layout.bucket_name(name) == name
        assert 3 <= len(name) <= 63
        assert name.endswith(f"-{mocks.ACCOUNT}")
    assert names["storage-archive"] == f"lambdalytics-archive-{mocks.ACCOUNT}"
    longest = StorageArgs(prefix="p" * 40, replica_region="us-west-2", retention_days=None)
    assert len(storage.bucket_name(longest.prefix, "replica", mocks.ACCOUNT)) <= 63


@pytest.mark.parametrize("bucket", BUCKETS)
def test_every_bucket_is_private_owner_enforced_versioned_encrypted_tls_only(
        built: Built, bucket: str) -> None:
    pab = built.setting("pab", bucket).inputs
    assert all(pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy",
                                        "ignorePublicAcls", "restrictPublicBuckets"))
    assert built.setting("ownership", bucket).inputs["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"}
    assert built.setting("versioning", bucket).inputs["versioningConfiguration"] == {
        "status": "Enabled"}
    (rule,) = built.setting("sse", bucket).inputs["rules"]
    default = rule["applyServerSideEncryptionByDefault"]
    if bucket == "storage-athena-results":
        assert default == {"sseAlgorithm": "AES256"}
    else:
        key = "storage-archive-key" if bucket == "storage-archive" else "storage-replica-key"
        assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": built.arn(key)}
        assert rule["bucketKeyEnabled"] is True
    policy = json.loads(built.setting("policy", bucket).inputs["policy"])
    (deny,) = policy["Statement"]
    arn = built.arn(bucket)
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert sorted(deny["Resource"]) == sorted([arn, f"{arn}/*"])
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for kind in SETTINGS:  # every setting is of this bucket
        assert built.setting(kind, bucket).inputs["bucket"] == f"{bucket}-id"


@pytest.mark.parametrize("bucket", BUCKETS)
def test_settings_of_one_bucket_are_applied_one_after_another(built: Built, bucket: str) -> None:
    order = ["ownership", "sse", "versioning", "policy", "lifecycle"]
    previous = built.setting("pab", bucket).name
    for kind in order:
        name = built.setting(kind, bucket).name
        deps = built.options[name].depends_on
        assert isinstance(deps, list)
        assert [d._name for d in deps] == [previous]
        previous = name


def test_replica_lives_in_the_replica_region_and_the_rest_in_the_stack_region(built: Built) -> None:
    for r in built.rec.resources:
        if r.name == "storage-replica" or r.name.startswith("storage-replica-"):
            assert r.inputs.get("region") == "us-west-2", r.name
        elif r.type.startswith(("aws:s3", "aws:kms")):
            assert "region" not in r.inputs, r.name  # the provider's: the stack's region
    aliases = {a.inputs["name"] for a in built.rec.of_type("aws:kms/alias:Alias")}
    assert aliases == {"alias/lambdalytics-archive", "alias/lambdalytics-archive-replica"}
    assert all(re.fullmatch(r"alias/[a-zA-Z0-9/_-]{1,250}", a) for a in aliases)
    keys = built.rec.of_type("aws:kms/key:Key")
    assert len(keys) == 2
    assert all(k.inputs["enableKeyRotation"] is True for k in keys)
    assert all(7 <= k.inputs["deletionWindowInDays"] <= 30 for k in keys)


def test_replication_replicates_everything_with_its_role_and_the_replica_key(built: Built) -> None:
    repl = built.rec.one(REPLICATION)
    assert repl.inputs["bucket"] == "storage-archive-id"
    assert repl.inputs["role"] == built.arn("storage-replication-role")
    (rule,) = repl.inputs["rules"]
    assert rule["status"] == "Enabled"
    assert rule["filter"] == {"prefix": ""}
    assert "priority" in rule  # V2 rules (filter, delete markers) need one
    assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
    assert rule["sourceSelectionCriteria"] == {"sseKmsEncryptedObjects": {"status": "Enabled"}}
    assert rule["destination"]["bucket"] == built.arn("storage-replica")
    assert rule["destination"]["encryptionConfiguration"] == {
        "replicaKmsKeyId": built.arn("storage-replica-key")}
    assert rule["destination"]["metrics"] == {"status": "Enabled"}  # failures are alarmable
    assert rule["id"] == storage.REPLICATION_RULE
    deps = {d._name for d in built.options["storage-replication"].depends_on}  # type: ignore[union-attr]
    assert {"storage-archive-versioning", "storage-replica-versioning",
            "storage-replication-policy"} <= deps


def test_replication_role_is_trusted_by_s3_only_and_allowed_exactly_replication(
        built: Built) -> None:
    role = built.rec.one("aws:iam/role:Role", "storage-replication-role")
    assert len(role.inputs["name"]) <= 64
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "s3.amazonaws.com"}]
    doc = json.loads(built.rec.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    src, dst = built.arn("storage-archive"), built.arn("storage-replica")
    allowed = {(a, s["Resource"]) for s in doc["Statement"] for a in s["Action"]}
    assert allowed == {
        ("s3:GetReplicationConfiguration", src), ("s3:ListBucket", src),
        ("s3:GetObjectVersionForReplication", f"{src}/*"),
        ("s3:GetObjectVersionAcl", f"{src}/*"), ("s3:GetObjectVersionTagging", f"{src}/*"),
        ("s3:ReplicateObject", f"{dst}/*"), ("s3:ReplicateDelete", f"{dst}/*"),
        ("s3:ReplicateTags", f"{dst}/*"),
        ("kms:Decrypt", built.arn("storage-archive-key")),
        ("kms:Encrypt", built.arn("storage-replica-key")),
        ("kms:GenerateDataKey", built.arn("storage-replica-key")),
    }
    vias = {s["Resource"]: s["Condition"]["StringEquals"]["kms:ViaService"]
            for s in doc["Statement"] if "Condition" in s}
    assert vias == {built.arn("storage-archive-key"): "s3.us-east-1.amazonaws.com",
                    built.arn("storage-replica-key"): "s3.us-west-2.amazonaws.com"}


@pytest.mark.parametrize("document", [
    storage.tls_only_policy("arn:aws:s3:::b-archive-1"),
    storage.replication_policy("arn:aws:s3:::src", "arn:aws:s3:::dst",
                               "arn:aws:kms:us-east-1:123456789012:key/a",
                               "arn:aws:kms:us-west-2:123456789012:key/b", "us-east-1", "us-west-2"),
], ids=["tls-only", "replication"])
def test_documents_pass_parliament(document: dict[str, Any]) -> None:
    # (a trust policy has no Resource, which parliament calls MALFORMED: checked above instead)
    findings = parliament.analyze_policy_string(json.dumps(document),
                                                include_community_auditors=True).findings
    assert findings == [], [(f.issue, f.detail) for f in findings]


def _s3_shape(value: Any) -> Any:
    """Recorded (camelCase) lifecycle inputs back in the S3 API's shape."""
    if isinstance(value, dict):
        return {("ID" if k == "id" else k[0].upper() + k[1:]): _s3_shape(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_s3_shape(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def test_lifecycle_is_the_deployment_default_and_the_replica_has_the_same(built: Built) -> None:
    archive = _s3_shape(built.setting("lifecycle", "storage-archive").inputs["rules"])
    replica = _s3_shape(built.setting("lifecycle", "storage-replica").inputs["rules"])
    assert archive == replica == storage.lifecycle_rules(400, 30)
    by_id = {r["ID"]: r for r in archive}
    assert by_id[storage.RULE_EXPIRATION]["Expiration"] == {"Days": 400}
    housekeeping = by_id[storage.RULE_HOUSEKEEPING]
    assert housekeeping["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert housekeeping["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    assert housekeeping["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    for rule in archive:  # S3: Days and ExpiredObjectDeleteMarker never in one rule
        assert not {"Days", "ExpiredObjectDeleteMarker"} <= set(rule.get("Expiration", {}))
        assert rule["Filter"] == {"Prefix": ""}
        assert rule["Status"] == "Enabled"
    results = _s3_shape(built.setting("lifecycle", "storage-athena-results").inputs["rules"])
    assert [r["Expiration"] for r in results] == [{"Days": 7}]


def test_without_a_retention_default_current_objects_never_expire() -> None:
    rules = storage.lifecycle_rules(None, 30)
    assert [r["ID"] for r in rules] == [storage.RULE_HOUSEKEEPING]
    assert "Days" not in rules[0]["Expiration"]


def test_pulumi_leaves_the_rules_to_retention_after_creating_them(built: Built) -> None:
    for bucket in ("storage-archive", "storage-replica"):
        assert built.options[f"{bucket}-lifecycle"].ignore_changes == ["rules"]
    assert not built.options["storage-athena-results-lifecycle"].ignore_changes


class _LifecycleOnly:
    """Just the two S3 calls retention.py makes on a bucket's lifecycle, in memory."""

    def __init__(self, rules: dict[str, list[Any]]) -> None:
        self.rules = rules

    async def get_bucket_lifecycle_configuration(self, *, Bucket: str) -> dict[str, Any]:
        return {"Rules": json.loads(json.dumps(self.rules[Bucket]))}

    async def put_bucket_lifecycle_configuration(self, *, Bucket: str,
                                                 LifecycleConfiguration: dict[str, Any]) -> None:
        self.rules[Bucket] = LifecycleConfiguration["Rules"]

    async def delete_bucket_lifecycle(self, *, Bucket: str) -> None:
        self.rules[Bucket] = []


def test_retention_keeps_the_deployment_rules_and_the_deployment_ids_are_not_its_own(
        built: Built) -> None:
    deployed = {b: _s3_shape(built.setting("lifecycle", b).inputs["rules"])
                for b in ("storage-archive", "storage-replica")}
    s3 = _LifecycleOnly({"lambdalytics-archive-1": deployed["storage-archive"],
                         "lambdalytics-replica-1": deployed["storage-replica"]})
    r = retention.Retention(s3, None, buckets=list(s3.rules), archive_prefix="",  # type: ignore[arg-type]
                            rollups_table="t")
    shop = Property("shop", "shop", ("UA-1-1",), retention_days=30)
    blog = Property("blog", "blog", ("UA-2-1",), retention_days=90)

    async def scenario() -> None:
        await r.apply(shop)
        await r.sync([shop, blog])
        await r.remove("shop")
    asyncio.run(scenario())
    for bucket, rules in s3.rules.items():
        ours = [x for x in rules if not x["ID"].startswith(retention.RULE_PREFIX)]
        assert ours == deployed["storage-archive"], bucket
        theirs = {x["ID"] for x in rules} - {x["ID"] for x in ours}
        assert theirs == {retention.rule_id(p) for p in retention.property_prefixes("", "blog")}


@pytest.mark.parametrize("bad", [
    {"prefix": "Lambdalytics"}, {"prefix": "a_b"}, {"prefix": "a--b"}, {"prefix": "x" * 41},
    {"retention_days": 0}, {"noncurrent_days": 0}])
def test_args_refuse_what_aws_would(bad: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"prefix": "ok", "replica_region": "us-west-2",
                              "retention_days": None, **bad}
    with pytest.raises(ValueError, match=r"."):
        StorageArgs(**fields)


def test_outputs_are_the_buckets_and_keys(built: Built) -> None:
    out: dict[str, str] = {}

    def program() -> None:
        s = Storage("storage", ARGS)
        pulumi.Output.all(s.archive_bucket, s.replica_bucket, s.athena_results_bucket,
                          s.kms_key_arn, s.replica_kms_key_arn).apply(
            lambda v: out.update(zip(("archive", "replica", "results", "key", "replica_key"),
                                     v, strict=True)))
    mocks.run(program)
    assert out["archive"] == f"lambdalytics-archive-{mocks.ACCOUNT}"
    assert out["replica"] == f"lambdalytics-replica-{mocks.ACCOUNT}"
    assert out["results"] == f"lambdalytics-results-{mocks.ACCOUNT}"
    assert out["key"].endswith("storage-archive-key")
    assert out["replica_key"].endswith("replica-key")


def test_a_replica_in_the_stacks_own_region_is_refused() -> None:
    args = StorageArgs(prefix="lambdalytics", replica_region="eu-west-1", retention_days=None)
    with pytest.raises(ValueError, match="the stack's own region"):
        mocks.run(lambda: Storage("storage", args), {"aws:region": "eu-west-1"})
    assert storage._other_region("us-east-1", "us-west-2") == "us-east-1"
    with pytest.raises(ValueError, match="the stack's own region"):  # region from the provider
        storage._other_region(mocks.REGION, mocks.REGION)
