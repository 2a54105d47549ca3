"""The rollups table adapter against moto: writes, replays, unprocessed items, reads."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from archiver import rollup
from archiver.rollup_store import (
    RollupsRefused,
    RollupStore,
    RollupsUnavailable,
    item_cost,
    minute_range,
)
from lambdalytics import aws, bootstrap
from lambdalytics.resources import resources

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
FUTURE = 4_000_000_000  # expires_at far ahead


def hits(n: int, *, start: int = 0, minute: int = 0, property_id: str = "p1",
         ) -> list[dict[str, Any]]:
    at = (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return [{"property_id": property_id, "event_time": at, "type": "pageview",
             "hit_id": f"{i:032x}", "client_id": f"c{i}", "page_path": f"/{i % 3}"}
            for i in range(start, start + n)]


def cut_items(hit_list: list[dict[str, Any]], first: str, *, shard: str = "shardId-000000000000",
              expires_at: int = FUTURE) -> list[dict[str, Any]]:
    return [rollup.to_item(r, shard_id=shard, first_seq=first, last_seq=first + "0",
                           expires_at=expires_at)
            for r in rollup.build(hit_list).values()]


@pytest.fixture
async def ddb(moto_url: str) -> AsyncIterator[Any]:
    async with aws.session().create_client("dynamodb", endpoint_url=moto_url,
                                           region_name="us-east-1", config=aws.config()) as c:
        yield c


@pytest.fixture
async def table(ddb: Any, prefix: str) -> str:
    spec = resources(prefix).rollups
    await bootstrap.ensure_table(ddb, spec)
    return spec.name


class Recording:
    """A thin wrapper around the real client: records BatchWriteItem and Query calls and,
    where ``unprocessed(call, requests)`` names some requests, writes only the others and
    returns those as UnprocessedItems, as DynamoDB does when it throttles part of a batch."""

    def __init__(self, real: Any,
                 unprocessed: Callable[[int, list[Any]], list[Any]] | None = None) -> None:
        self.real = real
        self.unprocessed = unprocessed
        self.writes: list[list[Any]] = []
        self.returned: list[list[Any]] = []
        self.queries = 0

    async def batch_write_item(self, *, RequestItems: dict[str, list[Any]]) -> Any:
        ((table, requests),) = RequestItems.items()
        n = len(self.writes)
        self.writes.append(list(requests))
        left = self.unprocessed(n, requests) if self.unprocessed else []
        self.returned.append(left)
        written = [r for r in requests if r not in left]
        if written:
            await self.real.batch_write_item(RequestItems={table: written})
        return {"UnprocessedItems": {table: left} if left else {}}

    async def query(self, **kwargs: Any) -> Any:
        self.queries += 1
        return await self.real.query(**kwargs)


async def test_put_then_minute_reads_back(ddb: Any, table: str) -> None:
    store = RollupStore(ddb, table)
    await store.put(cut_items(hits(30), "100") + cut_items(hits(5, property_id="p2"), "100"))
    view = await store.minute("p1", "2026-11-28T03:00")
    assert (view.items, view.hits, view.pageviews, view.visitors) == (1, 30, 30, 30)
    assert view.pages == {"/0": 10, "/1": 10, "/2": 10}
    assert (await store.minute("p2", "2026-11-28T03:00")).hits == 5
    assert (await store.minute("p1", "2026-11-28T03:01")) == rollup.MinuteView()


async def test_replayed_cut_does_not_double(ddb: Any, table: str) -> None:
    store = RollupStore(ddb, table)
    first = cut_items(hits(40), "100")
    await store.put(first)
    await store.put(cut_items(hits(40), "100"))  # the same cut again, rebuilt
    await store.put(first + first)  # and twice in one call
    view = await store.minute("p1", "2026-11-28T03:00")
    assert (view.items, view.hits, view.visitors) == (1, 40, 40)
    await store.put(cut_items(hits(10, start=40), "200"))  # the next cut adds up
    view = await store.minute("p1", "2026-11-28T03:00")
    assert (view.items, view.hits, view.visitors) == (2, 50, 50)


async def test_unprocessed_items_are_resent_exactly(ddb: Any, table: str) -> None:
    items = [it for p in range(30) for it in cut_items(hits(2, property_id=f"p{p}"), "7")]
    throttled = {f"p{p}#2026-11-28T03:00" for p in (1, 2, 17, 26, 29)}
    twice = {"p2#2026-11-28T03:00"}  # unprocessed on its first two sendings
    seen: dict[str, int] = {}

    def unprocessed(call: int, requests: list[Any]) -> list[Any]:
        out = []
        for r in requests:
            pk = r["PutRequest"]["Item"]["pk"]["S"]
            seen[pk] = seen.get(pk, 0) + 1
            if pk in throttled and seen[pk] <= (2 if pk in twice else 1):
                out.append(r)
        return out

    client = Recording(ddb, unprocessed)
    await RollupStore(client, table, base_delay_s=0.01).put(items)
    assert sorted(len(w) for w in client.writes[:2]) == [5, 25]  # 30 items: two chunks
    returned = [r for batch in client.returned for r in batch]
    resent = [r for batch in client.writes[2:] for r in batch]
    assert sorted(map(repr, resent)) == sorted(map(repr, returned))  # those, and only those
    assert len(resent) == len(throttled) + len(twice)
    reader = RollupStore(ddb, table)
    for p in range(30):
        assert (await reader.minute(f"p{p}", "2026-11-28T03:00")).hits == 2


async def test_unprocessed_past_the_budget_is_a_retryable_error(ddb: Any, table: str) -> None:
    client = Recording(ddb, lambda call, requests: list(requests))
    store = RollupStore(client, table, budget_s=0.3, base_delay_s=0.02, max_delay_s=0.05)
    started = time.monotonic()
    with pytest.raises(RollupsUnavailable, match="unprocessed") as info:
        await store.put(cut_items(hits(3), "100"))
    assert time.monotonic() - started < 2
    assert len(client.writes) > 2
    assert isinstance(info.value, TimeoutError)  # what the consumer retries
    assert info.value.retryable


async def test_many_items_go_25_to_a_call(ddb: Any, table: str) -> None:
    items = [it for p in range(60) for it in cut_items(hits(1, property_id=f"p{p}"), "1")]
    client = Recording(ddb)
    await RollupStore(client, table).put(items)
    assert sorted(len(w) for w in client.writes) == [10, 25, 25]


async def test_pagination_over_many_items_in_one_minute(ddb: Any, table: str) -> None:
    items = []
    for c in range(60):  # sixty cuts (and two shards) wrote into the same minute
        items += cut_items(hits(3, start=3 * c), str(1000 + c), shard=f"shardId-00000000000{c % 2}")
    await RollupStore(ddb, table).put(items)
    client = Recording(ddb)
    view = await RollupStore(client, table, page_size=7).minute("p1", "2026-11-28T03:00")
    assert (view.items, view.hits, view.visitors) == (60, 180, 180)
    assert client.queries >= 60 // 7 + 1


async def test_expired_items_are_ignored(ddb: Any, table: str) -> None:
    now = int(time.time())
    store = RollupStore(ddb, table)
    await store.put(cut_items(hits(10), "1", expires_at=now - 60)
                    + cut_items(hits(4, start=10), "2", expires_at=now + 3600))
    view = await store.minute("p1", "2026-11-28T03:00")
    assert (view.items, view.hits, view.visitors) == (1, 4, 4)
    # an hour on, the second one has expired too
    assert (await store.minute("p1", "2026-11-28T03:00", now=now + 7200)).items == 0
    assert (await store.minute("p1", "2026-11-28T03:00", now=now - 3600)).hits == 14


async def test_minutes_merges_a_range(ddb: Any, table: str) -> None:
    store = RollupStore(ddb, table)
    items = []
    for m in (0, 1, 29, 30):
        items += cut_items(hits(5, start=0 if m < 30 else 100, minute=m), str(m + 1))
    await store.put(items)
    view = await store.minutes("p1", "2026-11-28T03:00", "2026-11-28T03:29")
    assert (view.items, view.hits, view.visitors) == (3, 15, 5)  # the same 5 clients
    assert (await store.minutes("p1", "2026-11-28T03:29", "2026-11-28T03:30")).visitors == 10
    with pytest.raises(ValueError, match="before it starts"):
        await store.minutes("p1", "2026-11-28T03:30", "2026-11-28T03:29")
    with pytest.raises(ValueError, match="YYYY-MM-DDTHH:MM"):
        await store.minute("p1", "2026-11-28 03:00")
    assert list(minute_range("2026-11-28T23:59", "2026-11-29T00:01")) == [
        "2026-11-28T23:59", "2026-11-29T00:00", "2026-11-29T00:01"]


async def test_missing_table_is_terminal(ddb: Any, prefix: str) -> None:
    store = RollupStore(ddb, f"{prefix}-nothing")
    with pytest.raises(RollupsRefused, match="ResourceNotFoundException"):
        await store.put(cut_items(hits(1), "1"))
    with pytest.raises(RollupsRefused):
        await store.minute("p1", "2026-11-28T03:00")


async def test_concurrent_chunks_fail_as_one_error(ddb: Any, table: str) -> None:
    client = Recording(ddb, lambda call, requests: list(requests) if call == 1 else [])
    store = RollupStore(client, table, budget_s=0.0)
    items = [it for p in range(60) for it in cut_items(hits(1, property_id=f"p{p}"), "1")]
    with pytest.raises(RollupsUnavailable):
        await store.put(items)


def test_item_cost_reports_bytes_and_write_units() -> None:
    small = cut_items(hits(3), "1")[0]
    cost = item_cost(small)
    assert cost.size_bytes == rollup.item_size(small)
    assert cost.write_units == 1
    busy = cut_items(hits(2000), "1")[0]  # 2,000 visitors: a full sketch (~2 KB)
    assert 2048 < item_cost(busy).size_bytes <= 3072
    assert item_cost(busy).write_units == 3
