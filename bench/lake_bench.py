"""The lake benchmark (issue 22): compaction, and two reports on DuckDB over the compacted lake
against landing JSON, at 1 M, 10 M (and 100 M) hits; and what Athena would scan for each.

    .venv/bin/python bench/lake_bench.py --sizes 1M,10M --days 60
    .venv/bin/python bench/lake_bench.py --sizes 10M --days 60 --reuse /tmp/lake-10m --profile
    .venv/bin/python bench/lake_bench.py --sizes 20k --days 3 --workdir /tmp/x --json -  # smoke

For each size: the landing archive (:mod:`bench.lake_data`: Zipf pages, sources and places,
five properties, ``--days`` of history), generated into ``--workdir`` or reused from a
directory whose ``summary.json`` has the same parameters (its lake is removed first); then

1. **compaction** of every day, as ``lambdalytics compact`` does it (``archiver.compact`` on a
   local store, run once the archive's last date has closed: 4 h after it ends): wall time, the
   process's CPU time (``getrusage``: every thread), hits per second and per CPU-second,
   landing bytes against lake bytes; the lake must hold exactly the summary's distinct hits
   per property and date, and drop exactly its duplicates (exit 1 otherwise);
2. **reports on the lake**: ``overview`` (with its default previous-period comparison) and
   ``pages`` with a filter, for the largest property over every day of the archive (local days
   in its time zone), on a fresh ``create_duckdb_views`` connection with 2 DuckDB threads: one
   warm-up, then the median of ``--runs`` timed runs;
3. **the baseline** in the same run (sizes in ``--baseline``): the same reports over landing
   only — ``events`` as DuckDB builds it before any compaction;
4. **bytes Athena would scan**: landing, the whole gzip JSON objects of the partitions each
   period's scan selects (``property`` and its UTC ``date`` range); lake, for the same
   partitions, the compressed column chunks of every row group plus the footer, once for every
   column the report's SQL names (sqlglot) and once for the columns its plan reads (DuckDB's
   pruned scan: projections and pushed-down filters; Trino prunes the same way), each with
   Athena's price ($5/TB, 10 MB minimum).

``--profile``: DuckDB's profile of one overview on the lake at each size (operators by time,
peak memory, spill). Timings on a shared machine compare only as ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import pyarrow  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import sqlglot  # noqa: E402
from fsspec.implementations.local import LocalFileSystem  # noqa: E402
from sqlglot import exp  # noqa: E402

from archiver.compact import CLOSE_DELAY, Compactor  # noqa: E402
from archiver.lake_store import LocalStore  # noqa: E402
from bench import lake_data  # noqa: E402
from bench.lake_traffic import Params  # noqa: E402
from bench.machine import cpu_model  # noqa: E402
from dashboard.athena import query_cost_usd  # noqa: E402
from dashboard.engine import DuckDBEngine, to_duckdb  # noqa: E402
from dashboard.reports import REPORTS, DateRange, ReportRequest, parse_filter, report_sql, run_report  # noqa: E402
from dashboard.reports.sessions import periods  # noqa: E402
from lambdalytics import archive_layout as layout  # noqa: E402
from lambdalytics import lake  # noqa: E402

THREADS = 2
REPORT_NAMES = ("overview", "pages")
TARGETS_S = {10_000_000: 2.0, 100_000_000: 15.0}  # issue 22: each report, on the lake
LAKE_SHARE = 0.45  # lake bytes per landing byte, generously (measured ~0.3): for the disk check


class CheckFailed(Exception):
    """The lake does not hold what the archive's summary says."""


# --- the machine and the archive ------------------------------------------------------------


def machine(workdir: Path) -> dict[str, Any]:
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "ram_gb": round(ram / 2**30, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__,
            "pyarrow": pyarrow.__version__, "load_1m": round(os.getloadavg()[0], 2),
            "disk_free_gb": round(lake_data._free_bytes(workdir) / 1e9, 1)}


def params_json(params: Params) -> dict[str, Any]:
    """``params`` as lake_data's summary writes them."""
    return {**asdict(params), "end": params.end.isoformat(), "start": params.start.isoformat()}


def label(hits: int) -> str:
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if hits >= scale and hits % (scale // 10) == 0:
            return f"{hits / scale:g}{unit}"
    return str(hits)


def matching(directory: Path, params: Params) -> dict[str, Any] | None:
    """The archive's summary, if ``directory`` holds one of ``params``."""
    try:
        summary: dict[str, Any] = json.loads((directory / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return summary if summary.get("params") == params_json(params) else None


def archive(params: Params, workdir: Path, reuse: list[Path],
            workers: int) -> tuple[Path, dict[str, Any], float | None]:
    """(root, summary, seconds spent generating or None when reused)."""
    own = workdir / f"{label(params.hits)}-{params.days}d-seed{params.seed}"
    for directory in (*reuse, own):
        summary = matching(directory, params)
        if summary is not None:
            for derived in (layout.LAKE, layout.LAKE_MANIFESTS):  # compaction's output: made again
                shutil.rmtree(directory / derived, ignore_errors=True)
            print(f"  reusing {directory}", flush=True)
            return directory, summary, None
    shutil.rmtree(own, ignore_errors=True)  # a partial archive of an interrupted run
    own.mkdir(parents=True)
    print(f"  generating {params.hits:,} hits into {own} ({workers} workers)", flush=True)
    started = time.monotonic()
    world, total = lake_data.generate(params, lake_data.Target(out=own), workers=workers, progress=True)
    seconds = time.monotonic() - started
    summary = lake_data.summary(world, total)
    summary["run"] = {"seconds": round(seconds, 2), "workers": workers, "cpu": cpu_model()}
    (own / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return own, summary, seconds


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def connect(workdir: Path) -> duckdb.DuckDBPyConnection:
    spill = workdir / "duckdb-tmp"
    spill.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(config={"threads": str(THREADS), "temp_directory": str(spill)})


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # the whole process: every thread
    return usage.ru_utime + usage.ru_stime


# --- compaction and its check ---------------------------------------------------------------


def compact(root: Path, summary: dict[str, Any], workdir: Path) -> dict[str, Any]:
    # the run after the archive's last date closes (a session running past the last day's
    # midnight has a few hits on the next): every day is compacted
    last = max(d for prop in summary["by_property"].values() for d in prop["by_date"])
    after = dt.date.fromisoformat(last) + dt.timedelta(days=1)
    now = dt.datetime.combine(after, dt.time(), dt.UTC) + CLOSE_DELAY
    conn = connect(workdir)
    spill = workdir / "compact-tmp"
    spill.mkdir(parents=True, exist_ok=True)
    compactor = Compactor(LocalStore(root), conn, workdir=str(spill))
    cpu, wall = cpu_now(), time.perf_counter()
    report = asyncio.run(compactor.run(now=now))
    wall, cpu = time.perf_counter() - wall, cpu_now() - cpu
    conn.close()
    rows = sum(d.rows for d in report.days)
    landing = sum(d.landing_bytes for d in report.days)
    lake_bytes = sum(d.lake_bytes for d in report.days)
    check(root, summary, report.to_json(), workdir)
    # a day's wall time against its rows: what each day costs whatever its size, and per hit
    fit = statistics.linear_regression([d.rows for d in report.days], [d.seconds for d in report.days])
    return {"days": len(report.days), "rows": rows, "wall_s": wall, "cpu_s": cpu,
            "day_fixed_s": fit.intercept, "us_per_hit": fit.slope * 1e6,
            "hits_per_s": rows / wall, "hits_per_cpu_s": rows / cpu,
            "cores_busy": cpu / wall, "landing_bytes": landing, "lake_bytes": lake_bytes,
            "duplicates_dropped": sum(d.duplicates for d in report.days), "check": "OK"}


def check(root: Path, summary: dict[str, Any], report: dict[str, Any], workdir: Path) -> None:
    """The lake holds exactly the summary's distinct hits per property and date, each once;
    compaction dropped exactly its duplicates; every property's lake is complete."""
    want = {(p, d): (v["hits"], v["duplicates"]) for p, prop in summary["by_property"].items()
            for d, v in prop["by_date"].items()}
    dropped = {(d["property_id"], d["date"]): d["duplicates"] for d in report["days"]}
    conn = connect(workdir)
    lake.create_duckdb_views(conn, str(root) + "/")
    got = {(str(p), str(d)): (rows, distinct) for p, d, rows, distinct in conn.execute(
        'SELECT "property", "date", count(*), count(DISTINCT hit_id) FROM lake GROUP BY ALL').fetchall()}
    conn.close()
    problems = [f"{p} {d}: the lake holds {got.get((p, d))} rows (rows, distinct ids), the summary "
                f"{hits} distinct hits" for (p, d), (hits, _) in sorted(want.items())
                if got.get((p, d)) != (hits, hits)]
    problems += [f"{p} {d}: lake rows the summary does not know" for p, d in sorted(set(got) - set(want))]
    problems += [f"{p} {d}: compaction dropped {dropped.get((p, d))} duplicates, the summary has {dups}"
                 for (p, d), (_, dups) in sorted(want.items()) if dropped.get((p, d)) != dups]
    problems += [f"{p}: the lake is complete through {report['through'].get(p)}, not {max(days)}"
                 for p, days in ((p, v["by_date"]) for p, v in summary["by_property"].items())
                 if report["through"].get(p) != max(days)]
    if problems:
        raise CheckFailed("lake check failed:\n  " + "\n  ".join(problems[:20]))


# --- the reports ----------------------------------------------------------------------------


def requests(summary: dict[str, Any], filter_text: str | None) -> tuple[str, dict[str, ReportRequest]]:
    """The largest property's two requests over every day of the archive (local days)."""
    by_property = summary["by_property"]
    pid = max(by_property, key=lambda p: by_property[p]["hits"])
    site = next(s for s in summary["properties"] if s["property_id"] == pid)
    p = summary["params"]
    dates = DateRange.parse(p["start"], p["end"])
    flt = parse_filter(filter_text or f"country:equals:{site['home_country']}")
    return pid, {"overview": ReportRequest(pid, dates, timezone=site["timezone"]),
                 "pages": ReportRequest(pid, dates, timezone=site["timezone"], filters=(flt,))}


def lake_connection(root: Path, workdir: Path) -> tuple[duckdb.DuckDBPyConnection, float]:
    started = time.perf_counter()
    conn = connect(workdir)
    lake.create_duckdb_views(conn, str(root) + "/")
    return conn, time.perf_counter() - started


def landing_connection(root: Path, workdir: Path) -> tuple[duckdb.DuckDBPyConnection, float]:
    """``events`` over landing only: what ``create_duckdb_views`` makes before any compaction
    (each property's landing table as one glob)."""
    started = time.perf_counter()
    conn = connect(workdir)
    lake.create_duckdb_views(conn, str(root) + "/")
    conn.execute(lake.duckdb_events_sql({}, lake.landing_globs(LocalFileSystem(), str(root) + "/", {})))
    return conn, time.perf_counter() - started


async def timed(conn: duckdb.DuckDBPyConnection, reqs: dict[str, ReportRequest],
                runs: int) -> dict[str, dict[str, Any]]:
    engine = DuckDBEngine(conn, timeout_s=3600)
    out: dict[str, dict[str, Any]] = {}
    for name, request in reqs.items():
        started = time.perf_counter()
        result = await run_report(engine, name, request)  # warm-up
        warm = time.perf_counter() - started
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            await run_report(engine, name, request)
            times.append(time.perf_counter() - started)
        out[name] = {"median_s": statistics.median(times), "runs_s": times, "warmup_s": warm,
                     "rows": result.records()}
    return out


# --- what Athena would scan -----------------------------------------------------------------


def referenced_columns(sql: str) -> set[str]:
    """Every column name the (Trino) SQL mentions."""
    return {c.name for c in sqlglot.parse_one(sql, read="trino").find_all(exp.Column)}


def plan_scans(conn: duckdb.DuckDBPyConnection, sql: str,
               names: set[str]) -> tuple[set[str], set[str] | None]:
    """What DuckDB's plan reads of the lake: the columns of its Parquet scans (projections and
    pushed-down filters), and the hit types every scan is restricted to (None: all), which on
    landing, where ``type`` is a partition, prunes objects too."""
    plan = json.loads(conn.execute("EXPLAIN (FORMAT json) " + to_duckdb(sql)).fetchall()[0][1])
    found: set[str] = set()
    types: list[set[str] | None] = []

    def walk(node: dict[str, Any]) -> None:
        info = node.get("extra_info") or {}
        if info.get("Function") == "READ_PARQUET":
            text = json.dumps([info.get("Projections"), info.get("Filters")])  # names, and more
            found.update(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)) & names)
            filters = info.get("Filters") or []
            filters = [filters] if isinstance(filters, str) else filters
            only = {m for f in filters for m in re.findall(r"^\(type = '([a-z_]+)'\)$", f)}
            types.append(only or None)
        for child in node.get("children", ()):
            walk(child)

    for node in plan:
        walk(node)
    same = types[0] if types and all(t == types[0] for t in types) else None
    return found, same


def parquet_bytes(path: Path, columns: set[str]) -> int:
    """What a reader of ``columns`` fetches from the file: their column chunks in every row
    group, plus the footer (its length, the 4-byte length and the magic)."""
    meta = pq.ParquetFile(path).metadata
    chunks = sum(meta.row_group(g).column(c).total_compressed_size
                 for g in range(meta.num_row_groups) for c in range(meta.num_columns)
                 if meta.row_group(g).column(c).path_in_schema.split(".")[0] in columns)
    return int(chunks) + int(meta.serialized_size) + 8


def dates_between(first: str, last: str) -> list[str]:
    a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(a + dt.timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]


def athena_scan(root: Path, name: str, request: ReportRequest,
                conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Bytes scanned per report: each period's scan of ``events`` reads its partitions
    (a UNION ALL of two periods reads a shared day twice, as Trino does); every row group is
    counted (a lake day of 10 M hits over 60 days is one row group: min/max statistics skip
    nothing)."""
    sql = report_sql(name, request)
    names = {f.name for f in lake.arrow_schema()}
    referenced = referenced_columns(sql) & names
    read, types = plan_scans(conn, sql, names)
    prop = layout.partition_value("property", request.property_id)
    landing = lake_ref = lake_read = partitions = 0
    for span in periods(request, compare=REPORTS[name].compares):
        for d in dates_between(span.window.first_date, span.window.last_date):
            table = root / layout.HITS / f"property={prop}"
            objects = [o for t in (sorted(types) if types else ["*"])
                       for o in table.glob(f"type={t}/date={d}/*{layout.SUFFIX}")]
            landing += sum(o.stat().st_size for o in objects)
            day = root / layout.LAKE / f"property={prop}" / f"date={d}" / layout.LAKE_OBJECT
            if day.exists():
                partitions += 1
                lake_ref += parquet_bytes(day, referenced)
                lake_read += parquet_bytes(day, read)
    return {"partitions": partitions, "landing_bytes": landing, "lake_referenced_bytes": lake_ref,
            "lake_read_bytes": lake_read, "referenced_columns": sorted(referenced),
            "read_columns": sorted(read), "landing_types": sorted(types) if types else "all",
            "landing_usd": query_cost_usd(landing),
            "lake_referenced_usd": query_cost_usd(lake_ref), "lake_read_usd": query_cost_usd(lake_read)}


# --- where the time goes --------------------------------------------------------------------


def profile(conn: duckdb.DuckDBPyConnection, sql: str, out: Path) -> dict[str, Any]:
    """DuckDB's profile of one run: time by operator (summed over threads), memory, spill."""
    conn.execute("PRAGMA enable_profiling = 'json'")
    conn.execute(f"PRAGMA profiling_output = '{out}'")
    started = time.perf_counter()
    conn.execute(to_duckdb(sql)).fetchall()
    wall = time.perf_counter() - started
    conn.execute("PRAGMA disable_profiling")
    data = json.loads(out.read_text())
    by_kind: dict[str, float] = {}

    def walk(node: dict[str, Any]) -> None:
        name = node.get("name", "?")
        if name == "WINDOW":
            fn = str((node.get("extra_info") or {}).get("Projections", ""))
            name = f"WINDOW {fn.split('(')[0].strip(chr(39) + '[ ')}"
        by_kind[name] = by_kind.get(name, 0.0) + float(node.get("timing") or 0.0)
        for child in node.get("children", ()):
            walk(child)

    for node in data.get("operator", ()):
        walk(node)
    total = sum(by_kind.values()) or 1.0
    top = sorted(by_kind.items(), key=lambda kv: -kv[1])[:8]
    system = data.get("system", {})
    return {"wall_s": wall, "cpu_s": data.get("query", {}).get("cpu_time"),
            "operators_s": {k: round(v, 3) for k, v in top},
            "operators_share": {k: round(v / total, 3) for k, v in top},
            "peak_memory_bytes": system.get("peak_buffer_memory"),
            "spilled_bytes": system.get("total_bytes_spilled")}


# --- one size -------------------------------------------------------------------------------


def run_size(hits: int, args: argparse.Namespace) -> dict[str, Any]:
    params = Params(hits=hits, days=args.days, properties=args.properties, seed=args.seed)
    print(f"\n== {label(hits)} hits, {params.days} days ({params.start} to {params.end})", flush=True)
    root, summary, gen_s = archive(params, args.workdir, args.reuse, args.workers)
    out: dict[str, Any] = {"hits": hits, "label": label(hits), "root": str(root), "generate_s": gen_s,
                           "landing_objects": summary["totals"]["objects"].get(layout.HITS),
                           "duplicates": summary["totals"]["duplicates"]}
    print("  compacting", flush=True)
    out["compaction"] = compact(root, summary, args.workdir)
    pid, reqs = requests(summary, args.filter)
    out["property"] = pid
    out["property_hits"] = summary["by_property"][pid]["hits"]
    out["filter"] = [f"{f.dimension}:{f.op}:{','.join(f.values)}" for f in reqs["pages"].filters]
    print(f"  reports on the lake ({pid}, {out['property_hits']:,} hits)", flush=True)
    conn, out["views_s"] = lake_connection(root, args.workdir)
    out["lake"] = asyncio.run(timed(conn, reqs, args.runs))
    out["athena"] = {name: athena_scan(root, name, r, conn) for name, r in reqs.items()}
    if args.profile:
        out["profile"] = profile(conn, report_sql("overview", reqs["overview"]),
                                 args.workdir / f"profile-{label(hits)}.json")
    conn.close()
    if hits in args.baseline:
        print("  the same reports over landing only", flush=True)
        conn, out["landing_views_s"] = landing_connection(root, args.workdir)
        out["landing"] = asyncio.run(timed(conn, reqs, args.runs))
        conn.close()
        # landing holds the retried copies compaction drops, so pageviews may differ; visitors not
        visitors = {src: [(row["period"], row["visitors"]) for row in out[src]["overview"]["rows"]]
                    for src in ("lake", "landing")}
        if visitors["lake"] != visitors["landing"]:
            raise CheckFailed(f"overview visitors over landing {visitors['landing']}, over the lake "
                              f"{visitors['lake']}")
    if args.clean and gen_s is not None:
        shutil.rmtree(root)
    return out


# --- the table ------------------------------------------------------------------------------


def _mb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f} s" if x < 100 else f"{x:.0f} s"


def rows_of(r: dict[str, Any]) -> list[tuple[str, str]]:
    c = r["compaction"]
    rows = [("generated in", "reused" if r["generate_s"] is None else _s(r["generate_s"])),
            ("compaction: days", f"{c['days']}"),
            ("compaction: wall", _s(c["wall_s"])),
            ("compaction: CPU (cores busy)", f"{c['cpu_s']:.1f} s ({c['cores_busy']:.2f})"),
            ("compaction: hits/s", f"{c['hits_per_s']:,.0f}"),
            ("compaction: hits/CPU-s (per core)", f"{c['hits_per_cpu_s']:,.0f}"),
            ("compaction: a day costs", f"{c['day_fixed_s'] * 1e3:.0f} ms + {c['us_per_hit']:.1f} µs/hit"),
            ("landing → lake", f"{_mb(c['landing_bytes'])} → {_mb(c['lake_bytes'])} "
                               f"({c['lake_bytes'] / c['landing_bytes']:.0%})"),
            ("lake check", f"{c['check']} ({c['rows']:,} hits, {c['duplicates_dropped']:,} dups dropped)"),
            ("largest property's hits", f"{r['property_hits']:,}"),
            ("views (connect)", _s(r["views_s"]))]
    for name in REPORT_NAMES:
        lk = r["lake"][name]
        runs = ", ".join(f"{t:.2f}" for t in lk["runs_s"])
        rows.append((f"{name}: lake, median", f"{_s(lk['median_s'])} [{runs}]"))
        if "landing" in r:
            ld = r["landing"][name]
            rows.append((f"{name}: landing, median", f"{_s(ld['median_s'])} "
                         f"({ld['median_s'] / lk['median_s']:.1f}x the lake)"))
    for name in REPORT_NAMES:
        a = r["athena"][name]
        rows.append((f"{name}: Athena scan, landing", f"{_mb(a['landing_bytes'])} ${a['landing_usd']:.5f}"))
        rows.append((f"{name}: … lake, columns named", f"{_mb(a['lake_referenced_bytes'])} "
                     f"${a['lake_referenced_usd']:.5f} ({len(a['referenced_columns'])} columns)"))
        rows.append((f"{name}: … lake, columns read", f"{_mb(a['lake_read_bytes'])} "
                     f"${a['lake_read_usd']:.5f} ({len(a['read_columns'])} columns)"))
    if "profile" in r:
        p = r["profile"]
        top = ", ".join(f"{k} {v:.0%}" for k, v in list(p["operators_share"].items())[:4])
        rows.append(("overview profile", f"{_s(p['wall_s'])}: {top}"))
        rows.append(("… peak memory, spilled", f"{_mb(p['peak_memory_bytes'] or 0)}, "
                                              f"{_mb(p['spilled_bytes'] or 0)}"))
    return rows


def print_table(results: list[dict[str, Any]]) -> None:
    table = [rows_of(r) for r in results]
    labels = [k for k, _ in table[0]]
    cells = [dict(t) for t in table]
    head = ["", *(f"{r['label']} hits" for r in results)]
    widths = [max(len(x) for x in [head[0], *labels])] + [
        max(len(head[i + 1]), *(len(c.get(k, "")) for k in labels)) for i, c in enumerate(cells)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for k in labels:
        values = (c.get(k, "—").ljust(w) for c, w in zip(cells, widths[1:], strict=True))
        print("  ".join([k.ljust(widths[0]), *values]).rstrip())


def verdicts(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each report against issue 22's targets: measured at the target's size, or extrapolated
    from the two largest sizes measured (their scaling exponent, at least linear)."""
    out = []
    by_size = sorted(results, key=lambda r: r["hits"])
    for size, limit in TARGETS_S.items():
        for name in REPORT_NAMES:
            measured = next((r["lake"][name]["median_s"] for r in by_size if r["hits"] == size), None)
            v: dict[str, Any] = {"report": name, "hits": size, "target_s": limit}
            if measured is not None:
                v.update(seconds=measured, how="measured")
            elif len(by_size) >= 2:
                (n1, t1), (n2, t2) = ((r["hits"], r["lake"][name]["median_s"]) for r in by_size[-2:])
                k = math.log(t2 / t1) / math.log(n2 / n1)
                v.update(seconds=t2 * (size / n2) ** max(k, 1.0),
                         how=f"extrapolated from {label(n1)}→{label(n2)} (exponent {k:.2f}, "
                             f"used {max(k, 1.0):.2f})")
            else:
                continue
            v["met"] = v["seconds"] < limit
            out.append(v)
    return out


# --- the command ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1M,10M", help="distinct hits per run: 1M,10M,100M")
    ap.add_argument("--days", type=int, default=60, help="days of history (30-90)")
    ap.add_argument("--properties", type=int, default=5)
    ap.add_argument("--seed", type=int, default=Params(hits=1).seed)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "lake-bench")
    ap.add_argument("--reuse", type=Path, action="append", default=[],
                    help="an archive directory to use if its summary.json has the same parameters")
    ap.add_argument("--baseline", default="1M", help="sizes also measured over landing only ('' for none)")
    ap.add_argument("--filter", help="the pages report's filter (default country:equals:<home country>)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per report, after one warm-up")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes generating")
    ap.add_argument("--profile", action="store_true", help="DuckDB's profile of one overview per size")
    ap.add_argument("--clean", action="store_true", help="delete each generated archive once measured")
    ap.add_argument("--json", help="write the results as JSON to this file ('-': stdout)")
    args = ap.parse_args(argv)
    sizes = [lake_data.count(s) for s in args.sizes.split(",") if s]
    args.baseline = {lake_data.count(s) for s in args.baseline.split(",") if s}
    args.workdir.mkdir(parents=True, exist_ok=True)
    info = machine(args.workdir)
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM, Python {info['python']}, "
          f"DuckDB {info['duckdb']}, pyarrow {info['pyarrow']}; load {info['load_1m']}; "
          f"{info['disk_free_gb']} GB free under {args.workdir}")
    print(f"parameters: sizes {', '.join(map(label, sizes))}; {args.days} days; {args.properties} "
          f"properties; seed {args.seed}; DuckDB threads {THREADS}; median of {args.runs} runs after "
          f"a warm-up; baseline over landing at {', '.join(map(label, sorted(args.baseline))) or 'none'}")
    need = [0 if any(matching(d, Params(hits=n, days=args.days, properties=args.properties, seed=args.seed))
                     for d in args.reuse) else
            int(n * 1.001 * lake_data.BYTES_PER_HIT * (1 + LAKE_SHARE)) for n in sizes]
    free = lake_data._free_bytes(args.workdir)
    if (max(need) if args.clean else sum(need)) > 0.9 * free:
        print(f"error: the archives need ~{_mb(max(need) if args.clean else sum(need))}, "
              f"{_mb(free)} free under {args.workdir}", file=sys.stderr)
        return 2
    results: list[dict[str, Any]] = []
    try:
        for n in sizes:
            results.append(run_size(n, args))
    except CheckFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_table(results)
    judged = verdicts(results)
    for v in judged:
        print(f"target: {v['report']} at {label(v['hits'])} hits under {v['target_s']:g} s — "
              f"{v['seconds']:.2f} s, {v['how']}: {'met' if v['met'] else 'NOT met'}")
    doc = {"machine": info, "parameters": {"sizes": sizes, "days": args.days, "properties": args.properties,
                                           "seed": args.seed, "threads": THREADS, "runs": args.runs,
                                           "baseline": sorted(args.baseline)},
           "results": results, "targets": judged}
    if args.json:
        text = json.dumps(doc, indent=1, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
