"""`lambdalytics local` as a new user runs it: start, read the banner, send the printed curl
hit, see it in Kinesis on the embedded emulator, Ctrl-C."""

from __future__ import annotations

import gzip
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
import orjson

from lambdalytics.records import decode

ROOT = Path(__file__).resolve().parents[2]


def test_local_runs_the_pipeline_and_stops_cleanly() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambdalytics.cli", "local", "--port", "0", "--dashboard-port", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        banner = read_banner(proc)
        url = re.search(r"collector\s+(http://\S+)", banner)
        aws = re.search(r"embedded AWS\s+(http://\S+)", banner)
        stream = re.search(r"Kinesis\s+(http://\S+)\s+\(kinesalite: stream (\S+),", banner)
        tid = re.search(r"tracking ids\s+(UA-\d+-\d+) and (G-[A-Z0-9]+)", banner)
        curl = re.search(r"^\s+(curl -i .*)$", banner, re.M)
        assert url, banner
        assert aws, banner
        assert stream, banner
        assert tid, banner
        assert curl, banner
        hit_url = shlex.split(curl.group(1))[-1]
        assert hit_url.startswith(url.group(1))
        r = httpx.get(hit_url)
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/gif"
        kinesis = boto3.client("kinesis", endpoint_url=stream.group(1), region_name="us-east-1",
                               aws_access_key_id="x", aws_secret_access_key="x")
        records = _read_all(kinesis, stream.group(2))
        assert [h.page_path for h in records] == ["/hello"]
        assert records[0].tracking_id == tid.group(1)
        # the archiver puts it where the banner says, within the flush interval it prints
        archive = re.search(r"archive\s+s3://([^/]+)/(\S+)\s+\(.*within ~(\d+) s", banner)
        assert archive, banner
        s3 = boto3.client("s3", endpoint_url=aws.group(1), region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
        deadline = time.monotonic() + int(archive.group(3)) + 20
        keys: list[str] = []
        while not keys and time.monotonic() < deadline:
            listing = s3.list_objects_v2(Bucket=archive.group(1), Prefix=archive.group(2))
            keys = [o["Key"] for o in listing.get("Contents", ())]
            time.sleep(0.5)
        assert len(keys) == 1, keys
        assert keys[0].startswith("hits/property=pdemo/type=pageview/date=")
        body = s3.get_object(Bucket=archive.group(1), Key=keys[0])["Body"].read()
        assert orjson.loads(gzip.decompress(body))["page_path"] == "/hello"
        # the printed CLI lines, as a user pastes them into a shell
        export = re.search(r"^\s+(export AWS_ACCESS_KEY_ID=.*)$", banner, re.M)
        query = re.search(r"^\s+(\S+ query .*\\\n.*)$", banner, re.M)
        report = re.search(r"^\s+(\S+ report overview .*)$", banner, re.M)
        create = re.search(r"^\s+(\S+ properties create .*)$", banner, re.M)
        assert export, banner
        assert query, banner
        assert report, banner
        assert create, banner

        def shell(line: str) -> subprocess.CompletedProcess[str]:
            assert export
            return subprocess.run(["bash", "-c", f"{export.group(1)}\n{line}"], cwd=ROOT,
                                  env=env, capture_output=True, text=True, timeout=60,
                                  check=False)

        out = shell(query.group(1))
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == ["type\tpage_path\thits", "pageview\t/hello\t1"]
        out = shell(report.group(1) + " --format json")
        assert out.returncode == 0, out.stderr
        overview = orjson.loads(out.stdout)["rows"][0]
        assert (overview["visitors"], overview["pageviews"]) == (1, 1), overview
        out = shell(create.group(1))
        assert out.returncode == 0, out.stderr
        assert re.search(r"^ua_tracking_id\tUA-\d+-1$", out.stdout, re.M), out.stdout
        assert re.search(r"^api_secret\t\S{32}", out.stdout, re.M), out.stdout
        # the printed Measurement Protocol call, with the G- id and this run's API secret
        mp = re.search(r"^\s+(curl -i -X POST .*/mp/collect.*\\\n.*)$", banner, re.M)
        assert mp, banner
        sent = subprocess.run(["bash", "-c", mp.group(1)], capture_output=True, text=True,
                              timeout=30, check=False)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("HTTP/1.1 204"), sent.stdout
        records = _read_all(kinesis, stream.group(2))
        ga4 = [h for h in records if h.protocol == "ga4mp"]
        assert [(h.tracking_id, h.event_name, dict(h.event_params)) for h in ga4] == [
            (tid.group(2), "signup", {"plan": "pro"})]
        # hits still arriving when Ctrl-C comes: the terminal signals the whole process group
        # (the emulators too); those the collector took are drained into the stream first
        statuses = _load_during(hit_url, lambda: os.killpg(proc.pid, signal.SIGINT))
        assert proc.wait(timeout=60) == 0
        err = proc.stderr.read() if proc.stderr else ""
        assert "Traceback" not in err, err
        assert statuses.get(200, 0) >= 50, statuses
        assert set(statuses) <= {200, "refused"}, statuses  # no 503: the stream outlived the drain
        assert "re-sending" not in err, err
        assert " ERROR " not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _load_during(url: str, interrupt: Callable[[], None]) -> dict[int | str, int]:
    """Sends ``url`` from 8 threads until the server stops answering; calls ``interrupt``
    after the first 50 answers. The count of each status ("refused": no answer)."""
    statuses: dict[int | str, int] = {}
    lock = threading.Lock()
    answered = threading.Event()

    def sender() -> None:
        with httpx.Client(timeout=30) as client:
            while True:
                try:
                    status: int | str = client.get(url).status_code
                except httpx.TransportError:
                    status = "refused"
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if statuses.get(200, 0) >= 50:
                        answered.set()
                if status == "refused":
                    return

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for t in threads:
        t.start()
    assert answered.wait(30), statuses
    interrupt()
    for t in threads:
        t.join(60)
    return statuses


def read_banner(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """`local`'s banner, once printed (the process's stdout up to its last line)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"local exited early: {proc.poll()}\n{err}")
        lines.append(line)
        if line.startswith("Ctrl-C stops everything"):
            return "".join(lines)
    raise AssertionError(f"no banner within {timeout:g} s:\n" + "".join(lines))


def _read_all(client: Any, stream: str) -> list[Any]:
    out = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        it = client.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]
        out.extend(decode(r["Data"]) for r in client.get_records(ShardIterator=it)["Records"])
    return out
