"""Enrichment alone, in process: µs per hit of ``Enricher.apply`` on the collector's own
request stream, where that time goes, and the enrichment caches' miss rates.

What it measures, on the request file of bench/collect_bench.py (realistic for the caches:
user agents and client addresses drawn Zipf-like from many more distinct values than the
caches hold; see bench/traffic.py) and the synthetic GeoLite2-City-shaped database:

1. the full enrichment, built exactly as the collector's lifespan builds it
   (``collector.app._enricher``: GeoIP on the database, ``DeviceDetector``, ``BotDetector``,
   ``ReferrerClassifier``, ``trusted_proxy_hops=1``, ``bot_policy="flag"``,
   ``enrich_cache_size`` entries per LRU): its caches warmed by the first ``--prewarm``
   requests (as bench/serve.py warms a server's), then ``Enricher.apply`` timed per hit over
   the next ``--measure`` requests — mean, p50, p99 — and every enrichment cache's hits and
   misses over those requests (the enricher's LRUs, the GeoIP block cache behind them, the
   referrer classifier's, and the module-level ones of collector.privacy and
   collector.referrer);
2. :class:`bench.workload.PeerOnlyEnricher` (what the collector did before enrichment) on
   the same hits: the difference is enrichment's own cost;
3. the same steps as ``Enricher.apply`` one by one on a fresh enricher warmed the same way,
   each timed: the place (the address from X-Forwarded-For, its truncation and geo, through
   the enricher's LRU keyed on where the address comes from), the agent (client hints,
   device and bots, through its LRU keyed on the agent), campaign fields, referrer (spam
   check and classification, one LRU) — with, for place and agent, the mean on a cache hit
   and on a miss;
4. the collector's own parse of a hit (``ua.payload_pairs`` and ``ua.parse``, as the handler
   runs them) timed on the requests after those, once with ``PeerOnlyEnricher`` applied
   between two parses and once with the full enrichment (still warm, continuing the
   stream): how much slower the rest of the hot path gets when enrichment runs between
   requests;
5. what the traffic is: bots, geo resolved, device categories, referrer mediums, tags.

The hits are parsed beforehand (``collector.ua.parse``, as the handler does; the warming
ones as :func:`bench.workload.prewarm_file` extracts them) and each call gets a fresh copy
of its fields; the garbage collector is tuned as the server tunes it
(:func:`collector.server.tune_gc`). Nothing is asserted: it prints the figures, and with
``--json`` one ``E2EJSON {...}`` line for bench/collect_bench.py, which runs it on the
server's (idle) CPU between the end-to-end phases.

    python bench/enrich_e2e.py                     # builds or reuses the full workload
    python bench/enrich_e2e.py --quick
    python bench/enrich_e2e.py --requests FILE --db DB --cache 20000 --prewarm 80000 --measure 50000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench`, `collector` importable
    sys.path.insert(0, str(ROOT))

from bench import workload  # noqa: E402
from bench.hits import read_tsv  # noqa: E402
from bench.machine import cpu_model  # noqa: E402
from bench.workload import Input  # noqa: E402
from collector import privacy, referrer, ua  # noqa: E402
from collector.campaign import CAMPAIGN_TAGS, CLICK_IDS, campaign_fields, is_paid_click  # noqa: E402
from collector.clientip import client_source, override_ip  # noqa: E402
from collector.device import MAX_UA_LENGTH, hint_values  # noqa: E402
from collector.enrich import Enricher, Enrichment  # noqa: E402
from collector.geo import MaxMindGeo  # noqa: E402
from collector.policy import DEFAULT_PRECISION  # noqa: E402
from lambdalytics import compiled  # noqa: E402

CAMPAIGN_FIELDS = frozenset((*CAMPAIGN_TAGS.values(), *CLICK_IDS))
from collector.server import tune_gc  # noqa: E402

STAGES = ("place", "agent", "campaign", "referrer")


def machine() -> list[str]:
    cpu = cpu_model()
    affinity = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    return [f"machine: {cpu}, {os.cpu_count()} cores (this process on CPU {affinity}), "
            f"{platform.system()} {platform.release()}",
            f"python:  {platform.python_implementation()} {platform.python_version()}",
            f"build:   {compiled.describe()}"]


# --- cache counters ---------------------------------------------------------------------------


PLACES = "places (Enricher LRU: address, truncation, geo)"
AGENTS = "agents (Enricher LRU: device + bots)"
BLOCKS = "geo blocks (MaxMindGeo.locate, behind places)"
REFERRERS = "referrer (ReferrerClassifier.assess LRU)"
MODULE_CACHES = (("address truncation (privacy, module LRU; IPv6 only)", privacy._truncate),
                 ("page host (referrer, module LRU)", referrer._page_host))


def counters(enricher: Enricher) -> dict[str, tuple[int, int]]:
    """(hits, misses) so far of every cache the enrichment goes through."""
    own = enricher.cache_info()
    out: dict[str, tuple[int, int]] = {
        PLACES: (own["places"].hits, own["places"].misses),
        AGENTS: (own["agents"].hits, own["agents"].misses),
    }
    if isinstance(enricher.geo, MaxMindGeo):
        blocks = enricher.geo.block_stats()
        out[BLOCKS] = (blocks.hits, blocks.misses)
    info = enricher.referrers.assess_cache_info()
    out[REFERRERS] = (info.hits, info.misses)
    for name, fn in MODULE_CACHES:
        info = fn.cache_info()
        out[name] = (info.hits, info.misses)
    return out


def clear_module_caches() -> None:
    for _, fn in MODULE_CACHES:
        fn.cache_clear()


def cache_sizes(enricher: Enricher) -> dict[str, int]:
    own = enricher.cache_info()
    out = {PLACES: own["places"].maxsize or 0, AGENTS: own["agents"].maxsize or 0}
    if isinstance(enricher.geo, MaxMindGeo):
        out[BLOCKS] = enricher.geo.block_stats().maxsize
    out[REFERRERS] = enricher.referrers.assess_cache_info().maxsize or 0
    for name, fn in MODULE_CACHES:
        out[name] = fn.cache_info().maxsize or 0
    return out


def miss_rates(before: dict[str, tuple[int, int]],
               after: dict[str, tuple[int, int]]) -> dict[str, dict[str, float]]:
    out = {}
    for name, (hits, misses) in after.items():
        h, m = hits - before[name][0], misses - before[name][1]
        out[name] = {"lookups": h + m, "misses": m, "miss_rate": m / (h + m) if h + m else 0.0}
    return out


# --- timing -------------------------------------------------------------------------------------


def timer_overhead_ns() -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        t0 = clock()
        samples.append(clock() - t0)
    return float(statistics.median(samples))


@dataclass
class Timing:
    mean_us: float
    p50_us: float
    p99_us: float

    @classmethod
    def of(cls, ns: list[float]) -> Timing:
        ordered = sorted(ns)
        return cls(statistics.fmean(ordered) / 1000, ordered[len(ordered) // 2] / 1000,
                   ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000)


def apply_all(enricher: Enrichment, items: Iterable[Input]) -> None:
    for x in items:
        enricher.apply(dict(x.fields), x.request, ip_override=x.ip_override,
                       ua_override=x.ua_override, anonymize=x.anonymize)


def timed_apply(enricher: Enrichment, items: Sequence[Input], overhead: float,
                outputs: list[dict[str, Any]] | None = None) -> list[float]:
    """ns per ``apply`` call; each call on a fresh copy of the hit's fields (made untimed)."""
    clock = time.perf_counter_ns
    out: list[float] = []
    for start in range(0, len(items), 5000):
        chunk = items[start:start + 5000]
        copies = [dict(x.fields) for x in chunk]
        for x, fields in zip(chunk, copies, strict=True):
            t0 = clock()
            enricher.apply(fields, x.request, ip_override=x.ip_override,
                           ua_override=x.ua_override, anonymize=x.anonymize)
            out.append(clock() - t0 - overhead)
        if outputs is not None:
            outputs.extend(copies)
    return out


@dataclass
class Staged:
    """A fresh enricher, and what each step of its ``apply`` cost on each hit."""

    enricher: Enricher
    ns: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    on_miss: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    on_hit: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})


def staged_pass(st: Staged, items: Iterable[Input], overhead: float, *, record: bool) -> None:
    """The steps of ``collector.enrich.Enricher.apply`` in its order, each timed through the
    enricher's own caches (the glue between them — merging the fields, the verdict — is left
    out)."""
    clock = time.perf_counter_ns
    e = st.enricher
    for x in items:
        fields = dict(x.fields)
        request = x.request
        own = e.cache_info()
        misses = (own["places"].misses, own["agents"].misses)
        t0 = clock()
        valid = override_ip(x.ip_override) if x.ip_override is not None else None
        if valid is not None:
            place = e._places(valid, True, DEFAULT_PRECISION)
        else:
            place = e._places(client_source(request.client_ip, request.forwarded_for,
                                            e.trusted_proxy_hops), x.anonymize,
                              DEFAULT_PRECISION)
        t1 = clock()
        if x.ua_override is not None:
            e._agents(x.ua_override[:MAX_UA_LENGTH], None)
        else:
            e._agents(request.user_agent[:MAX_UA_LENGTH], hint_values(request.headers))
        t2 = clock()
        fields.update(place.fields)
        location = fields.get("page_location")
        medium, paid = None, False
        if ((isinstance(location, str) and "?" in location)
                or not fields.keys().isdisjoint(CAMPAIGN_FIELDS)):
            fields.update(campaign_fields(location, fields))
            medium, paid = fields.get("campaign_medium"), is_paid_click(fields)
        t3 = clock()
        e.referrers.assess(fields.get("page_referrer"), fields.get("page_hostname"),
                           campaign_medium=medium, paid_click=paid)
        t4 = clock()
        if not record:
            continue
        spans = (t1 - t0, t2 - t1, t3 - t2, t4 - t3)
        own = e.cache_info()
        after = (own["places"].misses, own["agents"].misses)
        for i, (stage, ns) in enumerate(zip(STAGES, spans, strict=True)):
            value = ns - overhead
            st.ns[stage].append(value)
            if i <= 1:
                (st.on_miss if after[i] > misses[i] else st.on_hit)[stage].append(value)


def parse_between(enricher: Enrichment, requests: Sequence[Any], overhead: float) -> tuple[float, float]:
    """Mean µs per hit of the handler's parse (``payload_pairs``, then with ``ua.parse``),
    with ``enricher.apply`` run on each hit between two parses (untimed)."""
    clock = time.perf_counter_ns
    now = time.time()
    raws = [r.raw(now) for r in requests]
    pairs_ns = parse_ns = 0.0
    for raw in raws:
        payload = raw.body if raw.method == "POST" else raw.query
        t0 = clock()
        pairs = ua.payload_pairs(payload)
        t1 = clock()
        parsed = ua.parse(pairs)
        t2 = clock()
        pairs_ns += t1 - t0 - overhead
        parse_ns += t2 - t0 - 2 * overhead
        enricher.apply(parsed.fields, raw, ip_override=parsed.ip_override,
                       ua_override=parsed.ua_override, anonymize=parsed.anonymize_ip)
    return pairs_ns / len(raws) / 1000, parse_ns / len(raws) / 1000


# --- traffic description --------------------------------------------------------------------


def describe(items: Sequence[Input], enriched: Sequence[dict[str, Any]]) -> dict[str, Any]:
    n = len(enriched)
    mediums = Counter(f.get("referrer_medium") or "none" for f in enriched)
    categories = Counter(f.get("device_category") or "none" for f in enriched)
    agents = {x.request.user_agent for x in items}
    addresses = {tuple(x.request.forwarded_for) for x in items}
    return {
        "hits": n, "distinct_user_agents": len(agents), "distinct_forwarded_for": len(addresses),
        "bots": sum(bool(f.get("is_bot")) for f in enriched) / n,
        "geo_resolved": sum(f.get("geo_country") is not None for f in enriched) / n,
        "geo_city": sum(f.get("geo_city") is not None for f in enriched) / n,
        "anonymized": sum(bool(f.get("ip_anonymized")) for f in enriched) / n,
        "utm_tagged": sum(f.get("campaign_source") is not None for f in enriched) / n,
        "click_id": sum(any(f.get(k) for k in ("gclid", "msclkid", "fbclid")) for f in enriched) / n,
        "mediums": {k: v / n for k, v in mediums.most_common()},
        "device_categories": {k: v / n for k, v in categories.most_common()},
    }


def _share(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1%}" for k, v in d.items())


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=Path, default=None,
                        help="the request file (default: build or reuse bench/workload.py's)")
    parser.add_argument("--db", type=Path, default=None, help="the GeoIP database (likewise)")
    parser.add_argument("--quick", action="store_true", help="the smoke run's smaller workload")
    parser.add_argument("--cache", type=int, default=None, help="enrich_cache_size")
    parser.add_argument("--prewarm", type=int, default=None, help="requests that warm the caches")
    parser.add_argument("--measure", type=int, default=None, help="requests measured after those")
    parser.add_argument("--json", action="store_true", help="also print one E2EJSON line")
    args = parser.parse_args(argv)
    spec = workload.QUICK if args.quick else workload.FULL
    db = args.db or workload.geo_database(spec)
    path = args.requests or workload.request_file(spec, db)
    cache = args.cache if args.cache is not None else spec.cache_size
    prewarm = args.prewarm if args.prewarm is not None else spec.prewarm
    measure = args.measure if args.measure is not None else min(50_000, spec.requests - prewarm)

    for line in machine():
        print(line)
    started = time.perf_counter()
    warm_file = workload.prewarm_file(path, prewarm) if prewarm else None

    def warm() -> Iterator[Input]:
        """The warm-up hits read one at a time, as a server meets them (held all at once,
        they would scatter the caches' entries over a heap twice their size)."""
        return workload.prewarm_inputs(warm_file) if warm_file else iter(())
    requests = workload.window(read_tsv(path, prewarm + measure), prewarm, measure)
    measured = workload.inputs(requests)
    print(f"workload: {path.name}; the first {prewarm:,} requests warm the caches, the next "
          f"{len(measured):,} are measured; GeoIP {db.name}; enrich_cache_size {cache:,} "
          f"(parsed in {time.perf_counter() - started:.1f} s)", flush=True)
    tune_gc()  # as the server: start-up objects (here also the parsed hits) frozen
    overhead = timer_overhead_ns()
    settings = workload.enrichment_settings(db, cache)

    # 1. the full enrichment, as the collector builds it
    clear_module_caches()
    full = workload.full_enricher(settings)
    apply_all(full, warm())
    before = counters(full)
    outputs: list[dict[str, Any]] = []
    gc.collect()
    full_ns = timed_apply(full, measured, overhead, outputs)
    rates = miss_rates(before, counters(full))
    sizes = cache_sizes(full)
    full_t = Timing.of(full_ns)
    traffic = describe(measured, outputs)

    # 2. what the collector did before enrichment
    minimal = workload.PeerOnlyEnricher()
    apply_all(minimal, warm())
    gc.collect()
    minimal_t = Timing.of(timed_apply(minimal, measured, overhead))

    # 3. step by step, on fresh components warmed the same way
    clear_module_caches()
    st = Staged(workload.full_enricher(settings))
    staged_pass(st, warm(), overhead, record=False)
    gc.collect()
    staged_pass(st, measured, overhead, record=True)

    # 4. the rest of the hot path, with and without enrichment between two hits
    after = workload.window(read_tsv(path, prewarm + measure + 20_000), prewarm + measure,
                            min(20_000, measure))
    gc.collect()
    parse_minimal = parse_between(minimal, after, overhead)
    gc.collect()
    parse_full = parse_between(full, after, overhead)

    print(f"\ntraffic ({traffic['hits']:,} hits measured): {traffic['distinct_user_agents']:,} "
          f"distinct user agents, {traffic['distinct_forwarded_for']:,} distinct "
          f"X-Forwarded-For values; bots {traffic['bots']:.1%}; geo resolved "
          f"{traffic['geo_resolved']:.1%} (city {traffic['geo_city']:.1%}); aip "
          f"{traffic['anonymized']:.1%}; utm-tagged {traffic['utm_tagged']:.1%}; click id "
          f"{traffic['click_id']:.1%}")
    print(f"  referrer mediums: {_share(traffic['mediums'])}")
    print(f"  device categories: {_share(traffic['device_categories'])}")

    print("\nEnricher.apply per hit (µs; per call, timer overhead subtracted)")
    print(f"  full enrichment           mean {full_t.mean_us:7.2f}   p50 {full_t.p50_us:7.2f}   "
          f"p99 {full_t.p99_us:8.2f}   (one core: {1e6 / full_t.mean_us:,.0f} hits/s)")
    print(f"  before enrichment         mean {minimal_t.mean_us:7.2f}   p50 {minimal_t.p50_us:7.2f}   "
          f"p99 {minimal_t.p99_us:8.2f}")
    print(f"  enrichment's own cost     {full_t.mean_us - minimal_t.mean_us:7.2f} µs per hit")

    stages: dict[str, dict[str, float | None]] = {}
    print("\nstep by step (µs per hit, mean over all hits; on a cache hit / on a miss)")
    total = 0.0
    for stage in STAGES:
        mean = statistics.fmean(st.ns[stage])
        total += mean
        hit = statistics.fmean(st.on_hit[stage]) if st.on_hit[stage] else None
        miss = statistics.fmean(st.on_miss[stage]) if st.on_miss[stage] else None
        p99 = sorted(st.ns[stage])[int(len(st.ns[stage]) * 0.99)] / 1000
        stages[stage] = {"mean_us": mean / 1000, "p99_us": p99,
                         "hit_us": None if hit is None else hit / 1000,
                         "miss_us": None if miss is None else miss / 1000}
        split = ""
        if hit is not None or miss is not None:
            split = (f"   hit {hit / 1000 if hit is not None else float('nan'):6.2f}   miss "
                     f"{miss / 1000 if miss is not None else float('nan'):7.2f}")
        print(f"  {stage:<10} {mean / 1000:7.2f}   p99 {p99:8.2f}{split}")
    print(f"  sum        {total / 1000:7.2f}   (Enricher.apply: {full_t.mean_us:.2f}; the rest is "
          "its glue)")

    print(f"\nthe handler's parse of the next {len(after):,} hits, µs per hit (query pairs / "
          "pairs + ua.parse)")
    print(f"  PeerOnlyEnricher between hits  {parse_minimal[0]:7.2f} / {parse_minimal[1]:7.2f}")
    print(f"  full enrichment between hits   {parse_full[0]:7.2f} / {parse_full[1]:7.2f}   "
          f"(+{parse_full[1] - parse_minimal[1]:.1f} µs per hit)")

    print("\ncache miss rates over the measured hits (entries: the LRU's size)")
    for name, r in rates.items():
        print(f"  {name:<46} {r['miss_rate']:7.1%} of {r['lookups']:>7,} lookups  "
              f"(entries {sizes.get(name, 0):,})")

    result = {
        "requests_file": path.name, "prewarm": prewarm, "measured": len(measured),
        "cache_size": cache, "traffic": traffic, "full": full_t.__dict__,
        "minimal": minimal_t.__dict__, "stages": stages, "miss_rates": rates,
        "cache_entries": sizes,
        "parse_between": {"hits": len(after),
                          "minimal": {"pairs_us": parse_minimal[0], "parse_us": parse_minimal[1]},
                          "full": {"pairs_us": parse_full[0], "parse_us": parse_full[1]}},
    }
    if args.json:
        print("E2EJSON " + json.dumps(result))
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
