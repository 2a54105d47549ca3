"""bench.serve --stages (bench/stages.py): a benchmark server under real HTTP load reports
where its time went, per stage, for exactly the hits it got since the last reset."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from bench import stages
from bench.collect_bench import stage_table
from bench.hits import TRACKING_IDS
from lambdalytics.compiled import compiled_modules
from tests.bench.serving import bench_server, get

# the stages are timed by wrapping module functions, which compiled modules call past
interpreted_only = pytest.mark.skipif(bool(compiled_modules()),
                                      reason="bench.stages times the interpreted build only")


def _report(log: Path, hits: int) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = stages.read_report(log.read_text(encoding="utf-8", errors="replace"))
        if found is not None and found["hits"] == hits:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no report of {hits} hits:\n{log.read_text()}")


@interpreted_only
def test_a_stages_server_reports_each_stage_for_the_hits_since_the_reset(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with bench_server(log, "--mode", "null", "--enrich", "minimal", "--stages") as (base, proc):
        hit = f"{base}/collect?v=1&tid={TRACKING_IDS[0]}&cid=1.2&t=pageview&dp=%2Fa&z="
        for i in range(3):  # counted, then zeroed by the reset
            assert get(f"{hit}{i}") == 200
        os.kill(proc.pid, signal.SIGUSR1)
        for i in range(5):
            assert get(f"{hit}x{i}") == 200
        os.kill(proc.pid, signal.SIGUSR2)
        report = _report(log, 5)
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


def test_stages_refuse_a_compiled_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stages.compiled, "compiled_modules", lambda: ["collector.ua"])
    with pytest.raises(SystemExit, match=r"interpreted build; these modules are compiled: "
                                         r"collector\.ua"):
        stages.install()
