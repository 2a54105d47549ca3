"""The lease table against DynamoDB on moto: every write fenced by the counter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from archiver.leases import SHARD_END, TRIM_HORIZON, Cut, LeaseLost, LeaseTable
from lambdalytics import aws
from lambdalytics.bootstrap import ensure_table
from lambdalytics.resources import resources
from lambdalytics.settings import CommonSettings


@pytest.fixture
async def table(moto_url: str, prefix: str) -> AsyncIterator[LeaseTable]:
    settings = CommonSettings(resource_prefix=prefix, aws_endpoint_url=moto_url,
                              aws_region="us-east-1")
    async with aws.client(aws.session(), "dynamodb", settings) as ddb:
        spec = resources(prefix).leases
        await ensure_table(ddb, spec)
        yield LeaseTable(ddb, spec.name)


async def test_create_is_once_only(table: LeaseTable) -> None:
    assert await table.create("shardId-1", frozenset({"shardId-0"}))
    assert not await table.create("shardId-1")
    lease = await table.get("shardId-1")
    assert lease is not None
    assert (lease.counter, lease.owner, lease.checkpoint) == (0, None, TRIM_HORIZON)
    assert lease.parents == {"shardId-0"}


async def test_every_write_is_fenced_by_the_counter(table: LeaseTable) -> None:
    await table.create("s")
    fresh = await table.get("s")
    assert fresh is not None
    mine = await table.take(fresh, "w1")
    assert (mine.owner, mine.counter, mine.owner_switches) == ("w1", 1, 1)
    # w2 steals with the counter it saw; w1's next write of any kind fails
    theirs = await table.take(mine, "w2")
    assert theirs.owner == "w2"
    for write in (lambda: table.renew(mine, "w1"),
                  lambda: table.record_cut(mine, "w1", Cut("1", "5")),
                  lambda: table.checkpoint(mine, "w1", "5", 1000),
                  lambda: table.evict(mine, "w1"),
                  lambda: table.shard_end(mine, "w1", frozenset())):
        with pytest.raises(LeaseLost):
            await write()
    # a write with the right counter but another owner fails too
    with pytest.raises(LeaseLost):
        await table.renew(theirs, "w1")
    renewed = await table.renew(theirs, "w2")
    assert renewed.counter == theirs.counter + 1


async def test_cut_then_checkpoint(table: LeaseTable) -> None:
    await table.create("s")
    lease = await table.take((await table.get("s")), "w1")  # type: ignore[arg-type]
    lease = await table.record_cut(lease, "w1", Cut("10", "20"))
    assert lease.cut == Cut("10", "20")
    # a new owner sees the cut it must replay
    again = await table.get("s")
    assert again is not None
    assert again.cut == Cut("10", "20")
    lease = await table.checkpoint(lease, "w1", "20", 1_700_000_000_000)
    assert (lease.checkpoint, lease.checkpoint_arrival_ms, lease.cut) == \
        ("20", 1_700_000_000_000, None)
    assert lease.owner_switches == 0
    ended = await table.shard_end(lease, "w1", frozenset({"c1", "c2"}))
    assert ended.finished
    assert ended.checkpoint == SHARD_END
    assert (ended.owner, ended.last_sequence, ended.children) == (None, "20", {"c1", "c2"})


async def test_takers_with_the_same_view_only_one_wins(table: LeaseTable) -> None:
    # one after the other: moto does not make conditional writes atomic under concurrency
    # (reference/aws.md §6.2), DynamoDB does; what we test is that the condition is there
    await table.create("s")
    seen = await table.get("s")
    assert seen is not None
    winner = await table.take(seen, "w0")
    for i in range(1, 4):
        with pytest.raises(LeaseLost):
            await table.take(seen, f"w{i}")
    lease = await table.get("s")
    assert lease is not None
    assert lease.owner == winner.owner == "w0"


async def test_list_and_delete(table: LeaseTable) -> None:
    for i in range(30):
        await table.create(f"s{i}")
    leases = await table.list()
    assert len(leases) == 30
    await table.delete(leases[0])
    assert len(await table.list()) == 29
    # delete with a stale counter leaves the lease alone
    s1 = await table.get(leases[1].key)
    assert s1 is not None
    await table.take(s1, "w1")
    await table.delete(s1)
    assert await table.get(leases[1].key) is not None
