"""Create the stream, tables and bucket of :mod:`lambdalytics.resources` (idempotent).

Used by `lambdalytics local` and the compose bootstrap; on AWS, infra/ creates the same
shapes with Pulumi.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdalytics import aws

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_kinesis import KinesisClient
    from types_aiobotocore_s3 import S3Client

    from lambdalytics.resources import BucketSpec, StreamSpec, TableSpec
    from lambdalytics.settings import CommonSettings

log = logging.getLogger(__name__)


async def ensure_stream(client: KinesisClient, spec: StreamSpec, *, timeout: float = 60) -> None:
    kwargs: dict[str, Any] = {"StreamName": spec.name}
    if spec.shard_count is None:
        kwargs["StreamModeDetails"] = {"StreamMode": "ON_DEMAND"}
    else:
        kwargs["ShardCount"] = spec.shard_count
    try:
        await client.create_stream(**kwargs)
        log.info("created stream %s", spec.name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        desc = await client.describe_stream_summary(StreamName=spec.name)
        if desc["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
            return
        if loop.time() > deadline:
            raise TimeoutError(f"stream {spec.name} not ACTIVE after {timeout}s")
        await asyncio.sleep(0.5)


async def ensure_table(client: DynamoDBClient, spec: TableSpec) -> None:
    keys: list[Any] = [{"AttributeName": spec.hash_key.name, "KeyType": "HASH"}]
    if spec.range_key is not None:
        keys.append({"AttributeName": spec.range_key.name, "KeyType": "RANGE"})
    try:
        await client.create_table(
            TableName=spec.name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=keys,
            AttributeDefinitions=[
                {"AttributeName": k.name, "AttributeType": k.type}  # type: ignore[typeddict-item]
                for k in spec.key_attributes
            ],
        )
        log.info("created table %s", spec.name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    waiter = client.get_waiter("table_exists")
    await waiter.wait(TableName=spec.name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if spec.ttl_attribute:
        desc = await client.describe_time_to_live(TableName=spec.name)
        if desc["TimeToLiveDescription"].get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            await client.update_time_to_live(
                TableName=spec.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )


async def ensure_bucket(client: S3Client, spec: BucketSpec, region: str | None) -> None:
    """The archive bucket as infra/ makes it: versioned, encrypted, no public access."""
    kwargs: dict[str, Any] = {"Bucket": spec.name}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        await client.create_bucket(**kwargs)
        log.info("created bucket %s", spec.name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    await client.put_bucket_versioning(Bucket=spec.name,
                                       VersioningConfiguration={"Status": "Enabled"})
    await client.put_public_access_block(Bucket=spec.name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
    })
    await client.put_bucket_encryption(Bucket=spec.name, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}],
    })


async def provision(settings: CommonSettings, tables: tuple[TableSpec, ...] | None = None,
                    *, bucket: bool = True, shard_count: int | None = None) -> None:
    """The stream, ``tables`` (default: all of them) and the archive bucket of
    ``settings``' resources; the stream with ``shard_count`` shards rather than on-demand
    (for an emulator without on-demand streams)."""
    res = settings.resources
    session = aws.session()
    stream = res.stream if shard_count is None else replace(res.stream, shard_count=shard_count)
    async with aws.client(session, "kinesis", settings) as kinesis, \
            aws.client(session, "dynamodb", settings) as ddb:
        await ensure_stream(kinesis, stream)
        for table in res.tables if tables is None else tables:
            await ensure_table(ddb, table)
    if bucket:
        async with aws.client(session, "s3", settings) as s3:
            await ensure_bucket(s3, res.archive, settings.aws_region)
