"""Resharding on kinesis-mock (moto never ends a closed shard): split, then merge, while a
worker archives; nothing lost or doubled, and every parent is finished before its children
start."""

from __future__ import annotations

import re
import time

from tests.archiver.harness import encoded, make_hits, new_stack, wait_until
from tests.archiver.test_worker import assert_exactly_once, hits_done
from tests.conftest import Spawn


def _active_shards(kinesis: object, stream: str) -> list[dict[str, object]]:
    shards = kinesis.list_shards(StreamName=stream)["Shards"]  # type: ignore[attr-defined]
    return [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]


def test_split_and_merge_lose_nothing_and_parents_finish_first(
        moto_url: str, kinesis_mock_url: str, spawn: Spawn) -> None:
    stack = new_stack(moto_url, kinesis_mock_url)
    stack.create(shards=1)
    kinesis, stream = stack.boto("kinesis"), stack.res.stream.name
    worker = spawn(stack, "w1", flush_interval_s=0.3)

    first = make_hits(120, tag="a")
    stack.put(encoded(first))
    wait_until(lambda: hits_done(stack, 60), 60, "the first hits archived")

    (parent,) = _active_shards(kinesis, stream)
    kinesis.split_shard(StreamName=stream, ShardToSplit=parent["ShardId"],
                        NewStartingHashKey=str(2 ** 127))
    stack.wait_active()
    second = make_hits(120, start=120, tag="b")
    stack.put(encoded(second))

    children = sorted(s["ShardId"] for s in _active_shards(kinesis, stream))
    assert len(children) == 2
    time.sleep(0.5)
    kinesis.merge_shards(StreamName=stream, ShardToMerge=children[0],
                         AdjacentShardToMerge=children[1])
    stack.wait_active()
    third = make_hits(120, start=240, tag="c")
    stack.put(encoded(third))
    (merged,) = (s["ShardId"] for s in _active_shards(kinesis, stream))

    everything = first + second + third
    wait_until(lambda: hits_done(stack, len(everything)), 120, "every hit archived")
    assert worker.terminate() == 0, worker.log()
    assert_exactly_once(stack, everything)

    # every shard's records were archived, and no child cut came before its parents ended
    log = worker.log()
    order = [(m.start(), m["shard"]) for m in re.finditer(r"cut (?P<shard>shardId-\d+) \d+\.\.",
                                                           log)]
    ended = {m["shard"]: m.start() for m in re.finditer(r"shard (?P<shard>shardId-\d+) ended",
                                                         log)}
    assert set(ended) == {parent["ShardId"], *children}, log
    cut_shards = {shard for _, shard in order}
    assert {parent["ShardId"], *children, merged} <= cut_shards
    for at, shard in order:
        if shard in children:
            assert at > ended[parent["ShardId"]], f"{shard} cut before its parent ended"
        if shard == merged:
            assert at > max(ended[c] for c in children), "merged child before both parents"
    leases = {lease["leaseKey"]["S"]: lease for lease in stack.leases()}
    assert leases[parent["ShardId"]]["checkpoint"]["S"] == "SHARD_END"
    assert set(leases[parent["ShardId"]]["childShardIds"]["SS"]) == set(children)
    assert set(leases[merged]["parentShardId"]["SS"]) == set(children)
