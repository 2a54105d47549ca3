"""The lease table, on KCL's model (reference/aws.md §1.1–1.2).

One item per shard. ``leaseCounter`` is the fencing token: every renew, take, cut and
checkpoint is an UpdateItem conditional on the counter the caller last saw, and adds one, so a
worker that lost its lease learns it at its next write (:class:`LeaseLost`) and can never
checkpoint over its successor. KCL's attribute names are kept where KCL has the concept; the
cut (``cutFirst``/``cutLast``) is ours: the batch a worker is about to write, recorded before
any of its objects are, so that whoever holds the lease next replays exactly that batch; and
the early range (``earlyFirst``/``earlyLast``, archiver.early) is what the open batch's early
rollups have counted, which the next owner's first cut must reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

TRIM_HORIZON = "TRIM_HORIZON"
SHARD_END = "SHARD_END"


class LeaseLost(Exception):
    """The lease's counter moved on: another worker owns it now (or it was deleted)."""


@dataclass(frozen=True, slots=True)
class Cut:
    """A batch of one shard's records, first and last sequence number inclusive."""

    first: str
    last: str


@dataclass(frozen=True, slots=True)
class Lease:
    key: str  # the shard id
    counter: int
    owner: str | None = None
    checkpoint: str = TRIM_HORIZON  # a sequence number, TRIM_HORIZON or SHARD_END
    checkpoint_arrival_ms: int | None = None  # arrival time of the checkpointed record
    last_sequence: str | None = None  # at SHARD_END: the shard's last record we processed
    cut: Cut | None = None
    early: Cut | None = None  # the records the open batch's early rollups count (archiver.early)
    parents: frozenset[str] = frozenset()
    children: frozenset[str] = frozenset()
    owner_switches: int = 0

    @property
    def finished(self) -> bool:
        return self.checkpoint == SHARD_END


def _from_item(item: dict[str, Any]) -> Lease:
    def s(name: str) -> str | None:
        v = item.get(name)
        return None if v is None else str(v["S"])

    def n(name: str) -> int | None:
        v = item.get(name)
        return None if v is None else int(v["N"])

    first, last = s("cutFirst"), s("cutLast")
    early_first, early_last = s("earlyFirst"), s("earlyLast")
    return Lease(
        key=str(item["leaseKey"]["S"]),
        counter=n("leaseCounter") or 0,
        owner=s("leaseOwner"),
        checkpoint=s("checkpoint") or TRIM_HORIZON,
        checkpoint_arrival_ms=n("checkpointArrival"),
        last_sequence=s("lastSequence"),
        cut=Cut(first, last) if first is not None and last is not None else None,
        early=Cut(early_first, early_last)
        if early_first is not None and early_last is not None else None,
        parents=frozenset(item.get("parentShardId", {}).get("SS", ())),
        children=frozenset(item.get("childShardIds", {}).get("SS", ())),
        owner_switches=n("ownerSwitchesSinceCheckpoint") or 0,
    )


class LeaseTable:
    """Conditional reads and writes of the lease items; nothing here keeps state."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._ddb = client
        self._table = table

    async def create(self, shard_id: str, parents: frozenset[str] = frozenset()) -> bool:
        """Create the lease unless it exists; True when this call created it."""
        item: dict[str, Any] = {
            "leaseKey": {"S": shard_id},
            "leaseCounter": {"N": "0"},
            "checkpoint": {"S": TRIM_HORIZON},
            "ownerSwitchesSinceCheckpoint": {"N": "0"},
        }
        if parents:
            item["parentShardId"] = {"SS": sorted(parents)}
        try:
            await self._ddb.put_item(TableName=self._table, Item=item,
                                     ConditionExpression="attribute_not_exists(leaseKey)")
        except ClientError as exc:
            if _conditional(exc):
                return False
            raise
        return True

    async def get(self, shard_id: str) -> Lease | None:
        out = await self._ddb.get_item(TableName=self._table, Key={"leaseKey": {"S": shard_id}},
                                       ConsistentRead=True)
        item = out.get("Item")
        return None if item is None else _from_item(dict(item))

    async def list(self) -> list[Lease]:
        leases: list[Lease] = []
        kwargs: dict[str, Any] = {"TableName": self._table, "ConsistentRead": True}
        while True:
            page = await self._ddb.scan(**kwargs)
            leases.extend(_from_item(dict(i)) for i in page.get("Items", ()))
            if "LastEvaluatedKey" not in page:
                return leases
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def _update(self, lease: Lease, expression: str, values: dict[str, Any],
                      *, extra_condition: str = "", names: dict[str, str] | None = None) -> Lease:
        """Apply ``expression`` (which must bump leaseCounter to :next) if the counter is still
        ``lease.counter``; returns the lease as it is now."""
        condition = "leaseCounter = :seen" + (f" AND {extra_condition}" if extra_condition else "")
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"leaseKey": {"S": lease.key}},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {
                ":seen": {"N": str(lease.counter)}, ":next": {"N": str(lease.counter + 1)},
                **values,
            },
            "ReturnValues": "ALL_NEW",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            out = await self._ddb.update_item(**kwargs)
        except ClientError as exc:
            if _conditional(exc):
                raise LeaseLost(lease.key) from exc
            raise
        return _from_item(dict(out["Attributes"]))

    async def renew(self, lease: Lease, owner: str) -> Lease:
        return await self._update(lease, "SET leaseCounter = :next", {":me": {"S": owner}},
                                  extra_condition="leaseOwner = :me")

    async def take(self, lease: Lease, owner: str) -> Lease:
        """Take an expired, unowned or (stealing) someone else's lease."""
        expression = "SET leaseCounter = :next, leaseOwner = :me"
        if lease.owner != owner:
            expression += " ADD ownerSwitchesSinceCheckpoint :one"
        return await self._update(lease, expression, {":me": {"S": owner}, ":one": {"N": "1"}}
                                  if lease.owner != owner else {":me": {"S": owner}})

    async def evict(self, lease: Lease, owner: str) -> Lease:
        """Let the lease go (graceful shutdown): others may take it at once."""
        return await self._update(lease, "SET leaseCounter = :next REMOVE leaseOwner",
                                  {":me": {"S": owner}}, extra_condition="leaseOwner = :me")

    async def record_cut(self, lease: Lease, owner: str, cut: Cut) -> Lease:
        return await self._update(
            lease, "SET leaseCounter = :next, cutFirst = :first, cutLast = :last",
            {":me": {"S": owner}, ":first": {"S": cut.first}, ":last": {"S": cut.last}},
            extra_condition="leaseOwner = :me",
        )

    async def record_early(self, lease: Lease, owner: str, early: Cut) -> Lease:
        """Early rollups of ``early`` are about to be written: whoever takes the lease next
        cuts at least that far first, so that its items overwrite them."""
        return await self._update(
            lease, "SET leaseCounter = :next, earlyFirst = :first, earlyLast = :last",
            {":me": {"S": owner}, ":first": {"S": early.first}, ":last": {"S": early.last}},
            extra_condition="leaseOwner = :me",
        )

    async def checkpoint(self, lease: Lease, owner: str, sequence: str, arrival_ms: int) -> Lease:
        """The cut's writes are durable: move the checkpoint to its last record."""
        return await self._update(
            lease,
            "SET leaseCounter = :next, checkpoint = :seq, checkpointArrival = :arr, "
            "ownerSwitchesSinceCheckpoint = :zero REMOVE cutFirst, cutLast, earlyFirst, earlyLast",
            {":me": {"S": owner}, ":seq": {"S": sequence}, ":arr": {"N": str(arrival_ms)},
             ":zero": {"N": "0"}},
            extra_condition="leaseOwner = :me",
        )

    async def shard_end(self, lease: Lease, owner: str, children: frozenset[str]) -> Lease:
        """The shard is read to its end and everything is written: mark it finished, keep
        where it ended (children rebuild their duplicate window from its tail) and let it go."""
        values: dict[str, Any] = {":me": {"S": owner}, ":end": {"S": SHARD_END},
                                  ":zero": {"N": "0"}}
        expression = ("SET leaseCounter = :next, checkpoint = :end, "
                      "ownerSwitchesSinceCheckpoint = :zero")
        if lease.checkpoint not in (TRIM_HORIZON, SHARD_END):
            expression += ", lastSequence = :lastseq"
            values[":lastseq"] = {"S": lease.checkpoint}
        if children:
            expression += ", childShardIds = :children"
            values[":children"] = {"SS": sorted(children)}
        expression += " REMOVE leaseOwner, cutFirst, cutLast, earlyFirst, earlyLast"
        return await self._update(lease, expression, values, extra_condition="leaseOwner = :me")

    async def delete(self, lease: Lease) -> None:
        try:
            await self._ddb.delete_item(TableName=self._table, Key={"leaseKey": {"S": lease.key}},
                                        ConditionExpression="leaseCounter = :seen",
                                        ExpressionAttributeValues={
                                            ":seen": {"N": str(lease.counter)}})
        except ClientError as exc:
            if not _conditional(exc):
                raise


def _conditional(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


