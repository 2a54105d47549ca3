"""What a PutRecords call costs the collector's client and moto, by how many hits a record holds.

DESIGN.md contract 2 allows a Kinesis record to carry "a small newline-joined group" of hits
"if measured to be worth it". This measures it: moto server alone on CPU 0, this client on
CPU 1, the collector's own `KinesisWriter` over aiobotocore (validation off, as the
collector runs it), each call carrying 500 realistic hit records (bench/archive_hits.py)
either one per Kinesis record or joined in groups of 10, 20 and 40; each grouping gets a
fresh stream (moto slows down as a shard fills) — each grouping once with botocore's own
request serializer and response parser and once with the collector's (`collector.putrecords`,
orjson through botocore's event hooks). Prints, per grouping and codec: wall time per call,
the client's CPU and moto's CPU per call and per hit, and the records read back.

    .venv/bin/python bench/put_records_cost.py [--calls 20]

Only the cost of the call is measured here; the collector does not group hits today.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.archive_bench import boto, cpu_seconds, moto_server  # noqa: E402
from bench.archive_hits import records  # noqa: E402
from bench.machine import cpu_model  # noqa: E402
from collector import putrecords  # noqa: E402
from collector.settings import CollectorSettings  # noqa: E402
from collector.sink import KinesisWriter  # noqa: E402
from lambdalytics import aws  # noqa: E402

HITS_PER_CALL = 500
GROUPS = (1, 10, 20, 40)
CODECS = ("botocore", "orjson")  # botocore's serializer and parser; collector.putrecords


def batches(group: int, calls: int) -> list[list[tuple[bytes, str]]]:
    hits = list(records(HITS_PER_CALL * calls, duplicate_share=0))
    out = []
    for c in range(calls):
        chunk = hits[c * HITS_PER_CALL:(c + 1) * HITS_PER_CALL]
        out.append([(b"\n".join(d for d, _ in chunk[i:i + group]), chunk[i][1])
                    for i in range(0, len(chunk), group)])
    return out


async def measure(url: str, stream: str, calls: list[list[tuple[bytes, str]]], pid: int,
                  codec: str) -> tuple[float, float, float]:
    settings = CollectorSettings(aws_endpoint_url=url, aws_region="us-east-1")
    async with aws.client(aws.session(), "kinesis", settings, aws.config(validate=False)) as k:
        if codec == "orjson" and not putrecords.install(k):
            raise SystemExit("collector.putrecords cannot serve this botocore")
        writer = KinesisWriter(k, stream)
        await writer.write(calls[0])  # the connection and the client's first-call caches
        m0, c0, t0 = cpu_seconds(pid), time.process_time(), time.perf_counter()
        for batch in calls[1:]:
            failed = await writer.write(batch)
            if failed:
                raise RuntimeError(f"{len(failed)} records failed")
        return (time.perf_counter() - t0, time.process_time() - c0, cpu_seconds(pid) - m0)


def read_back(url: str, stream: str) -> int:
    kinesis = boto("kinesis", url)
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    lines = 0
    while it:
        resp = kinesis.get_records(ShardIterator=it, Limit=10_000)
        lines += sum(r["Data"].count(b"\n") + 1 for r in resp["Records"])
        if not resp["Records"] and not resp.get("MillisBehindLatest"):
            break
        it = resp.get("NextShardIterator")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="measured calls per grouping")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 (moto)
                      AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} "
          f"{platform.release()}; Python {platform.python_version()}, aiobotocore "
          f"{metadata.version('aiobotocore')}, moto {metadata.version('moto')}")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[1]})  # before moto starts: it must not inherit CPU 1
    with moto_server() as (url, pid):
        if len(cpus) >= 2:
            os.sched_setaffinity(pid, {cpus[0]})
            layout = f"moto_server alone on CPU {cpus[0]}, this client on CPU {cpus[1]}"
        else:
            layout = "one CPU: moto_server and this client share it"
        print(f"layout: {layout}; {HITS_PER_CALL} hits per call, {args.calls} measured calls "
              "per grouping, a fresh stream each")
        print("hits/record  codec     records/call  wall ms/call  client ms/call  moto ms/call  "
              "client µs/hit  moto µs/hit  hits read back")
        kinesis = boto("kinesis", url)
        for group in GROUPS:
            for codec in CODECS:
                stream = f"cost-{group}-{codec}"
                kinesis.create_stream(StreamName=stream, ShardCount=1)
                calls = batches(group, args.calls + 1)
                wall, client, moto = asyncio.run(measure(url, stream, calls, pid, codec))
                n = args.calls
                hits = read_back(url, stream)
                print(f"{group:>11}  {codec:<8}  {len(calls[0]):>12}  {wall / n * 1e3:>12.1f}  "
                      f"{client / n * 1e3:>14.1f}  {moto / n * 1e3:>12.1f}  "
                      f"{client / n / HITS_PER_CALL * 1e6:>13.1f}  "
                      f"{moto / n / HITS_PER_CALL * 1e6:>11.1f}  {hits:>14,}")
                expected = HITS_PER_CALL * (n + 1)
                if hits != expected:
                    raise SystemExit(f"read back {hits} hits, sent {expected}")


if __name__ == "__main__":
    main()
