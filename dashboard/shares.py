"""Share links: read-only tokens for one property's reports, kept in the properties table.

A share token is ``lts_`` + 43 url-safe characters (``secrets.token_urlsafe(32)``), shown
once when it is made. The table keeps only its SHA-256: the item ``share#<hex digest>``
(beside ``property#…`` and ``tid#…``, lambdalytics.properties) holds the share's id, its
property, label, creation time and expiry. No new table and no index: a token is looked up
by its digest (one GetItem), and the admin's list of a property's shares is a Scan of the
``share#`` items (the table holds properties, aliases and shares: small).

``expires_at`` is epoch seconds, the table's TTL attribute, so DynamoDB deletes an expired
share some time after it expired; until then it is refused as expired, after that as
unknown. Look-ups are cached at most :data:`LOOKUP_TTL_S` seconds (revoking in this process
drops the entry at once); a share whose property is gone is refused like a revoked one, and
deleting a property revokes its shares.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from dashboard.cache import TTLCache
from lambdalytics.properties import PropertyError, PropertyStore, _translated

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

TOKEN_PREFIX: Final = "lts_"  # noqa: S105 (a prefix, not a secret)
TOKEN_FORMAT: Final = re.compile(r"lts_[A-Za-z0-9_-]{43}\Z")
KEY_PREFIX: Final = "share#"
LOOKUP_TTL_S: Final = 5.0
LOOKUP_ENTRIES: Final = 10_000
MAX_DAYS: Final = 3660


class ShareNotFound(LookupError):
    """No share with this id for this property."""


@dataclass(frozen=True, slots=True)
class Share:
    share_id: str
    property_id: str
    label: str
    created_at: datetime
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a presented share token is: ``share`` (usable), or refused because ``expired``
    or unknown (``share`` None)."""

    share: Share | None
    expired: bool = False


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest_hex(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _from_item(item: dict[str, Any]) -> Share:
    expires = item.get("expires_at")
    return Share(item["share_id"]["S"], item["property_id"]["S"], item.get("label", {}).get("S", ""),
                 _at(int(item["created_at"]["N"])),
                 None if expires is None else _at(int(expires["N"])))


class ShareStore:
    """Shares in the properties table (``table``) through an aiobotocore DynamoDB client."""

    def __init__(self, client: DynamoDBClient, table: str, properties: PropertyStore, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self._client = client
        self._table = table
        self._properties = properties
        self._now = clock or (lambda: datetime.now(UTC))
        self._lookups: TTLCache[str, Verdict] = TTLCache(LOOKUP_ENTRIES, LOOKUP_TTL_S)

    async def create(self, property_id: str, *, label: str = "",
                     expires_in_days: int | None = None) -> tuple[Share, str]:
        """A new share of an existing property and its token (the only time it is seen)."""
        await self._properties.require(property_id)
        if expires_in_days is not None and not 1 <= expires_in_days <= MAX_DAYS:
            raise ValueError(f"expires_in_days is 1..{MAX_DAYS} or null")
        now = self._now().replace(microsecond=0)
        share = Share("sh_" + secrets.token_hex(8), property_id, label, now,
                      None if expires_in_days is None else now + timedelta(days=expires_in_days))
        token = new_token()
        item: dict[str, Any] = {
            "pk": {"S": KEY_PREFIX + digest_hex(token)}, "share_id": {"S": share.share_id},
            "property_id": {"S": property_id}, "label": {"S": label},
            "created_at": {"N": str(int(now.timestamp()))}}
        if share.expires_at is not None:
            item["expires_at"] = {"N": str(int(share.expires_at.timestamp()))}
        async with _translated("create share"):
            await self._client.put_item(TableName=self._table, Item=item,
                                        ConditionExpression="attribute_not_exists(pk)")
        log.info("created share %s of property %s", share.share_id, property_id)
        return share, token

    async def _items(self, property_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(pk, :s) AND property_id = :p",
            "ExpressionAttributeValues": {":s": {"S": KEY_PREFIX}, ":p": {"S": property_id}},
            "ConsistentRead": True}
        while True:
            async with _translated("list shares"):
                resp = await self._client.scan(**kwargs)
            out += resp.get("Items", [])
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    async def list(self, property_id: str) -> list[Share]:
        """The property's shares, expired ones included until DynamoDB's TTL removes them."""
        await self._properties.require(property_id)
        shares = [_from_item(i) for i in await self._items(property_id)]
        return sorted(shares, key=lambda s: (s.created_at, s.share_id))

    async def revoke(self, property_id: str, share_id: str) -> None:
        """Delete the share; ShareNotFound when the property has no share of this id."""
        await self._properties.require(property_id)
        items = [i for i in await self._items(property_id) if i["share_id"]["S"] == share_id]
        if not items:
            raise ShareNotFound(f"property {property_id} has no share {share_id}")
        await self._delete(items)
        log.info("revoked share %s of property %s", share_id, property_id)

    async def revoke_all(self, property_id: str) -> int:
        """Delete every share of the property (it is being deleted); how many there were."""
        items = await self._items(property_id)
        await self._delete(items)
        return len(items)

    async def revoke_all_quietly(self, property_id: str) -> None:
        """:meth:`revoke_all` after a property was deleted: a failure is logged, not raised
        (the property is gone either way, and its shares are refused without it)."""
        try:
            count = await self.revoke_all(property_id)
        except (PropertyError, ClientError, BotoCoreError) as exc:
            log.warning("shares of deleted property %s not revoked: %s", property_id, exc)
            return
        log.info("revoked %d shares of deleted property %s", count, property_id)

    async def _delete(self, items: builtins.list[dict[str, Any]]) -> None:
        for item in items:
            try:
                async with _translated("revoke share"):
                    await self._client.delete_item(
                        TableName=self._table, Key={"pk": item["pk"]},
                        ConditionExpression="attribute_exists(pk)")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
            self._lookups.discard(item["pk"]["S"])

    async def verify(self, token: str) -> Verdict:
        """Whether ``token`` is a usable share: unknown, revoked, or of a deleted property →
        ``Verdict(None)``; expired → ``Verdict(None, expired=True)``. Cached ≤ 5 s."""
        if not TOKEN_FORMAT.match(token):
            return Verdict(None)
        key = KEY_PREFIX + digest_hex(token)
        verdict, _ = await self._lookups.get_or_make(key, lambda: self._lookup(key))
        if verdict.share is not None and verdict.share.expired(self._now()):
            return Verdict(None, expired=True)
        return verdict

    async def _lookup(self, key: str) -> Verdict:
        async with _translated("look up share"):
            resp = await self._client.get_item(TableName=self._table, Key={"pk": {"S": key}},
                                               ConsistentRead=True)
        item = resp.get("Item")
        if item is None or not hmac.compare_digest(item["pk"]["S"], key):
            return Verdict(None)
        share = _from_item(item)
        if share.expired(self._now()):
            return Verdict(None, expired=True)
        if await self._properties.get(share.property_id, consistent=False) is None:
            return Verdict(None)
        return Verdict(share)
