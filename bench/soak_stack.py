"""The soak's pipeline as separate processes: moto server (S3, DynamoDB and, with ``--stream
moto``, Kinesis), the stream emulator, two collectors and two archivers, each a
`lambdalytics` command behind the fault wrapper (bench/soak_faults.py), logging to a file."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from lambdalytics import api_secrets, aws, bootstrap
from lambdalytics.properties import PropertyStore
from lambdalytics.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "soak"
UA_ID, GA4_ID = "UA-424242-1", "G-SOAK424242"
PROPERTY = "psoak"
SHARDS = 4
KEYS = {"AWS_ACCESS_KEY_ID": "soak", "AWS_SECRET_ACCESS_KEY": "soak",
        "AWS_DEFAULT_REGION": "us-east-1"}
# the collector: the properties cache short enough that an outage of a minute passes from
# stale answers to 503s (production: 60 s fresh, an hour stale); addresses from X-Forwarded-For
COLLECTOR_ENV = {"LAMBDALYTICS_PROPERTY_TTL_S": "10", "LAMBDALYTICS_PROPERTY_STALE_S": "20",
                 "LAMBDALYTICS_PROPERTY_NEGATIVE_TTL_S": "10",
                 "LAMBDALYTICS_TRUSTED_PROXY_HOPS": "1", "LAMBDALYTICS_LOG_FORMAT": "json",
                 "LAMBDALYTICS_DRAIN_TIMEOUT_S": "20"}
# the archiver: cuts every 2 s and fast failover, so that kills find it in every state
ARCHIVER_ENV = {"LAMBDALYTICS_FLUSH_INTERVAL_S": "2", "LAMBDALYTICS_IDLE_BETWEEN_READS_S": "0.5",
                "LAMBDALYTICS_PARENT_POLL_INTERVAL_S": "1", "LAMBDALYTICS_SHARD_SYNC_INTERVAL_S": "5",
                "LAMBDALYTICS_LEASE_DURATION_S": "10", "LAMBDALYTICS_LOG_FORMAT": "json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s")


def peak_rss_mb(pid: int) -> float:
    try:
        found = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return 0.0
    return int(found.group(1)) / 1024 if found else 0.0


@dataclass
class Node:
    """One collector or archiver: started, stopped, killed and started again; its log is
    every incarnation's output, and its peak RSS the highest of them."""

    name: str
    role: str
    env: dict[str, str]
    log: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None
    peak_mb: float = 0.0
    starts: int = 0
    exits: list[int] = field(default_factory=list)  # exit statuses it was not asked for

    def start(self, wait: bool = True) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "soak_faults.py"), self.role], cwd=ROOT,
                env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.starts += 1
        if wait and self.port is not None:
            wait_for_port(self.port, process=self.process)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def sample(self) -> None:
        if self.alive():
            assert self.process is not None
            self.peak_mb = max(self.peak_mb, peak_rss_mb(self.process.pid))

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int | None:
        if self.process is None:
            return None
        self.sample()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def check(self) -> None:
        """Start it again if it exited on its own (as ECS would), noting the exit status."""
        self.sample()
        if self.process is not None and self.process.poll() is not None:
            self.exits.append(self.process.returncode)
            self.start(wait=False)


@dataclass
class Stack:
    stream: str
    workdir: Path
    aws_url: str
    kinesis_url: str
    env: dict[str, str]
    secret: str
    collectors: list[Node]
    archivers: list[Node]
    plan_file: Path
    emulators: list[Any]  # processes or emulator objects with stop()

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{c.port}" for c in self.collectors]

    @property
    def settings(self) -> CommonSettings:
        return CommonSettings(resource_prefix=PREFIX, aws_endpoint_url=self.aws_url,
                              aws_endpoint_url_kinesis=self.kinesis_url, aws_region="us-east-1")

    def boto(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.kinesis_url if service == "kinesis"
                            else self.aws_url, region_name="us-east-1",
                            aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"])

    def nodes(self) -> list[Node]:
        return [*self.collectors, *self.archivers]

    def faults(self, rules: list[dict[str, Any]]) -> None:
        """The plan every process reads from now on (written whole, then renamed)."""
        staged = self.plan_file.with_suffix(".tmp")
        staged.write_text(json.dumps({"rules": rules}))
        staged.replace(self.plan_file)

    def stop(self) -> None:
        for node in self.nodes():
            node.stop(signal.SIGKILL, timeout=10)
        for emulator in self.emulators:
            if isinstance(emulator, subprocess.Popen):
                emulator.kill()
                emulator.wait()
            else:
                emulator.stop()


def _stream_emulator(kind: str, aws_url: str) -> tuple[str, Any]:
    if kind == "moto":
        return aws_url, None
    if kind == "kinesalite":
        from lambdalytics import kinesalite

        k = kinesalite.start()
        return k.url, k
    sys.path.insert(0, str(ROOT))
    from tests import kinesis_mock

    mock = kinesis_mock.start()
    return mock.url, mock


def start(stream: str, *, collectors: int = 2, archivers: int = 2, shards: int = SHARDS,
          workdir: Path | None = None, collector_env: dict[str, str] | None = None) -> Stack:
    """Emulators, resources, the soak's property, then the collectors and archivers."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="lambdalytics-soak-"))
    os.environ.update(KEYS)  # this process's own clients (provisioning) talk to the emulators
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDALYTICS_"))}
    moto_port = free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(moto_port)], env=base, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    emulators: list[Any] = [moto]
    try:
        wait_for_port(moto_port, process=moto)
        aws_url = f"http://127.0.0.1:{moto_port}"
        kinesis_url, emulator = _stream_emulator(stream, aws_url)
        if emulator is not None:
            emulators.append(emulator)
        plan = workdir / "faults.json"
        env = base | KEYS | {
            "LAMBDALYTICS_RESOURCE_PREFIX": PREFIX, "LAMBDALYTICS_AWS_REGION": "us-east-1",
            "LAMBDALYTICS_AWS_ENDPOINT_URL": aws_url,
            "LAMBDALYTICS_AWS_ENDPOINT_URL_KINESIS": kinesis_url,
            "SOAK_FAULTS": str(plan), "SOAK_FAULT_LOG": str(workdir / "injected.jsonl"),
            "PYTHONPATH": str(ROOT)}
        stack = Stack(stream, workdir, aws_url, kinesis_url, env, "", [], [], plan, emulators)
        stack.faults([])
        stack.secret = asyncio.run(_provision(stack.settings, shards))
        for i in range(collectors):
            port = free_port()
            own = COLLECTOR_ENV | (collector_env or {}) | {"LAMBDALYTICS_PORT": str(port)}
            stack.collectors.append(Node(f"collector-{i + 1}", "collector", env | own,
                                         workdir / f"collector-{i + 1}.log", port))
        for i in range(archivers):
            stack.archivers.append(Node(f"archiver-{i + 1}", "archiver", env | ARCHIVER_ENV | {
                "LAMBDALYTICS_WORKER_ID": f"soak-archiver-{i + 1}"},
                workdir / f"archiver-{i + 1}.log"))
        for node in stack.nodes():
            node.start()
        return stack
    except BaseException:
        for e in emulators:
            e.kill() if isinstance(e, subprocess.Popen) else e.stop()
        raise


async def _provision(settings: CommonSettings, shards: int) -> str:
    await bootstrap.provision(settings, shard_count=shards)
    secret = api_secrets.new_secret()
    async with aws.client(aws.session(), "dynamodb", settings) as ddb:
        await PropertyStore(ddb, settings.resources.properties.name).register(
            "Soak", [UA_ID, GA4_ID], property_id=PROPERTY, api_secrets_=[secret])
    return secret
