"""kinesis-mock (npm ``kinesis-local``) as a subprocess on loopback, for resharding tests.

moto never ends a closed shard and routes puts to a split parent (reference/aws.md §6.1);
kinesis-mock ends a drained parent with ``ChildShards`` and no ``NextShardIterator``, as
Kinesis does. ``make setup`` installs the package under ``.cache/npm``; this module starts
its ``main.js`` with node on free loopback ports (plain HTTP is what tests use; the TLS
listener gets a free port too, so that parallel runs do not collide), waits until ListStreams
answers, and kills the process group on stop.

kinesis-mock binds 0.0.0.0 with no setting to change it, so node is started with a small
``--require`` preload that rewrites a wildcard listen address to 127.0.0.1: nothing is
reachable from outside the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

VERSION = "0.6.2"
ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / ".cache" / "npm" / "node_modules" / "kinesis-local"
REGION = "us-east-1"

# short state changes: CREATING/UPDATING/DELETING last this long (the package says 500 ms)
DURATIONS = (
    "CREATE_STREAM_DURATION", "DELETE_STREAM_DURATION", "MERGE_SHARDS_DURATION",
    "SPLIT_SHARD_DURATION", "UPDATE_SHARD_COUNT_DURATION", "UPDATE_STREAM_MODE_DURATION",
    "REGISTER_STREAM_CONSUMER_DURATION", "DEREGISTER_STREAM_CONSUMER_DURATION",
    "START_STREAM_ENCRYPTION_DURATION", "STOP_STREAM_ENCRYPTION_DURATION",
)

_LOOPBACK_PRELOAD = """\
'use strict';
// Test harness: make every wildcard listen() bind loopback only.
const net = require('net');
const listen = net.Server.prototype.listen;
const wildcard = (h) => h === undefined || h === null || h === '' || h === '0.0.0.0' || h === '::';
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if (first.path === undefined && wildcard(first.host)) args[0] = { ...first, host: '127.0.0.1' };
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\\d+$/.test(first))) {
    if (typeof args[1] === 'string') {
      if (wildcard(args[1])) args[1] = '127.0.0.1';
    } else {
      args.splice(1, 0, '127.0.0.1');
    }
  }
  return listen.apply(this, args);
};
"""


class KinesisMockMissing(RuntimeError):
    """node or the kinesis-local package is not installed: run `make setup`."""


class KinesisMockFailed(RuntimeError):
    """kinesis-mock did not start (its log is in the message)."""


@dataclass
class KinesisMock:
    url: str
    process: subprocess.Popen[bytes]
    workdir: Path

    def client(self, **config: Any) -> Any:
        """A plain boto3 Kinesis client for this server (dummy credentials)."""
        return client(self.url, **config)

    def log(self) -> str:
        return (self.workdir / "kinesis-mock.log").read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        """Kill the process group this server was started in, then remove its directory."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        shutil.rmtree(self.workdir, ignore_errors=True)


def client(url: str, **config: Any) -> Any:
    return boto3.client(
        "kinesis", endpoint_url=url, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(**({"retries": {"mode": "standard", "max_attempts": 3}} | config)),
    )


def package() -> tuple[str, Path]:
    """(node executable, main.js), or KinesisMockMissing saying how to install them."""
    node = shutil.which("node")
    if node is None:
        raise KinesisMockMissing(
            "node is not installed: kinesis-mock needs it (run `make setup`; on Debian "
            "`apt-get install nodejs npm`)")
    main = PACKAGE_DIR / "main.js"
    try:
        version = json.loads((PACKAGE_DIR / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError) as exc:
        raise KinesisMockMissing(
            f"kinesis-local {VERSION} is not installed under {PACKAGE_DIR}: run `make setup`"
        ) from exc
    if version != VERSION or not main.is_file():
        raise KinesisMockMissing(
            f"kinesis-local {version} under {PACKAGE_DIR}, {VERSION} wanted: run `make setup`")
    return node, main


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(*, duration_ms: int = 100, shard_limit: int = 50, timeout: float = 60.0,
          attempts: int = 3) -> KinesisMock:
    """A running kinesis-mock on a free loopback port, answering ListStreams."""
    node, main = package()
    last: Exception | None = None
    for _ in range(attempts):  # a free port can be taken between choosing and binding it
        try:
            return _start_once(node, main, duration_ms, shard_limit, timeout)
        except KinesisMockFailed as exc:
            last = exc
    assert last is not None
    raise last


def _start_once(node: str, main: Path, duration_ms: int, shard_limit: int,
                timeout: float) -> KinesisMock:
    workdir = Path(tempfile.mkdtemp(prefix="kinesis-mock-"))
    preload = workdir / "loopback.cjs"
    preload.write_text(_LOOPBACK_PRELOAD)
    plain, tls = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KINESIS_MOCK_"))}
    env.update({name: f"{duration_ms}ms" for name in DURATIONS})
    env.update({
        "KINESIS_MOCK_PLAIN_PORT": str(plain),
        "KINESIS_MOCK_TLS_PORT": str(tls),
        "KINESIS_MOCK_CERT_PATH": str(main.parent / "server.json"),
        "SHARD_LIMIT": str(shard_limit),
        "AWS_REGION": REGION,
        "LOG_LEVEL": "WARN",
        "SHOULD_PERSIST_DATA": "false",
    })
    log = (workdir / "kinesis-mock.log").open("wb")
    try:
        process = subprocess.Popen(
            [node, "--require", str(preload), str(main)], cwd=workdir, env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as one on stop
        )
    finally:
        log.close()
    mock = KinesisMock(f"http://127.0.0.1:{plain}", process, workdir)
    probe = client(mock.url, connect_timeout=1, read_timeout=2,
                   retries={"mode": "standard", "max_attempts": 1})
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            text = mock.log()
            mock.stop()
            raise KinesisMockFailed(f"kinesis-mock exited with {process.returncode}:\n{text}")
        try:
            probe.list_streams()
            return mock
        except (BotoCoreError, ClientError) as exc:  # not listening yet
            if time.monotonic() > deadline:
                text = mock.log()
                mock.stop()
                raise KinesisMockFailed(
                    f"kinesis-mock did not answer ListStreams in {timeout}s ({exc}):\n{text}"
                ) from exc
        time.sleep(0.1)


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[KinesisMock]:
    mock = start(**kwargs)
    try:
        yield mock
    finally:
        mock.stop()
