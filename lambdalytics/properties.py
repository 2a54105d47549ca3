"""Properties in DynamoDB: the tracking ids we issued and what the collector needs of them.

Item layout in the properties table (key ``pk``):

- ``property#<property_id>``: the property (name, enabled, tracking ids, created time).
- ``tid#<tracking id>``: one alias item per tracking id (``UA-…``, ``G-…``, Firebase app
  id) pointing at its property. Aliases are written with ``attribute_not_exists`` in the
  same transaction as the property, so a tracking id belongs to at most one property.

Issuing and managing properties (admin API, secrets, policy) builds on this module.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

# ASCII digits only and a true end (\Z): `\d` takes any Unicode digit, `$` a trailing newline
UA_TRACKING_ID = re.compile(r"^UA-[0-9]{1,12}-[0-9]{1,6}\Z")
GA4_MEASUREMENT_ID = re.compile(r"^G-[A-Z0-9]{4,16}\Z")
FIREBASE_APP_ID = re.compile(r"^[0-9]:[0-9]+:[a-zA-Z]+:[a-zA-Z0-9]+\Z")


class PropertyError(Exception):
    """Base of this module's errors."""


class TrackingIdTaken(PropertyError):
    """A tracking id is already registered to a property."""


@dataclass(frozen=True, slots=True)
class Property:
    property_id: str
    name: str
    tracking_ids: tuple[str, ...]
    enabled: bool = True
    created_at: str = ""


def property_key(property_id: str) -> str:
    return f"property#{property_id}"


def alias_key(tracking_id: str) -> str:
    return f"tid#{tracking_id}"


def valid_tracking_id(tracking_id: str) -> bool:
    return bool(
        UA_TRACKING_ID.match(tracking_id)
        or GA4_MEASUREMENT_ID.match(tracking_id)
        or FIREBASE_APP_ID.match(tracking_id)
    )


def new_property_id() -> str:
    return "p" + secrets.token_hex(6)


def _to_item(prop: Property) -> dict[str, Any]:
    return {
        "pk": {"S": property_key(prop.property_id)},
        "property_id": {"S": prop.property_id},
        "name": {"S": prop.name},
        "tracking_ids": {"L": [{"S": t} for t in prop.tracking_ids]},
        "enabled": {"BOOL": prop.enabled},
        "created_at": {"S": prop.created_at},
    }


def _from_item(item: dict[str, Any]) -> Property:
    return Property(
        property_id=item["property_id"]["S"],
        name=item.get("name", {}).get("S", ""),
        tracking_ids=tuple(v["S"] for v in item.get("tracking_ids", {}).get("L", [])),
        enabled=item.get("enabled", {}).get("BOOL", True),
        created_at=item.get("created_at", {}).get("S", ""),
    )


class PropertyStore:
    """Reads and writes properties in one DynamoDB table (adapter over the real client)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    async def register(self, name: str, tracking_ids: list[str], *,
                       property_id: str | None = None, enabled: bool = True) -> Property:
        """Create a property owning ``tracking_ids``; fails if any id is already taken."""
        bad = [t for t in tracking_ids if not valid_tracking_id(t)]
        if bad or not tracking_ids:
            raise PropertyError(f"invalid tracking ids: {bad or tracking_ids}")
        prop = Property(
            property_id=property_id or new_property_id(),
            name=name,
            tracking_ids=tuple(tracking_ids),
            enabled=enabled,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        actions: list[Any] = [
            {"Put": {"TableName": self._table, "Item": _to_item(prop),
                     "ConditionExpression": "attribute_not_exists(pk)"}}
        ]
        for tid in prop.tracking_ids:
            actions.append({"Put": {
                "TableName": self._table,
                "Item": {"pk": {"S": alias_key(tid)}, "property_id": {"S": prop.property_id}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }})
        try:
            await self._client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise TrackingIdTaken(f"a tracking id of {tracking_ids} is already registered") from exc
            raise
        return prop

    async def set_enabled(self, property_id: str, enabled: bool) -> None:
        await self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": property_key(property_id)}},
            UpdateExpression="SET enabled = :e",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":e": {"BOOL": enabled}},
        )

    async def get(self, property_id: str) -> Property | None:
        resp = await self._client.get_item(
            TableName=self._table, Key={"pk": {"S": property_key(property_id)}}
        )
        item = resp.get("Item")
        return _from_item(item) if item else None

    async def lookup(self, tracking_id: str) -> Property | None:
        """The property a tracking id belongs to, or None when nobody registered it."""
        resp = await self._client.get_item(
            TableName=self._table, Key={"pk": {"S": alias_key(tracking_id)}},
            ProjectionExpression="property_id",
        )
        item = resp.get("Item")
        if not item:
            return None
        return await self.get(item["property_id"]["S"])

    async def list(self) -> list[Property]:
        out: list[Property] = []
        kwargs: dict[str, Any] = {"TableName": self._table,
                                  "FilterExpression": "begins_with(pk, :p)",
                                  "ExpressionAttributeValues": {":p": {"S": "property#"}}}
        while True:
            resp = await self._client.scan(**kwargs)
            out.extend(_from_item(i) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return sorted(out, key=lambda p: p.created_at)
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
