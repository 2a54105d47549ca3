"""What the soak counts once the traffic stops (bench/soak.py): the archive read with boto3,
gzip and json alone (incrementally: an object is read again only when its ETag changes), the
rollups, the order of resharded shards, the Parquet lake `lambdalytics compact` makes of it
(read with pyarrow), raw client addresses at rest, and the verdict."""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from bench import soak_traffic
from bench.soak_stack import PREFIX, PROPERTY, Stack

if TYPE_CHECKING:
    from bench.soak import Run

MARKER = re.compile(r"^/soak/(\d+)$")
SEGMENT = re.compile(r"^(shardId-\d+)-\d+-\d+\.json\.gz$")


@dataclass
class Archive:
    seen: Counter[int] = field(default_factory=Counter)  # times each soak id is archived
    total: int = 0  # every hit of the property
    written: dict[str, tuple[float, float]] = field(default_factory=dict)  # shard: first and
    # last LastModified of its objects
    objects: dict[str, tuple[str, list[int], int]] = field(default_factory=dict)  # key: ETag,
    # soak ids, lines


def read_archive(stack: Stack, before: Archive | None = None) -> Archive:
    """The landing objects of the soak's property; those ``before`` read at the same ETag are
    not read again."""
    s3 = stack.boto("s3")
    bucket = stack.settings.resources.archive.name
    out = Archive()
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"hits/property={PROPERTY}/"):
        for obj in page.get("Contents", ()):
            key, etag = obj["Key"], obj["ETag"]
            shard = SEGMENT.match(key.rsplit("/", 1)[-1])
            if shard:
                at = obj["LastModified"].timestamp()
                first, last = out.written.get(shard.group(1), (at, at))
                out.written[shard.group(1)] = (min(first, at), max(last, at))
            known = before.objects.get(key) if before is not None else None
            if known is None or known[0] != etag:
                ids, lines = [], 0
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                for line in gzip.decompress(body).splitlines():
                    lines += 1
                    found = MARKER.match(json.loads(line).get("page_path") or "")
                    if found:
                        ids.append(int(found.group(1)))
                known = (etag, ids, lines)
            out.objects[key] = known
            out.seen.update(known[1])
            out.total += known[2]
    return out


def parents_first(stack: Stack, archive: Archive) -> dict[str, Any]:
    """Every child shard's objects written after its parents' last (the archiver reads a
    child only once its parents are finished): the shard tree and the violations."""
    shards = stack.boto("kinesis").list_shards(StreamName=f"{PREFIX}-hits")["Shards"]
    wrong, pairs = [], 0
    for shard in shards:
        child = archive.written.get(shard["ShardId"])
        for key in ("ParentShardId", "AdjacentParentShardId"):
            parent = archive.written.get(shard.get(key, ""))
            if child and parent:
                pairs += 1
                if child[0] < parent[1]:
                    wrong.append(f"{shard['ShardId']} written from {child[0]:.3f}, before its "
                                 f"parent {shard[key]}'s last object at {parent[1]:.3f}")
    return {"shards": len(shards), "parent_child_pairs": pairs, "violations": wrong}


def rollup_hits(stack: Stack) -> int:
    ddb = stack.boto("dynamodb")
    total = 0
    for page in ddb.get_paginator("scan").paginate(TableName=f"{PREFIX}-rollups"):
        for item in page["Items"]:
            if item["pk"]["S"].startswith(f"{PROPERTY}#") and "hits" in item:
                total += int(item["hits"]["N"])
    return total


def settle(run: Run, timeout: float) -> Archive:
    """The archive once it holds every acknowledged hit, or has not grown for 90 s."""
    acked = {i for i, a in enumerate(run.traffic.acked) if a}
    deadline = time.monotonic() + timeout
    last, still = -1, time.monotonic()
    archive: Archive | None = None
    while True:
        archive = read_archive(run.stack, archive)
        if acked <= set(archive.seen) or time.monotonic() > deadline:
            return archive
        if archive.total != last:
            last, still = archive.total, time.monotonic()
        elif time.monotonic() - still > 90:
            return archive
        time.sleep(3)


def compact(stack: Stack) -> tuple[dict[str, Any], Counter[int]]:
    """`lambdalytics compact` as a user runs it, its own process, on the soak's property with
    its days closed at once (they are today's; a day closes 4 h after its end), then each
    soak id's rows in the lake: (the run, the ids)."""
    command = [str(Path(sys.executable).with_name("lambdalytics")), "compact",
               "--property", PROPERTY, "--close-delay-hours=-24", "--json"]
    began = time.monotonic()
    done = subprocess.run(command, env=stack.env, capture_output=True, text=True, timeout=3600)
    out: dict[str, Any] = {"seconds": time.monotonic() - began, "rows": 0, "objects": 0}
    seen: Counter[int] = Counter()
    if done.returncode != 0:
        out["error"] = (done.stderr or done.stdout)[-2000:]
        return out, seen
    report = json.loads(done.stdout)
    out["days"] = len(report["days"])
    out["duplicates_dropped"] = sum(d["duplicates"] for d in report["days"])
    s3, bucket = stack.boto("s3"), stack.settings.resources.archive.name
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"lake/property={PROPERTY}/"):
        for obj in page.get("Contents", ()):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            paths = pq.read_table(io.BytesIO(body), columns=["page_path"]).column("page_path")
            out["objects"] += 1
            for path in paths.to_pylist():
                out["rows"] += 1
                found = MARKER.match(path or "")
                if found:
                    seen[int(found.group(1))] += 1
    return out, seen


def scan(stack: Stack) -> tuple[int, dict[str, int]]:
    """Raw test-client addresses at rest: (findings, what was scanned)."""
    from tests.security import no_raw_ip

    ddb = stack.boto("dynamodb")
    tables = [t for page in ddb.get_paginator("list_tables").paginate()
              for t in page["TableNames"] if t.startswith(f"{PREFIX}-")]
    logs = [(node.name, line) for node in stack.nodes()
            for line in node.log.read_text(errors="replace").splitlines()]
    report = no_raw_ip.scan_stack(soak_traffic.ADDRESSES, s3=stack.boto("s3"),
                                  buckets=[stack.settings.resources.archive.name],
                                  dynamodb=ddb, tables=tables, kinesis=stack.boto("kinesis"),
                                  stream=f"{PREFIX}-hits", logs=logs)
    for finding in report.findings[:10]:
        print("  raw address:", finding)
    return len(report.findings), {"objects": report.objects, "items": report.items,
                                  "records": report.records, "log lines": report.log_lines}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] * 1000 if ordered else 0.0


def failures(r: dict[str, Any]) -> list[str]:
    out = []
    if r["lost"]:
        out.append(f"{r['lost']} acknowledged hits lost")
    if r["duplicated"]:
        out.append(f"{r['duplicated']} hits archived more than once")
    if r["rollup_hits"] != r["archive_hits"]:
        out.append(f"rollups count {r['rollup_hits']} hits, the archive {r['archive_hits']}")
    lake = r["lake"]
    if "error" in lake:
        out.append(f"compaction failed: {lake['error']}")
    elif lake["rows"] != r["archive_hits"] or r["lake_lost"] or r["lake_duplicated"]:
        out.append(f"the lake holds {lake['rows']} rows for {r['archive_hits']} archived hits: "
                   f"{r['lake_lost']} acknowledged hits missing, {r['lake_duplicated']} twice")
    bad = {k: v for k, v in r["statuses"].items() if k.startswith("5") and k != "503"}
    if bad:
        out.append(f"answers {bad}")
    if r["raw_addresses_found"]:
        out.append(f"{r['raw_addresses_found']} raw client addresses at rest")
    if r["scanned"]["records"] < r["acknowledged"]:  # every acknowledged hit is a record
        out.append(f"the scan read {r['scanned']['records']:,} of the stream's records, fewer "
                   f"than the {r['acknowledged']:,} hits acknowledged")
    if r["unexpected_exits"]:
        out.append(f"processes exited on their own: {r['unexpected_exits']}")
    if r["resharding"]["violations"]:
        out.append(f"children read before parents: {r['resharding']['violations']}")
    if r["acknowledged"] == 0:
        out.append("nothing was acknowledged")
    return out


def table(r: dict[str, Any]) -> str:
    s = r["statuses"]
    refused = sum(v for k, v in s.items() if k in ("429", "503"))
    rows = [
        ("sent (hits)", f"{r['sent']:,} in {r['requests']:,} requests "
                        f"({', '.join(f'{k} {v:,}' for k, v in sorted(r['by_kind'].items()))})"),
        ("acknowledged (2xx)", f"{r['acknowledged']:,}"),
        ("429 / 503 answers", f"{s.get('429', 0):,} / {s.get('503', 0):,} ({refused:,} retried)"),
        ("no answer / refused connections", f"{s.get('no answer', 0):,} / "
                                            f"{s.get('connection refused', 0):,}"),
        ("retries", f"{r['retries']:,} of {r['attempts']:,} attempts"),
        ("archived", f"{r['archived']:,}"), ("duplicated", f"{r['duplicated']:,}"),
        ("lost (acknowledged, not archived)", f"{r['lost']:,}"),
        ("archived, not acknowledged", f"{r['extra']:,}"),
        ("hits/s (sending)", f"{r['hits_per_s']:,.0f} over {r['seconds']:,.0f} s"),
        ("latency p50 / p99", f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f} ms"),
        ("rollup hits / archive hits", f"{r['rollup_hits']:,} / {r['archive_hits']:,}"),
        ("lake (compacted): rows / lost / duplicated",
         f"{r['lake']['rows']:,} in {r['lake']['objects']} "
         f"object{'' if r['lake']['objects'] == 1 else 's'} / {r['lake_lost']:,} / "
         f"{r['lake_duplicated']:,}, compacted in {r['lake']['seconds']:.0f} s"),
        ("raw client addresses at rest", f"{r['raw_addresses_found']} "
                                         f"({', '.join(f'{v:,} {k}' for k, v in r['scanned'].items())})"),
        ("archiver kills", f"{r['archiver_kills']}"),
        ("shards / parent-child pairs / read out of order",
         f"{r['resharding']['shards']} / {r['resharding']['parent_child_pairs']} / "
         f"{len(r['resharding']['violations'])}"),
        ("collector exit statuses (SIGTERM at the end)", f"{r['collector_exit_statuses']}"),
        ("peak RSS", ", ".join(f"{k} {v:,} MB" for k, v in r["peak_rss_mb"].items())),
        ("faults injected", ", ".join(f"{k} {v:,}" for k, v in sorted(r["injected"].items()))
         or "none"),
    ]
    return "\n".join(["| | |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)])


def summary(results: list[dict[str, Any]]) -> str:
    """One row per run (``--summarise``): a fault alone per row, as docs/reliability.md has."""
    rows = ["| faults | stream | sent | 2xx | 429 / 503 | no answer | archived | duplicated | "
            "lost | rollups = archive = lake | p50 / p99 ms | hits/s | injected |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |"]
    for r in results:
        s = r["statuses"]
        injected = ", ".join(f"{k.split('.', 1)[1]} {v:,}" for k, v in sorted(r["injected"].items()))
        what = [w for _, w in r["events"] if "started again" not in w]
        kills = f"{r['archiver_kills']} kills" if r["archiver_kills"] else ""
        fired = "; ".join(f for f in (injected or "; ".join(what[:3]), kills) if f)
        rows.append(
            f"| {','.join(r['faults'])} | {r['stream']} | {r['sent']:,} | {r['acknowledged']:,} | "
            f"{s.get('429', 0):,} / {s.get('503', 0):,} | {s.get('no answer', 0):,} | "
            f"{r['archived']:,} | {r['duplicated']:,} | {r['lost']:,} | "
            f"{'yes' if r['rollup_hits'] == r['archive_hits'] == r['lake']['rows'] else 'NO'} | "
            f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f} | {r['hits_per_s']:,.0f} | "
            f"{fired or '—'} |")
    return "\n".join(rows)
