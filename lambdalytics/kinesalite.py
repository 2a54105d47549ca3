"""The embedded Kinesis of `lambdalytics local`: kinesalite (npm), run with node on loopback.

moto's Kinesis cannot carry a local run for long: each record a PutRecords call stores lists
every key of its shard (O(records)), so a local run fell from about 380 to 100 hits/s within
150,000 records, and two calls on one shard at once overwrite each other's records
(reference/aws.md §6.1). kinesis-mock, the tests' resharding emulator, slows the same way
(from 390 to 60 records/s within 80,000). kinesalite keeps each shard in a sorted in-memory
LevelDB (memdown) and locks a stream while it writes to it: it took 1,000,000 records at a
steady 9,000–11,000 records/s here and read every one back (docs/reliability.md).

The package is installed by ``make setup`` under ``.cache/npm``; elsewhere, point
``LAMBDALYTICS_KINESALITE_DIR`` at an installed ``kinesalite`` package folder. A small
launcher of ours starts it on 127.0.0.1 with a port the system picks, prints that port, and
exits when the process that started it goes away (its stdin closes), so a killed `local`
leaves no emulator behind; it runs in a session of its own, so a Ctrl-C in the terminal
reaches only `local`, which drains the collector into the stream before it stops it.
Records live in node's memory, about 1.5 KB per hit, for the stream's 24-hour retention.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

VERSION = "3.3.3"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / ".cache" / "npm" / "node_modules" / "kinesalite"
# node's heap: records are kept in it (the default, about 4 GB here, holds ~2 M hits)
HEAP_MB = 8192

_LAUNCHER = """\
'use strict';
const kinesalite = require(process.argv[1]);
const server = kinesalite({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0,
                           shardLimit: 50});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({port: server.address().port}) + '\\n');
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
"""


class KinesaliteMissing(RuntimeError):
    """node or the kinesalite package is not installed (the message says how to)."""


class KinesaliteFailed(RuntimeError):
    """kinesalite did not start."""


@dataclass
class Kinesalite:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def package() -> tuple[str, Path]:
    """(node executable, kinesalite package folder), or KinesaliteMissing saying how."""
    node = shutil.which("node")
    if node is None:
        raise KinesaliteMissing(
            "lambdalytics local runs its Kinesis on kinesalite, which needs node: install "
            "Node.js (Debian: apt-get install nodejs npm), then run `make setup`")
    where = Path(os.environ.get("LAMBDALYTICS_KINESALITE_DIR") or DEFAULT_DIR)
    try:
        version = json.loads((where / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError) as exc:
        raise KinesaliteMissing(
            f"kinesalite {VERSION} is not installed under {where}: run `make setup`, or "
            f"`npm install --prefix DIR kinesalite@{VERSION}` and set "
            "LAMBDALYTICS_KINESALITE_DIR=DIR/node_modules/kinesalite") from exc
    if version != VERSION:
        raise KinesaliteMissing(f"kinesalite {version} under {where}, {VERSION} wanted: "
                                "run `make setup`")
    return node, where


def start(timeout: float = 30.0) -> Kinesalite:
    """A running kinesalite on a loopback port of its own, ready for requests."""
    node, where = package()
    process = subprocess.Popen(  # noqa: S603 (node and a package folder, not user input)
        [node, f"--max-old-space-size={HEAP_MB}", "-e", _LAUNCHER, str(where)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None,  # its errors: ours
        start_new_session=True,  # a Ctrl-C in the terminal is for `local`, which drains first
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([process.stdout], [], [], max(left, 0))
        if not ready:
            Kinesalite("", process).stop()
            raise KinesaliteFailed(f"kinesalite did not start listening within {timeout:.0f} s")
        chunk = os.read(process.stdout.fileno(), 256)
        if not chunk:
            code = process.wait()
            raise KinesaliteFailed(f"kinesalite exited with {code} before it listened")
        line += chunk
    port = int(json.loads(line)["port"])
    return Kinesalite(f"http://127.0.0.1:{port}", process)
