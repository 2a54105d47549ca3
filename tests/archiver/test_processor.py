"""The pure core of the archiver: a cut of records → objects and rollup items."""

from __future__ import annotations

import gzip
import random
from datetime import datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.processor import DuplicateWindow, Record, hit_id_of, process
from tests.archiver.harness import counter_record, encoded, make_hits

W = 300_000  # the window in ms


def recs(data: list[tuple[bytes, str]], start_ms: int = 1_000_000, step_ms: int = 10,
         first_seq: int = 1) -> list[Record]:
    return [Record(str(first_seq + i), start_ms + i * step_ms, d) for i, (d, _) in enumerate(data)]


def test_duplicates_within_the_window_are_dropped_and_older_copies_kept() -> None:
    w = DuplicateWindow(W)
    assert not w.check("a", 0)
    assert w.check("a", W)  # exactly at the window: still a duplicate
    assert w.check("a", 2 * W)  # each copy renews the id's last arrival
    assert not w.check("a", 3 * W + 1)  # more than a window after the last copy: a new hit
    assert not w.check("b", 3 * W + 1)


def test_eviction_keeps_what_later_decisions_need() -> None:
    w = DuplicateWindow(W, slack_ms=0)
    for i in range(1000):
        w.check(f"h{i}", i * 1000)
    w.evict(999_000)
    assert len(w) == 301  # arrivals 699,000 … 999,000
    assert w.check("h700", 1_000_000)
    assert not w.check("h10", 1_000_000)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(1, 120_000)), min_size=1, max_size=300),
       st.integers(0, 299))
def test_a_rebuilt_window_decides_exactly_as_the_original(
        stream: list[tuple[int, int]], cut: int) -> None:
    """Decisions after a checkpoint are the same whether the window was kept in memory or
    rebuilt from the shard starting one window (plus slack) before the checkpoint."""
    arrivals, t = [], 0
    for ident, gap in stream:
        t += gap
        arrivals.append((f"id{ident}", t))
    cut = min(cut, len(arrivals) - 1)
    original = DuplicateWindow(W, slack_ms=1000)
    decisions = []
    for i, (ident, at) in enumerate(arrivals):
        decisions.append(original.check(ident, at))
        if i % 7 == 0:
            original.evict(at)
    checkpoint_arrival = arrivals[cut][1]
    rebuilt = DuplicateWindow(W, slack_ms=1000)
    horizon = rebuilt.horizon_ms(checkpoint_arrival)
    for ident, at in arrivals[:cut + 1]:
        if at >= horizon:
            rebuilt.check(ident, at)
    replayed = [rebuilt.check(ident, at) for ident, at in arrivals[cut + 1:]]
    assert replayed == decisions[cut + 1:]


def test_process_partitions_drops_copies_and_quarantines_garbage() -> None:
    hits = make_hits(40, properties=("pa", "pb"))
    data = list(encoded(hits))
    data.insert(5, data[2])  # a retried copy
    data += [(b"\xff not json", "x"), (b'{"hit_id": "h", "property_id": "Bad Id", "type": '
                                       b'"pageview", "event_time": "2026-01-01T00:00:00Z"}', "y"),
             counter_record("pa", "bot", 3), counter_record(None, "unknown_property", 1)]
    out = process(recs(data), shard_id="shardId-000000000001", first="1", last=str(len(data)),
                  window=DuplicateWindow(W))
    assert (out.hits, out.duplicates, out.rejected, out.counters) == (40, 1, 2, 2)
    lines = {k: gzip.decompress(v).splitlines() for k, v in out.objects.items()}
    hit_keys = [k for k in lines if k.startswith("hits/")]
    assert sum(len(lines[k]) for k in hit_keys) == 40
    for key in hit_keys:
        assert key.endswith(f"/shardId-000000000001-1-{len(data)}.json.gz")
        for line in lines[key]:
            h = orjson.loads(line)
            assert f"property={h['property_id']}/type={h['type']}/date={h['event_time'][:10]}/" \
                in key
    rejected = [orjson.loads(x) for k in lines if k.startswith("rejected/") for x in lines[k]]
    assert len(rejected) == 2
    assert {r["sequence_number"] for r in rejected} == {str(len(data) - 3), str(len(data) - 2)}
    assert any(k.startswith("filtered/property=_unknown/") for k in lines)
    assert out.rollup_items, "rollup items for every property-minute"


def test_bot_counters_keep_their_agent_family_in_the_archive_and_the_rollup() -> None:
    family = "Instagram on Android (crawler:AP3A.240617.008)"
    data = [counter_record("pa", "bot", 3, family), counter_record("pa", "bot", 2, family),
            counter_record("pa", "disallowed_hostname", 1),
            (b'{"record": "filtered", "property_id": "pa", "tracking_id": "", "reason": "bot", '
             b'"minute": "2026-11-27T23:59Z", "count": 1, "agent": {"no": 1}}', "pa")]
    out = process(recs(data), shard_id="s-1", first="1", last="4", window=DuplicateWindow(W))
    assert (out.counters, out.rejected) == (3, 1)
    (key,) = [k for k in out.objects if k.startswith("filtered/")]
    lines = [orjson.loads(x) for x in gzip.decompress(out.objects[key]).splitlines()]
    assert [line.get("agent") for line in lines] == [family, family, None]
    (item,) = out.rollup_items
    assert item["agents"] == {"M": {family: {"N": "5"}}}
    assert item["filtered"] == {"M": {"bot": {"N": "5"}, "disallowed_hostname": {"N": "1"}}}


def test_process_is_deterministic() -> None:
    data = list(encoded(make_hits(300, properties=("pa", "pb", "pc"))))
    random.Random(3).shuffle(data)
    a = process(recs(data), shard_id="s-1", first="1", last="300", window=DuplicateWindow(W))
    b = process(recs(data), shard_id="s-1", first="1", last="300", window=DuplicateWindow(W))
    assert a.objects == b.objects
    assert a.rollup_items == b.rollup_items


def test_hit_id_of_agrees_with_process() -> None:
    good = next(encoded(make_hits(1)))[0]
    assert hit_id_of(good) == orjson.loads(good)["hit_id"]
    assert hit_id_of(b"nope") is None
    assert hit_id_of(counter_record("pa", "bot", 1)[0]) is None


def test_rollups_expire_no_later_than_the_property_keeps_its_data() -> None:
    data = list(encoded(make_hits(20, properties=("pa", "pb"))))
    out = process(recs(data), shard_id="s-1", first="1", last="20", window=DuplicateWindow(W),
                  rollup_ttl_s=7 * 86400, retention_days={"pa": 2, "pb": 30})
    ttl = {}
    for item in out.rollup_items:
        prop, minute = item["pk"]["S"].split("#")
        start = int(datetime.fromisoformat(minute + ":00+00:00").timestamp())
        ttl[prop] = int(item["expires_at"]["N"]) - start
    assert ttl == {"pa": 2 * 86400, "pb": 7 * 86400}
