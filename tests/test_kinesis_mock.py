"""The kinesis-mock harness does what resharding tests need: a split or merged parent ends
(no NextShardIterator, ChildShards), new records go to the children, nothing is lost."""

from __future__ import annotations

import hashlib
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from tests import kinesis_mock

MAX_HASH = 2**128 - 1


def _client(url: str) -> Any:
    return kinesis_mock.client(url)


def _wait_active(client: Any, stream: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = client.describe_stream_summary(StreamName=stream)[
            "StreamDescriptionSummary"]["StreamStatus"]
        if status == "ACTIVE":
            return
        assert time.monotonic() < deadline, f"{stream} still {status}"
        time.sleep(0.05)


def _create(client: Any, shards: int) -> str:
    stream = "t" + secrets.token_hex(6)
    client.create_stream(StreamName=stream, ShardCount=shards)
    _wait_active(client, stream)
    return stream


def _put(client: Any, stream: str, tag: str, n: int) -> dict[str, str]:
    """n records with distinct partition keys; returns data → partition key."""
    sent: dict[str, str] = {}
    for i in range(0, n, 25):
        entries = [{"Data": f"{tag}-{j}".encode(), "PartitionKey": f"client-{tag}-{j}"}
                   for j in range(i, min(n, i + 25))]
        resp = client.put_records(StreamName=stream, Records=entries)
        assert resp.get("FailedRecordCount", 0) == 0
        sent.update({e["Data"].decode(): e["PartitionKey"] for e in entries})
    return sent


def _iterator(client: Any, stream: str, shard_id: str) -> str:
    return str(client.get_shard_iterator(StreamName=stream, ShardId=shard_id,
                                         ShardIteratorType="TRIM_HORIZON")["ShardIterator"])


def _read_closed(client: Any, stream: str, shard_id: str) -> tuple[list[Any], list[Any]]:
    """A closed shard read to its end: (records, ChildShards of the last response)."""
    it: str | None = _iterator(client, stream, shard_id)
    records: list[Any] = []
    for _ in range(1000):
        assert it is not None
        resp = client.get_records(ShardIterator=it, Limit=100)
        records.extend(resp["Records"])
        it = resp.get("NextShardIterator")
        if it is None:
            return records, resp.get("ChildShards", [])
    raise AssertionError(f"closed shard {shard_id} never ended")


def _read_open(client: Any, stream: str, shard_id: str) -> list[Any]:
    """An open shard read until an empty page (an open shard never ends)."""
    it = _iterator(client, stream, shard_id)
    records: list[Any] = []
    while True:
        resp = client.get_records(ShardIterator=it, Limit=100)
        assert resp.get("NextShardIterator"), "an open shard must give a next iterator"
        if not resp["Records"]:
            return records
        records.extend(resp["Records"])
        it = resp["NextShardIterator"]


def _hash(partition_key: str) -> int:
    return int(hashlib.md5(partition_key.encode()).hexdigest(), 16)  # noqa: S324 - Kinesis's


def _in_range(shard: dict[str, Any], partition_key: str) -> bool:
    r = shard["HashKeyRange"]
    return int(r["StartingHashKey"]) <= _hash(partition_key) <= int(r["EndingHashKey"])


def _data(records: list[Any]) -> list[str]:
    return [r["Data"].decode() for r in records]


def test_split_parent_ends_with_child_shards_and_children_get_new_records(
        kinesis_mock_url: str) -> None:
    client = _client(kinesis_mock_url)
    stream = _create(client, 1)
    (parent,) = client.list_shards(StreamName=stream)["Shards"]
    before = _put(client, stream, "before", 60)

    client.split_shard(StreamName=stream, ShardToSplit=parent["ShardId"],
                       NewStartingHashKey=str(2**127))
    _wait_active(client, stream)
    after = _put(client, stream, "after", 60)

    shards = {s["ShardId"]: s for s in client.list_shards(StreamName=stream)["Shards"]}
    children = [s for s in shards.values() if s.get("ParentShardId") == parent["ShardId"]]
    assert len(children) == 2
    assert "EndingSequenceNumber" in shards[parent["ShardId"]]["SequenceNumberRange"]

    parent_records, child_shards = _read_closed(client, stream, parent["ShardId"])
    assert sorted(_data(parent_records)) == sorted(before)  # all of them, and only them
    assert {c["ShardId"] for c in child_shards} == {c["ShardId"] for c in children}
    assert all(c["ParentShards"] == [parent["ShardId"]] for c in child_shards)

    got: list[str] = []
    for child in children:
        records = _read_open(client, stream, child["ShardId"])
        assert records, "both halves of the hash range get some of 60 keys"
        assert all(_in_range(child, r["PartitionKey"]) for r in records)
        got.extend(_data(records))
    assert sorted(got) == sorted(after)  # nothing lost, nothing doubled


def test_merged_parents_end_with_their_child(kinesis_mock_url: str) -> None:
    client = _client(kinesis_mock_url)
    stream = _create(client, 2)
    left, right = sorted(client.list_shards(StreamName=stream)["Shards"],
                         key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))
    before = _put(client, stream, "before", 60)

    client.merge_shards(StreamName=stream, ShardToMerge=left["ShardId"],
                        AdjacentShardToMerge=right["ShardId"])
    _wait_active(client, stream)
    after = _put(client, stream, "after", 40)

    shards = client.list_shards(StreamName=stream)["Shards"]
    (child,) = [s for s in shards if s["ShardId"] not in (left["ShardId"], right["ShardId"])]
    assert {child.get("ParentShardId"), child.get("AdjacentParentShardId")} == {
        left["ShardId"], right["ShardId"]}
    assert child["HashKeyRange"] == {"StartingHashKey": "0", "EndingHashKey": str(MAX_HASH)}

    old: list[str] = []
    for parent in (left, right):
        records, child_shards = _read_closed(client, stream, parent["ShardId"])
        assert all(_in_range(parent, r["PartitionKey"]) for r in records)
        assert [c["ShardId"] for c in child_shards] == [child["ShardId"]]
        assert sorted(child_shards[0]["ParentShards"]) == sorted(
            [left["ShardId"], right["ShardId"]])
        old.extend(_data(records))
    assert sorted(old) == sorted(before)
    assert sorted(_data(_read_open(client, stream, child["ShardId"]))) == sorted(after)


def test_listens_on_loopback_only(kinesis_mock_url: str) -> None:
    port = int(kinesis_mock_url.rsplit(":", 1)[1])
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                listening.add(address)
    assert listening == {"0100007F"}  # 127.0.0.1, and nothing else


def test_missing_package_is_an_error_naming_make_setup(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kinesis_mock, "PACKAGE_DIR", tmp_path / "kinesis-local")
    with pytest.raises(kinesis_mock.KinesisMockMissing, match="make setup"):
        kinesis_mock.start()
