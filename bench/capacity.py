"""Capacity (issue 25): the collector's hits/s under the CPU quotas of Fargate task sizes, its
memory, and the archiver's and compactor's hits per CPU-second; the figures the cost model
reads (lambdalytics/data/capacity.json, docs/capacity.md).

The collector is bench/collect_bench.py's (b) server (``bench.serve --mode null``: NullWriter
behind the group-commit sink, the in-memory bench property, full enrichment on the synthetic
GeoIP database, ``trusted_proxy_hops=1``, bots flagged), one server per workload (``/collect``
UA hits; ``/g/collect`` and ``/mp/collect`` with one event a request), each prewarmed with the
first requests of its stream at full speed, then moved into a cgroup of its own whose CPU
quota is set before each load: cgroup v2 ``cpu.max`` where the cpu controller is on v2, else v1
``cpu.cfs_quota_us`` (period 100 ms, Docker's default). Loads come from wrk (or
bench/loadgen.py) pinned to the second CPU, outside every cgroup; up to 1 vCPU the server is
pinned to the first CPU, at 2 vCPU it may run on both. Loads are interleaved (each run goes
through every quota and workload in turn), so that the machine's drift falls on all alike.
The CPU the server used over the wall time of each load (from /proc) is checked against the
quota. A workload's hits per CPU-second is the median over all its loads (it hardly depends on
the quota), times the cores usable under each quota (one process: at most 1), with the CPU
the Kinesis client spends per hit (bench/put_records_cost.py's measurement; the NullWriter
does not pay it) added. RSS (VmRSS, VmHWM) is read at the end.

Run from a compiled tree (the collector image's build; ``--allow-interpreted`` otherwise):

    make compiled && cp bench/capacity.py .cache/compiled/lambdalytics/bench/ && \\
      (cd .cache/compiled/lambdalytics && ../../../.venv/bin/python bench/capacity.py \\
       --write "$PWD/lambdalytics/data/capacity.json")
    .venv/bin/python bench/capacity.py --smoke --allow-interpreted   # CI: a few seconds of load

Needs root (cgroups); exit 2 when no quota can be applied, 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import collect_bench as cb  # noqa: E402
from bench import ga4_hits, workload  # noqa: E402
from lambdalytics import compiled  # noqa: E402

QUOTAS = (0.25, 0.5, 1.0, 2.0)  # vCPU: Fargate's 256, 512, 1024 and 2048 CPU units
PERIOD_US = 100_000
MARGIN = 0.05  # CPU share over the quota still taken as "applied" (accounting granularity)


class QuotaUnavailable(RuntimeError):
    """No cgroup CPU controller this process can write."""


def _mounts() -> list[tuple[str, str, set[str]]]:
    out = []
    for line in Path("/proc/mounts").read_text().splitlines():
        _, where, kind, opts, *_ = line.split()
        out.append((kind, where, set(opts.split(","))))
    return out


class CpuQuota:
    """One cgroup with a CPU quota: v2 ``cpu.max`` if the cpu controller is on a cgroup2
    mount, else v1 ``cpu.cfs_quota_us``."""

    def __init__(self, name: str) -> None:
        self.version, root = self._find()
        self.root, self.path = root, root / name
        try:
            if self.version == 2:
                (root / "cgroup.subtree_control").write_text("+cpu")
            self.path.mkdir(exist_ok=True)
            self.set(None)
        except OSError as exc:
            raise QuotaUnavailable(f"cannot create a cgroup with a CPU quota under {root} "
                                   f"({exc.strerror}): run as root") from exc

    @staticmethod
    def _find() -> tuple[int, Path]:
        mounts = _mounts()
        for kind, where, _ in mounts:
            controllers = Path(where) / "cgroup.controllers"
            if kind == "cgroup2" and controllers.exists() and "cpu" in controllers.read_text().split():
                return 2, Path(where)
        for kind, where, opts in mounts:
            if kind == "cgroup" and "cpu" in opts:
                return 1, Path(where)
        raise QuotaUnavailable("no cgroup cpu controller mounted (neither v2 cpu.max nor v1 "
                               "cpu.cfs_quota_us)")

    def set(self, vcpu: float | None) -> None:
        quota = -1 if vcpu is None else round(vcpu * PERIOD_US)
        if self.version == 2:
            (self.path / "cpu.max").write_text(f"{'max' if quota < 0 else quota} {PERIOD_US}")
        else:
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))  # every thread of the process

    def throttled(self) -> int:
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        return int(stat.get("nr_throttled", 0))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            for pid in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    (self.root / "cgroup.procs").write_text(pid)
            self.path.rmdir()

    def describe(self) -> str:
        return (f"cgroup v2 cpu.max under {self.root}" if self.version == 2
                else f"cgroup v1 cpu.cfs_quota_us under {self.root}")


@dataclass
class Served:
    name: str  # ua, gtag1, mp1
    path: str
    tsv: Path
    stream: cb.Stream
    args: tuple[str, ...]
    url: str = ""
    pid: int = 0
    proc: Any = None
    quota: CpuQuota | None = None
    rows: dict[float, list[cb.Load]] = field(default_factory=dict)
    throttled: dict[float, list[int]] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)


def workloads(names: list[str], opts: cb.Options) -> list[Served]:
    spec, out = opts.spec, []
    for name in names:
        if name == "ua":
            out.append(Served(name, "/collect", opts.tsv, cb.Stream(spec.prewarm),
                              tuple(cb.enrich_args(opts, "full"))))
            continue
        kind = name.rstrip("0123456789")
        if kind not in ("gtag", "mp") or name[len(kind):] != "1":
            raise SystemExit(f"unknown workload {name!r} (ua, gtag1, mp1)")
        tsv, warm = ga4_hits.files(kind, 1, spec, opts.geoip)
        out.append(Served(name, ga4_hits.GTAG_PATH if kind == "gtag" else ga4_hits.MP_PATH, tsv,
                          cb.Stream(0), ("--enrich", "full", "--geoip", str(opts.geoip),
                                         "--cache-size", str(spec.cache_size),
                                         "--prewarm-ga4", str(warm))))
    return out


def allow(pid: int, cpus: set[int]) -> None:
    for tid in os.listdir(f"/proc/{pid}/task"):  # affinity is per thread
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), cpus)


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (MiB), and the main thread's share of the process's CPU time: the event
    loop's; what one process can use of a second vCPU is the rest."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) // 1024
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        threads[int(tid)] = int(stat[11]) + int(stat[12])  # utime + stime of this thread
    out["main_thread_share"] = round(threads[pid] / (sum(threads.values()) or 1), 4)
    return out


def bench_collector(children: cb.Children, cpus: cb.Cpus, opts: cb.Options, served: list[Served],
                    quotas: list[float], runs: int, connections: int, every: set[int]) -> None:
    one = {cpus.server} if cpus.server is not None else every
    for s in served:
        port = cb.free_port()
        s.url = f"http://127.0.0.1:{port}"
        s.proc = children.start(f"server-{s.name}", cpus.pin(cpus.server, cb.serve_cmd(
            "null", port, *s.args)))
        s.pid = s.proc.pid
    for s in served:  # prewarm at full speed, outside the quota
        cb.wait_http(f"{s.url}/healthz", s.proc, children, f"server-{s.name}", timeout=900.0)
        s.quota = CpuQuota(f"lambdalytics-capacity-{os.getpid()}-{s.name}")
        s.quota.add(s.pid)
    for run in range(runs):
        for vcpu in quotas:
            for s in served:
                assert s.quota is not None
                s.quota.set(vcpu)
                allow(s.pid, every if vcpu > 1 else one)
                cb.measure(children, cpus, cb_opts(opts, s), s.url, connections, opts.warmup,
                           f"{s.name}-warmup", s.pid, s.stream)
                before = s.quota.throttled()
                row = cb.measure(children, cpus, cb_opts(opts, s), s.url, connections,
                                 opts.duration, s.name, s.pid, s.stream)
                s.rows.setdefault(vcpu, []).append(row)
                s.throttled.setdefault(vcpu, []).append(s.quota.throttled() - before)
                print(f"  run {run + 1} {vcpu:>4g} vCPU {s.path:<11} {row.rps:8,.0f} hits/s  "
                      f"p50 {row.p50_ms:7.2f} ms  p99 {row.p99_ms:7.2f} ms  server CPU "
                      f"{row.share(row.server_cpu_s) or 0:5.2f} cores "
                      f"{row.server_us_per_hit or 0:5.0f} µs/hit  throttled "
                      f"{s.throttled[vcpu][-1]:>3} periods  failed {row.failed}", flush=True)
    for s in served:
        s.memory = memory(s.pid)


def cb_opts(opts: cb.Options, s: Served) -> cb.Options:
    return replace(opts, tsv=s.tsv)


KEYS = {"ua": "ua_hits_per_s", "gtag1": "gtag_events_per_s", "mp1": "mp_events_per_s"}


def usable(vcpu: float) -> float:
    """The cores one collector process can use under a quota: one event loop, so at most one
    (its main thread does all but a fraction of a percent of its work: memory())."""
    return min(vcpu, 1.0)


def collector_figures(served: list[Served], quotas: list[float],
                      sink_us: float) -> tuple[list[dict[str, Any]], list[str]]:
    """One entry per quota, and the quota checks that failed. A server's work per hit does not
    depend on its quota (the ``<name>_hits_per_cpu_s`` of each quota differ by no more than
    their runs do: docs/capacity.md), while the share of a core it gets on this shared machine
    varies from load to load: so ``<key>_nullwriter`` is its hits per CPU-second over every
    load (median) × the cores usable under the quota, and ``<key>`` the same with the Kinesis
    client's ``sink_us`` per hit added (what a task writing to Kinesis does); ``<key>_measured``
    is the median hits/s the loads at that quota got. RSS is read once, after every load."""
    sizes, bad = [], []
    rss = max((int(s.memory.get("VmRSS", 0)) for s in served), default=0)
    per_cpu_s = {s.name: statistics.median(r.rps / share for rows in s.rows.values() for r in rows
                                           if (share := r.share(r.server_cpu_s) or 0.0) > 0)
                 for s in served}
    for vcpu in quotas:
        entry: dict[str, Any] = {"cpu_units": round(vcpu * 1024), "vcpu": vcpu}
        for s in served:
            rows = s.rows.get(vcpu, [])
            if not rows:
                continue
            shares = [r.share(r.server_cpu_s) or 0.0 for r in rows]
            key, rate = KEYS[s.name], per_cpu_s[s.name]
            entry[key] = round(usable(vcpu) / (1 / rate + sink_us / 1e6))
            entry[f"{key}_nullwriter"] = round(rate * usable(vcpu))
            entry[f"{key}_measured"] = round(statistics.median(r.rps for r in rows))
            entry[f"{s.name}_hits_per_cpu_s"] = round(statistics.median(
                r.rps / share for r, share in zip(rows, shares, strict=True) if share > 0))
            entry[f"{s.name}_cores_used"] = round(statistics.median(shares), 3)
            entry[f"{s.name}_p99_ms"] = round(statistics.median(r.p99_ms for r in rows), 1)
            if max(shares) > vcpu + MARGIN:
                bad.append(f"{s.name} at {vcpu:g} vCPU used {max(shares):.2f} cores")
            if vcpu < 1 and not any(s.throttled.get(vcpu, [])):  # a busy machine may starve it
                bad.append(f"{s.name} at {vcpu:g} vCPU was never throttled")
            if any(r.failed for r in rows):
                bad.append(f"{s.name} at {vcpu:g} vCPU: failed requests")
        entry["rss_mib"] = rss
        sizes.append(entry)
    return sizes, bad


def ua_us_per_hit(served: list[Served]) -> int | None:
    """The UA server's CPU per hit over every load (median), µs."""
    ua = next((s for s in served if s.name == "ua"), None)
    us = [r.server_us_per_hit for rows in (ua.rows.values() if ua else []) for r in rows
          if r.server_us_per_hit]
    return round(statistics.median(us)) if us else None


def bench_archiver(runs: int, records: int, shards: int) -> dict[str, Any]:
    from bench import archive_bench

    tmp = Path(tempfile.mkdtemp(prefix="capacity-archiver-"))
    results = []
    with archive_bench.moto_server() as (url, _):
        for run in range(runs):
            r = archive_bench.cost(url, records, shards, tmp, "archive")
            ok = r["rollup_hits"] == r["distinct_hits"]
            print(f"  run {run + 1}: {records:,} hits over {shards} shards, {r['cpu_s']:.2f} CPU-s "
                  f"in {r['wall_s']:.1f} s → {r['records_per_cpu_s']:,.0f} hits/CPU-s; rollups "
                  f"{'OK' if ok else 'MISMATCH'}", flush=True)
            if not ok:
                raise RuntimeError(f"archiver: the rollups count {r['rollup_hits']} hits of "
                                   f"{r['distinct_hits']}")
            results.append(r["records_per_cpu_s"])
    return {"hits_per_cpu_s": round(statistics.median(results)), "runs": [round(x) for x in results],
            "records": records, "shards": shards, "date": _now()}


def bench_sink(runs: int, calls: int) -> dict[str, Any]:
    """The CPU the collector's Kinesis client (KinesisWriter, collector.putrecords' orjson
    codec, 500 hits a call, one a record) spends per hit: bench/put_records_cost.py's
    measurement, moto alone on the other CPU. The NullWriter runs above do not pay it."""
    import asyncio

    from bench import put_records_cost as prc
    from bench.archive_bench import boto, moto_server

    results = []
    with moto_server() as (url, pid):
        if len(os.sched_getaffinity(0)) == 1 and (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(pid, set(range(os.cpu_count() or 1)) - os.sched_getaffinity(0))
        for run in range(runs):
            stream = f"capacity-sink-{run}"
            boto("kinesis", url).create_stream(StreamName=stream, ShardCount=1)
            _, client, _ = asyncio.run(prc.measure(url, stream, prc.batches(1, calls + 1), pid,
                                                   "orjson"))
            results.append(client / calls / prc.HITS_PER_CALL * 1e6)
            print(f"  run {run + 1}: {results[-1]:.1f} µs of client CPU per hit", flush=True)
    return {"client_us_per_hit": round(statistics.median(results), 1),
            "runs": [round(x, 1) for x in results], "calls": calls, "date": _now()}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def bench_compactor(runs: int, hits: int, days: int) -> dict[str, Any]:
    from bench import lake_bench
    from bench.lake_traffic import Params

    workdir = Path(tempfile.gettempdir()) / "capacity-compactor"
    workdir.mkdir(exist_ok=True)
    params = Params(hits=hits, days=days)
    results = []
    for run in range(runs):
        root, summary, _ = lake_bench.archive(params, workdir, [], os.cpu_count() or 1)
        c = lake_bench.compact(root, summary, workdir)  # checks the lake against the summary
        print(f"  run {run + 1}: {c['rows']:,} hits over {c['days']} days, {c['cpu_s']:.1f} CPU-s in "
              f"{c['wall_s']:.1f} s → {c['hits_per_cpu_s']:,.0f} hits/CPU-s", flush=True)
        results.append(c["hits_per_cpu_s"])
    return {"hits_per_cpu_s": round(statistics.median(results)), "runs": [round(x) for x in results],
            "hits": hits, "days": days, "duckdb_threads": lake_bench.THREADS, "date": _now()}


def figures(info: dict[str, Any], argv: list[str], served: list[Served], sizes: list[dict[str, Any]],
            phases: dict[str, dict[str, Any] | None], build: str,
            previous: dict[str, Any]) -> dict[str, Any]:
    """The capacity.json document; what was not measured now is kept from ``previous``."""
    measured = {"date": _now(), "machine": f"{info['cpu']}, {info['cores']} CPUs, Python "
                f"{info['python']}", "command": "python bench/capacity.py " + " ".join(argv),
                "method": " ".join(__doc__.split("\n\n")[1].split())}
    collector = previous.get("collector")
    if served:
        collector = {"build": build, "enrichment": "full", "sizes": sizes,
                     "kinesis_client_us_per_hit": (phases["sink"] or {}).get("client_us_per_hit"),
                     "ua_cpu_us_per_hit": ua_us_per_hit(served),
                     "rss_mib_peak": max(int(s.memory.get("VmHWM", 0)) for s in served),
                     "main_thread_share": min(s.memory.get("main_thread_share", 1.0) for s in served),
                     "by_workload": {s.name: s.memory for s in served}}
    return {"schema_version": 1, "placeholder": False,
            "note": "Measured by bench/capacity.py; see docs/capacity.md. Figures at saturation "
                    "(100 % of the quota): apply the scaling target on top.",
            "measured": measured if served else previous.get("measured", measured),
            "collector": collector,
            **{k: phases[k] or previous.get(k) for k in ("sink", "archiver", "compactor")}}


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quotas", default=",".join(f"{q:g}" for q in QUOTAS), help="vCPU per task size")
    ap.add_argument("--workloads", default="ua,gtag1,mp1")
    ap.add_argument("--runs", type=int, default=3, help="interleaved runs; figures are medians")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per load")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--smoke", action="store_true",
                    help="CI: quick workload, UA at 0.5 vCPU, one 3 s load, nothing else")
    ap.add_argument("--skip-collector", action="store_true",
                    help="keep the collector's figures of --write's file")
    ap.add_argument("--skip-sink", action="store_true",
                    help="keep the Kinesis client's µs/hit of --write's file")
    ap.add_argument("--skip-archiver", action="store_true")
    ap.add_argument("--skip-compactor", action="store_true")
    ap.add_argument("--archiver-records", type=int, default=20_000)
    ap.add_argument("--compactor-hits", type=int, default=1_000_000)
    ap.add_argument("--compactor-days", type=int, default=1)
    ap.add_argument("--allow-interpreted", action="store_true",
                    help="measure the pure Python build (the figures are not the image's)")
    ap.add_argument("--write", type=Path, help="write the figures JSON here (capacity.json)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.quotas, args.workloads, args.runs, args.duration = "0.5", "ua", 1, 3.0
        args.skip_sink = args.skip_archiver = args.skip_compactor = True
    return args


@contextlib.contextmanager
def children_of(workdir: Path) -> Iterator[cb.Children]:
    children = cb.Children(workdir)
    try:
        yield children
    finally:
        children.stop_all()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    quotas = [float(q) for q in args.quotas.split(",")]
    built = compiled.compiled_modules()
    build = "compiled" if len(built) == len(compiled.BUILT_MODULES) else "interpreted"
    if build != "compiled" and not args.allow_interpreted:
        raise SystemExit("the collector image runs the compiled build: run from a `make compiled` "
                         "tree (see the docstring), or pass --allow-interpreted")
    try:  # fail before any work when no quota can be applied
        probe = CpuQuota(f"lambdalytics-capacity-{os.getpid()}-probe")
    except QuotaUnavailable as exc:
        print(f"error: {exc}; no figure measured without its quota", file=sys.stderr)
        return 2
    how = probe.describe()
    probe.close()
    info = cb.machine()
    every = set(os.sched_getaffinity(0))
    cpus = cb.choose_cpus()
    if cpus.load is not None:
        os.sched_setaffinity(0, {cpus.load})
    os.environ.update(cb.child_env())
    spec = workload.QUICK if args.smoke else workload.FULL
    loadgen = "wrk" if shutil.which("wrk") else "python"
    print(f"capacity: {info['cpu']}, {info['cores']} CPUs; {build} build; loads {loadgen} on CPU "
          f"{cpus.load}, c={args.connections}, {args.duration:g} s each, {args.runs} runs "
          f"interleaved; quotas {', '.join(f'{q:g}' for q in quotas)} vCPU", flush=True)
    geoip = workload.geo_database(spec)
    tsv = workload.request_file(spec, geoip)
    opts = cb.Options(args.duration, 1.0, [args.connections], [], args.smoke, loadgen, None, tsv,
                      spec, geoip, workload.prewarm_file(tsv, spec.prewarm))
    served = [] if args.skip_collector else workloads(args.workloads.split(","), opts)
    previous = json.loads(args.write.read_text()) if args.write and args.write.exists() else {}
    phases: dict[str, dict[str, Any] | None] = {"sink": None, "archiver": None, "compactor": None}
    bad: list[str] = []
    sizes: list[dict[str, Any]] = []
    if served:
        workdir = Path(tempfile.mkdtemp(prefix="capacity-"))
        try:
            with children_of(workdir) as children:
                print(f"collector: quotas by {how}, period {PERIOD_US // 1000} ms", flush=True)
                bench_collector(children, cpus, opts, served, quotas, args.runs,
                                args.connections, every)
        finally:
            for s in served:
                if s.quota is not None:
                    s.quota.close()
    if not args.skip_sink:
        phases["sink"] = _phase("the Kinesis client's CPU per hit (bench/put_records_cost.py)",
                                bench_sink, max(args.runs, 5), 10)
    if served:
        sink_us = float((phases["sink"] or previous.get("sink") or {}).get("client_us_per_hit", 0))
        sizes, bad = collector_figures(served, quotas, sink_us)
        for line in table(served, sizes, sink_us):
            print(line)
        for line in bad:
            print(f"! quota check: {line}")
        print(f"quota check: {'OK' if not bad else 'FAILED'} (server CPU / wall ≤ quota + "
              f"{MARGIN}, throttled below 1 vCPU, no failed request)", flush=True)
    if not args.skip_archiver:
        phases["archiver"] = _phase("archiver (bench/archive_bench.py's cost run, on moto)",
                                    bench_archiver, args.runs, args.archiver_records, 4)
    if not args.skip_compactor:
        phases["compactor"] = _phase("compactor (bench/lake_bench.py's compaction)",
                                     bench_compactor, min(args.runs, 2), args.compactor_hits,
                                     args.compactor_days)
    if args.write:
        doc = figures(info, argv, served, sizes, phases, build, previous)
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.write}")
    return 1 if bad else 0


def table(served: list[Served], sizes: list[dict[str, Any]], sink_us: float) -> list[str]:
    out = ["", "hits/s per task size: the server's hits per CPU-second over every load × the cores "
           f"usable under the quota (one process: at most 1), with the Kinesis client's {sink_us:g} "
           "µs/hit; in brackets, at that quota (NullWriter): the median hits/s measured, hits per "
           "CPU-second, the cores the server got, p99 ms"]
    for e in sizes:
        out.append(f"{e['vcpu']:>4g} vCPU | " + " | ".join(
            f"{s.path} {e.get(KEYS[s.name], 0):>6,} ({e.get(KEYS[s.name] + '_measured', 0):>6,}, "
            f"{e.get(f'{s.name}_hits_per_cpu_s', 0):>6,}, {e.get(f'{s.name}_cores_used', 0):4.2f}, "
            f"{e.get(f'{s.name}_p99_ms', 0):6.1f})" for s in served) + f" | RSS {e['rss_mib']} MiB")
    out.append("memory (MiB) and the main thread's share of CPU: " + "; ".join(
        f"{s.name} {s.memory}" for s in served))
    return out


def _phase(title: str, fn: Any, *args: Any) -> dict[str, Any]:
    print(f"\n{title}", flush=True)
    result: dict[str, Any] = fn(*args)
    figure = result.get("hits_per_cpu_s")
    print(f"  median {figure:,} hits/CPU-s" if figure else
          f"  median {result['client_us_per_hit']} µs/hit", flush=True)
    return result


if __name__ == "__main__":
    sys.exit(main())
