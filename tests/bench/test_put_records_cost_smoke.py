"""Smoke test of bench/put_records_cost.py --calls 2: it runs end to end against moto server,
every grouping's hits are read back from the stream (its own check), and the table it prints
has a row per grouping and codec. Speeds are never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_put_records_cost_runs_and_reads_every_hit_back() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "put_records_cost.py"), "--calls", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{proc.stderr}"
    assert out.startswith("machine: "), out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [(int(r[0]), r[1]) for r in rows] == [
        (group, codec) for group in (1, 10, 20, 40) for codec in ("botocore", "orjson")], out
    for row in rows:
        assert int(row[2]) == -(-500 // int(row[0]))  # records per call
        assert row[-1] == "1,500"  # (2 measured + 1 warm-up calls) x 500 hits, all read back
