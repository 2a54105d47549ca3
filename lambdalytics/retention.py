"""A property's retention on its S3 prefixes, and deleting a property's data.

Retention is applied by S3 itself, through the lifecycle configuration of every archive
bucket the settings name (the landing bucket; the Parquet lake and the second-region replica
when they exist: lifecycle actions are not replicated, so each bucket needs its own rules).
Each property with ``retention_days`` gets one rule per prefix it owns::

    {archive_prefix}hits/property=<id>/        {archive_prefix}filtered/property=<id>/
    {archive_prefix}lake/property=<id>/        {archive_prefix}lake-manifests/property=<id>/

with the rule id ``lambdalytics:`` + the prefix (deterministic, so an update replaces the
rule and a delete finds it). A rule expires current objects ``retention_days`` after they
were written and removes noncurrent versions :data:`NONCURRENT_DAYS` later (the buckets are
versioned: expiring a current object only adds a delete marker; S3 removes the marker once no
version is left). The configuration is one document per bucket, so every change is a
read-modify-write of the whole of it, keeping rules that are not ours untouched. S3 has no
conditional put for it: two admins changing retention at the same instant could lose one
change; :meth:`Retention.sync` rebuilds our rules from the properties table.

Rollups (the realtime items) expire through DynamoDB TTL on ``expires_at``, written by the
archiver ``rollup_ttl_days`` after the minute, independent of this.

Deleting a property's data removes every object version and delete marker under its prefixes
in every bucket, and its rollup items (``pk`` = ``<property>#<minute>``: found with a Scan
filtered on ``begins_with(pk, "<property>#")`` — ``#`` cannot occur in a property id, so no
other property's items match).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdalytics import archive_layout
from lambdalytics.properties import PropertyError, StoreUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_s3 import S3Client

    from lambdalytics.properties import Property

log = logging.getLogger(__name__)

RULE_PREFIX = "lambdalytics:"
NONCURRENT_DAYS = 1
DELETE_BATCH = 1000  # DeleteObjects' limit
WRITE_BATCH = 25  # BatchWriteItem's limit
UNPROCESSED_ATTEMPTS = 8


class RetentionError(PropertyError):
    """S3 refused part of a deletion or a lifecycle change."""


def property_prefixes(archive_prefix: str, property_id: str) -> tuple[str, ...]:
    """The key prefixes a property's objects live under: landing hits, filtered counters, the
    lake and the lake's manifests."""
    pid = archive_layout.partition_value("property_id", property_id)
    root = archive_layout.prefix_value(archive_prefix)
    return tuple(f"{root}{table}/property={pid}/" for table in (
        archive_layout.HITS, archive_layout.FILTERED, archive_layout.LAKE,
        archive_layout.LAKE_MANIFESTS))


def rule_id(prefix: str) -> str:
    return RULE_PREFIX + prefix


def rules_for(archive_prefix: str, property_id: str, retention_days: int | None) -> list[Any]:
    """The lifecycle rules of one property (none when it keeps its data)."""
    if retention_days is None:
        return []
    return [{
        "ID": rule_id(prefix),
        "Filter": {"Prefix": prefix},
        "Status": "Enabled",
        "Expiration": {"Days": retention_days},
        "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
    } for prefix in property_prefixes(archive_prefix, property_id)]


def merged_rules(existing: Iterable[Any], replace_ids: set[str], ours: list[Any]) -> list[Any]:
    """``existing`` without the rules whose id is in ``replace_ids``, plus ``ours``."""
    return [r for r in existing if r.get("ID") not in replace_ids] + ours


@dataclass(frozen=True, slots=True)
class Deleted:
    objects: int  # object versions and delete markers
    rollups: int


class Retention:
    """Lifecycle rules and data deletion for properties, over aiobotocore S3 and DynamoDB."""

    def __init__(self, s3: S3Client, ddb: DynamoDBClient, *, buckets: Iterable[str],
                 archive_prefix: str, rollups_table: str, page_size: int = DELETE_BATCH,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if not 1 <= page_size <= DELETE_BATCH:
            raise ValueError(f"page_size must be in 1..{DELETE_BATCH}")
        self._page_size = page_size
        self._s3 = s3
        self._ddb = ddb
        self._buckets = tuple(archive_layout.bucket_name(b) for b in buckets)
        self._prefix = archive_layout.prefix_value(archive_prefix)
        self._rollups = rollups_table
        self._sleep = sleep

    @property
    def buckets(self) -> tuple[str, ...]:
        return self._buckets

    async def rules(self, bucket: str) -> list[Any]:
        try:
            resp = await self._s3.get_bucket_lifecycle_configuration(Bucket=bucket)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchLifecycleConfiguration":
                return []
            raise _translated("read lifecycle", exc) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"read lifecycle of {bucket}: {type(exc).__name__}") from exc
        return list(resp.get("Rules", []))

    async def _rewrite(self, bucket: str, change: Callable[[list[Any]], list[Any]]) -> None:
        before = await self.rules(bucket)
        after = change(before)
        if after == before:
            return
        try:
            if after:
                await self._s3.put_bucket_lifecycle_configuration(
                    Bucket=bucket, LifecycleConfiguration={"Rules": after})
            else:
                await self._s3.delete_bucket_lifecycle(Bucket=bucket)
        except ClientError as exc:
            raise _translated("write lifecycle", exc) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"write lifecycle of {bucket}: {type(exc).__name__}") from exc
        log.info("lifecycle of %s: %d rules", bucket, len(after))

    async def apply(self, prop: Property) -> None:
        """Make every bucket's rules for ``prop`` match its ``retention_days``."""
        ids = {rule_id(p) for p in property_prefixes(self._prefix, prop.property_id)}
        ours = rules_for(self._prefix, prop.property_id, prop.retention_days)
        for bucket in self._buckets:
            await self._rewrite(bucket, lambda rules: merged_rules(rules, ids, ours))

    async def remove(self, property_id: str) -> None:
        ids = {rule_id(p) for p in property_prefixes(self._prefix, property_id)}
        for bucket in self._buckets:
            await self._rewrite(bucket, lambda rules: merged_rules(rules, ids, []))

    async def sync(self, props: Iterable[Property]) -> None:
        """Replace all our rules under this archive prefix by those of ``props``."""
        ours = [r for p in props for r in rules_for(self._prefix, p.property_id, p.retention_days)]
        mine = RULE_PREFIX + self._prefix

        def change(rules: list[Any]) -> list[Any]:
            kept = [r for r in rules if not (str(r.get("ID", "")).startswith(mine)
                                             and "/property=" in str(r.get("ID", "")))]
            return kept + ours
        for bucket in self._buckets:
            await self._rewrite(bucket, change)

    # -- deleting data --

    async def delete_data(self, property_id: str) -> Deleted:
        objects = 0
        for bucket in self._buckets:
            for prefix in property_prefixes(self._prefix, property_id):
                objects += await self._delete_prefix(bucket, prefix)
        rollups = await self._delete_rollups(property_id)
        log.info("deleted %d object versions and %d rollup items of property %s",
                 objects, rollups, property_id)
        return Deleted(objects, rollups)

    async def _delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every version and delete marker under ``prefix``: list a page from the
        start, delete what it holds, again until a listing is empty (paging on with a marker
        while deleting behind it can skip what follows the deleted marker)."""
        count = 0
        try:
            while True:
                page = await self._s3.list_object_versions(Bucket=bucket, Prefix=prefix,
                                                           MaxKeys=self._page_size)
                batch = [{"Key": e["Key"], "VersionId": e["VersionId"]}
                         for e in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
                if not batch:
                    return count
                count += await self._delete_objects(bucket, batch)
        except ClientError as exc:
            raise _translated(f"delete under s3://{bucket}/{prefix}", exc) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"delete under s3://{bucket}/{prefix}: "
                                   f"{type(exc).__name__}") from exc

    async def _delete_objects(self, bucket: str, batch: list[Any]) -> int:
        resp = await self._s3.delete_objects(Bucket=bucket,
                                             Delete={"Objects": batch, "Quiet": True})
        errors = resp.get("Errors", [])
        if errors:
            first = errors[0]
            raise RetentionError(f"s3://{bucket}: {len(errors)} of {len(batch)} versions not "
                                 f"deleted ({first.get('Code')}: {first.get('Key')})")
        return len(batch)

    async def _delete_rollups(self, property_id: str) -> int:
        archive_layout.partition_value("property_id", property_id)
        kwargs: dict[str, Any] = {
            "TableName": self._rollups, "ProjectionExpression": "pk, sk",
            "FilterExpression": "begins_with(pk, :p)",
            "ExpressionAttributeValues": {":p": {"S": f"{property_id}#"}}}
        count = 0
        while True:
            try:
                resp = await self._ddb.scan(**kwargs)
            except ClientError as exc:
                raise _translated("scan rollups", exc) from exc
            except BotoCoreError as exc:
                raise StoreUnavailable(f"scan rollups: {type(exc).__name__}") from exc
            keys = [{"pk": i["pk"], "sk": i["sk"]} for i in resp.get("Items", [])]
            for start in range(0, len(keys), WRITE_BATCH):
                await self._delete_keys(keys[start:start + WRITE_BATCH])
            count += len(keys)
            if "LastEvaluatedKey" not in resp:
                return count
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    async def _delete_keys(self, keys: list[Any]) -> None:
        requests: list[Any] = [{"DeleteRequest": {"Key": k}} for k in keys]
        for attempt in range(UNPROCESSED_ATTEMPTS):
            try:
                resp = await self._ddb.batch_write_item(RequestItems={self._rollups: requests})
            except ClientError as exc:
                raise _translated("delete rollups", exc) from exc
            except BotoCoreError as exc:
                raise StoreUnavailable(f"delete rollups: {type(exc).__name__}") from exc
            requests = list(resp.get("UnprocessedItems", {}).get(self._rollups, []))
            if not requests:
                return
            delay = min(2.0, 0.05 * 2 ** attempt) * random.uniform(0.5, 1.0)
            log.info("%d rollup deletes unprocessed; re-sending in %.3fs", len(requests), delay)
            await self._sleep(delay)
        raise StoreUnavailable(f"{len(requests)} rollup deletes still unprocessed after "
                               f"{UNPROCESSED_ATTEMPTS} attempts")


_RETRYABLE = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout",
                        "ThrottlingException", "ProvisionedThroughputExceededException",
                        "RequestLimitExceeded", "InternalServerError"})


def _translated(what: str, exc: ClientError) -> PropertyError:
    code = exc.response.get("Error", {}).get("Code", "")
    if code in _RETRYABLE:
        return StoreUnavailable(f"{what}: {code}")
    return RetentionError(f"{what}: {code}")
