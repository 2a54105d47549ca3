"""No-loss check of `lambdalytics local` as users run it: start it as the README says, send
unique hits, count them in the archive, expect exactly the acknowledged ones, once each.

    .venv/bin/python bench/local_check.py                      # 20,000 hits at 32, 20,000 at 1,024
    .venv/bin/python bench/local_check.py --phases 256:1000000 --phases 256:20000   # the long run
    .venv/bin/python bench/local_check.py --kill-archiver 4    # + an archiver SIGKILLed every 4 s
    .venv/bin/python bench/local_check.py --restart-collector  # + a second collector, restarted

Each phase (``--phases CONNECTIONS:HITS[:RATE]``, repeatable) sends HITS UA pageviews, each
with a unique page path (``/check/<phase>/<n>``), over CONNECTIONS keep-alive connections, as
fast as the answers come or at RATE hits/s; a tenth of them (``--batch-share``) go ten to a
``/batch`` request. ``--kill-archiver S`` runs an extra
`lambdalytics archiver` beside local's own (writing a cut every second), SIGKILLed and
started again every 0.5–1.5 × S seconds;
``--restart-collector`` runs a second collector (`lambdalytics collector`) on local's
emulators, sends it every other request, and stops it with SIGTERM (it drains) and starts it
again in the middle of each phase. Nothing is retried: a hit counts as acknowledged when its
request was answered 2xx.

The archive is read with boto3, gzip and json alone — not the project's code: every JSON
line under ``hits/`` whose ``page_path`` is a marker. The table: per phase, hits sent and
acknowledged, hits/s, latency p50/p99; then archived, lost (acknowledged, not archived),
duplicated (archived more than once), extra (archived, not acknowledged: answered with an
error after Kinesis took it), and the peak memory of local and of its Kinesis (node). Exit
status 1 when anything acknowledged is lost or anything is archived twice.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
TID = "UA-100000-1"  # local's demo property
MARKER = re.compile(r"^/check/(\d+)/(\d+)$")


@dataclass
class Local:
    """A running `lambdalytics local` and what its banner said."""

    process: subprocess.Popen[str]
    url: str
    aws_url: str
    kinesis_url: str
    env: dict[str, str]  # the banner's export line, for the CLI and extra processes
    bucket: str
    banner: str


def start_local(timeout: float = 90) -> Local:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDALYTICS_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambdalytics.cli", "local", "--port", "0"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while not (lines and lines[-1].startswith("Ctrl-C stops everything")):
        line = proc.stdout.readline()
        if not line or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("local did not print its banner:\n" + "".join(lines))
        lines.append(line)
    banner = "".join(lines)
    found = {name: re.search(pattern, banner, re.M) for name, pattern in {
        "url": r"collector\s+(http://\S+)", "aws": r"embedded AWS\s+(http://\S+)",
        "kinesis": r"Kinesis\s+(http://\S+)", "bucket": r"archive\s+s3://([^/]+)/",
        "export": r"^\s+export (.*)$"}.items()}
    missing = [name for name, m in found.items() if m is None]
    if missing:
        proc.kill()
        raise RuntimeError(f"no {missing} in the banner:\n{banner}")
    groups = {name: m.group(1) for name, m in found.items() if m is not None}
    exported = dict(pair.split("=", 1) for pair in groups["export"].split())
    return Local(proc, groups["url"], groups["aws"], groups["kinesis"], env | exported,
                 groups["bucket"], banner)


def stop_local(local: Local) -> int:
    """Ctrl-C, as a terminal sends it (to the process group); its exit status."""
    if local.process.poll() is None:
        os.killpg(local.process.pid, signal.SIGINT)
    try:
        return local.process.wait(90)
    except subprocess.TimeoutExpired:
        local.process.kill()
        return local.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Restartable:
    """A `lambdalytics <command>` process with local's environment, stopped and started again."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.command = command
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lambdalytics.cli", self.command], cwd=ROOT, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.process.pid) if self.process is not None else 0.0


def peak_rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) / 1024 if found else 0.0


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def wait_for_collector(url: str, timeout: float = 60) -> None:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no collector at {url}")


@dataclass
class Phase:
    number: int
    connections: int
    hits: int
    rate: float | None = None  # hits/s to send at; None: as fast as answers come
    acked: set[int] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0


def requests(phase: Phase, batch_share: float) -> list[tuple[str, list[int], bytes]]:
    """(path, hit numbers, body) for every request of a phase: one hit each, but one in every
    ``stride`` hits starts a /batch request of ten."""
    def payload(n: int) -> str:
        return (f"v=1&tid={TID}&cid={n % 1009}.{phase.number}&t=pageview&dh=example.com"
                f"&dp=%2Fcheck%2F{phase.number}%2F{n}&z={phase.number}-{n}")

    batches = int(phase.hits * batch_share) // 10
    stride = max(phase.hits // batches, 10) if batches else 0
    out: list[tuple[str, list[int], bytes]] = []
    n = 0
    while n < phase.hits:
        size = 10 if stride and n % stride == 0 and n + 10 <= phase.hits else 1
        numbers = list(range(n, n + size))
        body = "\n".join(payload(i) for i in numbers).encode()
        out.append(("/batch" if size > 1 else "/collect", numbers, body))
        n += size
    return out


async def send(phase: Phase, urls: list[str], batch_share: float,
               halfway: Callable[[], None] | None = None) -> None:
    """Every request once, over ``phase.connections`` connections shared among ``urls``
    (connection k goes to urls[k % len]), calling ``halfway`` on a thread when half the
    requests are sent. A request sent without an answer is not sent again; one that found
    no server to connect to waits for it."""
    todo = requests(phase, batch_share)
    todo.reverse()
    half = len(todo) // 2
    sent_hits = 0
    loop = asyncio.get_running_loop()
    side: list[asyncio.Future[None]] = []

    async def connection(url: str) -> None:
        nonlocal sent_hits
        host, port = url.removeprefix("http://").split(":")
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while todo:
            if stream is None:
                try:
                    stream = await asyncio.open_connection(host, int(port))
                except OSError:  # the collector is restarting
                    await asyncio.sleep(0.05)
                    continue
            path, numbers, body = todo.pop()
            if halfway is not None and len(todo) == half:
                side.append(loop.run_in_executor(None, halfway))
            if phase.rate:  # open loop: each hit is due at its place in the phase
                await asyncio.sleep(begun + sent_hits / phase.rate - time.monotonic())
            sent_hits += len(numbers)
            started = time.monotonic()
            reader, writer = stream
            try:
                writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain"
                             f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                phase.statuses["no answer"] += len(numbers)
                writer.close()
                stream = None
                continue
            phase.latencies.append(time.monotonic() - started)
            phase.statuses[str(status)] += len(numbers)
            if 200 <= status < 300:
                phase.acked.update(numbers)
        if stream is not None:
            stream[1].close()

    begun = time.monotonic()
    await asyncio.gather(*(connection(urls[k % len(urls)]) for k in range(phase.connections)))
    phase.seconds = time.monotonic() - begun
    await asyncio.gather(*side)


def read_archive(local: Local) -> Counter[tuple[int, int]]:
    """How many times each marker is in the archive (boto3, gzip and json only)."""
    s3 = boto3.client("s3", endpoint_url=local.aws_url, region_name="us-east-1",
                      aws_access_key_id=local.env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=local.env["AWS_SECRET_ACCESS_KEY"])
    bucket = local.bucket
    seen: Counter[tuple[int, int]] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="hits/"):
        for obj in page.get("Contents", ()):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            for line in gzip.decompress(body).splitlines():
                found = MARKER.match(json.loads(line).get("page_path") or "")
                if found:
                    seen[(int(found.group(1)), int(found.group(2)))] += 1
    return seen


def settle(local: Local, acked: set[tuple[int, int]], timeout: float) -> Counter[tuple[int, int]]:
    """The archive once every acknowledged hit is in it, or it stopped growing for 60 s."""
    deadline = time.monotonic() + timeout
    last, still_since = -1, time.monotonic()
    while True:
        seen = read_archive(local)
        if acked <= set(seen) or time.monotonic() > deadline:
            return seen
        if len(seen) != last:
            last, still_since = len(seen), time.monotonic()
        elif time.monotonic() - still_since > 60:  # leases of a killed worker: ~30 s
            return seen
        time.sleep(2)


@contextmanager
def every(seconds: float, action: Any) -> Iterator[None]:
    """``action()`` on a thread, while the block runs, every 0.5 to 1.5 × ``seconds`` (so a
    kill finds a worker at any point of its cycle)."""
    stop = threading.Event()
    rng = random.Random(19)

    def loop() -> None:
        while not stop.wait(seconds * rng.uniform(0.5, 1.5)):
            action()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] * 1000


@dataclass
class Result:
    phases: list[Phase]
    archived: int
    lost: int
    duplicated: int
    extra: int
    exit_status: int
    rss_mb: dict[str, float]
    archiver_kills: int = 0
    collector_restarts: int = 0

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.exit_status == 0

    def table(self) -> str:
        rows = ["| phase | connections | sent | 2xx | other | hits/s | p50 ms | p99 ms |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for p in self.phases:
            other = ", ".join(f"{k}: {v}" for k, v in sorted(p.statuses.items()) if k[0] != "2")
            rows.append(f"| {p.number} | {p.connections} | {p.hits:,} | {len(p.acked):,} | "
                        f"{other or '0'} | {p.hits / p.seconds:,.0f} | "
                        f"{percentile(p.latencies, 50):.0f} | {percentile(p.latencies, 99):.0f} |")
        acked = sum(len(p.acked) for p in self.phases)
        memory = ", ".join(f"{k} {v:,.0f} MB" for k, v in self.rss_mb.items())
        return "\n".join(rows) + (
            f"\n\nacknowledged {acked:,}, archived {self.archived:,}, lost {self.lost:,}, "
            f"duplicated {self.duplicated:,}, extra {self.extra:,}; archiver kills "
            f"{self.archiver_kills}, collector restarts {self.collector_restarts}; "
            f"local exit status {self.exit_status}; peak memory: {memory}")


def run(phases: list[tuple[int, int] | tuple[int, int, float]], *, batch_share: float = 0.1,
        kill_archiver: float | None = None, restart_collector: bool = False,
        settle_timeout: float = 300) -> Result:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,024 connections and more
    local = start_local()
    archiver = collector = None
    try:
        urls = [local.url]
        if kill_archiver:
            # it writes a cut every second, so that kills find it reading, writing and between
            archiver = Restartable("archiver", local.env | {
                "LAMBDALYTICS_FLUSH_INTERVAL_S": "1", "LAMBDALYTICS_IDLE_BETWEEN_READS_S": "0.5"})
            archiver.start()
        if restart_collector:
            port = free_port()
            collector = Restartable("collector", local.env | {
                "LAMBDALYTICS_PORT": str(port), "LAMBDALYTICS_SINK_MAX_IN_FLIGHT": "1"})
            collector.start()
            urls.append(f"http://127.0.0.1:{port}")
            wait_for_collector(urls[-1])
        done: list[Phase] = []

        def kill() -> None:
            assert archiver is not None
            archiver.stop(signal.SIGKILL)
            archiver.restarts += 1
            archiver.start()

        def restart() -> None:
            assert collector is not None
            collector.stop(signal.SIGTERM)
            collector.restarts += 1
            collector.start()

        for number, spec in enumerate(phases, 1):
            phase = Phase(number, *spec)
            hits = phase.hits
            with every(kill_archiver, kill) if kill_archiver else _nothing():
                asyncio.run(send(phase, urls, batch_share, restart if collector else None))
            done.append(phase)
            print(f"phase {number}: {len(phase.acked):,} of {hits:,} acknowledged in "
                  f"{phase.seconds:.1f} s ({hits / phase.seconds:,.0f} hits/s)", flush=True)
        acked = {(p.number, n) for p in done for n in p.acked}
        seen = settle(local, acked, settle_timeout)
        rss = {"local": peak_rss_mb(local.process.pid)}
        rss |= {"its Kinesis (node)": max((peak_rss_mb(c) for c in children(local.process.pid)),
                                          default=0.0)}
        if archiver is not None:
            rss["extra archiver"] = archiver.peak_rss_mb()
            archiver.stop(signal.SIGTERM)
        if collector is not None:
            rss["second collector"] = collector.peak_rss_mb()
            collector.stop(signal.SIGTERM)
        status = stop_local(local)
        return Result(
            done, archived=sum(1 for k in seen if k in acked), lost=len(acked - set(seen)),
            duplicated=sum(1 for v in seen.values() if v > 1), extra=len(set(seen) - acked),
            exit_status=status, rss_mb=rss,
            archiver_kills=archiver.restarts if archiver else 0,
            collector_restarts=collector.restarts if collector else 0)
    finally:
        for proc in (archiver, collector):
            if proc is not None:
                proc.stop(signal.SIGKILL)
        if local.process.poll() is None:
            stop_local(local)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", action="append", metavar="CONNECTIONS:HITS[:RATE]",
                        help="default: 32:20000 and 1024:20000; RATE: hits/s (default: as "
                             "fast as the answers come)")
    parser.add_argument("--batch-share", type=float, default=0.1)
    parser.add_argument("--kill-archiver", type=float, metavar="S")
    parser.add_argument("--restart-collector", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    phases = [tuple(float(x) for x in p.split(":"))
              for p in args.phases or ["32:20000", "1024:20000"]]
    if not 0 <= args.batch_share <= 1 or any(len(p) not in (2, 3) or min(p) <= 0 for p in phases):
        parser.error("--phases takes CONNECTIONS:HITS[:RATE], --batch-share a share from 0 to 1")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result = run([(int(p[0]), int(p[1]), *p[2:]) for p in phases], batch_share=args.batch_share,
                 kill_archiver=args.kill_archiver, restart_collector=args.restart_collector)
    print(f"\n`lambdalytics local`, {started}, {os.cpu_count()} cores\n")
    print(result.table())
    print("\ncheck:", "OK" if result.ok else "FAILED")
    if args.json:
        args.json.write_text(json.dumps({
            "phases": [{"connections": p.connections, "hits": p.hits, "acked": len(p.acked),
                        "seconds": p.seconds, "statuses": dict(p.statuses),
                        "p50_ms": percentile(p.latencies, 50),
                        "p99_ms": percentile(p.latencies, 99)} for p in result.phases],
            "archived": result.archived, "lost": result.lost, "duplicated": result.duplicated,
            "extra": result.extra, "rss_mb": result.rss_mb}, indent=1))
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
