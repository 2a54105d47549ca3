"""The Kinesis calls the archiver makes, behind a narrow port.

Sequence numbers are compared as integers (KCL does the same); iterators are asked for by
position so that a consumer can always resume after the last record it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from archiver.processor import Record

if TYPE_CHECKING:
    from types_aiobotocore_kinesis import KinesisClient


@dataclass(frozen=True, slots=True)
class Shard:
    shard_id: str
    parents: frozenset[str]
    closed: bool  # has an ending sequence number


@dataclass(frozen=True, slots=True)
class Page:
    records: list[Record]
    next_iterator: str | None  # None: the shard is closed and read to its end
    millis_behind: int
    children: frozenset[str]


class ExpiredIterator(Exception):
    pass


def seq_int(sequence: str) -> int:
    return int(sequence)


def _ms(ts: Any) -> int:
    if isinstance(ts, datetime):
        return int(ts.replace(tzinfo=ts.tzinfo or UTC).timestamp() * 1000)
    return int(float(ts) * 1000)


class ShardReader:
    def __init__(self, client: KinesisClient, stream: str) -> None:
        self._kinesis = client
        self.stream = stream

    async def shards(self) -> list[Shard]:
        shards: list[Shard] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream}
        while True:
            page = await self._kinesis.list_shards(**kwargs)
            for s in page["Shards"]:
                parents = {p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p}
                closed = bool(s["SequenceNumberRange"].get("EndingSequenceNumber"))
                shards.append(Shard(s["ShardId"], frozenset(parents), closed))
            token = page.get("NextToken")
            if not token:
                return shards
            kwargs = {"NextToken": token}  # AWS rejects StreamName together with NextToken

    async def iterator(self, shard_id: str, *, after: str | None = None,
                       at_ms: int | None = None) -> str:
        kwargs: dict[str, Any] = {"StreamName": self.stream, "ShardId": shard_id}
        if after is not None:
            kwargs |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
        elif at_ms is not None:
            kwargs |= {"ShardIteratorType": "AT_TIMESTAMP",
                       "Timestamp": datetime.fromtimestamp(max(at_ms, 0) / 1000, UTC)}
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        out = await self._kinesis.get_shard_iterator(**kwargs)
        return out["ShardIterator"]

    async def read(self, iterator: str, limit: int) -> Page:
        try:
            out = await self._kinesis.get_records(ShardIterator=iterator, Limit=limit)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExpiredIteratorException":
                raise ExpiredIterator(str(exc)) from exc
            raise
        records = [Record(r["SequenceNumber"], _ms(r["ApproximateArrivalTimestamp"]), r["Data"])
                   for r in out.get("Records", ())]
        children = frozenset(c["ShardId"] for c in out.get("ChildShards", ()) or ())
        return Page(records, out.get("NextShardIterator"), int(out.get("MillisBehindLatest", 0)),
                    children)
