"""Benchmark of the collector's hit path: ``/collect`` throughput and latency on one core,
and what enrichment costs in it.

What it measures, in one run, with realistic and varied Universal Analytics hits from
:mod:`bench.hits` (pageviews, events, custom dimensions, ecommerce, timings; analytics.js
internals and a ``z`` cache buster; ~70 % GET pixels, the rest beacon/XHR POSTs) on traffic
that is realistic for the enrichment caches (:mod:`bench.traffic`: user agents and client
addresses drawn Zipf-like from many more distinct values than the caches hold, the address
in X-Forwarded-For; referrers of every kind, utm-tagged and click-id landing pages; a few %
bots), with the GeoIP database a synthetic GeoLite2-City-shaped one (:mod:`bench.workload`),
at rising concurrency:

(a) a bare ASGI app answering 204 (:mod:`bench.baseline_app`) under the collector's own
    ``uvicorn.Config`` (:func:`collector.server.config`: no access log, lifespan on,
    httptools and uvloop): the ceiling of the stack;
(b0) the collector with :class:`collector.sink.NullWriter` behind the real group-commit sink
    and an in-memory property lookup, its enrichment replaced (``Overrides(enricher=...)``)
    by :class:`bench.workload.PeerOnlyEnricher`, what it did before enrichment existed;
(b) the same with the collector's full enrichment (GeoIP, devices, bots, campaign,
    referrer; ``trusted_proxy_hops=1``, ``bot_policy="flag"``), its caches warmed in
    process by the requests before the measured ones: enrichment's cost is (b0) vs (b);
then the enrichment alone, in process (bench/enrich_e2e.py on the server's idle CPU): µs per
hit of ``Enricher.apply`` on the same stream, step by step, and every cache's miss rate;
(c) the collector (full enrichment) writing to Kinesis on moto, compared with moto's own
    ceiling measured in the same run by a plain client putting batches of 500 real
    (enriched) hit records; then its latency under an open-loop load at half that ceiling;
    and after each phase, every record is read back from the stream and the hit records
    are counted against the 2xx answers the load generator got (bots are forwarded flagged
    and no referrer is spam, so one 2xx is one hit record).

How: each server is a separate process (``python -m bench.serve``) started, waited for,
warmed up, measured and stopped; each sees one continuing stream of requests (the load
generators start where the previous load on it stopped). For (a), (b0) and (b) the server
is pinned to the first CPU (``taskset -c 0``) and ``wrk`` with ``bench/loadgen.lua`` to the
second. For (c), moto runs alone on the first CPU and the collector, the load generator and
this script share the second; the load comes from :mod:`bench.loadgen`, which waits for
every answer it is owed so that its 2xx count is exact (wrk abandons requests in flight when
its time is up). moto's PutRecords slows down as a shard fills (it copies the shard's keys
on every record), so every (c) phase gets a fresh stream, and the ceiling comparison is also
made at equal fill: the time moto alone took for the same records, over the time the
collector took.

All traffic goes to 127.0.0.1; every child process is stopped on exit, error or Ctrl-C.
Timings are printed, never asserted; the exit status is 1 only when a correctness check
fails (a read-back count that differs, failed requests) or a phase cannot run. The GeoIP
database and the request file are built once into $TMPDIR/lambdalytics-bench and reused.

    python bench/collect_bench.py                 # full run, ~8 minutes (+1 the first time)
    python bench/collect_bench.py --quick         # ~1 minute smoke run (CI), smaller workload
    python bench/collect_bench.py --skip-kinesis --concurrency 1,8,32,128 --duration 8
    python bench/collect_bench.py --concurrency 32 --kinesis-concurrency 128,512 --kinesis-thread off
    python bench/collect_bench.py --skip-kinesis --ga4  # + GA4 beside UA (~5 min; +3 the first time)

``--ga4`` adds a section after the enrichment alone (bench/ga4_bench.py): the (b) collector on
one server per workload, ``/collect``, ``/g/collect`` with 1, 5 and 10 events per request and
``/mp/collect`` with 1 and 10 (:mod:`bench.ga4_hits`), loads interleaved at each connection
count: requests/s, events/s, server CPU per event and its ratio to the UA hit's.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench`, `collector`, `lambdalytics` importable
    sys.path.insert(0, str(ROOT))

from bench import hits, reference_apps, stages, workload  # noqa: E402
from bench.machine import cpu_model  # noqa: E402
from lambdalytics import compiled  # noqa: E402

LUA = ROOT / "bench" / "loadgen.lua"
# issue 2's targets: the collector's hit path, (b0) (its (b), before enrichment existed), and (c)
TARGET_NULL_MIN, TARGET_NULL_AIM, TARGET_KINESIS = 0.35, 0.50, 0.80
TARGET_ENRICHMENT = 0.30  # issue 3's: enrichment may cost at most this share of the throughput
# (b) with full enrichment when both are met: the hit path's target less enrichment's budget
TARGET_FULL_MIN = TARGET_NULL_MIN * (1 - TARGET_ENRICHMENT)
TARGET_FULL_AIM = TARGET_NULL_AIM * (1 - TARGET_ENRICHMENT)
REFERENCE = "ref:"  # label prefix of the reference apps' runs
OPEN_LOOP_CONNECTIONS = 256


def share_targets(*, enriched: bool) -> tuple[float, float]:
    """(target, aim) of a share of (a): issue 2's for (b0), or with ``enriched`` both issues'
    together for (b) (:data:`TARGET_FULL_MIN`, :data:`TARGET_FULL_AIM`)."""
    return (TARGET_FULL_MIN, TARGET_FULL_AIM) if enriched else (TARGET_NULL_MIN, TARGET_NULL_AIM)


def share_verdict(ratio: float, *, enriched: bool = False) -> str:
    """(b0)/(a), or with ``enriched`` (b)/(a), against its :func:`share_targets`."""
    low, aim = share_targets(enriched=enriched)
    return ("meets the aim" if ratio >= aim else
            "meets the target" if ratio >= low else "BELOW the target")


def cost_verdict(cost: float) -> str:
    """Enrichment's cost, (b0 - b)/b0, against its target."""
    return "meets the target" if cost <= TARGET_ENRICHMENT else "OVER the target"


def kinesis_verdict(share: float) -> str:
    """(c)'s share of moto's ceiling against its target."""
    return f"{'meets' if share >= TARGET_KINESIS else 'BELOW'} the {TARGET_KINESIS:.0%} target"


# --- child processes ------------------------------------------------------------------------


class Children:
    """Every process this script starts, so that all of them are stopped on any exit."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, cmd: Sequence[str], *, capture: bool = False) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            list(cmd), cwd=ROOT, env=child_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else log, stderr=log,
            start_new_session=True,  # a terminal Ctrl-C reaches this script, which stops them
        )
        log.close()
        self._procs.append((name, proc))
        return proc

    def run(self, name: str, cmd: Sequence[str], timeout: float) -> str:
        """Run to completion; its stdout, or RuntimeError with its log's tail."""
        proc = self.start(name, cmd, capture=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            raise RuntimeError(f"{name} did not finish within {timeout:.0f}s") from None
        except BaseException:  # Ctrl-C, SIGTERM: the child must not outlive us
            self.stop(proc, grace=5.0)
            raise
        self._forget(proc)
        if proc.returncode != 0:
            raise RuntimeError(f"{name} exited {proc.returncode}:\n{self.tail(name)}")
        return out.decode("utf-8", "replace")

    def stop(self, proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM,
             grace: float = 30.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
        self._forget(proc)

    def stop_all(self) -> None:
        for _, proc in reversed(list(self._procs)):
            self.stop(proc, grace=10.0)

    def tail(self, name: str, lines: int = 25) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _forget(self, proc: subprocess.Popen[bytes]) -> None:
        self._procs = [(n, p) for n, p in self._procs if p is not proc]


def child_env() -> dict[str, str]:
    """This environment, less any AWS or collector setting, plus moto's dummy credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDALYTICS_"))}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", PYTHONPATH=str(ROOT),
               PYTHONDONTWRITEBYTECODE="1")
    return env


@dataclass(frozen=True, slots=True)
class Cpus:
    server: int | None  # None: no pinning (fewer than two CPUs, or no taskset)
    load: int | None

    def pin(self, cpu: int | None, cmd: Sequence[str]) -> list[str]:
        return list(cmd) if cpu is None else ["taskset", "-c", str(cpu), *cmd]


def choose_cpus() -> Cpus:
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2 or shutil.which("taskset") is None:
        print("! fewer than two CPUs (or no taskset): running unpinned; figures are not comparable")
        return Cpus(None, None)
    return Cpus(allowed[0], allowed[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], children: Children, name: str,
              timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited {proc.returncode} at start:\n{children.tail(name)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback only)
                if resp.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} not answering {url} after {timeout:.0f}s:\n{children.tail(name)}")
        time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (taskset has exec'd into the program)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- load generators ------------------------------------------------------------------------


@dataclass
class Load:
    """One measurement: what the load generator saw, and the CPU the processes used."""

    label: str
    concurrency: int
    tool: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    ok2xx: int | None  # None when the tool does not count them (wrk)
    failed: int  # error statuses, connection errors, timeouts
    target_rate: float | None = None
    sent: int | None = None  # requests sent (wrk: None, it reports those answered)
    duration_s: float = 0.0
    server_cpu_s: float | None = None
    moto_cpu_s: float | None = None
    loadgen_cpu_s: float | None = None
    # the whole core, whoever used it: busy (user, system, irq, softirq) and stolen by the host
    server_core_busy: float | None = None
    load_core_busy: float | None = None
    steal: float | None = None

    def share(self, cpu_s: float | None) -> float | None:
        return None if cpu_s is None or not self.duration_s else cpu_s / self.duration_s

    @property
    def server_us_per_hit(self) -> float | None:
        if self.server_cpu_s is None or not self.requests:
            return None
        return self.server_cpu_s / self.requests * 1e6


@dataclass
class Options:
    duration: float
    warmup: float
    concurrency: list[int]
    kinesis_concurrency: list[int]
    quick: bool
    loadgen: str  # wrk | python
    profile: Path | None
    tsv: Path
    spec: workload.Spec
    geoip: Path
    prewarm: Path  # what enrichment reads of the first spec.prewarm requests
    stages: bool = False  # time the hot path's stages in (b0) and (b) (bench.stages)
    kinesis_thread: str = "on"  # (c): the collector's Kinesis client on its own thread, or off
    profiled: dict[str, tuple[Path, float]] = field(default_factory=dict)  # label: (file, µs/hit)
    staged: dict[str, dict[str, Any]] = field(default_factory=dict)  # label: stage report


class Stream:
    """Where in the request file the next load on one server starts: each server's caches
    see one continuing stream of requests, from the first after the prewarmed ones."""

    def __init__(self, position: int) -> None:
        self.position = position

    def advance(self, row: Load) -> None:
        self.position += row.sent if row.sent is not None else row.requests


def run_wrk(children: Children, cpus: Cpus, url: str, tsv: Path, connections: int,
            duration: float, label: str, start: int = 0) -> Load:
    seconds = max(1, round(duration))
    cmd = cpus.pin(cpus.load, ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                               "--timeout", "10s", "-s", str(LUA), url, "--", str(tsv),
                               str(start)])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the one child ending now
    out = children.run(f"wrk-{label}-c{connections}", cmd, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = re.search(r"^BENCHJSON (\{.*\})$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no BENCHJSON line in wrk's output:\n{out}")
    s = json.loads(match.group(1))
    elapsed = s["duration_us"] / 1e6
    failed = (s["non2xx3xx"] + s["connect_errors"] + s["read_errors"] + s["write_errors"]
              + s["timeouts"])
    return Load(label, connections, "wrk", s["requests"] / elapsed, s["p50_us"] / 1000,
                s["p99_us"] / 1000, s["requests"], None, failed, duration_s=elapsed,
                loadgen_cpu_s=after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)


def run_python_load(children: Children, cpus: Cpus, url: str, tsv: Path, connections: int,
                    duration: float, label: str, rate: float | None = None,
                    start: int = 0) -> Load:
    grace = 2 * duration + 15  # an overloaded server owes a backlog when the time is up
    cmd = [sys.executable, "-m", "bench.loadgen", "--url", url, "--requests", str(tsv),
           "--connections", str(connections), "--duration", f"{duration:g}",
           "--grace", f"{grace:g}", "--start", str(start)]
    if rate is not None:
        cmd += ["--rate", f"{rate:.0f}"]
    out = children.run(f"loadgen-{label}-c{connections}", cpus.pin(cpus.load, cmd),
                       timeout=duration + grace + 30)
    s = json.loads(out.strip().splitlines()[-1])
    return Load(label, connections, "python", s["rps"], s["p50_ms"], s["p99_ms"], s["answered"],
                s["ok2xx"], s["other_status"] + s["failed"], rate, s["sent"], s["duration_s"],
                loadgen_cpu_s=s["cpu_s"])


def core_ticks() -> dict[int, tuple[int, int, int]]:
    """Per CPU, from /proc/stat: (busy, steal, total) clock ticks since boot."""
    out: dict[int, tuple[int, int, int]] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            user, nice, system, idle, iowait, irq, softirq, steal = map(int, values[:8])
            busy = user + nice + system + irq + softirq
            out[int(name[3:])] = (busy, steal, busy + steal + idle + iowait)
    return out


def core_busy(before: dict[int, tuple[int, int, int]], after: dict[int, tuple[int, int, int]],
              cpu: int | None) -> tuple[float | None, float | None]:
    if cpu is None or cpu not in before or cpu not in after:
        return None, None
    busy, steal, total = (a - b for a, b in zip(after[cpu], before[cpu], strict=True))
    return (busy / total, steal / total) if total > 0 else (None, None)


def measure(children: Children, cpus: Cpus, opts: Options, url: str, connections: int,
            duration: float, label: str, server_pid: int, stream: Stream, *,
            tool: str | None = None, rate: float | None = None,
            moto_pid: int | None = None) -> Load:
    """One load run, with the CPU the server (and moto) used during it, and how busy each
    core was as a whole (a core much busier than our processes: something else ran there)."""
    tool = tool or opts.loadgen
    server_before = cpu_seconds(server_pid)
    moto_before = cpu_seconds(moto_pid) if moto_pid else 0.0
    ticks = core_ticks()
    if tool == "wrk":
        row = run_wrk(children, cpus, url, opts.tsv, connections, duration, label, stream.position)
    else:
        row = run_python_load(children, cpus, url, opts.tsv, connections, duration, label, rate,
                              stream.position)
    stream.advance(row)
    ticks_after = core_ticks()
    row.server_cpu_s = cpu_seconds(server_pid) - server_before
    if moto_pid:
        row.moto_cpu_s = cpu_seconds(moto_pid) - moto_before
    row.server_core_busy, steal_server = core_busy(ticks, ticks_after, cpus.server)
    row.load_core_busy, steal_load = core_busy(ticks, ticks_after, cpus.load)
    steals = [x for x in (steal_server, steal_load) if x is not None]
    row.steal = max(steals) if steals else None
    return row


def pct(value: float | None) -> str:
    return "   -" if value is None else f"{100 * value:3.0f}%"


# --- (a) and (b): one server on its own core --------------------------------------------------


def serve_cmd(mode: str, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bench.serve", "--mode", mode, "--port", str(port), *extra]


def enrich_args(opts: Options, enrich: str) -> list[str]:
    """bench.serve's options for an enrichment: ``minimal`` (before enrichment) or ``full``
    (the collector's, on the synthetic GeoIP database, caches prewarmed)."""
    if enrich == "minimal":
        return ["--enrich", "minimal"]
    return ["--enrich", "full", "--geoip", str(opts.geoip), "--cache-size",
            str(opts.spec.cache_size), "--prewarm", str(opts.prewarm)]


@contextlib.contextmanager
def server(children: Children, name: str, cmd: list[str], url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = children.start(name, cmd)
    try:
        wait_http(f"{url}/healthz", proc, children, name, timeout=180.0)  # prewarm included
        yield proc
    finally:
        children.stop(proc, sig=signal.SIGINT)  # uvicorn's graceful shutdown (drains the sink)


def bench_plain(children: Children, cpus: Cpus, opts: Options, mode: str, label: str,
                enrich: str | None = None, app: str | None = None) -> list[Load]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rows: list[Load] = []
    stream = Stream(opts.spec.prewarm)  # every server gets the same requests, in the same order
    extra = [*(enrich_args(opts, enrich) if enrich else []),
             *(["--stages"] if opts.stages and enrich else []),
             *(["--app", app] if app else [])]
    cmd = serve_cmd(mode, port, *extra)
    with server(children, f"server-{label}", cpus.pin(cpus.server, cmd), url) as proc:
        measure(children, cpus, opts, url, 32, opts.warmup, f"{label}-warmup", proc.pid, stream)
        for c in opts.concurrency:
            row = measure(children, cpus, opts, url, c, opts.duration, label, proc.pid, stream)
            rows.append(row)
            print(f"  {label:<6} c={c:<4} {row.rps:9,.0f} hits/s  p50 {row.p50_ms:7.2f} ms  "
                  f"p99 {row.p99_ms:7.2f} ms  CPU: server {pct(row.share(row.server_cpu_s))} "
                  f"{row.server_us_per_hit or 0:4.0f} µs/hit, {row.tool} "
                  f"{pct(row.share(row.loadgen_cpu_s))}; cores {pct(row.server_core_busy)} "
                  f"{pct(row.load_core_busy)} steal {pct(row.steal)}  failed {row.failed}",
                  flush=True)
        if opts.profile is not None and enrich is not None:
            out = opts.profile / f"collector-{label}.txt"
            with py_spy(children, cpus, proc.pid, opts.duration, out):
                row = measure(children, cpus, opts, url, max(opts.concurrency), opts.duration + 1,
                              "profile", proc.pid, stream)
            if out.exists() and row.server_us_per_hit:
                opts.profiled[label] = (out, row.server_us_per_hit)
        if opts.stages and enrich is not None:
            stage_run(children, cpus, opts, url, label, proc.pid, stream)
    return rows


def stage_run(children: Children, cpus: Cpus, opts: Options, url: str, label: str, pid: int,
              stream: Stream) -> None:
    """An extra, unmeasured load on a ``--stages`` server: where its time went, per hit."""
    os.kill(pid, signal.SIGUSR1)  # zero the sums: prewarm and the measured loads are done
    row = measure(children, cpus, opts, url, max(opts.concurrency), opts.duration, "stages",
                  pid, stream)
    os.kill(pid, signal.SIGUSR2)
    log = children.logs / f"server-{label}.log"
    report = None
    for _ in range(50):  # the report is written by the server's signal handler
        time.sleep(0.1)
        report = stages.read_report(log.read_text(encoding="utf-8", errors="replace"))
        if report is not None and report["hits"]:
            break
    if report is None or not report["hits"] or not row.server_us_per_hit:
        print(f"  ! --stages: no stage report from the {label} server", flush=True)
        return
    report["server_us_per_hit"] = round(row.server_us_per_hit, 1)
    report["connections"] = row.concurrency
    opts.staged[label] = report
    print(f"  stages at c={row.concurrency} (wall µs per hit; an extra run, "
          f"{report['hits']:,} hits):", flush=True)
    for line in stage_table(report):
        print(f"    {line}", flush=True)


def stage_table(report: dict[str, Any]) -> list[str]:
    """A stage report as rows: µs per hit and share of the server's CPU per hit."""
    total = report["server_us_per_hit"]
    per_hit: dict[str, float] = report["us_per_hit"]
    rows = [f"{name:<10} {us:7.1f}  {us / total:6.1%}" for name, us in per_hit.items()
            if name != "gc"]
    inside = sum(us for name, us in per_hit.items() if name != "gc")
    rows.append(f"{'the rest':<10} {total - inside:7.1f}  {(total - inside) / total:6.1%}   "
                "(uvicorn, event loop, edge, sink, wake-ups)")
    rows.append(f"{'CPU':<10} {total:7.1f}  100.0%   (the process, /proc)")
    rows.append(f"{'gc':<10} {per_hit['gc']:7.1f}  {per_hit['gc'] / total:6.1%}   "
                "(inside the stages above)")
    return rows


def profile_difference(opts: Options) -> None:
    """Where (b) spends the CPU that (b0) does not: both profiled under the same load."""
    if "before" not in opts.profiled or "null" not in opts.profiled:
        return
    from bench.profile_top import diff
    from bench.profile_top import load as load_profile

    (before, before_us), (after, after_us) = opts.profiled["before"], opts.profiled["null"]
    print(f"  profile difference, (b0) -> (b), at c={max(opts.concurrency)}:\n" + "\n".join(
        "    " + line for line in diff(load_profile(before), before_us, load_profile(after),
                                       after_us, 25).splitlines()), flush=True)


# --- enrichment alone: in process, on the server's CPU ----------------------------------------


def bench_enrichment_alone(children: Children, cpus: Cpus, opts: Options) -> dict[str, Any]:
    """bench/enrich_e2e.py on the same request file, database and cache size, pinned to the
    server's CPU (idle between the server phases); its figures, and its report echoed."""
    spec = opts.spec
    measured = min(4_000 if opts.quick else 50_000, spec.requests - spec.prewarm)
    cmd = [sys.executable, str(ROOT / "bench" / "enrich_e2e.py"), "--requests", str(opts.tsv),
           "--db", str(opts.geoip), "--cache", str(spec.cache_size), "--prewarm",
           str(spec.prewarm), "--measure", str(measured), "--json"]
    out = children.run("enrich-e2e", cpus.pin(cpus.server, cmd), timeout=600)
    result: dict[str, Any] | None = None
    for line in out.splitlines():
        if line.startswith("E2EJSON "):
            result = json.loads(line[len("E2EJSON "):])
        elif line and not line.startswith(("machine:", "python:", "build:")):
            print(f"  {line}", flush=True)
    if result is None:
        raise RuntimeError(f"no E2EJSON line in bench/enrich_e2e.py's output:\n{out}")
    return result


@contextlib.contextmanager
def py_spy(children: Children, cpus: Cpus, pid: int, duration: float, out: Path) -> Iterator[None]:
    """Sample ``pid`` with py-spy while the body runs a load (not a measured one)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        print("  ! --profile: py-spy is not installed (pip install py-spy); no profile")
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = children.start(f"py-spy-{out.stem}", cpus.pin(cpus.load, [
        exe, "record", "--pid", str(pid), "--duration", str(max(2, round(duration))),
        "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"]))
    try:
        yield
        spy.wait(60)
    finally:
        children.stop(spy)
    if out.exists():
        from bench.profile_top import load as load_profile
        from bench.profile_top import report

        print(f"  profile: {out}\n" + "\n".join(
            "    " + line for line in report(load_profile(out), 12, ("collector", "lambdalytics"))
            .splitlines()), flush=True)


# --- (c): Kinesis on moto ---------------------------------------------------------------------


@dataclass
class Ceiling:
    records_per_s: float
    duration_s: float
    records: int
    mean_record_bytes: float
    moto_cpu_s: float
    curve: list[tuple[int, float]] = field(default_factory=list)  # (records so far, seconds)

    def seconds_for(self, first: int, last: int) -> tuple[float, bool]:
        """How long moto alone took to go from ``first`` to ``last`` records in a fresh
        stream; past the measured curve, extrapolated at its final rate (flag True)."""
        return self._at(last) - self._at(first), last > self.records

    def _at(self, n: int) -> float:
        points = [(0, 0.0), *self.curve]
        i = bisect.bisect_left([p[0] for p in points], n)
        if i == 0:
            return 0.0
        if i < len(points):
            (n0, t0), (n1, t1) = points[i - 1], points[i]
        else:
            (n0, t0), (n1, t1) = points[-2], points[-1]
        return t0 + (t1 - t0) * (n - n0) / max(n1 - n0, 1)


@dataclass
class KinesisPhase:
    load: Load
    warmup_ok2xx: int
    warmup_failed: int
    hit_records: int = 0
    other_records: int = 0
    ceiling_share: float = 0.0  # rps / ceiling records/s
    equal_fill_share: float = 0.0  # moto's own seconds for the same records / the phase's
    extrapolated: bool = False
    note: str = ""

    @property
    def expected(self) -> int:
        return self.warmup_ok2xx + (self.load.ok2xx or 0)

    @property
    def check_ok(self) -> bool:
        return (self.hit_records == self.expected and self.load.failed == 0
                and self.warmup_failed == 0)


@dataclass
class KinesisResult:
    ceiling: Ceiling
    closed: list[KinesisPhase]
    open: list[KinesisPhase]
    profiled: KinesisPhase | None = None

    @property
    def all_phases(self) -> list[KinesisPhase]:
        return [*self.closed, *self.open, *([self.profiled] if self.profiled else [])]


def bench_settings(moto_url: str, prefix: str) -> Any:
    from collector.settings import CollectorSettings

    return CollectorSettings(resource_prefix=prefix, aws_endpoint_url=moto_url,
                             aws_region="us-east-1", sink_max_in_flight=1)


def create_stack(settings: Any) -> None:
    """Stream, properties table and the bench property, as tests/support.py create_stack()."""
    from lambdalytics import aws, bootstrap
    from lambdalytics.properties import PropertyStore

    async def go() -> None:
        res = settings.resources
        await bootstrap.provision(settings, (res.properties,))
        async with aws.client(aws.session(), "dynamodb", settings) as ddb:
            await PropertyStore(ddb, res.properties.name).register(
                "Bench site", list(hits.TRACKING_IDS), property_id=hits.PROPERTY_ID, enabled=True)

    asyncio.run(go())


def create_stream_only(settings: Any) -> None:
    from lambdalytics import aws, bootstrap

    async def go() -> None:
        async with aws.client(aws.session(), "kinesis", settings) as kinesis:
            await bootstrap.ensure_stream(kinesis, settings.resources.stream)

    asyncio.run(go())


def kinesis_client(moto_url: str) -> Any:
    import boto3

    return boto3.client("kinesis", endpoint_url=moto_url, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench")  # noqa: S106


def measure_ceiling(moto_url: str, moto_pid: int, prefix: str, records: list[tuple[bytes, str]],
                    duration: float) -> Ceiling:
    """A plain boto3 client, one PutRecords of 500 records after another, into a fresh
    stream shaped like the collector's."""
    settings = bench_settings(moto_url, prefix)
    create_stream_only(settings)
    client = kinesis_client(moto_url)
    stream = settings.resources.stream.name
    batches = [[{"Data": d, "PartitionKey": k} for d, k in records[i:i + 500]]
               for i in range(0, len(records) - 499, 500)]
    curve: list[tuple[int, float]] = []
    done = 0
    moto_before = cpu_seconds(moto_pid)
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < duration:
        batch = batches[len(curve) % len(batches)]
        resp = client.put_records(StreamName=stream, Records=batch)
        if resp.get("FailedRecordCount"):
            raise RuntimeError(f"moto refused {resp['FailedRecordCount']} records of a batch")
        done += len(batch)
        elapsed = time.perf_counter() - start
        curve.append((done, elapsed))
    mean = sum(len(d) for d, _ in records) / len(records)
    return Ceiling(done / elapsed, elapsed, done, mean, cpu_seconds(moto_pid) - moto_before, curve)


def read_back(moto_url: str, stream: str) -> tuple[int, int]:
    """(hit records, other records) in the stream, every shard read to its end."""
    from lambdalytics import hit as hitmod
    from lambdalytics.records import decode

    client = kinesis_client(moto_url)
    hit_records = other = 0
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            resp = client.get_records(ShardIterator=iterator, Limit=10_000)
            if not resp["Records"]:
                break
            for record in resp["Records"]:
                if isinstance(decode(record["Data"]), hitmod.Hit):
                    hit_records += 1
                else:
                    other += 1
            iterator = resp.get("NextShardIterator")
    return hit_records, other


def kinesis_phase(children: Children, cpus: Cpus, opts: Options, moto: tuple[str, int],
                  ceiling: Ceiling, prefix: str, label: str, connections: int,
                  rate: float | None = None, profile: Path | None = None) -> KinesisPhase:
    """A fresh stream, a fresh collector on it, a warm-up, one measured load, the read-back."""
    moto_url, moto_pid = moto
    settings = bench_settings(moto_url, prefix)
    create_stack(settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = cpus.pin(cpus.load, serve_cmd("kinesis", port, "--prefix", prefix, "--endpoint", moto_url,
                                        "--kinesis-thread", opts.kinesis_thread,
                                        *enrich_args(opts, "full")))
    stream = Stream(opts.spec.prewarm)
    with server(children, f"server-{prefix}", cmd, url) as proc:
        warm = run_python_load(children, cpus, url, opts.tsv, min(connections, 8),
                               min(opts.warmup, 1.0), f"{label}-warmup", start=stream.position)
        stream.advance(warm)
        spy = (py_spy(children, cpus, proc.pid, opts.duration, profile) if profile
               else contextlib.nullcontext())
        with spy:
            row = measure(children, cpus, opts, url, connections, opts.duration, label, proc.pid,
                          stream, tool="python", rate=rate, moto_pid=moto_pid)
    phase = KinesisPhase(row, warm.ok2xx or 0, warm.failed)
    phase.hit_records, phase.other_records = read_back(moto_url, settings.resources.stream.name)
    phase.ceiling_share = row.rps / ceiling.records_per_s
    first, last = phase.warmup_ok2xx, phase.expected
    moto_seconds, phase.extrapolated = ceiling.seconds_for(first, last)
    phase.equal_fill_share = moto_seconds / row.duration_s if row.duration_s else 0.0
    print_kinesis(phase)
    return phase


def ceiling_records(opts: Options) -> list[tuple[bytes, str]]:
    """The hit records the collector writes for requests of the measured part of the stream,
    enriched as it enriches them (so of the same size)."""
    spec = opts.spec
    count = 4_000 if opts.quick else 20_000
    requests = workload.window(hits.read_tsv(opts.tsv), spec.prewarm, count)
    enricher = workload.full_enricher(workload.enrichment_settings(opts.geoip, spec.cache_size))
    return hits.kinesis_records(requests, enricher)


def bench_kinesis(children: Children, cpus: Cpus, opts: Options, run_id: str) -> KinesisResult:
    moto_port = free_port()
    moto_url = f"http://127.0.0.1:{moto_port}"
    moto_bin = Path(sys.executable).with_name("moto_server")
    moto_cmd = [str(moto_bin)] if moto_bin.exists() else [sys.executable, "-m", "moto.server"]
    proc = children.start("moto", cpus.pin(cpus.server, [*moto_cmd, "-H", "127.0.0.1",
                                                        "-p", str(moto_port)]))
    moto = (moto_url, proc.pid)
    try:
        wait_http(f"{moto_url}/moto-api/", proc, children, "moto")
        records = ceiling_records(opts)
        ceiling = measure_ceiling(moto_url, proc.pid, f"{run_id}ceil", records, opts.duration)
        print(f"  moto ceiling: {ceiling.records_per_s:,.0f} records/s ({ceiling.records:,} records "
              f"of {ceiling.mean_record_bytes:.0f} B mean in {ceiling.duration_s:.1f}s, batches of "
              f"500, one call at a time; moto CPU {pct(ceiling.moto_cpu_s / ceiling.duration_s)})",
              flush=True)
        result = KinesisResult(ceiling, [], [])
        for c in opts.kinesis_concurrency:
            result.closed.append(kinesis_phase(children, cpus, opts, moto, ceiling,
                                               f"{run_id}k{c}", "kinesis", c))
        half = ceiling.records_per_s / 2
        limited = kinesis_phase(children, cpus, opts, moto, ceiling, f"{run_id}r1", "rate",
                                OPEN_LOOP_CONNECTIONS, half)
        limited.note = "half moto's ceiling"
        result.open.append(limited)
        best = max(p.load.rps for p in result.closed)
        if not opts.quick and best / 2 < half * 0.9:
            # the collector cannot take half the ceiling: latency then is a queue; add the
            # latency at half of what it can take, a load it is not saturated by
            own = kinesis_phase(children, cpus, opts, moto, ceiling, f"{run_id}r2", "rate",
                                OPEN_LOOP_CONNECTIONS, best / 2)
            own.note = "half the collector's best (c)"
            result.open.append(own)
        if opts.profile is not None:
            c = max(opts.kinesis_concurrency)
            result.profiled = kinesis_phase(children, cpus, opts, moto, ceiling, f"{run_id}prof",
                                            "profile", c, profile=opts.profile / "collector-kinesis.txt")
            result.profiled.note = "under py-spy (not in the table)"
    finally:
        children.stop(proc)
    return result


def print_kinesis(phase: KinesisPhase) -> None:
    row = phase.load
    what = f"rate {row.target_rate:,.0f}/s" if row.target_rate else f"c={row.concurrency:<4}"
    verdict = "OK" if phase.check_ok else "MISMATCH"
    print(f"  {row.label:<7} {what:<15} {row.rps:7,.0f} hits/s  p50 {row.p50_ms:7.2f} ms  "
          f"p99 {row.p99_ms:7.2f} ms  {100 * phase.ceiling_share:5.1f}% of ceiling "
          f"({100 * phase.equal_fill_share:5.1f}% at equal fill)  CPU: collector "
          f"{pct(row.share(row.server_cpu_s))} moto {pct(row.share(row.moto_cpu_s))} "
          f"load {pct(row.share(row.loadgen_cpu_s))}; cores {pct(row.server_core_busy)} "
          f"{pct(row.load_core_busy)} steal {pct(row.steal)}", flush=True)
    print(f"    read-back check: {phase.hit_records:,} hit records in the stream vs "
          f"{phase.expected:,} 2xx answers (warm-up {phase.warmup_ok2xx:,} + measured "
          f"{row.ok2xx or 0:,}); {phase.other_records} other records; failed requests "
          f"{row.failed + phase.warmup_failed}: {verdict}", flush=True)


# --- report --------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = cpu_model()

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    wrk = "not installed"
    if shutil.which("wrk"):
        proc = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        wrk = ((proc.stdout or proc.stderr).splitlines() or ["?"])[0].split(" Copyright")[0]
    revision = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "collector", "lambdalytics"],
                               capture_output=True, text=True, check=True, timeout=10).stdout
        revision = head + (" + uncommitted changes in collector/, lambdalytics/" if dirty else "")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "revision": revision,
        "cpu": cpu, "cores": str(os.cpu_count()),
        "cpus_allowed": ",".join(map(str, sorted(os.sched_getaffinity(0)))),
        "kernel": platform.release(), "python": platform.python_version(),
        "uvicorn": version("uvicorn"), "httptools": version("httptools"),
        "uvloop": version("uvloop"), "moto": version("moto"), "wrk": wrk,
        "hot_path": compiled.describe(),
    }


def _plain_cells(r: Load | None) -> str:
    if r is None:
        return f"{'-':>43}"
    return (f"{r.rps:>10,.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {pct(r.share(r.server_cpu_s))} "
            f"{pct(r.server_core_busy)} {r.server_us_per_hit or 0:>6.0f}")


def summary(plain: dict[str, list[Load]], kinesis: KinesisResult | None,
            alone: dict[str, Any] | None = None) -> list[str]:
    out: list[str] = []
    bare = {r.concurrency: r for r in plain.get("bare", [])}
    before = {r.concurrency: r for r in plain.get("before", [])}
    null = {r.concurrency: r for r in plain.get("null", [])}
    header = (f"{'hits/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'CPU':>4} {'core':>4} {'µs/hit':>6}")
    if bare or null:
        out += ["", "(a) bare ASGI 204 vs (b) collector with the NullWriter sink and full enrichment; "
                f"server CPU per hit (target: (b) >= {TARGET_FULL_MIN * 100:g}% of (a), aiming at "
                f"{TARGET_FULL_AIM * 100:g}%: the hit path's {TARGET_NULL_MIN:.0%} and "
                f"{TARGET_NULL_AIM:.0%}, below, less enrichment's {TARGET_ENRICHMENT:.0%})",
                "(CPU: the server process's share of its core; core: that core's busy share, "
                "whoever used it)",
                f"{'conns':>5} | (a) {header} | (b) {header} | {'(b)/(a)':>7}"]
        for c in sorted(set(bare) | set(null)):
            cells = [f"{c:>5}", _plain_cells(bare.get(c)), _plain_cells(null.get(c))]
            a, b = bare.get(c), null.get(c)
            if a and b:
                ratio = b.rps / a.rps
                cells.append(f"{ratio:>7.1%}  {share_verdict(ratio, enriched=True)}")
            out.append(" | ".join(cells))
    references = {label.removeprefix(REFERENCE): {r.concurrency: r for r in rows}
                  for label, rows in plain.items() if label.startswith(REFERENCE)}
    if references and bare:
        names = sorted(references)
        out += ["", "the issue's reference apps on this harness, as a share of (a)'s throughput "
                "(the issue measured elsewhere: " + ", ".join(
                    f"{n} {reference_apps.ISSUE_SHARES[n]:.0%}" for n in names
                    if n in reference_apps.ISSUE_SHARES)
                + "), beside the collector's (b0) and (b); µs of server CPU per hit in brackets",
                f"{'conns':>5} | " + " | ".join(f"{n:>20}" for n in [*names, "(b0)", "(b)"])]
        for c in sorted(bare):
            a = bare[c]
            cells = [f"{c:>5}"]
            for r in [*(references[n].get(c) for n in names), before.get(c), null.get(c)]:
                cells.append(f"{r.rps / a.rps:>10.1%} ({r.server_us_per_hit or 0:>4.0f} µs)"
                             if r else f"{'-':>20}")
            out.append(" | ".join(cells))
    if before and null:
        out += ["", "enrichment end to end: (b0) the collector before enrichment (PeerOnlyEnricher) "
                "vs (b) with it, both NullWriter (targets: (b0) >= "
                f"{TARGET_NULL_MIN:.0%} of (a), aiming at {TARGET_NULL_AIM:.0%}; enrichment's "
                f"cost = (b0 - b)/b0 of the throughput <= {TARGET_ENRICHMENT:.0%}), and the CPU "
                "per hit enrichment adds",
                f"{'conns':>5} | (b0) {header} | (b) {header} | {'(b0)/(a)':>8} {'cost':>6} "
                f"{'+µs/hit':>7}"]
        for c in sorted(set(before) | set(null)):
            b0, b = before.get(c), null.get(c)
            cells = [f"{c:>5}", _plain_cells(b0), _plain_cells(b)]
            if b0 and b:
                a = bare.get(c)
                cost = (b0.rps - b.rps) / b0.rps
                added = (b.server_us_per_hit or 0) - (b0.server_us_per_hit or 0)
                share = f"{b0.rps / a.rps:>8.1%}" if a else f"{'-':>8}"
                verdicts = f"(b0) {share_verdict(b0.rps / a.rps)}, " if a else ""
                cells.append(f"{share} {cost:>6.1%} {added:>+7.0f}  {verdicts}"
                             f"cost {cost_verdict(cost)}")
            out.append(" | ".join(cells))
    if alone is not None:
        full, minimal = alone["full"], alone["minimal"]
        out += ["", f"enrichment alone (in process, Enricher.apply on {alone['measured']:,} hits of "
                f"the same stream after {alone['prewarm']:,} that warmed the caches; "
                f"enrich_cache_size {alone['cache_size']:,}): full {full['mean_us']:.1f} µs/hit "
                f"(p50 {full['p50_us']:.1f}, p99 {full['p99_us']:.1f}); before enrichment "
                f"{minimal['mean_us']:.1f}; enrichment's own cost "
                f"{full['mean_us'] - minimal['mean_us']:.1f} µs/hit",
                "  by step (µs/hit, mean; on a cache hit / miss): " + "; ".join(
                    f"{name} {st['mean_us']:.1f}" + (
                        f" ({st['hit_us']:.1f} / {st['miss_us']:.1f})"
                        if st.get("hit_us") is not None and st.get("miss_us") is not None else "")
                    for name, st in alone["stages"].items()),
                "  cache miss rates: " + "; ".join(
                    f"{name.split(' (')[0]} {r['miss_rate']:.1%}"
                    for name, r in alone["miss_rates"].items())]
        between = alone.get("parse_between")
        if between:
            out.append(f"  the handler's parse (pairs + ua.parse) of {between['hits']:,} further hits: "
                       f"{between['minimal']['parse_us']:.1f} µs/hit with PeerOnlyEnricher between "
                       f"hits, {between['full']['parse_us']:.1f} with the full enrichment between")
    if kinesis is not None:
        ceiling = kinesis.ceiling
        out += ["", f"(c) collector -> Kinesis on moto; moto's ceiling {ceiling.records_per_s:,.0f} "
                f"records/s (target: >= {TARGET_KINESIS:.0%} of it); processes' CPU as a share "
                "of one core, and how busy moto's core and the shared core were as a whole",
                f"{'load':>12} | {'hits/s':>7} {'p50 ms':>8} {'p99 ms':>8} | {'ceiling':>7} "
                f"{'eq.fill':>8} | {'collector':>9} {'µs/hit':>6} {'moto':>4} {'load':>4} | "
                f"{'core':>4} {'core':>4} | read-back"]
        for p in [*kinesis.closed, *kinesis.open]:
            r = p.load
            what = f"{r.target_rate:,.0f}/s" if r.target_rate else f"c={r.concurrency}"
            mark = "*" if p.extrapolated else " "
            out.append(f"{what:>12} | {r.rps:>7,.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} | "
                       f"{p.ceiling_share:>7.1%} {p.equal_fill_share:>7.1%}{mark} | "
                       f"{pct(r.share(r.server_cpu_s)):>9} {r.server_us_per_hit or 0:>6.0f} "
                       f"{pct(r.share(r.moto_cpu_s))} {pct(r.share(r.loadgen_cpu_s))} | "
                       f"{pct(r.server_core_busy)} {pct(r.load_core_busy)} | "
                       f"{p.hit_records:,}/{p.expected:,} {'OK' if p.check_ok else 'MISMATCH'}"
                       + (f"  ({p.note})" if p.note else ""))
        if kinesis.closed:
            best = max(kinesis.closed, key=lambda p: p.load.rps)
            worst_case = min(best.equal_fill_share, best.ceiling_share)
            out.append(f"best (c): {best.load.rps:,.0f} hits/s at c={best.load.concurrency} = "
                       f"{best.ceiling_share:.1%} of the ceiling, {best.equal_fill_share:.1%} at "
                       f"equal fill: {kinesis_verdict(worst_case)}")
        if any(p.extrapolated for p in kinesis.all_phases):
            out.append("* more records than the ceiling run wrote: extrapolated at its final rate")
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per measurement (default 8; 2 with --quick)")
    parser.add_argument("--concurrency", default=None,
                        help="comma-separated connection counts (default 1,8,32,128; quick 8,64)")
    parser.add_argument("--kinesis-concurrency", default=None,
                        help="the same for (c) (default: --concurrency, plus 512 and 1024 in "
                             "a full run; the highest only with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="short smoke run (~1 minute; a ten times smaller workload)")
    parser.add_argument("--skip-kinesis", action="store_true",
                        help="only (a), (b0), (b) and the enrichment alone")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator for (a) and (b): wrk when installed (auto)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="also py-spy the collector under load, (b0), (b) and (c); "
                             "profiles to DIR")
    parser.add_argument("--stages", action="store_true",
                        help="also time the hot path's stages in (b0) and (b) (bench/stages.py; "
                             "an extra run on each)")
    parser.add_argument("--kinesis-thread", choices=("on", "off"), default="on",
                        help="(c): the collector's Kinesis client on its own thread (on, the "
                             "default, as in production) or on its event loop (off), to compare")
    parser.add_argument("--references", action="store_true",
                        help="also serve the issue's reference apps (bench/reference_apps.py) "
                             "after (a): its own calibration of (b)/(a), measured here")
    parser.add_argument("--ga4", action="store_true",
                        help="also measure GA4 events beside UA hits: /g/collect with 1, 5 and 10 "
                             "events per request and /mp/collect with 1 and 10, beside /collect, "
                             "each on its own (b) server (bench/ga4_bench.py)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--keep-logs", action="store_true", help="keep the child processes' logs")
    return parser.parse_args(argv)


@contextlib.contextmanager
def phase(title: str) -> Iterator[None]:
    print(title, flush=True)
    started = time.monotonic()
    yield
    print(f"  [{time.monotonic() - started:.0f} s]", flush=True)


def _counts(text: str) -> list[int]:
    values = [int(c) for c in text.split(",") if c.strip()]
    if not values or min(values) < 1:
        raise SystemExit(f"not a list of connection counts: {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stages and compiled.compiled_modules():
        raise SystemExit("--stages times the interpreted build; this tree's hot modules are "
                         "compiled (run it from the source tree)")
    duration = args.duration or (2.0 if args.quick else 8.0)
    concurrency = _counts(args.concurrency or ("8,64" if args.quick else "1,8,32,128"))
    if args.kinesis_concurrency:
        kinesis_concurrency = _counts(args.kinesis_concurrency)
    elif args.concurrency:
        kinesis_concurrency = concurrency
    elif args.quick:
        kinesis_concurrency = [max(concurrency)]  # the smoke run: one closed-loop phase
    else:
        kinesis_concurrency = [*concurrency, 512, 1024]
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    elif loadgen == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")

    info = machine()
    workdir = Path(tempfile.mkdtemp(prefix="collect-bench-"))
    spec = workload.QUICK if args.quick else workload.FULL
    cpus = choose_cpus()
    if cpus.load is not None:
        os.sched_setaffinity(0, {cpus.load})  # this script's own work stays off the server's CPU
    clean = child_env()  # in-process AWS clients and settings: moto's dummy credentials only
    for name in [n for n in os.environ if n.startswith(("AWS_", "LAMBDALYTICS_"))]:
        del os.environ[name]
    os.environ.update(clean)

    def terminate(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # even where inherited as ignored
        signal.signal(signum, terminate)
    print("Lambdalytics collector benchmark")
    for key, value in info.items():
        print(f"  {key:<13} {value}")
    print(f"  layout        (a)/(b): server on CPU {cpus.server}, {loadgen} on CPU {cpus.load}; "
          f"(c): moto alone on CPU {cpus.server}, collector + load + this script on CPU {cpus.load}; "
          f"'cores' = how busy CPU {cpus.server} and CPU {cpus.load} were, whoever used them")
    print(f"  runs          {duration:g}s each; concurrency {','.join(map(str, concurrency))}; "
          f"(c) {','.join(map(str, kinesis_concurrency))}", flush=True)
    print(f"  traffic       {spec.requests:,} requests; user agents drawn Zipf-like (s = "
          f"{spec.zipf_s:g}) from {spec.agents:,} browser agents (+ bots, tools), client "
          f"addresses from {spec.addresses:,}, in X-Forwarded-For (trusted_proxy_hops=1); "
          f"enrich_cache_size {spec.cache_size:,}; the first {spec.prewarm:,} requests warm "
          "(b) and (c)'s caches in process, every load starts after them", flush=True)

    children = Children(workdir)
    plain: dict[str, list[Load]] = {}
    kinesis: KinesisResult | None = None
    alone: dict[str, Any] | None = None
    ga4: Any = None  # bench.ga4_bench.Ga4Result with --ga4
    opts: Options | None = None
    status = 0
    started = time.monotonic()
    try:
        print("workload", flush=True)
        geoip = workload.geo_database(spec)
        tsv = workload.request_file(spec, geoip)
        prewarm = workload.prewarm_file(tsv, spec.prewarm)
        print(f"  GeoIP database {geoip} ({geoip.stat().st_size / 1e6:.1f} MB, "
              f"{spec.geo_ipv4:,} IPv4 + {spec.geo_ipv6:,} IPv6 networks); requests {tsv}",
              flush=True)
        opts = Options(duration, 0.5 if args.quick else 2.0, concurrency, kinesis_concurrency,
                       args.quick, loadgen, args.profile, tsv, spec, geoip, prewarm, args.stages,
                       kinesis_thread=args.kinesis_thread)
        with phase("(a) bare ASGI app"):
            plain["bare"] = bench_plain(children, cpus, opts, "baseline", "bare")
        if args.references:
            for name in sorted(reference_apps.APPS):
                with phase(f"the issue's reference app {name} (bench/reference_apps.py)"):
                    plain[f"{REFERENCE}{name}"] = bench_plain(children, cpus, opts, "reference",
                                                              name, app=name)
        with phase("(b0) collector before enrichment (PeerOnlyEnricher), NullWriter"):
            plain["before"] = bench_plain(children, cpus, opts, "null", "before", "minimal")
        with phase("(b) collector with full enrichment, NullWriter"):
            plain["null"] = bench_plain(children, cpus, opts, "null", "null", "full")
            profile_difference(opts)
        with phase("enrichment alone, in process (bench/enrich_e2e.py)"):
            alone = bench_enrichment_alone(children, cpus, opts)
        if args.ga4:
            from bench import ga4_bench

            with phase(ga4_bench.title(spec)):
                ga4 = ga4_bench.bench_ga4(children, cpus, opts)
        if not args.skip_kinesis:
            with phase("(c) collector -> Kinesis on moto" + (
                    "" if opts.kinesis_thread == "on" else
                    " (--kinesis-thread off: the client on the collector's loop)")):
                kinesis = bench_kinesis(children, cpus, opts, f"b{os.getpid()}")
    except KeyboardInterrupt:
        print("\ninterrupted; stopping every child process", flush=True)
        status = 130
    except Exception as exc:
        print(f"\nFAILED: {type(exc).__name__}: {exc}", flush=True)
        status = 1
    finally:
        children.stop_all()

    for line in summary(plain, kinesis, alone):
        print(line)
    ga4_rows: dict[str, list[Load]] = {}
    if ga4 is not None:
        from bench import ga4_bench

        for line in ga4_bench.summary(ga4):
            print(line)
        ga4_rows = {f"ga4 {name}": rows for name, rows in ga4.rows.items()}
        if not ga4.check_ok:
            print("! GA4 forwarded check: MISMATCH (the servers' accepted events differ from the "
                  "2xx answers, or some were filtered or refused)")
            status = status or 1
    failures = [f"{r.label} c={r.concurrency}: {r.failed}"
                for rows in [*plain.values(), *ga4_rows.values()] for r in rows if r.failed]
    if failures:
        print(f"! failed requests in (a)/(b): {', '.join(failures)}")
        status = status or 1
    if kinesis is not None:
        phases = kinesis.all_phases
        bad = [p for p in phases if not p.check_ok]
        print(f"read-back check: {'OK' if not bad else 'MISMATCH'} ({len(phases) - len(bad)}/"
              f"{len(phases)} phases: hit records in the stream == 2xx answers, no failed request)")
        if bad:
            status = status or 1
    print(f"total time {time.monotonic() - started:.0f}s")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "machine": info, "duration_s": duration, "loadgen": loadgen,
            "workload": asdict(spec),
            "plain": {k: [asdict(r) for r in v] for k, v in plain.items()},
            "enrichment_alone": alone,
            "stages": opts.staged if opts is not None else {},
            "ga4": None if ga4 is None else ga4.json(),
            "kinesis": None if kinesis is None else {
                "ceiling": {k: v for k, v in asdict(kinesis.ceiling).items() if k != "curve"},
                "phases": [{**asdict(p), "expected": p.expected, "check_ok": p.check_ok}
                           for p in kinesis.all_phases],
            },
        }, indent=2) + "\n")
    if status == 0 and not args.keep_logs:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs kept in {workdir}")
    return status


if __name__ == "__main__":
    # as bench.collect_bench, the module bench/ga4_bench.py imports (not a second copy of it)
    from bench import collect_bench

    sys.exit(collect_bench.main())
