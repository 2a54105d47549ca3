"""Smoke test of bench/lake_bench.py on 20k hits over 3 days: it generates, compacts, checks
the lake against the archive's summary, times both reports on the lake and on landing, and
reports what Athena would scan. Speeds are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lake_benchmark_runs_and_its_check_passes(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "lake_bench.py"), "--sizes", "20k", "--days", "3",
         "--baseline", "20k", "--runs", "1", "--workers", "1", "--profile",
         "--workdir", str(tmp_path / "work"), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    for line in ("machine:", "parameters:", "compaction: hits/CPU-s (per core)", "lake check  ",
                 "overview: lake, median", "pages: landing, median", "Athena scan, landing"):
        assert line in proc.stdout, proc.stdout
    doc = json.loads(out.read_text())
    (result,) = doc["results"]
    compaction = result["compaction"]
    assert compaction["check"] == "OK"
    assert compaction["rows"] == 20_000
    assert compaction["days"] == 15  # 5 properties x 3 days
    assert compaction["hits_per_cpu_s"] > 0
    assert compaction["lake_bytes"] > 0
    assert compaction["landing_bytes"] > 0
    for source in ("lake", "landing"):
        for name in ("overview", "pages"):
            timing = result[source][name]
            assert len(timing["runs_s"]) == 1
            assert timing["median_s"] > 0
            assert timing["rows"]
    assert [row["period"] for row in result["lake"]["overview"]["rows"]] == ["current", "previous"]
    for name, scan in result["athena"].items():
        assert scan["partitions"] > 0
        assert 0 < scan["lake_read_bytes"] <= scan["lake_referenced_bytes"]
        assert scan["landing_bytes"] > 0
        assert scan["landing_usd"] >= scan["lake_read_usd"] > 0  # the 10 MB minimum
        assert set(scan["read_columns"]) <= set(scan["referenced_columns"]), name
    assert result["athena"]["pages"]["landing_types"] == ["pageview"]  # the type partition prunes
    assert "geo_country" in result["athena"]["pages"]["read_columns"]  # the filter's column
    assert result["profile"]["operators_s"]
