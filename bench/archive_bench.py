"""Archiver cost and freshness, on moto.

Cost: the stream is preloaded with enriched hit records (bench/archive_hits.py), then one
archiver worker (`python -m archiver`, a subprocess) archives all of it; its CPU time from
taking its leases to the last checkpoint, read from /proc, gives hits per CPU-second (decode,
duplicate check, partition, gzip, S3 puts, rollup items, lease writes — the emulator's own
time is not counted: it runs in another process). Baseline in the same run: a bare reader
(`--mode read`) that only GetRecords the same shards with the same client and does nothing
with the records — the floor any consumer in Python pays.

Freshness: a worker with the default batching settings on an empty stream, then records put
at a steady rate; each put's time is compared with the moment the lease checkpoint passes
its sequence number (the checkpoint moves only after the S3 objects and rollups are durable).

Rollup write load: item sizes and write units of the rollup items the cost run wrote, and
what that means per key per second for one property at 10,000 hits/s.

    .venv/bin/python bench/archive_bench.py            # 60,000 hits over 4 shards
    .venv/bin/python bench/archive_bench.py --quick    # 6,000 hits (CI smoke)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archiver import rollup  # noqa: E402
from bench.archive_hits import records  # noqa: E402
from bench.collect_bench import free_port  # noqa: E402
from bench.machine import cpu_model  # noqa: E402
from lambdalytics.resources import resources  # noqa: E402
from tests.archiver.harness import Stack  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


@contextlib.contextmanager
def moto_server(timeout: float = 30.0) -> Iterator[tuple[str, int]]:
    """A moto server of its own on a free loopback port: its URL and process id, once it
    answers (SystemExit if it exits or does not answer within ``timeout`` seconds)."""
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H",
                             "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    # one short try per probe: botocore's defaults (60 s timeouts, retries) would turn a
    # port that accepts and never answers into minutes of silence
    probe = boto("s3", url, Config(connect_timeout=1, read_timeout=2,
                                   retries={"total_max_attempts": 1}))
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"moto_server exited {proc.returncode} at start (port {port})")
            try:
                probe.list_buckets()
                break
            except Exception:  # not up yet: refused, reset, timed out
                if time.monotonic() > deadline:
                    raise SystemExit(f"moto_server not answering {url} after {timeout:.0f} s") from None
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited on its own
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def boto(service: str, url: str, config: Config | None = None) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",  # type: ignore[call-overload]
                        aws_access_key_id="bench", aws_secret_access_key="bench",  # noqa: S106 (moto)
                        config=config)


def env(url: str, prefix: str, **settings: object) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDALYTICS_"))}
    e |= {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
          "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
          "LAMBDALYTICS_AWS_ENDPOINT_URL": url, "LAMBDALYTICS_AWS_REGION": "us-east-1",
          "LAMBDALYTICS_RESOURCE_PREFIX": prefix, "LAMBDALYTICS_LOG_FORMAT": "text"}
    e |= {f"LAMBDALYTICS_{k.upper()}": str(v) for k, v in settings.items()}
    return e


def create(url: str, prefix: str, shards: int) -> None:
    """Stream, tables and bucket, as the archiver tests make them."""
    Stack(prefix, url, url).create(shards)


def put(url: str, stream: str, recs: list[tuple[bytes, str]]) -> list[tuple[str, str, float]]:
    """PutRecords in batches of 500, one call at a time; (shard, sequence, put time)."""
    kinesis = boto("kinesis", url)
    out = []
    for i in range(0, len(recs), 500):
        chunk = recs[i:i + 500]
        resp = kinesis.put_records(StreamName=stream, Records=[
            {"Data": d, "PartitionKey": k} for d, k in chunk])
        now = time.time()
        out.extend((r["ShardId"], r["SequenceNumber"], now) for r in resp["Records"])
    return out


def last_sequences(puts: list[tuple[str, str, float]]) -> dict[str, int]:
    last: dict[str, int] = {}
    for shard, seq, _ in puts:
        last[shard] = max(last.get(shard, 0), int(seq))
    return last


def checkpoints(url: str, table: str) -> dict[str, int]:
    items = boto("dynamodb", url).scan(TableName=table, ConsistentRead=True)["Items"]
    return {i["leaseKey"]["S"]: int(i["checkpoint"]["S"]) for i in items
            if i.get("checkpoint", {}).get("S", "").isdigit()}


def run_worker(url: str, prefix: str, log: Path, mode: str, **settings: object
               ) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "archiver"] if mode == "archive" else \
        [sys.executable, str(REPO / "bench" / "archive_read.py")]
    with log.open("wb") as f:
        return subprocess.Popen(cmd, cwd=REPO, env=env(url, prefix, **settings), stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_log(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker never logged {text!r}:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def cost(url: str, n: int, shards: int, tmp: Path, mode: str) -> dict[str, Any]:
    prefix = "b" + secrets.token_hex(4)
    create(url, prefix, shards)
    res = resources(prefix)
    recs = list(records(n))
    t = time.perf_counter()
    puts = put(url, res.stream.name, recs)
    preload_s = time.perf_counter() - t
    want = last_sequences(puts)
    log = tmp / f"{mode}.log"
    proc = run_worker(url, prefix, log, mode, batch_max_records=10_000, flush_interval_s=2,
                      idle_between_reads_s=0.2)
    try:
        wait_log(log, "took lease" if mode == "archive" else "reading", proc, 60)
        cpu0, wall0 = cpu_seconds(proc.pid), time.perf_counter()
        if mode == "archive":
            while True:
                done = checkpoints(url, res.leases.name)
                if all(done.get(s, 0) >= seq for s, seq in want.items()):
                    break
                time.sleep(0.1)
        else:
            wait_log(log, f"read {n} records", proc, 600)
        cpu = cpu_seconds(proc.pid) - cpu0
        wall = time.perf_counter() - wall0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    out = {"mode": mode, "records": n, "shards": shards, "cpu_s": cpu, "wall_s": wall,
           "records_per_cpu_s": n / cpu if cpu else math.inf, "preload_s": preload_s}
    if mode == "archive":
        out |= rollup_load(url, res.rollups.name, n, shards)
        out["distinct_hits"] = len({orjson.loads(d)["hit_id"] for d, _ in recs})
        text = log.read_text()
        out["duplicates_dropped"] = sum(int(x) for x in
                                        _grep(text, r"(\d+) duplicates"))
    return out


def _grep(text: str, pattern: str) -> list[str]:
    import re
    return re.findall(pattern, text)


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (numbers approximated by digits)."""
    def value(v: dict[str, Any]) -> int:
        (kind, x), = v.items()
        if kind in ("S", "N"):
            return len(str(x).encode())
        if kind == "B":
            return len(x)
        if kind == "M":
            return 3 + sum(len(k.encode()) + value(w) + 1 for k, w in x.items())
        if kind == "L":
            return 3 + sum(value(w) + 1 for w in x)
        if kind in ("SS", "NS"):
            return sum(len(str(s).encode()) for s in x)
        return 1
    return sum(len(k.encode()) + value(v) for k, v in item.items())


def rollup_load(url: str, table: str, n: int, shards: int) -> dict[str, Any]:
    ddb = boto("dynamodb", url)
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    sizes = [item_size(i) for i in items]
    counted = rollup.merge(items).hits
    wcu = [math.ceil(s / 1024) for s in sizes]
    per_pk = Counter(i["pk"]["S"] for i in items)
    return {"rollup_items": len(items), "item_bytes_p50": statistics.median(sizes),
            "item_bytes_max": max(sizes), "wcu_per_item_p50": statistics.median(wcu),
            "wcu_per_item_max": max(wcu), "items_per_pk_max": max(per_pk.values()),
            "rollup_wcu_total": sum(wcu), "rollup_hits": counted}


def freshness(url: str, tmp: Path, rate: int, seconds: int, shards: int) -> dict[str, Any]:
    prefix = "f" + secrets.token_hex(4)
    create(url, prefix, shards)
    res = resources(prefix)
    log = tmp / "fresh.log"
    proc = run_worker(url, prefix, log, "archive")  # default batching settings
    try:
        wait_log(log, "took lease", proc, 60)
        pending: list[tuple[str, int, float]] = []
        lat: list[float] = []
        gen = records(rate * seconds, seed=9)
        start = time.time()
        for tick in range(seconds * 10):
            chunk = [next(gen) for _ in range(rate // 10)]
            pending += [(s, int(q), t) for s, q, t in put(url, res.stream.name, chunk)]
            lat += _settle(url, res.leases.name, pending)
            time.sleep(max(0.0, start + (tick + 1) / 10 - time.time()))
        deadline = time.time() + 120
        while pending and time.time() < deadline:
            lat += _settle(url, res.leases.name, pending)
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    lat.sort()
    return {"rate": rate, "seconds": seconds, "settled": len(lat), "unsettled": len(pending),
            "p50_s": lat[len(lat) // 2], "p99_s": lat[int(len(lat) * 0.99)], "max_s": lat[-1]}


def _settle(url: str, table: str, pending: list[tuple[str, int, float]]) -> list[float]:
    done = checkpoints(url, table)
    now = time.time()
    out, keep = [], []
    for shard, seq, t in pending:
        if done.get(shard, -1) >= seq:
            out.append(now - t)
        else:
            keep.append((shard, seq, t))
    pending[:] = keep
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=60_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="6,000 records, 10 s of freshness")
    ap.add_argument("--fresh-rate", type=int, default=200, help="records/s in the freshness run")
    ap.add_argument("--fresh-seconds", type=int, default=60)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.quick:
        args.records, args.fresh_seconds = 6_000, 10
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    results: dict[str, Any] = {}
    failed = False
    tmp = Path(tempfile.mkdtemp(prefix="archive-bench-"))
    with moto_server() as (url, _):
        for mode in ("read", "archive"):
            r = cost(url, args.records, args.shards, tmp, mode)
            results[mode] = r
            print(f"{mode:8} {r['records']} records over {r['shards']} shards: "
                  f"{r['cpu_s']:.2f} CPU-s in {r['wall_s']:.1f} s wall → "
                  f"{r['records_per_cpu_s']:,.0f} records per CPU-second")
        a = results["archive"]
        print(f"archiver: {a['records_per_cpu_s']:,.0f} hits/CPU-s (target ≥ 5,000); reading "
              f"alone is {results['archive']['cpu_s'] and results['read']['cpu_s'] / a['cpu_s']:.0%}"
              f" of its CPU; {a['duplicates_dropped']} duplicates dropped")
        ok = a["rollup_hits"] == a["distinct_hits"]
        print(f"check: {'OK' if ok else 'MISMATCH'} — the rollups count {a['rollup_hits']} hits, "
              f"the stream held {a['distinct_hits']} distinct hit ids")
        if not ok:
            failed = True
        print(f"rollups: {a['rollup_items']} items, {a['item_bytes_p50']:.0f} B median "
              f"({a['wcu_per_item_p50']} WCU), max {a['item_bytes_max']} B "
              f"({a['wcu_per_item_max']} WCU)")
        # one property at 10,000 hits/s: 10 shards at their 1,000 records/s write limit; with
        # the default settings a shard cuts every min(20,000 / 1,000, 20) = 20 s, and a cut
        # writes one item per property-minute it touches (≤ 2 for a 20 s cut)
        shards_10k, per_shard, cut_every = 10, 1000, min(20_000 / 1000, 20.0)
        items_per_key_s = shards_10k * 2 / cut_every
        wcu_key = items_per_key_s * a["wcu_per_item_max"]
        results["hot_key"] = {"items_per_key_per_s": items_per_key_s, "wcu_per_key_per_s": wcu_key}
        print(f"one property at 10,000 hits/s ({shards_10k} shards × {per_shard}/s, a cut every "
              f"{cut_every:.0f} s): ≤ {items_per_key_s:.1f} item writes/s per minute key × "
              f"{a['wcu_per_item_max']} WCU = {wcu_key:.1f} WCU/s per key (partition limit 1,000)")
        f = freshness(url, tmp, args.fresh_rate, args.fresh_seconds, 2)
        results["freshness"] = f
        print(f"freshness at {f['rate']} records/s for {f['seconds']} s (default batching): "
              f"accepted → in S3 and rollups p50 {f['p50_s']:.1f} s, p99 {f['p99_s']:.1f} s, "
              f"max {f['max_s']:.1f} s ({f['unsettled']} never settled)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
