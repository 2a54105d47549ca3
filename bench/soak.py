"""Soak: the whole pipeline as separate processes, mixed traffic with retries, faults while it
runs, and the delivery contract counted hit by hit.

    .venv/bin/python bench/soak.py                                  # 200,000 hits, kinesalite
    .venv/bin/python bench/soak.py --hits 1000000                   # docs/reliability.md's run
    .venv/bin/python bench/soak.py --stream kinesis-mock --hits 40000   # it slows as it fills
    .venv/bin/python bench/soak.py --stream moto --hits 300000      # moto server's Kinesis
    .venv/bin/python bench/soak.py --faults none --hits 50000       # the baseline, no faults
    .venv/bin/python bench/soak.py --faults kinesis_partial --hits 20000   # one fault alone
    .venv/bin/python bench/soak.py --stream kinesis-mock --hits 5000 --rate 150 \
        --connections 32 --outage 12 --kill-every 4            # CI's run (tests/e2e/test_soak.py)

The stack (bench/soak_stack.py): moto server (S3, DynamoDB), the stream emulator
(``--stream``: kinesis-mock, kinesalite or moto; 4 shards), two collectors (the load
generator's connections alternate between their ports) and two archivers, each its own
`lambdalytics` process with the fault wrapper of bench/soak_faults.py. The load generator
(bench/soak_traffic.py) sends UA, gtag and MP hits, each with an id, and retries what was not
acknowledged (429, 503, connection errors) as a Measurement Protocol client does.

Faults (``--faults all``, at the given share of the hits sent, see :data:`SCHEDULE`; or
``--faults NAME[,NAME]`` for some of them, one alone at 30 %): an archiver SIGKILLed every
``--kill-every`` seconds; Kinesis throttling, partial failures and lost responses at the
collectors; S3 errors and throttles and DynamoDB throttles at the
archivers, GetRecords throttled; a collector stopped with SIGTERM (it drains) and one with
SIGKILL, each started again; the properties table unreachable for ``--outage`` seconds (the
cache serves stale entries, then 503 until it is back); a shard split and two shards merged
under load (not on moto, whose shards never end).

Then it waits for the archive, reads every landing object with boto3, gzip and json, and every
rollup item; runs `lambdalytics compact` (the day closed at once) and reads the lake with
pyarrow; and scans S3 (Parquet included), DynamoDB, the stream and every process's log for
the test clients' addresses (tests/security/no_raw_ip.py). The table: sent, acknowledged,
429/503 answers, archived, duplicated, lost, p50/p99, peak RSS per process, rollup hits
against archived hits, the lake's rows. Exit status 1 when anything acknowledged is lost,
anything is archived twice, the rollups or the lake differ from the archive, a request got a
5xx other than 503, a raw address is found (or the scan read fewer stream records than hits
acknowledged), or a process exited on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import soak_check, soak_stack, soak_traffic  # noqa: E402
from bench.soak_stack import PREFIX, Stack  # noqa: E402

# (share of the hits sent, fault, seconds it lasts) — faults with a duration are plan rules
SCHEDULE = (
    (0.08, "kinesis_throttle", 6), (0.16, "kinesis_partial", 6), (0.24, "collector_sigterm", 0),
    (0.32, "kinesis_lost_responses", 6), (0.40, "s3_errors", 8), (0.46, "split_shard", 0),
    (0.52, "dynamodb_throttle", 8), (0.58, "collector_sigkill", 0), (0.64, "properties_outage", -1),
    (0.74, "merge_shards", 0), (0.82, "get_records_throttle", 6),
)


def rules_for(fault: str, start: float, seconds: float) -> list[dict[str, Any]]:
    end = start + seconds
    table = f"{PREFIX}-properties"
    rule = {"start": start, "end": end}
    return {
        "kinesis_throttle": [rule | {"role": "collector", "service": "kinesis",
                                     "operation": "put_records", "action": "throttle", "share": 0.5}],
        "kinesis_partial": [rule | {"role": "collector", "service": "kinesis",
                                    "operation": "put_records", "action": "partial", "share": 0.25}],
        "kinesis_lost_responses": [rule | {"role": "collector", "service": "kinesis",
                                           "operation": "put_records", "action": "lose_response",
                                           "share": 0.3}],
        "s3_errors": [rule | {"role": "archiver", "service": "s3", "operation": "put_object",
                              "action": "error", "share": 0.3},
                      rule | {"role": "archiver", "service": "s3", "operation": "put_object",
                              "action": "throttle", "share": 0.3}],
        "dynamodb_throttle": [rule | {"role": "archiver", "service": "dynamodb",
                                      "action": "throttle", "share": 0.3}],
        "get_records_throttle": [rule | {"role": "archiver", "service": "kinesis",
                                         "operation": "get_records", "action": "throttle",
                                         "share": 0.5}],
        "properties_outage": [rule | {"role": "collector", "service": "dynamodb", "table": table,
                                      "action": "unreachable", "share": 1.0}],
    }.get(fault, [])


@dataclass
class Run:
    stack: Stack
    traffic: soak_traffic.Traffic
    hits: int
    outage: float
    kill_every: float | None
    schedule: tuple[tuple[float, str, float], ...] = SCHEDULE
    events: list[tuple[float, str]] = field(default_factory=list)  # (seconds in, what)
    kills: int = 0
    rules: list[dict[str, Any]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    began: float = field(default_factory=time.monotonic)

    def note(self, what: str) -> None:
        """A fault's event: said, and kept for the result's ``events``."""
        self.events.append((time.monotonic() - self.began, what))
        self.say(what)

    def say(self, what: str) -> None:
        """How far the run is: said only."""
        print(f"  {time.monotonic() - self.began:7.1f} s  {self.traffic.hits:>9,} sent  {what}",
              flush=True)

    def fire(self, fault: str, seconds: float) -> None:
        if seconds < 0:
            seconds = self.outage
        if fault == "collector_sigterm":
            node = self.stack.collectors[0]
            status = node.stop(signal.SIGTERM)
            tail = node.log.read_text(errors="replace")[-4000:]
            self.note(f"{node.name} SIGTERM: exit status {status}, "
                      + ("sink drained" if "sink drained" in tail else "NOT DRAINED"))
            node.start()
            self.note(f"{node.name} started again")
        elif fault == "collector_sigkill":
            node = self.stack.collectors[-1]
            node.stop(signal.SIGKILL)
            self.note(f"{node.name} SIGKILL")
            node.start()
            self.note(f"{node.name} started again")
        elif fault in ("split_shard", "merge_shards"):
            if self.stack.stream == "moto":  # moto's shards never end (reference/aws.md §6)
                return
            self.note(reshard(self.stack, fault))
        else:
            self.rules += rules_for(fault, time.time(), seconds)
            self.stack.faults(self.rules)
            self.note(f"{fault} for {seconds:g} s")

    def faults(self) -> None:
        """The schedule, by the share of the hits sent, and the archiver kills, on a thread."""
        pending = list(self.schedule)
        rng = random.Random(26)
        next_kill = time.monotonic() + (self.kill_every or 0) * rng.uniform(0.5, 1.5)
        next_word = time.monotonic() + 60
        while not self.stop.wait(0.2):
            if time.monotonic() >= next_word:  # a long run says how far it is
                next_word += 60
                self.say(f"{self.traffic.acknowledged:,} acknowledged")
            for node in self.stack.nodes():
                if node.process is not None and node.process.poll() is not None:
                    self.note(f"{node.name} exited on its own ({node.process.returncode})")
                    node.check()
            while pending and self.traffic.hits >= pending[0][0] * self.hits:
                _, fault, seconds = pending.pop(0)
                self.fire(fault, seconds)
            if self.kill_every and time.monotonic() >= next_kill:
                node = rng.choice(self.stack.archivers)
                node.stop(signal.SIGKILL)
                node.start()
                self.kills += 1
                next_kill = time.monotonic() + self.kill_every * rng.uniform(0.5, 1.5)
            for node in self.stack.nodes():
                node.sample()


def reshard(stack: Stack, what: str) -> str:
    kinesis = stack.boto("kinesis")
    name = f"{PREFIX}-hits"
    shards = [s for s in kinesis.list_shards(StreamName=name)["Shards"]
              if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
    shards.sort(key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))
    if what == "split_shard":
        s = shards[0]
        low, high = (int(s["HashKeyRange"][k]) for k in ("StartingHashKey", "EndingHashKey"))
        kinesis.split_shard(StreamName=name, ShardToSplit=s["ShardId"],
                            NewStartingHashKey=str((low + high) // 2 + 1))
        return f"split {s['ShardId']}"
    a, b = shards[-2], shards[-1]
    kinesis.merge_shards(StreamName=name, ShardToMerge=a["ShardId"], AdjacentShardToMerge=b["ShardId"])
    return f"merged {a['ShardId']} and {b['ShardId']}"


def schedule(names: list[str]) -> tuple[tuple[float, str, float], ...]:
    """The faults of :data:`SCHEDULE` named (every one for ``all``, none for ``none``); one
    named alone comes when 30 % of the hits are sent, so that as many come before as after."""
    if names == ["all"]:
        return SCHEDULE
    chosen = tuple(entry for entry in SCHEDULE if entry[1] in names)
    return ((0.3, *chosen[0][1:]),) if len(chosen) == 1 else chosen


FAULTS = ("all", "none", "archiver_kills", *(name for _, name, _ in SCHEDULE))


def soak(stream: str, hits: int, connections: int, *, faults: list[str], kill_every: float | None,
         outage: float, rate: float | None, settle_timeout: float,
         shards: int = soak_stack.SHARDS) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stack = soak_stack.start(stream, shards=shards, collector_env={
        "LAMBDALYTICS_PROPERTY_TTL_S": f"{max(outage / 6, 1):g}",
        "LAMBDALYTICS_PROPERTY_STALE_S": f"{max(outage / 3, 1):g}"})
    print(f"stack up ({stream}): {', '.join(stack.urls)}; logs in {stack.workdir}", flush=True)
    traffic = soak_traffic.Traffic()
    kills = "all" in faults or "archiver_kills" in faults
    run = Run(stack, traffic, hits, outage, kill_every if kills else None, schedule(faults))
    try:
        thread = threading.Thread(target=run.faults, daemon=True)
        thread.start()
        began = time.monotonic()
        asyncio.run(soak_traffic.drive(stack.urls, stack.secret, hits=hits,
                                       connections=connections, traffic=traffic,
                                       deadline=began + 6 * 3600, rate=rate))
        seconds = time.monotonic() - began
        run.stop.set()
        thread.join()
        run.say(f"sent: {traffic.acknowledged:,} of {traffic.hits:,} acknowledged")
        stack.faults([])
        archive = soak_check.settle(run, settle_timeout)
        seen, archived_total = archive.seen, archive.total
        rollups = soak_check.rollup_hits(stack)
        order = soak_check.parents_first(stack, archive)
        statuses = [c.stop(signal.SIGTERM) for c in stack.collectors]
        for a in stack.archivers:
            a.stop(signal.SIGTERM)
        run.say("compacting")
        lake, in_lake = soak_check.compact(stack)
        run.say(f"compacted in {lake['seconds']:.0f} s: {lake['rows']:,} rows; scanning for "
                "raw addresses")
        findings, scanned = soak_check.scan(stack)
        acked = {i for i, a in enumerate(traffic.acked) if a}
        injected: Counter[str] = Counter()
        log = stack.workdir / "injected.jsonl"
        last: dict[int, dict[str, int]] = {}
        for line in log.read_text().splitlines() if log.exists() else ():
            entry = json.loads(line)
            last[entry["pid"]] = entry["injected"]
        for counts in last.values():
            injected.update(counts)
        return {
            "stream": stream, "shards": shards, "hits": hits, "connections": connections, "faults": faults,
            "sent": traffic.hits, "requests": traffic.requests, "attempts": traffic.attempts,
            "retries": traffic.retries, "acknowledged": len(acked),
            "statuses": dict(traffic.statuses), "by_kind": dict(traffic.by_kind),
            "seconds": seconds, "hits_per_s": traffic.hits / seconds,
            "p50_ms": soak_check.percentile(traffic.latencies, 50),
            "p99_ms": soak_check.percentile(traffic.latencies, 99),
            "archived": sum(1 for k in seen if k in acked),
            "lost": len(acked - set(seen)), "duplicated": sum(1 for v in seen.values() if v > 1),
            "extra": len(set(seen) - acked), "archive_hits": archived_total,
            "rollup_hits": rollups, "lake": lake, "lake_lost": len(acked - set(in_lake)),
            "lake_duplicated": sum(1 for v in in_lake.values() if v > 1),
            "raw_addresses_found": findings, "scanned": scanned,
            "archiver_kills": run.kills, "collector_exit_statuses": statuses,
            "unexpected_exits": {n.name: n.exits for n in stack.nodes() if n.exits},
            "peak_rss_mb": {n.name: round(n.peak_mb) for n in stack.nodes()},
            "injected": dict(injected), "events": run.events, "resharding": order,
        }
    finally:
        run.stop.set()
        stack.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream", choices=("kinesis-mock", "kinesalite", "moto"),
                        default="kinesalite")
    parser.add_argument("--hits", type=int, default=200_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--shards", type=int, default=soak_stack.SHARDS)
    parser.add_argument("--rate", type=float, help="hits/s (default: as fast as answered)")
    parser.add_argument("--faults", default="all", metavar="all|none|NAME[,NAME...]",
                        help=f"which faults: {', '.join(FAULTS)}")
    parser.add_argument("--kill-every", type=float, default=10.0, metavar="S",
                        help="an archiver SIGKILLed every 0.5-1.5 × S seconds")
    parser.add_argument("--outage", type=float, default=60.0, metavar="S",
                        help="how long the properties table is unreachable")
    parser.add_argument("--settle", type=float, default=900.0, metavar="S")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--summarise", type=Path, nargs="+", metavar="JSON",
                        help="print one row per earlier run's --json, and exit")
    args = parser.parse_args(argv)
    if args.summarise:
        print(soak_check.summary([json.loads(p.read_text()) for p in args.summarise]))
        return
    names = args.faults.split(",")
    if not set(names) <= set(FAULTS):
        parser.error(f"--faults: one of {', '.join(FAULTS)}, or several names joined by commas")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result = soak(args.stream, args.hits, args.connections, faults=names,
                  kill_every=args.kill_every, outage=args.outage, rate=args.rate,
                  settle_timeout=args.settle, shards=args.shards)
    result["started"], result["cores"] = started, os.cpu_count()
    print(f"\nsoak on {args.stream}, {started}, {os.cpu_count()} cores, faults: {args.faults}\n")
    print(soak_check.table(result))
    wrong = soak_check.failures(result)
    print("\ncheck:", "OK" if not wrong else "FAILED: " + "; ".join(wrong))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
