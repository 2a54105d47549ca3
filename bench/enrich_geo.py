"""Micro-benchmark of the geo enrichment: µs per GeoIP lookup, uncached and cached, and the
cache's miss rate on a Zipf-like stream of client addresses.

What it measures, on a GeoLite2-City-shaped database of realistic size written by
bench/make_geodb.py (built into the temp dir on first use and kept there), or on a real
database given with ``--db``:

1. uncached lookups (:meth:`collector.geo.MaxMindGeo.lookup_uncached`: the search-tree walk,
   the record decode and geoip2's City model), with maxminddb's C extension and, on fewer
   addresses, its pure-Python reader; beside them the bare decode (``maxminddb`` ``get``), to
   show what geoip2's model costs on top;
2. cache hits: :meth:`MaxMindGeo.lookup` on addresses already in its LRU;
3. a stream of addresses drawn with Zipf-like weights (rank^-s) from more distinct addresses
   than the cache holds (95 % in the database's networks, 5 % random), through a fresh
   cache: µs per lookup and the miss rate; then the same stream anonymised the way aip does
   (looked up at /24 and /48, :func:`collector.geo.geo_ip`);
4. what a full cache holds in memory (tracemalloc), per entry.

Times are per call with the timing loop's own cost subtracted; each is the best of a few
repeats. Nothing is asserted: it prints the figures and the machine they came from.

    python bench/enrich_geo.py
    python bench/enrich_geo.py --draws 300000 --distinct 100000 --cache 16384 --zipf 1.2
    python bench/enrich_geo.py --db /path/to/GeoLite2-City.mmdb
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import itertools
import os
import platform
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `collector` importable
    sys.path.insert(0, str(ROOT))

import maxminddb  # noqa: E402

from bench import make_geodb  # noqa: E402
from bench.machine import cpu_model  # noqa: E402
from collector.geo import MaxMindGeo, geo_ip  # noqa: E402

MAX_NETWORKS = 200_000  # networks read from the database to draw addresses from


def machine() -> list[str]:
    cpu = cpu_model()
    versions = ", ".join(f"{d} {metadata.version(d)}" for d in ("geoip2", "maxminddb"))
    return [f"machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
            f"python:  {platform.python_implementation()} {platform.python_version()}; {versions}"]


def database(args: argparse.Namespace) -> Path:
    if args.db:
        return Path(args.db)
    path = (Path(tempfile.gettempdir()) / "lambdalytics-bench"
            / f"GeoLite2-City-synthetic-s{args.seed}-{args.ipv4}-{args.ipv6}.mmdb")
    if not path.exists():
        print(f"building {path} ...", flush=True)
        s = make_geodb.build(path, seed=args.seed, ipv4=args.ipv4, ipv6=args.ipv6)
        print(f"  built in {s.seconds:.1f} s", flush=True)
    return path


def addresses(path: Path, distinct: int, rng: random.Random) -> list[str]:
    """``distinct`` different addresses: 95 % inside the database's networks, 5 % random."""
    with maxminddb.open_database(str(path)) as reader:
        networks = [net for net, _ in itertools.islice(reader, MAX_NETWORKS)]
    out: set[str] = set()
    inside = int(distinct * 0.95)
    while len(out) < inside:
        net = rng.choice(networks)
        out.add(str(net.network_address + rng.randrange(net.num_addresses)))
    while len(out) < distinct:
        if rng.random() < 0.8:
            out.add(str(ipaddress.IPv4Address(rng.randrange(1 << 32))))
        else:
            out.add(str(ipaddress.IPv6Address((0x2 << 124) | rng.randrange(1 << 124))))
    pool = sorted(out)
    rng.shuffle(pool)  # rank in popularity unrelated to address order
    return pool


def per_call_us(fn: Callable[[str], object], items: Sequence[str], repeats: int = 5) -> float:
    """Best-of-``repeats`` µs per ``fn(item)``, less the cost of the same loop calling nothing."""
    def run(f: Callable[[str], object]) -> float:
        started = time.perf_counter_ns()
        for item in items:
            f(item)
        return (time.perf_counter_ns() - started) / len(items) / 1000

    def nothing(_: str) -> None:
        return None

    base = min(run(nothing) for _ in range(repeats))
    return min(run(fn) for _ in range(repeats)) - base


def stream_us(geo_path: Path, cache: int, stream: Sequence[str]) -> tuple[float, float, int]:
    """µs per lookup over the stream through a fresh cache, its miss rate, its final size."""
    with MaxMindGeo(geo_path, cache_size=cache) as geo:
        lookup = geo.lookup
        started = time.perf_counter_ns()
        for address in stream:
            lookup(address)
        elapsed = (time.perf_counter_ns() - started) / len(stream) / 1000
        stats = geo.cache_stats()
    return elapsed, stats.misses / (stats.hits + stats.misses), stats.size


def cache_bytes_per_entry(geo_path: Path, pool: Sequence[str], cache: int) -> float:
    entries = list(pool[:cache])
    gc.collect()
    with MaxMindGeo(geo_path, cache_size=cache) as geo:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for address in entries:
            geo.lookup(address)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    return (after - before) / len(entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="a real GeoIP2/GeoLite2 City database instead")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ipv4", type=int, default=40_000, help="synthetic IPv4 networks")
    parser.add_argument("--ipv6", type=int, default=12_000, help="synthetic IPv6 networks")
    parser.add_argument("--cache", type=int, default=65_536, help="LRU entries")
    parser.add_argument("--distinct", type=int, default=262_144, help="distinct addresses")
    parser.add_argument("--draws", type=int, default=1_000_000, help="lookups in the stream")
    parser.add_argument("--zipf", type=float, default=1.0, help="exponent s of rank^-s")
    args = parser.parse_args(argv)
    if args.distinct <= args.cache:
        parser.error("--distinct must exceed --cache, or every address stays cached")

    for line in machine():
        print(line)
    path = database(args)
    rng = random.Random(args.seed)
    pool = addresses(path, args.distinct, rng)
    with maxminddb.open_database(str(path)) as reader:
        meta = reader.metadata()
    print(f"database: {path.name}, {meta.database_type}, {meta.node_count:,} nodes, "
          f"{path.stat().st_size / 1e6:.1f} MB")

    with MaxMindGeo(path, cache_size=0) as geo, \
            MaxMindGeo(path, cache_size=0, mode=maxminddb.MODE_MEMORY) as python, \
            maxminddb.open_database(str(path)) as raw:
        sample = pool[:20_000]
        found = sum(geo.lookup_uncached(a) is not None for a in sample) / len(sample)
        print(f"\nuncached lookups ({len(sample):,} distinct addresses, {found:.0%} found):")
        print(f"  {geo.implementation} reader, geoip2 City model → Geo: "
              f"{per_call_us(geo.lookup_uncached, sample):7.2f} µs")
        print(f"  {geo.implementation} reader, bare record decode (maxminddb get): "
              f"{per_call_us(raw.get, sample):7.2f} µs")
        print(f"  {python.implementation} reader (MODE_MEMORY), geoip2 → Geo: "
              f"{per_call_us(python.lookup_uncached, sample[:2_000], repeats=2):7.2f} µs")

    with MaxMindGeo(path, cache_size=args.cache) as geo:
        warm = pool[: min(20_000, args.cache)]
        for address in warm:
            geo.lookup(address)
        print(f"\ncache hit (MaxMindGeo.lookup on {len(warm):,} cached addresses): "
              f"{per_call_us(geo.lookup, warm * 5):.3f} µs")

    weights = [1 / rank ** args.zipf for rank in range(1, len(pool) + 1)]
    stream = rng.choices(pool, cum_weights=list(itertools.accumulate(weights)), k=args.draws)
    seen = len(set(stream))
    print(f"\nZipf stream: {args.draws:,} draws, s = {args.zipf}, from {len(pool):,} distinct "
          f"addresses ({seen:,} of them drawn), LRU of {args.cache:,}:")
    us, miss, size = stream_us(path, args.cache, stream)
    print(f"  full addresses:                 {us:6.2f} µs/lookup, miss rate {miss:6.2%} "
          f"(cache filled to {size:,})")
    anonymised = [geo_ip(a, anonymized=True) for a in stream]
    us, miss, size = stream_us(path, args.cache, anonymised)
    print(f"  aip, /24 and /48 ({len(set(anonymised)):,} distinct): {us:6.2f} µs/lookup, miss "
          f"rate {miss:6.2%} (cache filled to {size:,})")

    per_entry = cache_bytes_per_entry(path, pool, args.cache)
    print(f"\ncache memory: {per_entry:,.0f} bytes per entry (tracemalloc), "
          f"{per_entry * args.cache / 2**20:.1f} MiB for {args.cache:,} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
