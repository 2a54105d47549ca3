"""kinesalite, the Kinesis of `lambdalytics local`: it loses nothing under concurrent writers
(what moto cannot promise), listens on loopback only, and goes away with its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lambdalytics import kinesalite


def client(url: str) -> Any:
    return boto3.client("kinesis", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"mode": "standard", "max_attempts": 1}))


@pytest.fixture
def running() -> Any:
    emulator = kinesalite.start()
    yield emulator
    emulator.stop()


def test_sixteen_concurrent_writers_lose_nothing(running: kinesalite.Kinesalite) -> None:
    kinesis = client(running.url)
    kinesis.create_stream(StreamName="s", ShardCount=4)
    clients = [client(running.url) for _ in range(16)]

    def put(writer: int) -> None:
        for call in range(25):
            clients[writer].put_records(StreamName="s", Records=[
                {"Data": b"%d-%d-%d" % (writer, call, i), "PartitionKey": f"{writer}.{i}"}
                for i in range(10)])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(16)))
    read = []
    for shard in kinesis.list_shards(StreamName="s")["Shards"]:
        it = kinesis.get_shard_iterator(StreamName="s", ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while True:
            page = kinesis.get_records(ShardIterator=it, Limit=10_000)
            read += [r["Data"] for r in page["Records"]]
            if not page["Records"]:
                break
            it = page["NextShardIterator"]
    assert sorted(read) == sorted(b"%d-%d-%d" % (w, c, i)
                                  for w in range(16) for c in range(25) for i in range(10))


def test_it_listens_on_loopback_only(running: kinesalite.Kinesalite) -> None:
    pid = running.process.pid
    port = int(running.url.rsplit(":", 1)[1])
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    ours = [line.split() for line in listening if line.split()[1].endswith(f":{port:04X}")]
    assert ours, f"no socket on port {port} (pid {pid})"
    assert {fields[1].split(":")[0] for fields in ours} == {"0100007F"}  # 127.0.0.1


def test_it_goes_away_when_the_process_that_started_it_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from lambdalytics import kinesalite\n"
         "print(kinesalite.start().process.pid, flush=True)\n"
         "time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    assert parent.stdout is not None
    node = int(parent.stdout.readline())
    assert _alive(node)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not _alive(node):
            return
        time.sleep(0.1)
    os.kill(node, signal.SIGKILL)
    pytest.fail("kinesalite outlived the process that started it")


def _alive(pid: int) -> bool:
    """Running: not gone, and not a zombie waiting for whoever adopted it to reap it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_without_the_package_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("LAMBDALYTICS_KINESALITE_DIR", str(tmp_path))
    with pytest.raises(kinesalite.KinesaliteMissing, match=r"make setup"):
        kinesalite.start()
