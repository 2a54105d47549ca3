"""bench.serve --stages (bench/stages.py): a benchmark server under real HTTP load reports
where its time went, per stage, for exactly the hits it got since the last reset."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import stages
from bench.collect_bench import stage_table
from bench.hits import TRACKING_IDS

ROOT = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (loopback)
        resp.read()
        return int(resp.status)


def _report(log: Path, hits: int) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = stages.read_report(log.read_text(encoding="utf-8", errors="replace"))
        if found is not None and found["hits"] == hits:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no report of {hits} hits:\n{log.read_text()}")


def test_a_stages_server_reports_each_stage_for_the_hits_since_the_reset(tmp_path: Path) -> None:
    port = _port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.serve", "--mode", "null", "--enrich", "minimal",
             "--port", str(port), "--stages"],
            cwd=ROOT, stdout=out, stderr=out, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(f"{base}/healthz") == 200:
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.1)
        hit = f"{base}/collect?v=1&tid={TRACKING_IDS[0]}&cid=1.2&t=pageview&dp=%2Fa&z="
        for i in range(3):  # counted, then zeroed by the reset
            assert _get(f"{hit}{i}") == 200
        os.kill(proc.pid, signal.SIGUSR1)
        for i in range(5):
            assert _get(f"{hit}x{i}") == 200
        os.kill(proc.pid, signal.SIGUSR2)
        report = _report(log, 5)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    us = report["us_per_hit"]
    assert isinstance(us, dict)
    assert list(us) == list(stages.STAGES)
    for stage in ("pairs", "ua.parse", "fields", "enrich", "submit", "respond"):
        assert us[stage] > 0, (stage, report)
    assert us["gc"] >= 0


def test_the_stage_table_puts_what_the_stages_miss_under_the_rest() -> None:
    per_hit = {"pairs": 10.0, "ua.parse": 20.0, "fields": 5.0, "enrich": 15.0, "submit": 10.0,
               "respond": 20.0, "gc": 1.0}
    rows = stage_table({"us_per_hit": per_hit, "server_us_per_hit": 100.0})
    assert rows[0].split() == ["pairs", "10.0", "10.0%"]
    rest = next(r for r in rows if r.startswith("the rest"))
    assert rest.split()[2:4] == ["20.0", "20.0%"]  # 100 − (10+20+5+15+10+20); gc is inside them
    assert rows[-1].split()[:3] == ["gc", "1.0", "1.0%"]
