"""bench/collect_runs.py: the targets judged on the medians of several runs' results, from
results written before and from runs it makes itself (a short benchmark run; speeds are
never asserted, only what is read from the results and the verdicts on given figures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import collect_runs

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "collect_runs.py"


def load(concurrency: int, rps: float) -> dict[str, Any]:
    return {"concurrency": concurrency, "rps": rps, "target_rate": None}


def results(bare: float, before: float, null: float,
            kinesis: list[tuple[int, float, float, float]] | None) -> dict[str, Any]:
    """What collect_bench.py --json writes, the parts judged: the plain phases at c = 8 and
    32, and (c)'s phases as (concurrency, hits/s, of the ceiling, at equal fill)."""
    out: dict[str, Any] = {
        "plain": {"bare": [load(8, bare / 2), load(32, bare)],
                  "before": [load(8, before / 2), load(32, before)],
                  "null": [load(8, null / 2), load(32, null)]},
        "kinesis": None,
    }
    if kinesis is not None:
        phases = [{"load": load(c, rps), "ceiling_share": ceiling, "equal_fill_share": fill}
                  for c, rps, ceiling, fill in kinesis]
        # an open-loop phase is never the best (c), however fast
        phases.append({"load": {"concurrency": 64, "rps": 9e9, "target_rate": 1000.0},
                       "ceiling_share": 9.0, "equal_fill_share": 9.0})
        out["kinesis"] = {"ceiling": {"records_per_s": 3800.0}, "phases": phases}
    return out


def written(tmp_path: Path, runs: list[dict[str, Any]]) -> list[str]:
    paths = []
    for i, run in enumerate(runs, 1):
        path = tmp_path / f"run{i}.json"
        path.write_text(json.dumps(run))
        paths.append(str(path))
    return paths


def test_the_targets_are_judged_on_the_medians(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    files = written(tmp_path, [
        # (b0)/(a) 40 %, (b)/(a) 20 %, cost 50 %; best (c) the c = 1,024 phase
        results(10_000, 4_000, 2_000, [(512, 2_900, 0.76, 0.70), (1024, 3_100, 0.82, 0.79)]),
        # 30 %, 21 %, 30 %; best (c) at c = 512
        results(10_000, 3_000, 2_100, [(512, 3_300, 0.90, 0.85), (1024, 3_200, 0.88, 0.83)]),
        # 36 %, 18 %, 50 %; no (c) (--skip-kinesis)
        results(10_000, 3_600, 1_800, None),
    ])
    assert collect_runs.main(["--summarise", *files]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split("|")[1].split() == ["40.0%", "20.0%"]
    assert out[1].split("|")[3].strip() == "3,100 at c=1024, 82.0%, 79.0%"
    assert out[2].split("|")[3].strip() == "3,300 at c=512, 90.0%, 85.0%"
    assert out[3].split("|")[3].strip() == "-"
    assert out[4].split("|")[1].split() == ["36.0%", "20.0%"]
    assert out[5:] == [
        "(b0) the collector's hit path, before enrichment: median 36.0% of (a) at c=32: "
        "meets the target (>= 35%, aiming at 50%)",
        "(b) the collector with full enrichment (the hit path's target less enrichment's 30%): "
        "median 20.0% of (a) at c=32: BELOW the target (>= 24.5%, aiming at 35%)",
        "enrichment's cost: median 50.0% of the throughput at c=32: OVER the target (<= 30%)",
        "best (c) of moto's ceiling: median 86.0%: meets the 80% target",
        "best (c) at equal fill: median 82.0%: meets the 80% target",
    ]


def test_a_concurrency_no_run_measured_is_not_judged(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    files = written(tmp_path, [results(10_000, 4_000, 2_000, None)])
    assert collect_runs.main(["--at", "128", "--summarise", *files]) == 0
    out = capsys.readouterr().out
    assert ("(b) the collector with full enrichment (the hit path's target less enrichment's "
            "30%): not measured") in out
    assert "enrichment's cost: not measured" in out
    assert "best (c) at equal fill: not measured" in out


@pytest.mark.slow
def test_it_runs_the_benchmark_and_judges_what_each_run_wrote(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "2", "--at", "8", "--out", str(tmp_path), "--",
         "--quick", "--skip-kinesis", "--concurrency", "8", "--duration", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    runs = sorted(tmp_path.glob("collect-*.json"))
    assert len(runs) == 2
    assert len(list(tmp_path.glob("collect-*.log"))) == 2
    for path in runs:
        assert [r["concurrency"] for r in json.loads(path.read_text())["plain"]["null"]] == [8]
    out = proc.stdout
    assert "median of 2" in out
    assert "(b0) the collector's hit path, before enrichment: median " in out
    assert ("(b) the collector with full enrichment (the hit path's target less enrichment's "
            "30%): median ") in out
    assert "best (c) of moto's ceiling: not measured" in out


def test_a_run_that_fails_fails_the_whole(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "1", "--out", str(tmp_path), "--",
         "--no-such-option"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert "run 1 exited 2" in proc.stdout
    assert "no results to judge" in proc.stdout
    assert "unrecognized arguments: --no-such-option" in next(tmp_path.glob("*.log")).read_text()
