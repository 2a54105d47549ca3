"""Cookieless visitors: for a property with ``cookieless`` on, the collector derives the
client id itself, as a salted hash of the property, the client address and the user agent,
and the salt changes every UTC day.

Nothing on the device identifies the visitor (the tracker stores no id; a client id a tag
sends is replaced), the same browser is one visitor for a day, and ids of two days cannot be
linked: each day's salt is 32 random bytes that every collector task shares through the
properties table (item ``salt#YYYY-MM-DD``, made by the first task that needs it with a
conditional put, expiring by the table's TTL two days later) and that nothing keeps after
that. The raw address is only an input of the hash, inside the collector, as for geo.

Without a table (tests, benchmarks with a fixed property lookup) the salts live in this
process only.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from collector.errors import PropertiesUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

SALT_BYTES = 32
SALT_PREFIX = "salt#"
KEEP_DAYS = 2  # the table's TTL removes a day's salt this long after the day began


def visitor_id(salt: bytes, property_id: str, address: str | None, user_agent: str) -> str:
    """The day's client id of one visitor of one property: 32 hex characters."""
    h = hashlib.blake2b(key=salt, digest_size=16)
    for part in (property_id, address or "", user_agent):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def day_of(epoch: float) -> date:
    return datetime.fromtimestamp(epoch, UTC).date()


class DailySalts:
    """Each UTC day's salt, from the properties table (``client``, ``table``) or, without
    one, made in this process. :meth:`cached` answers without a coroutine once the day's
    salt is known; :meth:`get` fetches or makes it (PropertiesUnavailable when the table
    cannot be reached: the request gets a 503 and is retried)."""

    def __init__(self, client: DynamoDBClient | None = None, table: str = "") -> None:
        self._client = client
        self._table = table
        self._salts: dict[date, bytes] = {}
        self._loading: dict[date, asyncio.Future[bytes]] = {}

    def cached(self, day: date) -> bytes | None:
        return self._salts.get(day)

    async def get(self, day: date) -> bytes:
        salt = self._salts.get(day)
        if salt is not None:
            return salt
        loading = self._loading.get(day)
        if loading is None:  # concurrent first hits of the day share one fetch
            loading = self._loading[day] = asyncio.ensure_future(self._load(day))
        try:
            salt = await asyncio.shield(loading)
        finally:
            if loading.done():
                self._loading.pop(day, None)
        self._salts = {d: s for d, s in self._salts.items() if d >= day - timedelta(days=1)}
        self._salts[day] = salt
        return salt

    async def _load(self, day: date) -> bytes:
        if self._client is None:
            return os.urandom(SALT_BYTES)
        key = {"pk": {"S": f"{SALT_PREFIX}{day.isoformat()}"}}
        try:
            found = await self._client.get_item(TableName=self._table, Key=key,
                                                ConsistentRead=True)
            if "Item" in found:
                return _salt_of(found["Item"])
            salt = os.urandom(SALT_BYTES)
            expires = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=KEEP_DAYS)
            try:
                await self._client.put_item(
                    TableName=self._table,
                    Item={**key, "salt": {"B": salt},
                          "expires_at": {"N": str(int(expires.timestamp()))}},
                    ConditionExpression="attribute_not_exists(pk)")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                # another task made it first: use theirs
                found = await self._client.get_item(TableName=self._table, Key=key,
                                                    ConsistentRead=True)
                return _salt_of(found["Item"])
            return salt
        except (ClientError, BotoCoreError, OSError, KeyError) as exc:
            raise PropertiesUnavailable(f"the day's visitor salt: {type(exc).__name__}") from exc


def _salt_of(item: dict[str, Any]) -> bytes:
    salt = bytes(item["salt"]["B"])
    if len(salt) != SALT_BYTES:
        raise KeyError("salt")
    return salt
