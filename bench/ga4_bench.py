"""bench/collect_bench.py's GA4 section (``--ga4``): what a GA4 event costs beside a UA hit.

Six servers, each the (b) collector (``null`` mode: NullWriter behind the group-commit sink,
the in-memory bench property, full enrichment on the synthetic GeoIP database, bots flagged),
one per workload, each prewarmed with the first requests of its own stream and loaded with
the requests that follow them, so that its enrichment caches are in the steady state of a
collector that serves that traffic:

- ``/collect``: the UA workload of (a)/(b) (:mod:`bench.hits`, the same request file);
- ``/g/collect`` with 1, 5 and 10 events per request (:mod:`bench.ga4_hits`: one event in the
  query, or one per body line);
- ``/mp/collect`` with 1 and 10 events per request (JSON, with the bench API secret).

All six are pinned to the server's CPU and started together; the loads are interleaved (at
each connection count, every workload in turn), so that drift in the machine's speed falls on
all of them alike. For each: requests/s, events/s, the server's CPU per request and per event,
and the per-event CPU over the UA hit's at the same connection count; then, from the 1-, 5- and
10-event runs, the least-squares split of a request's CPU into a per-request and a per-event
part. Afterwards every server's ``/metrics`` is read: nothing filtered or refused, and as many
events accepted as the 2xx answers carried (within what wrk abandons in flight at its stop).
"""

from __future__ import annotations

import dataclasses
import re
import signal
import statistics
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import ga4_hits, workload
from bench.collect_bench import (
    Children,
    Cpus,
    Load,
    Options,
    Stream,
    enrich_args,
    free_port,
    measure,
    pct,
    py_spy,
    serve_cmd,
    wait_http,
)

UA = "ua"
WORKLOADS = (("gtag", 1), ("gtag", 5), ("gtag", 10), ("mp", 1), ("mp", 10))
PROTOCOLS = {"gtag": "gtag", "mp": "ga4mp"}  # the collector's metrics label of each kind


@dataclass(frozen=True, slots=True)
class Workload:
    name: str  # ua, gtag1, gtag5, …
    label: str  # as the tables show it
    protocol: str  # the collector's metrics label: ua, gtag, ga4mp
    events: int  # per request
    tsv: Path
    start: int  # where the first load starts in the file
    serve_args: tuple[str, ...]  # bench.serve's enrichment and prewarm options
    requests: int  # in the file: the loads cycle through them


@dataclass
class Check:
    """The server's own count of what it forwarded, against what the loads were answered."""

    accepted: int
    filtered: int
    refused: int
    low: int  # events of the 2xx answers
    high: int  # … and of the requests that may have been in flight at the load's stop
    rounds: float = 0.0  # how many times the loads went through the request file

    @property
    def ok(self) -> bool:
        return self.filtered == 0 and self.refused == 0 and self.low <= self.accepted <= self.high


@dataclass
class Ga4Result:
    workloads: list[Workload]
    rows: dict[str, list[Load]] = field(default_factory=dict)  # workload name: measured loads
    checks: dict[str, Check] = field(default_factory=dict)
    profiled: dict[str, Path] = field(default_factory=dict)

    @property
    def check_ok(self) -> bool:
        return len(self.checks) == len(self.workloads) and all(c.ok for c in self.checks.values())

    def events(self, name: str) -> int:
        return next(w.events for w in self.workloads if w.name == name)

    def label(self, name: str) -> str:
        return next(w.label for w in self.workloads if w.name == name)

    def ratio(self, name: str, c: int) -> float | None:
        """µs per event of ``name`` over µs per UA hit, both at ``c`` connections."""
        row, ua = _at(self.rows.get(name, []), c), _at(self.rows.get(UA, []), c)
        if row is None or ua is None or not row.server_us_per_hit or not ua.server_us_per_hit:
            return None
        return row.server_us_per_hit / self.events(name) / ua.server_us_per_hit

    def split(self, kind: str, c: int) -> tuple[float, float] | None:
        """(µs per request, µs per event) of a kind at ``c``: the least-squares line through its
        workloads' server CPU per request against their events per request."""
        points = [(w.events, row.server_us_per_hit) for w in self.workloads
                  if w.name.startswith(kind) and (row := _at(self.rows.get(w.name, []), c))
                  and row.server_us_per_hit]
        if len(points) < 2:
            return None
        xs, ys = [float(x) for x, _ in points], [float(y) for _, y in points]
        slope, intercept = statistics.linear_regression(xs, ys)
        return intercept, slope

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"workloads": {}, "checks": {}}
        for w in self.workloads:
            rows = self.rows.get(w.name, [])
            out["workloads"][w.name] = {
                "label": w.label, "protocol": w.protocol, "events_per_request": w.events,
                "requests_file": str(w.tsv),
                "rows": [{**dataclasses.asdict(r), "events_per_s": r.rps * w.events,
                          "server_us_per_request": r.server_us_per_hit,
                          "server_us_per_event": (r.server_us_per_hit / w.events
                                                  if r.server_us_per_hit else None),
                          "vs_ua_hit": self.ratio(w.name, r.concurrency)} for r in rows],
                "median_vs_ua_hit": _median([self.ratio(w.name, r.concurrency) for r in rows]),
            }
        for name, check in self.checks.items():
            out["checks"][name] = {**dataclasses.asdict(check), "ok": check.ok}
        counts = sorted({r.concurrency for rows in self.rows.values() for r in rows})
        out["split_us"] = {kind: {str(c): self.split(kind, c) for c in counts} for kind in PROTOCOLS}
        return out


def _at(rows: list[Load], c: int) -> Load | None:
    return next((r for r in rows if r.concurrency == c), None)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def workloads(opts: Options) -> list[Workload]:
    """The UA workload of (b) and the GA4 ones, their files built (or reused) in the cache."""
    spec = opts.spec
    full = ("--enrich", "full", "--geoip", str(opts.geoip), "--cache-size", str(spec.cache_size))
    out = [Workload(UA, "/collect (UA hit)", "ua", 1, opts.tsv, spec.prewarm,
                    tuple(enrich_args(opts, "full")), spec.requests)]
    for kind, events in WORKLOADS:
        tsv, warm = ga4_hits.files(kind, events, spec, opts.geoip)
        path = ga4_hits.GTAG_PATH if kind == "gtag" else ga4_hits.MP_PATH
        out.append(Workload(f"{kind}{events}", f"{path} ×{events}", PROTOCOLS[kind], events, tsv, 0,
                            (*full, "--prewarm-ga4", str(warm)),
                            ga4_hits.measured_requests(spec, events)))
    return out


def print_row(w: Workload, row: Load, ratio: float | None) -> None:
    per_event = (row.server_us_per_hit or 0) / w.events
    vs = f"{ratio:4.2f}× UA" if ratio is not None else "   -    "
    print(f"  {w.name:<6} c={row.concurrency:<4} {row.rps:8,.0f} req/s {row.rps * w.events:9,.0f} "
          f"events/s  p50 {row.p50_ms:7.2f} ms  p99 {row.p99_ms:7.2f} ms  CPU: server "
          f"{pct(row.share(row.server_cpu_s))} {row.server_us_per_hit or 0:5.0f} µs/req "
          f"{per_event:5.0f} µs/event ({vs}), {row.tool} {pct(row.share(row.loadgen_cpu_s))}; "
          f"cores {pct(row.server_core_busy)} {pct(row.load_core_busy)} steal {pct(row.steal)}  "
          f"failed {row.failed}", flush=True)


_METRIC = re.compile(r'^lambdalytics_hits_(accepted|filtered|refused)_total\{([^}]*)\} (\S+)$', re.M)


def forwarded(url: str) -> tuple[dict[str, int], int, int]:
    """(accepted events by protocol, filtered, refused) from the server's /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:  # noqa: S310 (loopback)
        text = resp.read().decode()
    accepted: dict[str, int] = {}
    filtered = refused = 0
    for what, labels, value in _METRIC.findall(text):
        n = round(float(value))
        if what == "accepted":
            protocol = re.search(r'protocol="([^"]*)"', labels)
            accepted[protocol.group(1) if protocol else ""] = n
        elif what == "filtered":
            filtered += n
        else:
            refused += n
    return accepted, filtered, refused


def bench_ga4(children: Children, cpus: Cpus, opts: Options) -> Ga4Result:
    result = Ga4Result(workloads(opts))
    served: list[tuple[Workload, str, subprocess.Popen[bytes], Stream, list[Load]]] = []
    try:
        for w in result.workloads:  # started together: they prewarm one after another on the CPU
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            proc = children.start(f"server-ga4-{w.name}",
                                  cpus.pin(cpus.server, serve_cmd("null", port, *w.serve_args)))
            served.append((w, url, proc, Stream(w.start), []))
        for w, url, proc, _, _ in served:
            wait_http(f"{url}/healthz", proc, children, f"server-ga4-{w.name}", timeout=600.0)
        for w, url, proc, stream, loads in served:
            loads.append(measure(children, cpus, dataclasses.replace(opts, tsv=w.tsv), url, 32,
                                 opts.warmup, f"ga4-{w.name}-warmup", proc.pid, stream))
        for c in opts.concurrency:
            for w, url, proc, stream, loads in served:
                row = measure(children, cpus, dataclasses.replace(opts, tsv=w.tsv), url, c,
                              opts.duration, w.name, proc.pid, stream)
                loads.append(row)
                result.rows.setdefault(w.name, []).append(row)
                print_row(w, row, result.ratio(w.name, c))
        for w, url, _, stream, loads in served:
            accepted, filtered, refused = forwarded(url)
            low = w.events * sum(r.ok2xx if r.ok2xx is not None else r.requests - r.failed
                                 for r in loads)
            high = w.events * sum(r.sent if r.sent is not None else r.requests + r.concurrency
                                  + r.failed for r in loads)
            result.checks[w.name] = Check(sum(accepted.values()), filtered, refused, low, high,
                                          (stream.position - w.start) / w.requests)
        for line in check_lines(result):
            print(f"  {line}", flush=True)
        if opts.profile is not None:
            for w, url, proc, stream, _ in served:
                out = opts.profile / f"collector-ga4-{w.name}.txt"
                with py_spy(children, cpus, proc.pid, opts.duration, out):
                    measure(children, cpus, dataclasses.replace(opts, tsv=w.tsv), url,
                            max(opts.concurrency), opts.duration + 1, f"ga4-{w.name}-profile",
                            proc.pid, stream)
                if out.exists():
                    result.profiled[w.name] = out
    finally:
        for _, _, proc, _, _ in served:
            children.stop(proc, sig=signal.SIGINT)  # uvicorn's graceful shutdown
    return result


def check_lines(result: Ga4Result) -> list[str]:
    out = []
    for w in result.workloads:
        check = result.checks.get(w.name)
        if check is None:
            out.append(f"forwarded check {w.label}: not made")
            continue
        span = (f"{check.low:,}" if check.low == check.high
                else f"{check.low:,}–{check.high:,} (wrk abandons requests in flight at its stop)")
        out.append(f"forwarded check {w.label}: {check.accepted:,} events accepted for {span}; "
                   f"{check.filtered} filtered, {check.refused} refused: "
                   f"{'OK' if check.ok else 'MISMATCH'} (the loads went {check.rounds:.2f} times "
                   f"through its {w.requests:,} requests)")
    return out


def summary(result: Ga4Result) -> list[str]:
    counts = sorted({r.concurrency for rows in result.rows.values() for r in rows})
    if not counts:
        return []
    out = ["", "GA4 events beside UA hits: the (b) collector (NullWriter, full enrichment) on one "
           "server per workload, each prewarmed with its own stream, loads interleaved; server "
           "CPU per event, and over the UA hit's at the same connection count",
           f"{'conns':>5} | {'workload':<20} {'req/s':>8} {'events/s':>9} {'p50 ms':>7} "
           f"{'p99 ms':>7} {'CPU':>4} | {'µs/req':>6} {'µs/event':>8} {'× UA hit':>8}"]
    for c in counts:
        for w in result.workloads:
            row = _at(result.rows.get(w.name, []), c)
            if row is None:
                continue
            ratio = result.ratio(w.name, c)
            out.append(f"{c:>5} | {w.label:<20} {row.rps:>8,.0f} {row.rps * w.events:>9,.0f} "
                       f"{row.p50_ms:>7.2f} {row.p99_ms:>7.2f} {pct(row.share(row.server_cpu_s))} | "
                       f"{row.server_us_per_hit or 0:>6.0f} "
                       f"{(row.server_us_per_hit or 0) / w.events:>8.0f} "
                       f"{'-' if ratio is None else f'{ratio:.2f}':>8}")
    out += ["median over the connection counts:",
            f"{'':>5} | {'workload':<20} {'events/s':>9} {'µs/event':>8} {'× UA hit':>8}"]
    for w in result.workloads:
        rows = result.rows.get(w.name, [])
        if not rows:
            continue
        eps = statistics.median(r.rps * w.events for r in rows)
        us = _median([r.server_us_per_hit / w.events if r.server_us_per_hit else None for r in rows])
        ratio = _median([result.ratio(w.name, r.concurrency) for r in rows])
        out.append(f"{'':>5} | {w.label:<20} {eps:>9,.0f} {us or 0:>8.0f} "
                   f"{'-' if ratio is None else f'{ratio:.2f}':>8}")
    for kind, path in (("gtag", ga4_hits.GTAG_PATH), ("mp", ga4_hits.MP_PATH)):
        splits = [(c, s) for c in counts if (s := result.split(kind, c)) is not None]
        if splits:
            out.append(f"{path}: server CPU per request = a + b × events (least squares over its "
                       "workloads): " + "; ".join(f"c={c} {a:.0f} + {b:.0f} µs" for c, (a, b) in splits))
    out += check_lines(result)
    for name, profile in result.profiled.items():
        out.append(f"profile {result.label(name)}: {profile}")
    return out


def title(spec: workload.Spec) -> str:
    return (f"GA4 events beside UA hits: /collect, /g/collect ×1, ×5, ×10, /mp/collect ×1, ×10 "
            f"(GA4 streams of {ga4_hits.measured_requests(spec, 1):,} requests of one event, "
            f"{ga4_hits.measured_requests(spec, 10):,} of ten, after {spec.prewarm:,} that prewarm "
            "each server)")
