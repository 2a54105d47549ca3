"""Several full runs of bench/collect_bench.py, and the collector's targets judged on their
medians.

On a shared machine one run's verdict near a target is a coin toss: the same code's (b0)
took 100 µs per hit in one run and 161 in another of the same hour (docs/benchmarks.md,
"The GIL's switch interval"). This runs the benchmark ``--runs`` times, one after another,
each writing its ``--json`` and its output into ``--out`` (bench/results), then prints one
row per run, the median of each figure, and the verdicts on the medians:

- at ``--at`` connections (32): (b0)/(a), the collector's hit path before enrichment (issue
  2's (b), written before enrichment existed): at least 35 %, aim 50 %; enrichment's cost,
  (b0 − b)/b0 of the throughput (issue 3's target): at most 30 %; and (b)/(a), the collector
  with full enrichment, against both together: at least 35 % × (1 − 30 %) = 24.5 %, aim 35 %;
- the best closed-loop (c): of moto's ceiling, and at equal fill: at least 80 %.

    python bench/collect_runs.py --runs 5                     # ~40 minutes
    python bench/collect_runs.py --runs 3 -- --duration 6     # after --: each run's options
    python bench/collect_runs.py --summarise run1.json run2.json ...   # runs made before

The exit status is 1 when a run fails (its own checks, or it cannot run); the runs that
wrote their results are still judged.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.collect_bench import (
    TARGET_ENRICHMENT,
    cost_verdict,
    kinesis_verdict,
    share_targets,
    share_verdict,
)

BENCH = Path(__file__).resolve().parent / "collect_bench.py"
RESULTS = Path(__file__).resolve().parent / "results"  # git-ignored


@dataclass(frozen=True)
class Run:
    """One run's figures (None: that run did not measure it)."""

    name: str
    before_share: float | None  # (b0)/(a)
    null_share: float | None  # (b)/(a)
    enrichment_cost: float | None  # (b0 - b)/b0
    best_c_rps: float | None
    best_c_concurrency: int | None
    ceiling_share: float | None
    equal_fill_share: float | None


def _rps_at(loads: Sequence[dict[str, Any]], concurrency: int) -> float | None:
    for load in loads:
        if load.get("concurrency") == concurrency:
            rps = load.get("rps")
            return float(rps) if isinstance(rps, (int, float)) else None
    return None


def figures(name: str, results: dict[str, Any], at: int) -> Run:
    """The figures judged, from what ``collect_bench.py --json`` wrote."""
    plain = results.get("plain") or {}
    bare = _rps_at(plain.get("bare", []), at)
    before = _rps_at(plain.get("before", []), at)
    null = _rps_at(plain.get("null", []), at)
    kinesis = results.get("kinesis") or {}
    closed = [p for p in kinesis.get("phases", []) if p["load"].get("target_rate") is None]
    best = max(closed, key=lambda p: p["load"]["rps"]) if closed else None
    return Run(
        name=name,
        before_share=before / bare if before is not None and bare else None,
        null_share=null / bare if null is not None and bare else None,
        enrichment_cost=1 - null / before if null is not None and before else None,
        best_c_rps=best["load"]["rps"] if best else None,
        best_c_concurrency=best["load"]["concurrency"] if best else None,
        ceiling_share=best["ceiling_share"] if best else None,
        equal_fill_share=best["equal_fill_share"] if best else None,
    )


def median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def judge(runs: Sequence[Run], at: int) -> list[str]:
    """The table of runs, their medians, and the verdict on each median."""
    out = [f"{'run':<26} | (b0)/(a) (b)/(a) at c={at} | enrichment's cost | best (c): "
           "hits/s at c, of the ceiling, at equal fill"]
    for r in runs:
        best = ("-" if r.best_c_rps is None else
                f"{r.best_c_rps:,.0f} at c={r.best_c_concurrency}, {_pct(r.ceiling_share)}, "
                f"{_pct(r.equal_fill_share)}")
        out.append(f"{r.name:<26} | {_pct(r.before_share):>8} {_pct(r.null_share):>7}"
                   f"{'':>9} | {_pct(r.enrichment_cost):>17} | {best}")
    med = {k: median([getattr(r, k) for r in runs])
           for k in ("before_share", "null_share", "enrichment_cost", "ceiling_share",
                     "equal_fill_share")}
    out.append(f"{'median of ' + str(len(runs)):<26} | {_pct(med['before_share']):>8} "
               f"{_pct(med['null_share']):>7}{'':>9} | {_pct(med['enrichment_cost']):>17} | "
               f"{_pct(med['ceiling_share'])}, {_pct(med['equal_fill_share'])}")

    def share(label: str, value: float | None, *, enriched: bool) -> str:
        if value is None:
            return f"{label}: not measured"
        low, aim = share_targets(enriched=enriched)
        return (f"{label}: median {value:.1%} of (a) at c={at}: "
                f"{share_verdict(value, enriched=enriched)} (>= {low * 100:g}%, aiming at {aim * 100:g}%)")

    out.append(share("(b0) the collector's hit path, before enrichment", med["before_share"],
                     enriched=False))
    out.append(share("(b) the collector with full enrichment (the hit path's target less "
                     f"enrichment's {TARGET_ENRICHMENT:.0%})", med["null_share"], enriched=True))
    cost = med["enrichment_cost"]
    out.append("enrichment's cost: not measured" if cost is None else
               f"enrichment's cost: median {cost:.1%} of the throughput at c={at}: "
               f"{cost_verdict(cost)} (<= {TARGET_ENRICHMENT:.0%})")
    for label, key in (("of moto's ceiling", "ceiling_share"),
                       ("at equal fill", "equal_fill_share")):
        value = med[key]
        out.append(f"best (c) {label}: not measured" if value is None else
                   f"best (c) {label}: median {value:.1%}: {kinesis_verdict(value)}")
    return out


def run_all(count: int, out_dir: Path, bench_args: Sequence[str]) -> tuple[list[Path], bool]:
    """``count`` runs, one after another; their JSON files, and whether every run passed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    files: list[Path] = []
    ok = True
    for i in range(1, count + 1):
        path = out_dir / f"collect-{stamp}-{i}.json"
        log = path.with_suffix(".log")
        print(f"run {i}/{count} ({time.strftime('%H:%M:%S', time.gmtime())} UTC): "
              f"output in {log}", flush=True)
        with log.open("w") as sink:
            code = subprocess.run([sys.executable, str(BENCH), "--json", str(path),
                                   *bench_args], stdout=sink, stderr=subprocess.STDOUT,
                                  check=False).returncode
        if code != 0:
            ok = False
            print(f"  run {i} exited {code}: see {log}", flush=True)
        if path.exists():
            files.append(path)
    return files, ok


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    bench_args: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, bench_args = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="full runs to make (default 5)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="where each run's JSON and output go (default bench/results)")
    parser.add_argument("--at", type=int, default=32,
                        help="the concurrency (b)/(a) is judged at (default 32)")
    parser.add_argument("--summarise", nargs="+", type=Path, metavar="JSON",
                        help="judge these results of collect_bench.py --json instead of running")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.summarise:
        files, ok = list(args.summarise), True
    else:
        files, ok = run_all(args.runs, args.out, bench_args)
    runs = [figures(path.stem, json.loads(path.read_text()), args.at) for path in files]
    if not runs:
        print("no results to judge")
        return 1
    print("\n".join(judge(runs, args.at)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
