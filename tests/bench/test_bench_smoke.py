"""Smoke test of bench/collect_bench.py --quick --ga4: it runs end to end and its own checks
pass.

Speeds are never asserted here (they depend on the machine); only the benchmark's own
correctness checks are: every phase ran, no request failed, every 2xx answer of the Kinesis
phases is one hit record read back from the stream, and every GA4 server forwarded the events
of its 2xx answers and filtered or refused none.
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
        [sys.executable, str(ROOT / "bench" / "collect_bench.py"), "--quick", "--ga4"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{proc.stderr}"
    assert "read-back check: OK" in out, out
    assert "MISMATCH" not in out, out
    assert "(b) collector with the NullWriter sink" in out, out
    assert "GA4 events beside UA hits: the (b) collector" in out, out
    checks = [line for line in out.splitlines() if line.startswith("forwarded check ")]
    assert len(checks) == 6, out
    assert all(": OK (the loads went " in line for line in checks), out
    for workload in ("/collect", "/g/collect ×1", "/g/collect ×5", "/g/collect ×10",
                     "/mp/collect ×1", "/mp/collect ×10"):
        assert f"| {workload}" in out, out
