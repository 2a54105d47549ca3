"""A ``python -m bench.serve`` process on a free loopback port, for the bench tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (loopback)
        resp.read()
        return int(resp.status)


@contextmanager
def bench_server(log: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The server's URL and process once it answers /healthz; its output goes to ``log``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.serve", *args, "--port", str(port)],
            cwd=ROOT, stdout=out, stderr=out, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                get(f"{base}/healthz")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.1)
        yield base, proc
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
