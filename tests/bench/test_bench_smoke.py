"""Smoke test of bench/collect_bench.py --quick: it runs end to end and its own checks pass.

Speeds are never asserted here (they depend on the machine); only the benchmark's own
correctness checks are: every phase ran, no request failed, and every 2xx answer of the
Kinesis phases is one hit record read back from the stream.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmark_runs_and_its_checks_pass() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "collect_bench.py"), "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{proc.stderr}"
    assert "read-back check: OK" in out, out
    assert "MISMATCH" not in out, out
    assert "(b) collector with the NullWriter sink" in out, out
