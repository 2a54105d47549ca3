"""Shared by the property, retention and admin API tests: a properties table on moto."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from lambdalytics import aws, bootstrap
from lambdalytics.properties import PropertyStore
from lambdalytics.settings import CommonSettings


def common_settings(moto_url: str, prefix: str, **extra: Any) -> CommonSettings:
    return CommonSettings(resource_prefix=prefix, aws_endpoint_url=moto_url,
                          aws_region="us-east-1", log_format="text", **extra)


@asynccontextmanager
async def property_table(settings: CommonSettings) -> AsyncIterator[Any]:
    """A DynamoDB client with the properties table created."""
    async with aws.client(aws.session(), "dynamodb", settings) as ddb:
        await bootstrap.ensure_table(ddb, settings.resources.properties)
        yield ddb


@asynccontextmanager
async def property_store(settings: CommonSettings, **kwargs: Any) -> AsyncIterator[PropertyStore]:
    async with property_table(settings) as ddb:
        yield PropertyStore(ddb, settings.resources.properties.name, **kwargs)


async def raw_items(ddb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        resp = await ddb.scan(**kwargs)
        items += resp["Items"]
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
