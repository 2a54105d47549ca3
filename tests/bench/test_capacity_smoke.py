"""Smoke test of bench/capacity.py --smoke: a few seconds of UA load on the collector under a
0.5 vCPU cgroup quota, and the script's own check that the quota held (the server's CPU time
over the load's wall time at most 0.5 + 0.05, throttled by the cgroup, no failed request), and
its figures file.

It needs root and a cgroup CPU controller (CI runs as root on a fresh Debian VM): without
them the script exits 2 with its reason and this test fails with it, rather than measure
without the quota or skip. Speeds are never asserted; the CPU share is (the quota is the
thing measured)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import capacity

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_run_applies_the_quota_and_writes_the_figures(tmp_path: Path) -> None:
    out_json = tmp_path / "capacity.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "capacity.py"), "--smoke", "--allow-interpreted",
         "--write", str(out_json)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    out = proc.stdout
    assert proc.returncode != 2, f"no CPU quota could be applied:\n{proc.stderr}"
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{proc.stderr}"
    assert "quota check: OK" in out, out
    loads = re.findall(r"0\.5 vCPU /collect .* server CPU\s+([\d.]+) cores .* throttled\s+(\d+) "
                       r"periods\s+failed 0", out)
    assert len(loads) == 1, out
    share, throttled = float(loads[0][0]), int(loads[0][1])
    assert share <= 0.5 + capacity.MARGIN, out
    assert throttled > 0, out
    doc = json.loads(out_json.read_text())
    assert doc["schema_version"] == 1
    assert doc["placeholder"] is False
    (size,) = doc["collector"]["sizes"]
    assert size["cpu_units"] == 512
    assert size["ua_hits_per_s"] > 0
    assert size["rss_mib"] > 0
    assert doc["collector"]["build"] == "interpreted"


def test_the_quota_is_written_in_the_cgroup_format(tmp_path: Path) -> None:
    """cpu.max (v2) and cpu.cfs_quota_us (v1) get what the kernel reads for each quota."""
    q = capacity.CpuQuota.__new__(capacity.CpuQuota)
    q.root, q.path = tmp_path, tmp_path / "g"
    q.path.mkdir()
    q.version = 2
    q.set(0.25)
    assert (q.path / "cpu.max").read_text() == "25000 100000"
    q.set(None)
    assert (q.path / "cpu.max").read_text() == "max 100000"
    q.version = 1
    q.set(2.0)
    assert (q.path / "cpu.cfs_quota_us").read_text() == "200000"
    assert (q.path / "cpu.cfs_period_us").read_text() == "100000"
    q.set(None)
    assert (q.path / "cpu.cfs_quota_us").read_text() == "-1"


def test_the_published_figures_file_follows_the_schema() -> None:
    """lambdalytics/data/capacity.json: what `lambdalytics cost` reads as package data."""
    doc = json.loads((ROOT / "lambdalytics" / "data" / "capacity.json").read_text())
    assert doc["schema_version"] == 1
    sizes = doc["collector"]["sizes"]
    assert [s["cpu_units"] for s in sizes] == [256, 512, 1024, 2048]
    for s in sizes:
        for key in ("ua_hits_per_s", "gtag_events_per_s", "mp_events_per_s", "rss_mib"):
            assert s[key] > 0, (s, key)
    assert doc["archiver"]["hits_per_cpu_s"] > 0
    assert doc["compactor"]["hits_per_cpu_s"] > 0
