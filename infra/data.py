"""The Kinesis stream and the DynamoDB tables, exactly as :mod:`lambdalytics.resources` says.

The specs are the contract (DESIGN.md 5): the local stack and the compose bootstrap create the
same shapes from them. Each :class:`~lambdalytics.resources.TableSpec` field has one mapping
here (:func:`table`); a field added to the spec without one stops the program at plan
time, so a new shape cannot be deployed half-way.

- stream: on-demand unless a shard count is given; the spec's retention; encrypted with the
  AWS managed key ``alias/aws/kinesis`` (producers and consumers need no KMS permission, and
  no key policy has to follow the task roles).
- tables: on-demand (``PAY_PER_REQUEST``), only the key attributes defined (DynamoDB rejects
  attribute definitions no key or index uses), TTL and point-in-time recovery as the spec
  says, server-side encryption with the AWS managed key, deletion protection on (turn it off
  in the arguments before ``pulumi destroy``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from lambdalytics.resources import StreamSpec, TableSpec, resources

KINESIS_KEY = "alias/aws/kinesis"
TABLE_KEYS = ("properties", "rollups", "leases", "recent")  # Resources' attribute names
# the TableSpec fields and what each becomes (checked against the dataclass at plan time)
MAPPED_TABLE_FIELDS = frozenset({"name", "hash_key", "range_key", "ttl_attribute",
                                 "point_in_time_recovery"})
_STREAM_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,128}\Z")
_TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]{3,255}\Z")


@dataclass(frozen=True)
class DataArgs:
    prefix: str
    shard_count: int | None
    deletion_protection: bool = True

    def __post_init__(self) -> None:
        if self.shard_count is not None and self.shard_count < 1:
            raise ValueError("shard_count must be at least 1 (or None: on-demand)")
        resources(self.prefix, shard_count=self.shard_count)  # the prefix's own checks


def check_stream(spec: StreamSpec) -> StreamSpec:
    if not _STREAM_NAME.match(spec.name):
        raise ValueError(f"{spec.name!r} is not a Kinesis stream name")
    if not 24 <= spec.retention_hours <= 8760:
        raise ValueError(f"retention {spec.retention_hours} h: Kinesis keeps 24–8760 hours")
    return spec


def check_table(spec: TableSpec) -> TableSpec:
    fields = {f.name for f in dataclasses.fields(TableSpec)}
    if fields != MAPPED_TABLE_FIELDS:
        raise TypeError(f"TableSpec fields without a mapping in infra/data.py: "
                        f"{sorted(fields ^ MAPPED_TABLE_FIELDS)}")
    if not _TABLE_NAME.match(spec.name):
        raise ValueError(f"{spec.name!r} is not a DynamoDB table name")
    return spec


def stream(name: str, spec: StreamSpec, opts: pulumi.ResourceOptions) -> aws.kinesis.Stream:
    on_demand = check_stream(spec).shard_count is None
    return aws.kinesis.Stream(
        name, name=spec.name, retention_period=spec.retention_hours,
        stream_mode_details=aws.kinesis.StreamStreamModeDetailsArgs(
            stream_mode="ON_DEMAND" if on_demand else "PROVISIONED"),
        shard_count=spec.shard_count, encryption_type="KMS", kms_key_id=KINESIS_KEY,
        opts=opts)


def table(name: str, spec: TableSpec, opts: pulumi.ResourceOptions, *,
          deletion_protection: bool = True) -> aws.dynamodb.Table:
    """Every :class:`TableSpec` field mapped (:data:`MAPPED_TABLE_FIELDS`), nothing invented."""
    check_table(spec)
    return aws.dynamodb.Table(
        name, name=spec.name,  # name
        billing_mode="PAY_PER_REQUEST",
        hash_key=spec.hash_key.name,  # hash_key
        range_key=spec.range_key.name if spec.range_key else None,  # range_key
        attributes=[aws.dynamodb.TableAttributeArgs(name=k.name, type=k.type)
                    for k in spec.key_attributes],
        ttl=aws.dynamodb.TableTtlArgs(attribute_name=spec.ttl_attribute, enabled=True)
        if spec.ttl_attribute else None,  # ttl_attribute
        point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(
            enabled=spec.point_in_time_recovery),  # point_in_time_recovery
        server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
        deletion_protection_enabled=deletion_protection,
        opts=opts)


class Data(pulumi.ComponentResource):
    stream_name: pulumi.Output[str]
    stream_arn: pulumi.Output[str]
    table_names: dict[str, pulumi.Output[str]]
    table_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: DataArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("lambdalytics:infra:Data", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        res = resources(args.prefix, shard_count=args.shard_count)
        if {t.name for t in res.tables} != {getattr(res, k).name for k in TABLE_KEYS}:
            raise TypeError("Resources.tables has a table infra/data.py does not create")
        kinesis = stream(f"{name}-stream", res.stream, child)
        tables = {key: table(f"{name}-{key}", getattr(res, key), child,
                             deletion_protection=args.deletion_protection)
                  for key in TABLE_KEYS}
        self.stream_name = kinesis.name
        self.stream_arn = kinesis.arn
        self.table_names = {k: t.name for k, t in tables.items()}
        self.table_arns = {k: t.arn for k, t in tables.items()}
        self.register_outputs({
            "stream_name": self.stream_name, "stream_arn": self.stream_arn,
            **{f"{k}_table_name": v for k, v in self.table_names.items()},
            **{f"{k}_table_arn": v for k, v in self.table_arns.items()},
        })
