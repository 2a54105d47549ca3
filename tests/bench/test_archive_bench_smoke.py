"""Smoke test of bench/archive_bench.py --quick: it runs end to end and its own check passes
(the rollups count exactly the distinct hits put into the stream). Speeds are never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_archive_benchmark_runs_and_its_check_passes() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "archive_bench.py"), "--quick",
         "--fresh-seconds", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{proc.stderr}"
    assert "check: OK" in out, out
    for line in ("hits/CPU-s", "WCU/s per key", "freshness at"):
        assert line in out, out
