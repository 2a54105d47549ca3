"""Retention against moto: lifecycle rules read back, and a property's data deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdalytics import aws, bootstrap
from lambdalytics.properties import Property, StoreUnavailable
from lambdalytics.resources import BucketSpec
from lambdalytics.retention import Retention, property_prefixes, rules_for
from lambdalytics.settings import CommonSettings
from tests.lambdalytics.properties_support import common_settings

PREFIX = "arch/"
OTHER_RULE = {"ID": "keep-me", "Filter": {"Prefix": "rejected/"}, "Status": "Enabled",
              "Expiration": {"Days": 3}}


@dataclass
class World:
    s3: Any
    ddb: Any
    buckets: tuple[str, str]
    rollups: str

    def retention(self, **kwargs: Any) -> Retention:
        return Retention(self.s3, self.ddb, buckets=self.buckets, archive_prefix=PREFIX,
                         rollups_table=self.rollups, **kwargs)


@pytest.fixture
def common(moto_url: str, prefix: str) -> CommonSettings:
    return common_settings(moto_url, prefix)


@pytest.fixture
async def world(common: CommonSettings, prefix: str) -> AsyncIterator[World]:
    sess = aws.session()
    async with aws.client(sess, "s3", common) as s3, aws.client(sess, "dynamodb", common) as ddb:
        buckets = (f"{prefix}-landing", f"{prefix}-lake")
        for b in buckets:
            await bootstrap.ensure_bucket(s3, BucketSpec(b), "us-east-1")
        await bootstrap.ensure_table(ddb, common.resources.rollups)
        yield World(s3, ddb, buckets, common.resources.rollups.name)


def prop(pid: str, days: int | None) -> Property:
    return Property(pid, pid, ("UA-1-1",), retention_days=days)


async def lifecycle(world: World, bucket: str) -> list[Any]:
    try:
        resp = await world.s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchLifecycleConfiguration":
            raise
        return []
    return sorted(resp["Rules"], key=lambda r: r["ID"])


def ours(rules: list[Any]) -> dict[str, tuple[str, int, int]]:
    return {r["ID"]: (r["Filter"]["Prefix"], r["Expiration"]["Days"],
                      r["NoncurrentVersionExpiration"]["NoncurrentDays"])
            for r in rules if r["ID"] != "keep-me"}


def rules(pid: str, days: int, prefix: str = "arch/") -> dict[str, tuple[str, int, int]]:
    """Our rules for a property: one per prefix it owns (landing, counters, lake, manifests)."""
    return {f"lambdalytics:{prefix}{t}/property={pid}/": (f"{prefix}{t}/property={pid}/", days, 1)
            for t in ("hits", "filtered", "lake", "lake-manifests")}


async def test_retention_becomes_lifecycle_rules_in_every_bucket(world: World) -> None:
    await world.s3.put_bucket_lifecycle_configuration(
        Bucket=world.buckets[0], LifecycleConfiguration={"Rules": [OTHER_RULE]})
    retention = world.retention()
    await retention.apply(prop("shop", 30))
    await retention.apply(prop("blog", 90))
    expected = {**rules("shop", 30), **rules("blog", 90)}
    for bucket in world.buckets:
        assert ours(await lifecycle(world, bucket)) == expected
    assert [r["ID"] for r in await lifecycle(world, world.buckets[0])].count("keep-me") == 1

    await retention.apply(prop("shop", 7))  # changed: replaced, not added
    await retention.apply(prop("blog", None))  # keep forever: no rule
    for bucket in world.buckets:
        assert ours(await lifecycle(world, bucket)) == rules("shop", 7)

    await retention.remove("shop")
    assert [r["ID"] for r in await lifecycle(world, world.buckets[0])] == ["keep-me"]
    assert await lifecycle(world, world.buckets[1]) == []  # nothing left: configuration gone


async def test_sync_rebuilds_our_rules_only(world: World) -> None:
    retention = world.retention()
    await world.s3.put_bucket_lifecycle_configuration(
        Bucket=world.buckets[0], LifecycleConfiguration={"Rules": [
            OTHER_RULE, *rules_for(PREFIX, "gone", 5),
            *rules_for("other/", "shop", 9)]})  # another archive prefix's rule: not ours
    await retention.sync([prop("shop", 10), prop("blog", None)])
    got = await lifecycle(world, world.buckets[0])
    assert sorted(r["ID"] for r in got) == sorted(
        ["keep-me", *rules("shop", 9, "other/"), *rules("shop", 10)])


async def put_versions(world: World, bucket: str, key: str, n: int) -> None:
    for i in range(n):
        await world.s3.put_object(Bucket=bucket, Key=key, Body=f"v{i}".encode())


async def all_versions(world: World, bucket: str) -> set[str]:
    keys: set[str] = set()
    paginator = world.s3.get_paginator("list_object_versions")
    async for page in paginator.paginate(Bucket=bucket):
        keys |= {v["Key"] for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]}
    return keys


async def put_rollups(world: World, pid: str, n: int) -> None:
    for i in range(n):
        await world.ddb.put_item(TableName=world.rollups, Item={
            "pk": {"S": f"{pid}#2026-01-01T00:{i % 60:02d}"}, "sk": {"S": f"shard-{i}#1"},
            "hits": {"N": "1"}})


async def rollup_keys(world: World) -> set[str]:
    resp = await world.ddb.scan(TableName=world.rollups)
    assert "LastEvaluatedKey" not in resp
    return {i["pk"]["S"] for i in resp["Items"]}


async def test_delete_data_removes_every_version_of_one_property(world: World) -> None:
    shop_hits, shop_filtered, shop_lake, shop_manifests = property_prefixes(PREFIX, "shop")
    keep = {f"{PREFIX}hits/property=shop2/type=event/date=2026-01-01/s-1-2.json.gz",
            f"{PREFIX}hits/property=sho/type=event/date=2026-01-01/s-1-2.json.gz",
            "hits/property=shop/type=event/date=2026-01-01/s-1-2.json.gz",  # no archive prefix
            f"{PREFIX}rejected/date=2026-01-01/s-1-2.json.gz"}
    for bucket in world.buckets:
        for i in range(3):
            await put_versions(world, bucket, f"{shop_hits}type=pageview/date=2026-01-0{i + 1}/"
                                              f"s-{i}-9.json.gz", 3)
        await put_versions(world, bucket, f"{shop_filtered}date=2026-01-01/s-1-2.json.gz", 2)
        await world.s3.delete_object(Bucket=bucket, Key=f"{shop_filtered}date=2026-01-01/"
                                                        "s-1-2.json.gz")  # a delete marker
        await put_versions(world, bucket, f"{shop_lake}date=2026-01-01/hits.parquet", 2)
        await put_versions(world, bucket, f"{shop_manifests}date=2026-01-01.json", 1)
        for key in keep:
            await put_versions(world, bucket, key, 2)
    await put_rollups(world, "shop", 30)
    await put_rollups(world, "shop2", 3)
    await put_rollups(world, "sho", 3)

    deleted = await world.retention().delete_data("shop")
    assert deleted.objects == 2 * (3 * 3 + 2 + 1 + 2 + 1)
    assert deleted.rollups == 30
    for bucket in world.buckets:
        assert await all_versions(world, bucket) == keep
    assert {k.split("#")[0] for k in await rollup_keys(world)} == {"shop2", "sho"}
    assert await world.retention().delete_data("shop") == type(deleted)(0, 0)  # idempotent


async def test_more_than_one_page_of_versions(world: World) -> None:
    hits, *_ = property_prefixes(PREFIX, "big")
    bucket = world.buckets[0]
    for i in range(25):  # pages of 10 (1000 in production: DeleteObjects' limit)
        await put_versions(world, bucket, f"{hits}type=event/date=2026-01-01/s-{i}-{i}.json.gz",
                           1 + i % 2)
    calls: list[int] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(world.s3, name)

        async def delete_objects(self, **kwargs: Any) -> Any:
            calls.append(len(kwargs["Delete"]["Objects"]))
            return await world.s3.delete_objects(**kwargs)

    retention = Retention(Counting(), world.ddb, buckets=[bucket],  # type: ignore[arg-type]
                          archive_prefix=PREFIX, rollups_table=world.rollups, page_size=10)
    assert (await retention.delete_data("big")).objects == 25 + 12
    assert calls == [10, 10, 10, 7]
    assert await all_versions(world, bucket) == set()


class HalfProcessed:
    """The real client, but each BatchWriteItem writes only its first half and returns the
    rest as UnprocessedItems (DynamoDB does this under throttling; moto never does)."""

    def __init__(self, client: Any, fail_always: bool = False) -> None:
        self._client = client
        self.calls: list[int] = []
        self.fail_always = fail_always

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> Any:
        ((table, requests),) = RequestItems.items()
        self.calls.append(len(requests))
        if self.fail_always:
            return {"UnprocessedItems": {table: requests}}
        half = max(1, len(requests) // 2)
        await self._client.batch_write_item(RequestItems={table: requests[:half]})
        rest = requests[half:]
        return {"UnprocessedItems": {table: rest} if rest else {}}


async def test_unprocessed_rollup_deletes_are_resent(world: World) -> None:
    await put_rollups(world, "shop", 40)
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    flaky = HalfProcessed(world.ddb)
    retention = Retention(world.s3, flaky, buckets=world.buckets,  # type: ignore[arg-type]
                          archive_prefix=PREFIX, rollups_table=world.rollups, sleep=sleep)
    assert (await retention.delete_data("shop")).rollups == 40
    assert await rollup_keys(world) == set()
    assert flaky.calls[:3] == [25, 13, 7]
    assert len(slept) >= 2
    await put_rollups(world, "shop", 3)
    stuck = Retention(world.s3, HalfProcessed(world.ddb, fail_always=True),  # type: ignore[arg-type]
                      buckets=world.buckets, archive_prefix=PREFIX, rollups_table=world.rollups,
                      sleep=sleep)
    with pytest.raises(StoreUnavailable, match="unprocessed"):
        await stuck.delete_data("shop")


def test_rules_are_deterministic_and_validated() -> None:
    assert rules_for(PREFIX, "shop", 30) == rules_for(PREFIX, "shop", 30)
    assert rules_for(PREFIX, "shop", None) == []
    with pytest.raises(ValueError, match="partition value"):
        property_prefixes(PREFIX, "Shop")
    with pytest.raises(ValueError, match="archive prefix"):
        property_prefixes("arch", "shop")
