"""Early rollups (archiver/early.py): the open batch's rollups equal what its cut will write,
under the same keys; against moto, an early item never replaces a cut's own item."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from archiver import rollup
from archiver.early import EARLY, EarlyRollups
from archiver.processor import DuplicateWindow, Record, process
from archiver.rollup_store import RollupStore
from lambdalytics import aws, bootstrap
from lambdalytics.resources import resources
from tests.archiver.harness import counter_record, encoded, make_hits

W = 300_000
SHARD = "shardId-000000000001"


def records(n: int, *, seed: int, start_seq: int = 100) -> list[Record]:
    """Hits over several minutes and properties with producer retries (the same bytes again),
    some inside and some past the duplicate window, garbage and counter records."""
    rng = random.Random(seed)
    data = list(encoded(make_hits(n, properties=("pa", "pb", "pc"))))
    data += [rng.choice(data) for _ in range(n // 10)]  # copies
    data += [(b"not json", "x"), counter_record("pa", "bot", 3), counter_record(None, "spam", 2)]
    rng.shuffle(data)
    at = 5_000_000
    out = []
    for i, (d, _) in enumerate(data):
        at += rng.choice((10, 10, 10, 200_000))  # now and then a gap: some copies fall outside
        out.append(Record(str(start_seq + i), at, d))
    return out


def counted(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["pk"]["S"], i["sk"]["S"]): {k: v for k, v in i.items() if k not in ("last_seq", EARLY)}
            for i in items}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_early_rollups_of_the_whole_batch_are_the_cuts_items(seed: int) -> None:
    history = records(200, seed=seed + 10, start_seq=1)
    batch = records(400, seed=seed, start_seq=1000)
    window = DuplicateWindow(W)
    process(history, shard_id=SHARD, first="1", last=history[-1].sequence, window=window)
    early = EarlyRollups(window, shard_id=SHARD, rollup_ttl_s=7 * 86400)
    before = len(window)
    for i in range(0, len(batch), 37):  # as pages arrive
        early.add(batch[i:i + 37])
    items, covered = early.changed_items()
    assert covered == len(batch)
    assert len(window) == before, "early rollups never change the shard's window"
    cut = process(batch, shard_id=SHARD, first=batch[0].sequence, last=batch[-1].sequence,
                  window=window)
    assert counted(items) == counted(cut.rollup_items)
    assert all(i[EARLY] == {"BOOL": True} for i in items)
    assert all(i["sk"]["S"] == f"{SHARD}#{batch[0].sequence}" for i in items)


def test_only_changed_property_minutes_are_written_again() -> None:
    batch = records(300, seed=4)
    early = EarlyRollups(DuplicateWindow(W), shard_id=SHARD, rollup_ttl_s=86400)
    early.add(batch[:290])
    first, n = early.changed_items()
    early.written(first, n)
    assert not early.pending
    early.add(batch[290:])
    assert early.pending
    again, _ = early.changed_items()
    whole = EarlyRollups(DuplicateWindow(W), shard_id=SHARD, rollup_ttl_s=86400)
    whole.add(batch)
    everything = counted(whole.changed_items()[0])
    before = counted(first)
    changed = {key for key, body in everything.items() if before.get(key) != body}
    assert changed, "the last records changed some property-minute"
    assert set(counted(again)) == changed, "exactly the changed items are written again"
    assert len(again) < len(first)
    early.reset()
    assert early.first is None
    assert early.changed_items() == ([], 0)


@pytest.fixture
async def store(moto_url: str, prefix: str) -> AsyncIterator[tuple[RollupStore, Any, str]]:
    async with aws.session().create_client("dynamodb", endpoint_url=moto_url,
                                           region_name="us-east-1", config=aws.config()) as c:
        spec = resources(prefix).rollups
        await bootstrap.ensure_table(c, spec)
        yield RollupStore(c, spec.name), c, spec.name


async def test_an_early_item_never_replaces_a_cuts_item(
        store: tuple[RollupStore, Any, str]) -> None:
    rollups, client, table = store
    batch = records(120, seed=5)
    early = EarlyRollups(DuplicateWindow(W), shard_id=SHARD, rollup_ttl_s=86400)
    early.add(batch[:60])
    partial, _ = early.changed_items()
    early.add(batch[60:])
    whole, _ = early.changed_items()
    assert await rollups.put_early(partial) == 0
    assert await rollups.put_early(whole) == 0  # early over early: replaced
    cut = process(batch, shard_id=SHARD, first=batch[0].sequence, last=batch[-1].sequence,
                  window=DuplicateWindow(W))
    await rollups.put(cut.rollup_items)
    # a worker that lost its lease writes its (shorter) early items after its successor's cut
    assert await rollups.put_early(partial) == len({i["pk"]["S"] for i in partial})
    scan = await client.scan(TableName=table)
    assert counted(scan["Items"]) == counted(cut.rollup_items)
    assert not any(EARLY in i for i in scan["Items"])
    assert rollup.merge(scan["Items"]).hits == cut.hits
