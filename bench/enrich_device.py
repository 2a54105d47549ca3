"""Micro-benchmark of the device and bot enrichment: µs per detection, uncached and cached,
and the caches' miss rate on a Zipf-like stream of user agents.

What it measures, on the labelled corpus in ``tests/data/useragents`` (265 real agents)
and variants of it synthesised by changing their version numbers (so every agent is new to
the caches and to ua-parser, the way a new browser build is):

1. :class:`collector.device.DeviceDetector`: its start-up, then uncached detections — the
   first pass over a fresh process (the Rust regex engine still building its lazy DFAs), the
   steady state after a warm-up on other variants, ua-parser's share of it, and agents of
   the mainstream browsers (the bulk of real traffic; the corpus is a collection of odd
   ones) — then cache hits; the same with client hints (reduced Chrome UAs with a model,
   platform version and full version list);
2. :class:`collector.bots.BotDetector`: start-up, uncached, cache hits;
3. a stream drawn with Zipf-like weights (rank^-s) from more distinct agents than the caches
   hold, through fresh detectors: µs per hit for device + bot, and the miss rates; beside
   it, the miss rate the 200-entry cache of ua-parser's legacy API (cleared when full) has
   on the same stream;
4. each step of an uncached agent's detection on its own (our category rules, ua-parser's
   three extractors, the bot rules, the Android model): in a loop over new agents, and
   "cold", with ``--flush-mb`` of other memory read before each call, as a server does
   between two uncached agents (in the server, every call of these is for an agent it has
   not seen, between other requests' work: docs/benchmarks.md, "Where an uncached agent's
   time goes");
5. for comparison, ``user_agents.parse`` uncached (ua-parser's legacy pure-Python path; only
   when user-agents is installed, it is not a dependency) and ua-parser 1.x's own
   pure-Python resolver, on fewer agents.

Times are per call with the timing loop's own cost subtracted; "mean" is the best of a few
repeats of the whole pass, p50/p99 are per call from one pass. Nothing is asserted: it
prints the figures and the machine they came from.

    python bench/enrich_device.py
    python bench/enrich_device.py --distinct 20000 --draws 300000 --cache 10000 --zipf 1.1
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `collector` importable
    sys.path.insert(0, str(ROOT))

from ua_parser import BasicResolver, Domain, load_builtins, load_lazy_builtins  # noqa: E402
from ua_parser.regex import Resolver as RustResolver  # noqa: E402

from bench.machine import cpu_model  # noqa: E402
from collector.bots import BotDetector  # noqa: E402
from collector.device import Categoriser, ClientHints, DeviceDetector, android_model  # noqa: E402
from lambdalytics import compiled  # noqa: E402

T = TypeVar("T")
CORPUS = ROOT / "tests" / "data" / "useragents" / "device-detector-sample.csv"
VERSION = re.compile(r"(?<=[/ ])(\d+)\.(\d+)(?:\.(\d+))?")


def machine() -> list[str]:
    cpu = cpu_model()
    names = ("ua-parser", "ua-parser-rs", "ua-parser-builtins", "crawler-user-agents", "user-agents")
    versions = []
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{name} {metadata.version(name)}")
    return [f"machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
            f"python:  {platform.python_implementation()} {platform.python_version()}; "
            + ", ".join(versions),
            f"build:   {compiled.describe()}"]


def corpus() -> list[str]:
    with CORPUS.open(newline="", encoding="utf-8") as f:
        return [row["user_agent"] for row in csv.DictReader(f)]


def variants(agents: Sequence[str], count: int, rng: random.Random, exclude: set[str]) -> list[str]:
    """``count`` distinct agents made from ``agents`` by drawing new version numbers."""
    out: list[str] = []
    seen = set(exclude)
    while len(out) < count:
        for ua in agents:
            def bump(m: re.Match[str]) -> str:
                parts = [str(int(m.group(1)) + rng.randrange(0, 3)), str(rng.randrange(0, 9999))]
                if m.group(3) is not None:
                    parts.append(str(rng.randrange(0, 999)))
                return ".".join(parts)

            new = VERSION.sub(bump, ua)
            if new == ua:
                new = f"{ua} v{rng.randrange(1_000_000)}"
            if new not in seen:
                seen.add(new)
                out.append(new)
                if len(out) == count:
                    break
    return out


MAINSTREAM = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.91"
    " Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0"
    " Safari/537.36 Edg/124.0.2478.67",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1"
    " Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1"
    " Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82"
    " Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko)"
    " SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.91"
    " Safari/537.36",
)


def reduced_chrome(count: int, rng: random.Random) -> list[tuple[str, ClientHints]]:
    """Chrome's reduced Android agents with the hints that undo the reduction."""
    models = ("SM-S918B", "Pixel 8", "2201117TG", "CPH2451", "moto g54 5G", "SM-X710", "RMX3085")
    out = []
    for i in range(count):
        major = 100 + i % 30
        full = f"{major}.0.{rng.randrange(6000, 7000)}.{rng.randrange(200)}"
        ua = (f"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
              f"Chrome/{major}.0.0.0 Mobile Safari/537.36")
        hints = ClientHints(
            brands=(("Chromium", str(major)), ("Google Chrome", str(major)), ("Not-A.Brand", "99")),
            full_version_list=(("Chromium", full), ("Google Chrome", full), ("Not-A.Brand", "99.0.0.0")),
            mobile=True, platform="Android", platform_version=f"{rng.randrange(10, 15)}.0.0",
            model=models[i % len(models)])
        out.append((ua, hints))
    return out


def per_call(fn: Callable[[str], object], agents: Sequence[str]) -> tuple[float, float, float]:
    """One pass: mean, p50, p99 in µs per call, the timer's own cost subtracted."""
    clock = time.perf_counter_ns
    overhead = min(-(clock() - clock()) for _ in range(1000))
    times = []
    for ua in agents:
        t0 = clock()
        fn(ua)
        times.append(clock() - t0 - overhead)
    times.sort()
    return (statistics.fmean(times) / 1000, times[len(times) // 2] / 1000,
            times[min(len(times) - 1, int(len(times) * 0.99))] / 1000)


def mean_pass(fn: Callable[[str], object], agents: Sequence[str], repeats: int = 5) -> float:
    """Best of ``repeats`` whole passes, µs per call (for cache hits: passes repeat)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for ua in agents:
            fn(ua)
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ua in agents:
        pass
    loop = time.perf_counter() - t0
    return (best - loop) / len(agents) * 1e6


def cold_pass(fn: Callable[[str], object], agents: Sequence[str], flush: bytearray) -> float:
    """µs per call (mean) with all of ``flush`` read before each call: the CPU caches hold
    other data, not what ``fn`` touched on the agent before."""
    clock = time.perf_counter_ns
    total = 0
    for ua in agents:
        flush.count(1)  # reads every byte (C speed), evicting what came before
        t0 = clock()
        fn(ua)
        total += clock() - t0
    return total / len(agents) / 1000


def step_costs(resolver: RustResolver, agents: Sequence[str], warm: Sequence[str],
               flush_mb: int) -> None:
    """Each step of an uncached detection alone: in a loop over new agents, and cold."""
    categories = Categoriser.default()
    bots = BotDetector(cache_size=0)
    steps: tuple[tuple[str, Callable[[str], object]], ...] = (
        ("our category rules", categories.by_agent),
        ("ua-parser: agent", lambda ua: resolver(ua, Domain.USER_AGENT)),
        ("ua-parser: OS", lambda ua: resolver(ua, Domain.OS)),
        ("ua-parser: device", lambda ua: resolver(ua, Domain.DEVICE)),
        ("bot rules", bots.check_uncached),
        ("Android model (re)", android_model),
    )
    flush = bytearray(flush_mb << 20)
    half = len(agents) // 2
    print(f"\neach step alone, {half} new agents each: in a loop / cold ({flush_mb} MB read before"
          " each call)")
    loop_sum = cold_sum = 0.0
    for label, fn in steps:
        for ua in warm:  # the engines' lazy DFAs built on other agents first
            fn(ua)
        loop = per_call(fn, agents[:half])[0]
        cold = cold_pass(fn, agents[half:], flush)
        loop_sum, cold_sum = loop_sum + loop, cold_sum + cold
        print(f"  {label:<44} {loop:8.2f} µs   cold {cold:8.2f} µs")
    print(f"  {'all six':<44} {loop_sum:8.2f} µs   cold {cold_sum:8.2f} µs")


def timed(label: str, build: Callable[[], T]) -> T:
    t0 = time.perf_counter()
    obj = build()
    print(f"  {label:<44} {(time.perf_counter() - t0) * 1000:8.0f} ms")
    return obj


def row(label: str, mean: float, p50: float | None = None, p99: float | None = None) -> None:
    extra = f"   p50 {p50:7.1f}   p99 {p99:8.1f}" if p50 is not None and p99 is not None else ""
    print(f"  {label:<44} {mean:8.2f} µs{extra}")


def zipf_stream(distinct: Sequence[str], draws: int, s: float, rng: random.Random) -> list[str]:
    weights = [1 / (rank ** s) for rank in range(1, len(distinct) + 1)]
    return rng.choices(distinct, weights=weights, k=draws)


def legacy_cache_misses(stream: Sequence[str], size: int = 200) -> int:
    """Misses of ua-parser's legacy cache: a dict cleared when it reaches ``size``."""
    cache: set[str] = set()
    misses = 0
    for ua in stream:
        if ua not in cache:
            misses += 1
            if len(cache) >= size:
                cache.clear()
            cache.add(ua)
    return misses


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--distinct", type=int, default=6000, help="distinct agents for the uncached passes")
    p.add_argument("--draws", type=int, default=200_000, help="length of the Zipf stream")
    p.add_argument("--stream-distinct", type=int, default=30_000, help="distinct agents in the stream")
    p.add_argument("--cache", type=int, default=10_000, help="cache size of the detectors")
    p.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent s (weights rank^-s)")
    p.add_argument("--legacy", type=int, default=300, help="agents for the pure-Python comparisons")
    p.add_argument("--steps", type=int, default=2000,
                   help="new agents for each step alone (half in a loop, half cold)")
    p.add_argument("--flush-mb", type=int, default=8, help="memory read before each cold call")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.steps < 2 or args.flush_mb < 1:
        p.error("--steps must be 2 or more and --flush-mb 1 or more")
    rng = random.Random(args.seed)

    for line in machine():
        print(line)
    base = corpus()
    warm = variants(base, args.distinct, rng, set(base))
    cold = variants(base, args.distinct, rng, set(base) | set(warm))
    print(f"agents:  {len(base)} corpus + {len(warm)} + {len(cold)} synthesised variants, all distinct\n")

    print("start-up")
    devices = timed("DeviceDetector()", lambda: DeviceDetector(cache_size=args.distinct * 4))
    bots = timed("BotDetector()", lambda: BotDetector(cache_size=args.distinct * 4))

    print("\nDeviceDetector.detect")
    row("uncached, first pass (corpus, cold engine)", *per_call(devices.detect, base))
    per_call(devices.detect, warm)  # warm the lazy DFAs on other agents
    row("uncached, steady state", *per_call(devices.detect, cold))
    resolver = RustResolver(load_lazy_builtins())
    per_call(lambda ua: resolver(ua, Domain.ALL), warm)
    fresh = variants(base, args.distinct, rng, set(base) | set(warm) | set(cold))
    row("ua-parser's resolver alone, like agents",
        *per_call(lambda ua: resolver(ua, Domain.ALL), fresh))
    common = variants(MAINSTREAM, args.distinct, rng, set(cold))
    row("uncached, mainstream browsers", *per_call(devices.detect, common))
    hits_before = devices.cache_info()
    row("cache hit", mean_pass(devices.detect, cold))
    hits_after = devices.cache_info()
    print(f"  (cache: {hits_after[0] - hits_before[0]} hits, {hits_after[1] - hits_before[1]} misses"
          " in the cache-hit passes)")
    hinted = reduced_chrome(2000, rng)
    hinted_agents = [f"{ua}\x00{i}" for i, (ua, _) in enumerate(hinted)]  # index for the lambda
    by_key = {k: h for k, (_, h) in zip(hinted_agents, hinted, strict=True)}
    def detect_hinted(key: str) -> object:
        return devices.detect(key.partition("\x00")[0], by_key[key])
    row("uncached, reduced Chrome UA + client hints", *per_call(detect_hinted, hinted_agents))
    row("cache hit, with client hints", mean_pass(detect_hinted, hinted_agents))

    print("\nBotDetector.check")
    row("uncached, first pass (corpus, cold engine)", *per_call(bots.check, base))
    per_call(bots.check, warm)
    row("uncached, steady state", *per_call(bots.check, cold))
    row("cache hit", mean_pass(bots.check, cold))

    print(f"\nZipf stream: {args.draws} draws (s={args.zipf}) from {args.stream_distinct} distinct agents,"
          f" caches of {args.cache}")
    pool = variants(base, args.stream_distinct, rng, set())
    rng.shuffle(pool)
    stream = zipf_stream(pool, args.draws, args.zipf, rng)
    devices = DeviceDetector(cache_size=args.cache)
    bots = BotDetector(cache_size=args.cache)
    for ua in pool[: args.cache // 4]:  # warm the engines, not the stream's popular agents
        devices.detect(f"{ua} warm")
        bots.check(f"{ua} warm")
    before_d, before_b = devices.cache_info(), bots.cache_info()
    t0 = time.perf_counter()
    for ua in stream:
        devices.detect(ua)
        bots.check(ua)
    elapsed = time.perf_counter() - t0
    d_hits, d_misses = (a - b for a, b in zip(devices.cache_info(), before_d, strict=True))
    b_misses = bots.cache_info()[1] - before_b[1]
    print(f"  device + bot per hit                         {elapsed / len(stream) * 1e6:8.2f} µs")
    print(f"  DeviceDetector miss rate                     {d_misses / (d_hits + d_misses):8.1%}")
    print(f"  BotDetector miss rate                        {b_misses / len(stream):8.1%}")
    print(f"  distinct agents in the stream                {len(set(stream)):8d}")
    print(f"  legacy 200-entry cache, cleared when full    {legacy_cache_misses(stream) / len(stream):8.1%}"
          " misses")

    step_costs(resolver, variants(base, args.steps, rng, set(pool) | set(cold) | set(warm)), warm,
               args.flush_mb)

    print(f"\ncomparison: pure-Python parsing, {args.legacy} distinct agents")
    sample = cold[: args.legacy]
    if importlib.util.find_spec("user_agents") is not None:
        import user_agents  # type: ignore[import-untyped]

        row("user_agents.parse (legacy path), uncached", *per_call(user_agents.parse, sample))
    else:
        print("  user_agents.parse: user-agents is not installed (pip install user-agents)")
    basic = BasicResolver(load_builtins())
    row("ua-parser 1.x BasicResolver, uncached", *per_call(lambda ua: basic(ua, Domain.ALL), sample))
    return 0


if __name__ == "__main__":
    sys.exit(main())
