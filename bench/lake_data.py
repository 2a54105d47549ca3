"""The lake benchmark's data (issue 22): a synthetic but realistic landing archive, written
exactly as the archiver writes one, into a local directory and/or an S3 bucket.

    .venv/bin/python bench/lake_data.py --hits 1M --out /tmp/lake-1m
    .venv/bin/python bench/lake_data.py --hits 10M --days 60 --workers 2 --out /tmp/lake-10m
    .venv/bin/python bench/lake_data.py --hits 100k --bucket lake --endpoint-url http://127.0.0.1:5000

The traffic is :mod:`bench.lake_traffic`'s model, made into hits by :mod:`bench.lake_sessions`
and :mod:`bench.lake_hits`. The work is split into units, one per (UTC day, shard): a unit's
records (its visitors' hits, its counters) are generated from its own seed, sorted by arrival
and cut into batches of about ``--cut`` records (half to one and a half times it); each cut
gives one object per (property, type, UTC event date) of its hits and one per (property,
date) of its counters, gzip level :data:`archiver.processor.GZIP_LEVEL` with mtime 0, named
``{shard}-{first}-{last}`` by :func:`lambdalytics.archive_layout.segment_name` with sequence
numbers that grow along the shard: the archiver's :func:`archiver.processor.process` makes
the same objects of the same records (its duplicate window would drop none of them: the
retried copies come more than 10 minutes after the first). The keys are
:mod:`lambdalytics.archive_layout`'s, under ``--out`` (a local root DuckDB and the compactor
read: ``{out}/hits/property=…/type=…/date=…/{segment}.json.gz``) and/or
``s3://{bucket}/{prefix}``. The output depends on the parameters and the seed only, not on
``--workers``.

At the end a summary JSON (also written to ``{out}/summary.json``) gives what the archive
holds: distinct hits, lines, duplicates, late hits, pageviews, transactions and revenue by
property and event date, filtered counts by property, date and reason, objects and bytes.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import multiprocessing
import os
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archiver.processor import GZIP_LEVEL  # noqa: E402
from bench.lake_sessions import Record, Tally, Unit  # noqa: E402
from bench.lake_traffic import Params, World, build  # noqa: E402
from bench.machine import cpu_model  # noqa: E402
from lambdalytics import archive_layout  # noqa: E402

BYTES_PER_HIT = 103  # gzip JSON Lines per hit (measured 100.6 at 10M/60 days, 102.8 at 1M/30): the estimate
RAM_PER_RECORD = 1400  # bytes a unit holds per record until it is written
STREAM = 4960_3172_9042  # the stream's part of every sequence number


@dataclass(frozen=True, slots=True)
class Target:
    out: Path | None = None
    bucket: str | None = None
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"


@dataclass(slots=True)
class Result:
    """One unit's (or the whole run's) tally and output."""

    tally: Tally = field(default_factory=Tally)
    objects: Counter[str] = field(default_factory=Counter)  # by table
    bytes: Counter[str] = field(default_factory=Counter)
    raw_bytes: Counter[str] = field(default_factory=Counter)  # before gzip
    records: int = 0
    cpu_s: float = 0.0
    generate_s: float = 0.0

    def add(self, other: Result) -> None:
        self.tally.add(other.tally)
        self.objects.update(other.objects)
        self.bytes.update(other.bytes)
        self.raw_bytes.update(other.raw_bytes)
        self.records += other.records
        self.cpu_s += other.cpu_s
        self.generate_s += other.generate_s


def shard_id(shard: int) -> str:
    return f"shardId-{shard:012d}"


def sequence(shard: int, day: int, index: int) -> str:
    """A Kinesis-like 56-digit sequence number, growing along the shard (day by day)."""
    return f"49{STREAM:018d}{shard:04d}{day:05d}{index:012d}{'0' * 15}"


def cuts(params: Params, day: int, shard: int, records: int) -> list[tuple[int, int]]:
    """The unit's cuts: [start, end) ranges of its records, half to one and a half ``cut`` each."""
    rng = random.Random(f"lake-cuts-{params.seed}-{day}-{shard}")
    low, high = max(1, params.cut // 2), max(1, params.cut * 3 // 2)
    out, start = [], 0
    while start < records:
        end = min(records, start + rng.randint(low, high))
        out.append((start, end))
        start = end
    return out


def segment(shard: int, day: int, start: int, end: int) -> str:
    return archive_layout.segment_name(shard_id(shard), sequence(shard, day, start),
                                       sequence(shard, day, end - 1))


def objects(params: Params, day: int, shard: int,
            records: list[Record]) -> Iterator[tuple[str, str, bytes, int]]:
    """(table, key, gzip body, raw size) of every object the archiver writes for the unit's
    records, cut by cut (keys under the archive prefix "")."""
    for start, end in cuts(params, day, shard, len(records)):
        name = segment(shard, day, start, end)
        groups: dict[tuple[str, ...], list[bytes]] = {}
        for _, route, line in records[start:end]:
            groups.setdefault(route, []).append(line)
        for route, lines in groups.items():
            if len(route) == 3:
                prop, kind, date = route
                table, key = archive_layout.HITS, archive_layout.hits_key("", prop, kind, date, name)
            else:
                prop, date = route
                table, key = archive_layout.FILTERED, archive_layout.filtered_key("", prop, date, name)
            raw = b"\n".join(lines) + b"\n"  # archiver.processor._gzip_lines
            yield table, key, gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0), len(raw)


class Writer:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.made: set[Path] = set()
        self.client: Any = None
        if target.bucket is not None:
            import boto3

            self.client = boto3.client("s3", endpoint_url=target.endpoint_url, region_name=target.region)

    def put(self, key: str, body: bytes) -> None:
        out = self.target.out
        if out is not None:
            path = out / key
            if path.parent not in self.made:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.made.add(path.parent)
            partial = path.with_name(f".{path.name}.partial")  # hidden: no reader globs it
            partial.write_bytes(body)
            partial.replace(path)
        if self.client is not None:
            self.client.put_object(Bucket=self.target.bucket, Key=self.target.prefix + key, Body=body)


_STATE: dict[str, Any] = {}


def _start(params: Params, target: Target, world: World | None = None) -> None:
    """A worker's start: the world (the same in every process) and a writer."""
    _STATE["world"] = world or build(params)
    _STATE["writer"] = Writer(target)
    gc.freeze()  # the world is long-lived: keep it out of every collection


def run_unit(unit: tuple[int, int]) -> Result:
    day, shard = unit
    world: World = _STATE["world"]
    writer: Writer = _STATE["writer"]
    started = time.process_time()
    gc.disable()  # the unit's records are acyclic; collecting while they pile up costs 2x
    try:
        records, tally = Unit(world, day, shard).run()
        result = Result(tally, records=len(records))
        result.generate_s = time.process_time() - started
        for table, key, body, raw in objects(world.params, day, shard, records):
            writer.put(key, body)
            result.objects[table] += 1
            result.bytes[table] += len(body)
            result.raw_bytes[table] += raw
        del records
    finally:
        gc.enable()
    result.cpu_s = time.process_time() - started
    return result


def generate(params: Params, target: Target, *, workers: int = 1,
             progress: bool = False) -> tuple[World, Result]:
    """Write the whole archive; the same bytes for any ``workers``."""
    world = build(params)
    units = [(d, s) for d in range(params.days) for s in range(params.shards)]
    total = Result()
    done, started = 0, time.monotonic()

    def report(result: Result) -> None:
        nonlocal done
        total.add(result)
        done += 1
        if progress and (done % max(1, len(units) // 20) == 0 or done == len(units)):
            hits = sum(total.tally.hits.values())
            print(f"  {done}/{len(units)} units, {hits:,} hits, {time.monotonic() - started:.0f} s",
                  file=sys.stderr, flush=True)

    if workers <= 1:
        _start(params, target, world)
        for unit in units:
            report(run_unit(unit))
        gc.unfreeze()
        return world, total
    context = multiprocessing.get_context("spawn")  # no fork of a process that may run threads
    with context.Pool(workers, initializer=_start, initargs=(params, target)) as pool:
        for result in pool.imap_unordered(run_unit, units, chunksize=1):
            report(result)
    return world, total


# --- the summary ----------------------------------------------------------------------------


def summary(world: World, total: Result) -> dict[str, Any]:
    """What the archive holds (deterministic: no timings)."""
    t = total.tally
    by_property: dict[str, Any] = {}
    dates: dict[str, dict[str, dict[str, Any]]] = {}
    for (pid, kind, date), n in sorted(t.hits.items()):
        day = dates.setdefault(pid, {}).setdefault(date, {"hits": 0, "types": {}})
        day["hits"] += n
        day["types"][kind] = n
    for pid, days in dates.items():
        for date, day in days.items():
            key = (pid, date)
            day.update(lines=day["hits"] + t.duplicates[key], duplicates=t.duplicates[key],
                       late_hits=t.late[key], bot_flagged_hits=t.bots[key],
                       pageviews=day["types"].get("pageview", 0),
                       transactions=day["types"].get("transaction", 0), revenue_cents=t.revenue_cents[key])
        by_property[pid] = {name: sum(d[name] for d in days.values()) for name in (
            "hits", "lines", "duplicates", "late_hits", "bot_flagged_hits", "pageviews", "transactions",
            "revenue_cents")}
        by_property[pid]["sessions"] = sum(n for (p, _), n in t.sessions.items() if p == pid)
        by_property[pid]["by_date"] = days
    filtered: dict[str, dict[str, dict[str, int]]] = {}
    for (prop, date, reason), n in sorted(t.filtered.items()):
        filtered.setdefault(prop, {}).setdefault(date, {})[reason] = n
    totals = {name: sum(p[name] for p in by_property.values()) for name in (
        "hits", "lines", "duplicates", "late_hits", "bot_flagged_hits", "pageviews", "transactions",
        "revenue_cents", "sessions")}
    totals.update(records=total.records, counter_records=t.counter_records,
                  filtered_count=sum(t.filtered.values()), objects=dict(sorted(total.objects.items())),
                  bytes=dict(sorted(total.bytes.items())), raw_bytes=dict(sorted(total.raw_bytes.items())))
    p = world.params
    return {
        "params": {**asdict(p), "end": p.end.isoformat(), "start": p.start.isoformat()},
        "properties": [s.public() for s in world.sites],
        "totals": totals,
        "by_property": by_property,
        "filtered": filtered,
    }


# --- the command ----------------------------------------------------------------------------


def count(text: str) -> int:
    """1000, 10k, 1M, 1.5M, 100M."""
    scale = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}.get(text[-1:].lower(), 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def _free_bytes(path: Path) -> int:
    probe = path
    while not probe.exists():
        probe = probe.parent
    return shutil.disk_usage(probe).free


def main(argv: list[str] | None = None) -> int:
    defaults = Params(hits=1)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hits", type=count, default=1_000_000, help="distinct hits: 1M, 10M, 100M")
    ap.add_argument("--days", type=int, default=30, help="days of history (30-90 for the benchmark)")
    ap.add_argument("--end", type=lambda s: __import__("datetime").date.fromisoformat(s),
                    default=defaults.end, help="the last UTC day (default %(default)s)")
    ap.add_argument("--properties", type=int, default=5)
    ap.add_argument("--seed", type=int, default=defaults.seed)
    ap.add_argument("--shards", type=int, default=defaults.shards)
    ap.add_argument("--cut", type=int, default=defaults.cut, help="records per archiver cut, on average")
    ap.add_argument("--out", type=Path, help="local archive root (a new or empty directory)")
    ap.add_argument("--bucket", help="also (or only) put the objects into this S3 bucket")
    ap.add_argument("--prefix", default="", help="archive prefix in the bucket ('' or ending in /)")
    ap.add_argument("--endpoint-url", help="S3 endpoint (moto)")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-disk-check", action="store_true", help="write even if the estimate does not fit")
    args = ap.parse_args(argv)
    if args.out is None and args.bucket is None:
        ap.error("give --out, --bucket or both")
    try:
        archive_layout.prefix_value(args.prefix)
    except ValueError as exc:
        ap.error(str(exc))
    params = Params(hits=args.hits, days=args.days, end=args.end, properties=args.properties,
                    seed=args.seed, shards=args.shards, cut=args.cut)
    estimate = int(params.hits * (1 + params.duplicate_share) * BYTES_PER_HIT)
    unit_records = params.hits / params.days / params.shards
    print(f"lake data: {params.hits:,} hits over {params.days} days to {params.end}, "
          f"{params.properties} properties, {params.shards} shards, cuts of ~{params.cut}, "
          f"seed {params.seed}; "
          f"{args.workers} workers on {os.cpu_count()} cores ({cpu_model()})")
    print(f"estimate: {estimate / 1e9:.2f} GB of gzip JSON ({BYTES_PER_HIT} bytes a hit), "
          f"~{unit_records * RAM_PER_RECORD * args.workers / 1e9:.2f} GB of RAM at a time")
    if args.out is not None:
        if any((args.out / table).exists() for table in (archive_layout.HITS, archive_layout.FILTERED)):
            print(f"error: {args.out} already holds an archive: remove it or choose another --out",
                  file=sys.stderr)
            return 2
        free = _free_bytes(args.out)
        print(f"disk: {free / 1e9:.1f} GB free under {args.out}")
        if estimate > 0.9 * free and not args.no_disk_check:
            print("error: the estimate does not fit the disk (--no-disk-check to try anyway)",
                  file=sys.stderr)
            return 2
    target = Target(args.out, args.bucket, args.prefix, args.endpoint_url, args.region)
    started = time.monotonic()
    world, total = generate(params, target, workers=args.workers, progress=True)
    seconds = time.monotonic() - started
    result = summary(world, total)
    hits, written = result["totals"]["hits"], sum(total.bytes.values())
    result["run"] = {
        "seconds": round(seconds, 2), "workers": args.workers, "cpu_seconds": round(total.cpu_s, 2),
        "hits_per_s": round(hits / seconds), "hits_per_cpu_s": round(hits / total.cpu_s),
        "generate_share": round(total.generate_s / total.cpu_s, 3),
        "bytes_per_hit": round(written / hits, 1), "cpu": cpu_model(),
    }
    print(f"wrote {sum(total.objects.values()):,} objects ({dict(total.objects)}), {written / 1e6:,.1f} MB "
          f"({written / hits:.1f} bytes a hit, gzip {sum(total.raw_bytes.values()) / written:.1f}x), "
          f"{result['totals']['lines']:,} lines, {result['totals']['counter_records']:,} counters "
          f"in {seconds:.1f} s: {hits / seconds:,.0f} hits/s, {hits / total.cpu_s:,.0f} hits/s per core "
          f"({total.generate_s / total.cpu_s:.0%} generating, the rest gzip and writes)")
    text = json.dumps(result, sort_keys=True)
    if args.out is not None:
        (args.out / "summary.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
