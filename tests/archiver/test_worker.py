"""The archiver worker as a real subprocess against moto: steady state, graceful shutdown,
SIGKILL at every write boundary, several workers sharing and rebalancing the shards."""

from __future__ import annotations

import asyncio
import gzip
import random
import re
import time
from collections import Counter
from typing import Any

import orjson
import pytest

from archiver import rollup
from archiver.leases import Lease
from archiver.settings import ArchiverSettings
from archiver.worker import Worker
from lambdalytics import aws
from tests.archiver.harness import (
    Stack,
    counter_record,
    encoded,
    make_hits,
    new_stack,
    wait_until,
)
from tests.conftest import Spawn

KEY = re.compile(r"hits/property=(?P<p>[a-z0-9_-]+)/type=(?P<t>[a-z]+)/date=(?P<d>[0-9-]{10})/"
                 r"(?P<seg>shardId-\d+-\d+-\d+)\.json\.gz\Z")


@pytest.fixture
def stack(moto_url: str) -> Stack:
    s = new_stack(moto_url)
    s.create(shards=2)
    return s


def archived_ids(stack: Stack) -> Counter[str]:
    return Counter(h["hit_id"] for _, h in stack.archived_hits())


def assert_exactly_once(stack: Stack, expected: list[dict[str, Any]]) -> None:
    archived = stack.archived_hits()
    ids = Counter(h["hit_id"] for _, h in archived)
    doubled = {i: n for i, n in ids.items() if n > 1}
    assert not doubled, f"{len(doubled)} hits archived more than once"
    want = {h["hit_id"] for h in expected}
    assert set(ids) == want, f"missing {len(want - set(ids))}, unexpected {len(set(ids) - want)}"
    for key, h in archived:
        m = KEY.search(key)
        assert m, key
        assert (m["p"], m["t"], m["d"]) == (h["property_id"], h["type"], h["event_time"][:10])
    # the rollups count exactly the archived hits, per property and minute
    view = rollup.merge(stack.rollup_items())
    assert view.hits == len(expected)


def hits_done(stack: Stack, n: int) -> bool:
    return sum(archived_ids(stack).values()) >= n


def test_archives_every_hit_once_then_stops_cleanly(stack: Stack, spawn: Spawn) -> None:
    hits = make_hits(700)
    records = list(encoded(hits))
    # a producer retry after a lost response, and a client retry with the same nonce: copies
    copies = [records[3], records[10], records[500]]
    garbage = [(b"not json", "k1"), (b"[1,2]", "k2"), (b'{"hit_id": "x"}', "k3")]
    counters = [counter_record("pa", "bot", 5), counter_record(None, "unknown_property", 2)]
    stack.put(records[:400] + copies + garbage + counters + records[400:])

    worker = spawn(stack, "w1")
    wait_until(lambda: hits_done(stack, len(hits)), 90, "every hit archived")
    assert worker.terminate() == 0, worker.log()

    assert_exactly_once(stack, hits)
    rejected = stack.objects("rejected/")
    assert sum(len(gzip.decompress(b).splitlines()) for b in rejected.values()) == 3
    assert stack.objects("filtered/property=pa/"), "counter records archived"
    assert stack.objects("filtered/property=_unknown/")
    # released on SIGTERM, checkpointed at each shard's last record
    for lease in stack.leases():
        assert "leaseOwner" not in lease, lease
        assert lease["checkpoint"]["S"].isdigit(), lease
        assert "cutFirst" not in lease
    assert "released lease" in worker.log()


def etags_per_key(stack: Stack) -> dict[str, set[str]]:
    s3 = stack.boto("s3")
    out: dict[str, set[str]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=stack.res.archive.name):
        for v in page.get("Versions", ()):
            out.setdefault(v["Key"], set()).add(v["ETag"])
    return out


@pytest.mark.parametrize("point", ["cut_recorded", "object_written:2", "objects_written",
                                   "rollups_written", "checkpointed"])
def test_sigkill_at_each_write_boundary_loses_and_doubles_nothing(
        stack: Stack, spawn: Spawn, point: str) -> None:
    hits = make_hits(600, properties=("pa", "pb", "pc"))
    stack.put(encoded(hits))
    crashed = spawn(stack, "w1", crash_at=point)
    assert crashed.wait(60) == -9, crashed.log()
    assert f"crash point {point.split(':')[0]} reached" in crashed.log()

    assert not hits_done(stack, len(hits)), "the crash left work to do"
    survivor = spawn(stack, "w2")
    wait_until(lambda: hits_done(stack, len(hits)), 90, "every hit archived after the crash")
    assert survivor.terminate() == 0, survivor.log()
    assert_exactly_once(stack, hits)
    if point != "checkpointed":
        # the recorded cut was replayed as it was: the same keys, rewritten with the same bytes
        assert "replaying cut" in survivor.log(), survivor.log()
        assert all(len(tags) == 1 for tags in etags_per_key(stack).values())


def test_random_kills_while_hits_keep_arriving(stack: Stack, spawn: Spawn) -> None:
    rng = random.Random(7)
    hits: list[dict[str, Any]] = []
    for round_ in range(4):
        more = make_hits(250, start=len(hits), properties=("pa", "pb", "pc"))
        # producer retries of hits from earlier rounds: read by a worker that died since,
        # so they are dropped only through the duplicate window rebuilt from the shard
        retries = list(encoded(rng.sample(hits, min(len(hits), 10))))
        hits += more
        stack.put(list(encoded(more)) + retries)
        worker = spawn(stack, f"k{round_}")
        wait_until(lambda w=worker: "took lease" in w.log(), 30, "a lease taken")
        time.sleep(rng.uniform(0.3, 2.5))  # then SIGKILL, wherever it is
        worker.kill()
    final = spawn(stack, "final")
    wait_until(lambda: hits_done(stack, len(hits)), 120, "every hit archived")
    assert final.terminate() == 0, final.log()
    assert_exactly_once(stack, hits)


def owners(stack: Stack) -> Counter[str]:
    return Counter(lease["leaseOwner"]["S"] for lease in stack.leases() if "leaseOwner" in lease)


def test_workers_share_the_shards_and_take_over_from_a_dead_one(moto_url: str,
                                                                spawn: Spawn) -> None:
    stack = new_stack(moto_url)
    stack.create(shards=4)
    workers = [spawn(stack, f"w{i}") for i in range(3)]
    def balanced() -> bool:
        o = owners(stack)
        return sum(o.values()) == 4 and len(o) == 3 and max(o.values()) - min(o.values()) <= 1
    wait_until(balanced, 60, "4 shards balanced over 3 workers")
    hits = make_hits(500)
    stack.put(encoded(hits))
    wait_until(lambda: hits_done(stack, 250), 60, "hits being archived")
    victim = max(owners(stack).items(), key=lambda kv: kv[1])[0]
    dead = next(w for w in workers if w.name == victim)
    dead.kill()
    wait_until(lambda: victim not in owners(stack) and sum(owners(stack).values()) == 4, 60,
               "the dead worker's leases taken over")
    more = make_hits(300, start=500)
    stack.put(encoded(more))
    wait_until(lambda: hits_done(stack, 800), 90, "every hit archived")
    for w in workers:
        if w is not dead:
            assert w.terminate() == 0, w.log()
    assert_exactly_once(stack, hits + more)
    assert any(f"(from {victim}," in w.log() for w in workers if w is not dead)


def test_recent_hits_table_is_off_by_default_and_written_once_when_on(
        stack: Stack, spawn: Spawn) -> None:
    hits = make_hits(300)
    records = list(encoded(hits))
    stack.put(records + records[:20])  # copies are dropped here too
    crashed = spawn(stack, "w1", recent_hits_ttl_s=3600, recent_hits_write_shards=4,
                    crash_at="rollups_written")
    assert crashed.wait(60) == -9
    worker = spawn(stack, "w2", recent_hits_ttl_s=3600, recent_hits_write_shards=4)
    wait_until(lambda: hits_done(stack, len(hits)), 90, "every hit archived")
    assert worker.terminate() == 0, worker.log()
    ddb = stack.boto("dynamodb")
    items = [i for page in ddb.get_paginator("scan").paginate(TableName=stack.res.recent.name)
             for i in page["Items"]]
    assert sorted(i["sk"]["S"].rsplit("#", 1)[1] for i in items) == \
        sorted(h["hit_id"] for h in hits)
    for item in items:
        assert int(item["pk"]["S"].rsplit("#", 1)[1]) < 4
        hit = orjson.loads(item["hit"]["S"])
        assert item["pk"]["S"].startswith(f"{hit['property_id']}#{hit['event_time'][:16]}#")
        assert int(item["expires_at"]["N"]) > 1_700_000_000


def test_recent_hits_are_not_written_by_default(stack: Stack, spawn: Spawn) -> None:
    stack.put(encoded(make_hits(50)))
    worker = spawn(stack, "w1")
    wait_until(lambda: hits_done(stack, 50), 60, "hits archived")
    assert worker.terminate() == 0
    assert stack.boto("dynamodb").scan(TableName=stack.res.recent.name)["Count"] == 0


async def test_a_renewal_in_flight_at_shutdown_still_lets_the_lease_go(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # in process, so that a renewal can be held between its write landing and its answer:
    # the shutdown must wait for it, or the lease's counter moves on unseen and the release
    # fails (the lease then stays owned until it expires: seen once in CI, under load)
    for name, value in stack.env().items():
        monkeypatch.setenv(name, value)
    stack.put(encoded(make_hits(40)))
    settings = ArchiverSettings(worker_id="w-inproc")
    session = aws.session()
    async with aws.client(session, "kinesis", settings) as kinesis, \
            aws.client(session, "dynamodb", settings) as dynamodb, \
            aws.client(session, "s3", settings) as s3:
        worker = Worker(settings, kinesis=kinesis, dynamodb=dynamodb, s3=s3)
        real_renew = worker.table.renew
        renewing = asyncio.Event()

        async def renew_answered_late(lease: Lease, owner: str) -> Lease:
            renewed = await real_renew(lease, owner)  # written in DynamoDB
            renewing.set()
            await asyncio.sleep(1.0)  # its answer is late
            return renewed

        monkeypatch.setattr(worker.table, "renew", renew_answered_late)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        await asyncio.wait_for(renewing.wait(), 30)
        stop.set()
        await asyncio.wait_for(running, 30)
    leases = stack.leases()
    assert len(leases) == 2
    for lease in leases:
        assert "leaseOwner" not in lease, lease
