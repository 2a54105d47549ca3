"""How the Kinesis emulators keep up as their stream grows: moto server, kinesis-mock and
kinesalite, each in a process of its own, fed PutRecords calls of 500 records of 1.1 KB
(about an enriched hit) one call after another, on a stream of 4 shards.

    .venv/bin/python bench/stream_emulators.py                     # 100,000 records each
    .venv/bin/python bench/stream_emulators.py --records 1000000 --only kinesalite

Prints, every ``--every`` records, the rate of the last stretch and the emulator's memory
(RSS), then how long reading everything back took and whether every record came back.
This is why `lambdalytics local` runs its stream on kinesalite (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import cpu_model
from lambdalytics import kinesalite
from tests import kinesis_mock

RECORD = b'{"x":"' + b"y" * 1100 + b'"}'


def client(url: str) -> Any:
    return boto3.client("kinesis", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench",  # noqa: S106
                        config=Config(retries={"mode": "standard", "max_attempts": 1},
                                      read_timeout=300))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto() -> Iterator[tuple[str, int]]:
    port = free_port()
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    proc = subprocess.Popen([server or "moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                client(url).list_streams()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def kinesis_mock_server() -> Iterator[tuple[str, int]]:
    with kinesis_mock.running() as mock:
        yield mock.url, mock.process.pid


@contextlib.contextmanager
def kinesalite_server() -> Iterator[tuple[str, int]]:
    emulator = kinesalite.start()
    try:
        yield emulator.url, emulator.process.pid
    finally:
        emulator.stop()


EMULATORS = {"moto": moto, "kinesis-mock": kinesis_mock_server, "kinesalite": kinesalite_server}


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(name: str, records: int, every: int) -> None:
    with EMULATORS[name]() as (url, pid):
        kinesis = client(url)
        kinesis.create_stream(StreamName="bench", ShardCount=4)
        while (kinesis.describe_stream_summary(StreamName="bench")
               ["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE"):
            time.sleep(0.1)
        print(f"\n{name}: records in the stream, records/s over the last {every:,}, RSS")
        sent, mark = 0, time.monotonic()
        while sent < records:
            kinesis.put_records(StreamName="bench", Records=[
                {"Data": RECORD, "PartitionKey": str(sent + i)} for i in range(500)])
            sent += 500
            if sent % every == 0:
                now = time.monotonic()
                print(f"  {sent:>9,}  {every / (now - mark):>8,.0f}/s  {rss_mb(pid):>7,.0f} MB",
                      flush=True)
                mark = now
        started, read = time.monotonic(), 0
        for shard in kinesis.list_shards(StreamName="bench")["Shards"]:
            it = kinesis.get_shard_iterator(StreamName="bench", ShardId=shard["ShardId"],
                                            ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while it:
                page = kinesis.get_records(ShardIterator=it, Limit=10_000)
                read += len(page["Records"])
                if not page["Records"]:
                    break
                it = page.get("NextShardIterator")
        print(f"  read back {read:,} of {sent:,} in {time.monotonic() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=20_000)
    parser.add_argument("--only", choices=sorted(EMULATORS), action="append")
    args = parser.parse_args()
    if args.records < 500 or args.every % 500 or args.every < 500:
        parser.error("--records at least 500, --every a multiple of 500")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu_model()}")
    for name in args.only or list(EMULATORS):
        measure(name, args.records, args.every)


if __name__ == "__main__":
    main()
