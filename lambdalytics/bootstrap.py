"""Create the stream, tables and bucket of :mod:`lambdalytics.resources` (idempotent).

Used by `lambdalytics local` and the compose bootstrap; on AWS, infra/ creates the same
shapes with Pulumi.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdalytics import aws

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_kinesis import KinesisClient

    from lambdalytics.resources import StreamSpec, TableSpec
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


async def provision(settings: CommonSettings, tables: tuple[TableSpec, ...] | None = None,
                    ) -> None:
    """The stream and ``tables`` (default: all of them) of ``settings``' resources."""
    res = settings.resources
    session = aws.session()
    async with aws.client(session, "kinesis", settings) as kinesis, \
            aws.client(session, "dynamodb", settings) as ddb:
        await ensure_stream(kinesis, res.stream)
        for table in res.tables if tables is None else tables:
            await ensure_table(ddb, table)
