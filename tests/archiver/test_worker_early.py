"""Early rollups in the real worker process against moto: realtime sees hits long before the
cut that archives them, and a worker killed after writing them, succeeded by one that cuts
in smaller batches, still counts every hit once."""

from __future__ import annotations

import pytest

from archiver import rollup
from archiver.early import EARLY
from tests.archiver.harness import Stack, encoded, make_hits, new_stack, wait_until
from tests.archiver.test_worker import assert_exactly_once, hits_done
from tests.conftest import Spawn

SLOW_CUTS = {"flush_interval_s": 60, "batch_max_records": 10_000, "early_rollup_interval_s": 0.3}


@pytest.fixture
def stack(moto_url: str) -> Stack:
    s = new_stack(moto_url)
    s.create(shards=2)
    return s


def rolled_up(stack: Stack) -> int:
    return rollup.merge(stack.rollup_items()).hits


def test_rollups_show_hits_within_seconds_while_the_cut_is_still_open(
        stack: Stack, spawn: Spawn) -> None:
    worker = spawn(stack, "w1", **SLOW_CUTS)
    first = make_hits(300)
    stack.put(encoded(first))
    wait_until(lambda: rolled_up(stack) == 300, 20, "early rollups of the first hits")
    more = make_hits(100, start=300)
    stack.put(encoded(more))
    wait_until(lambda: rolled_up(stack) == 400, 20, "early rollups of the later hits")
    assert not stack.objects("hits/"), "no cut yet: S3 objects come once per cut"
    assert any(EARLY in item for item in stack.rollup_items())
    assert all("earlyLast" in lease for lease in stack.leases() if "leaseOwner" in lease)
    assert worker.terminate() == 0, worker.log()  # the stop cuts and checkpoints
    assert_exactly_once(stack, first + more)
    assert not any(EARLY in item for item in stack.rollup_items()), "the cuts' items replaced them"
    assert not any("earlyLast" in lease for lease in stack.leases())


def test_a_successor_with_smaller_cuts_overwrites_every_early_item(
        stack: Stack, spawn: Spawn) -> None:
    hits = make_hits(600, properties=("pa", "pb", "pc"))  # 7 minutes of hits
    stack.put(encoded(hits))
    crashed = spawn(stack, "w1", crash_at="early_written", **SLOW_CUTS)
    assert crashed.wait(60) == -9, crashed.log()
    assert any("earlyLast" in lease for lease in stack.leases())
    assert not stack.objects("hits/")
    # cuts of 20 records: without reaching the early range first, the first cut would leave
    # the early items of the later minutes in place, counted again by the next cuts
    survivor = spawn(stack, "w2", batch_max_records=20)
    wait_until(lambda: hits_done(stack, len(hits)), 90, "every hit archived after the crash")
    assert survivor.terminate() == 0, survivor.log()
    assert_exactly_once(stack, hits)
    assert not any(EARLY in item for item in stack.rollup_items())
