"""Smoke test of bench/fuzz.py: each of its long runs, at a few examples, runs end to end and
passes its own checks, so that the runs docs/reliability.md reports keep running as the
checks of tests/hostile they reuse change (figures are never asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

RUNS = {
    "parsers": (["--examples", "3"], ["| ua | 3 |", "| ok |"]),
    "openapi": (["--examples", "2"], ["2 examples per operation and mode: 0 failures"]),
    "junk": (["--ids", "500"], ["500 junk tracking ids in", "| ids sent | RSS MiB |"]),
    "slowloris": (["--connections", "5", "--seconds", "3", "--every", "0.5", "--timeout", "1"],
                  ["slowloris: 5 connections", "| during |"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("what", sorted(RUNS))
def test_each_long_run_runs_and_passes(what: str) -> None:
    args, expected = RUNS[what]
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz.py"), what, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{proc.stderr[-4000:]}"
    for line in expected:
        assert line in out, out
