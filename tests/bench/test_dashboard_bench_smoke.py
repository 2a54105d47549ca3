"""Smoke test of bench/dashboard_bench.py on a tiny demo (3,000 requests over 3 days): it
starts `lambdalytics local --demo-hits`, times every report cold and cached over HTTP and the
overview's first render in chromium, and stops local cleanly. Speeds are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dashboard_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dashboard_bench.py"), "--hits", "3k", "--days",
         "3", "--repeat", "2", "--browser-runs", "1", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    for line in ("machine:", "demo: ", "reports API on pshop", "first render of the overview"):
        assert line in proc.stdout, proc.stdout
    doc = json.loads(out.read_text())
    assert "token" not in doc["demo"]
    assert 2_000 < doc["demo"]["requests"] <= 3_000
    assert doc["demo"]["days_compacted"] >= 6  # 3 properties × 2-3 closed days
    for name in ("overview", "daily", "countries", "excluded", "ecommerce"):
        timing = doc["api"][name]
        assert len(timing["cold_s"]) == 2
        assert len(timing["cached_s"]) + len(timing["not_cached_s"]) == 2
    assert len(doc["api"]["realtime"]["cached_s"]) == 2
    (render,) = doc["browser"]["first_render_s"]
    assert render > 0
    assert doc["browser"]["ready_by"] in (["marker"], ["metric+canvas"])
