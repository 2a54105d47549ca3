"""The enrichment benchmarks' shared workload: the GeoIP database, the request file, the
enrichers compared, and the replay that warms an enricher's caches.

- :func:`geo_database`: a GeoLite2-City-shaped database of realistic size written by
  :mod:`bench.make_geodb` into the cache directory (``$TMPDIR/lambdalytics-bench``), reused
  when present (the build is deterministic; the file name carries its seed and sizes, as
  bench/enrich_geo.py names it, so both share it).
- :func:`request_file`: the requests of :mod:`bench.hits` with a :class:`Population` drawn
  from that database, written once into the cache directory under a name that hashes what
  decides its content (the generators' and the hit parser's source, the spam list, the spec,
  the database), and reused when present.
- :class:`PeerOnlyEnricher`: what the collector did before enrichment existed (the peer's
  address truncated, ``ip_anonymized`` from ``aip``/``uip``), to measure enrichment's cost
  against the same collector through ``Overrides(enricher=...)``.
- :func:`enrichment_settings` / :func:`full_enricher`: the full enrichment as a production
  collector behind one ALB builds it (``trusted_proxy_hops=1``), with bots forwarded flagged
  (``bot_policy="flag"``) so that every request is still one forwarded hit.
- :func:`prewarm_file` / :func:`prewarm`: what ``Enricher.apply`` reads of the first requests
  (their headers, and of each parsed hit the fields enrichment looks at), extracted once with
  the collector's own parser into a compact file, and replayed through an enricher so that
  its caches hold what they would after those requests; see :func:`prewarm`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import hits, make_geodb
from bench.hits import BenchRequest
from bench.traffic import Population
from collector.campaign import CAMPAIGN_TAGS, CLICK_IDS
from collector.enrich import Enricher, Enrichment, Verdict
from collector.http import RawRequest
from collector.policy import DEFAULT_PRECISION, Precision
from collector.privacy import truncate_ip
from collector.settings import CollectorSettings

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(tempfile.gettempdir()) / "lambdalytics-bench"


@dataclass(frozen=True, slots=True)
class Spec:
    """What the traffic and the enrichment's sizes are."""

    requests: int  # lines in the request file
    prewarm: int  # the first this many requests warm a server's caches, in process
    agents: int  # distinct browser user agents to draw from (bots and tools come on top)
    addresses: int  # distinct client addresses to draw from
    cache_size: int  # enrich_cache_size: entries per enrichment LRU
    zipf_s: float = 1.0
    geo_ipv4: int = 40_000  # networks in the synthetic GeoIP database
    geo_ipv6: int = 12_000
    seed: int = 20240501


FULL = Spec(requests=150_000, prewarm=80_000, agents=60_000, addresses=200_000, cache_size=20_000)
# the smoke run: the same shape, 12-15 times smaller (the caches too, so they still overflow)
QUICK = Spec(requests=12_000, prewarm=5_000, agents=4_000, addresses=15_000, cache_size=1_500,
             geo_ipv4=4_000, geo_ipv6=1_000)


def geo_database(spec: Spec, *, log: bool = True) -> Path:
    path = CACHE_DIR / f"GeoLite2-City-synthetic-s1-{spec.geo_ipv4}-{spec.geo_ipv6}.mmdb"
    if not path.exists():
        if log:
            print(f"  building {path} ...", flush=True)
        summary = make_geodb.build(path, seed=1, ipv4=spec.geo_ipv4, ipv6=spec.geo_ipv6)
        if log:
            print(f"  built in {summary.seconds:.1f} s ({summary.size_bytes / 1e6:.1f} MB)", flush=True)
    return path


def _fingerprint(spec: Spec, database: Path) -> str:
    digest = hashlib.sha256(repr(asdict(spec)).encode())
    digest.update(database.name.encode())
    for source in ("bench/hits.py", "bench/traffic.py", "collector/ua.py",
                   "collector/data/spammers.txt"):
        digest.update((ROOT / source).read_bytes())
    return digest.hexdigest()[:16]


def request_file(spec: Spec, database: Path, *, log: bool = True) -> Path:
    path = CACHE_DIR / f"requests-{spec.requests}-{_fingerprint(spec, database)}.tsv"
    if not path.exists():
        started = time.perf_counter()
        if log:
            print(f"  generating {path} ...", flush=True)
        population = Population.build(database, agents=spec.agents, addresses=spec.addresses,
                                      seed=spec.seed, zipf_s=spec.zipf_s)
        requests = hits.generate(spec.requests, seed=spec.seed, population=population)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        hits.write_tsv(requests, path)
        for stale in CACHE_DIR.glob(f"requests-{spec.requests}-*"):  # of older sources, and
            # not in use: a run of other sources started within the hour may still read it
            with contextlib.suppress(FileNotFoundError):  # another run's cleanup was first
                if not stale.name.startswith(path.stem) and stale.stat().st_mtime < time.time() - 3600:
                    stale.unlink()
        if log:
            print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    return path


def window(requests: Sequence[BenchRequest], start: int, count: int) -> list[BenchRequest]:
    """``count`` requests from position ``start`` of the cycled list."""
    n = len(requests)
    return [requests[(start + i) % n] for i in range(count)]


# --- enrichers ------------------------------------------------------------------------------

NOTHING_FOUND = Verdict()


class PeerOnlyEnricher:
    """The collector's enrichment before enrichment existed: the TCP peer's address (or an
    unchecked ``uip``) truncated, ``ip_anonymized`` from ``aip``/``uip``; nothing else, so no
    X-Forwarded-For, geo, device, bots, campaign or referrer. An
    :class:`~collector.enrich.Enrichment`, as :class:`~collector.enrich.Enricher` is."""

    def address(self, request: RawRequest, ip_override: str | None) -> tuple[str | None, bool]:
        if ip_override:
            return ip_override, True
        return request.client_ip, False

    def apply(self, fields: dict[str, Any], request: RawRequest, *, ip_override: str | None,
              ua_override: str | None, anonymize: bool,
              precision: Precision = DEFAULT_PRECISION,
              bot_policy: str | None = None,
              hints: tuple[bytes, ...] | None = None) -> Verdict:
        ip = ip_override or request.client_ip
        if ip and precision.prefixes is not None:
            fields["ip_truncated"] = truncate_ip(ip, *precision.prefixes)
        fields["ip_anonymized"] = anonymize
        return NOTHING_FOUND


def enrichment_settings(database: Path, cache_size: int, **extra: Any) -> CollectorSettings:
    return CollectorSettings(geoip_database=str(database), trusted_proxy_hops=1, bot_policy="flag",
                             enrich_cache_size=cache_size, **extra)


def full_enricher(settings: CollectorSettings) -> Enricher:
    """The enricher exactly as the collector's lifespan builds it from ``settings`` (the
    GeoIP reader stays open until the process ends)."""
    from collector.app import _enricher  # the collector's own construction, not a copy of it

    return _enricher(AsyncExitStack(), settings)


@dataclass(slots=True)
class Input:
    """One hit as ``Enricher.apply`` gets it in the collector's handler."""

    fields: dict[str, Any]
    request: RawRequest
    ip_override: str | None
    ua_override: str | None
    anonymize: bool


def inputs(requests: Iterable[BenchRequest], received: float | None = None) -> list[Input]:
    """The parsed hits of the requests and the requests as the edge builds them."""
    now = time.time() if received is None else received
    out = []
    for r in requests:
        parsed = r.parse()
        out.append(Input(parsed.fields, r.raw(now), parsed.ip_override, parsed.ua_override,
                         parsed.anonymize_ip))
    return out


# The hit fields Enricher.apply reads (it writes others): the page, the referrer, a geoid
# override, and the explicit campaign parameters and click ids.
ENRICHMENT_INPUTS = frozenset({"geo_country", "page_location", "page_referrer", "page_hostname",
                               *CAMPAIGN_TAGS.values(), *CLICK_IDS})


def prewarm_file(requests_path: Path, count: int) -> Path:
    """The first ``count`` requests of the file as one JSON object a line: the headers
    enrichment reads, the overrides, and the parsed hit's :data:`ENRICHMENT_INPUTS` (written
    once beside the request file, then reused)."""
    path = requests_path.with_name(f"{requests_path.stem}-prewarm{count}.jsonl")
    if path.exists():
        return path
    lines = []
    for r in window(hits.read_tsv(requests_path, count), 0, count):
        parsed = r.parse()
        lines.append(json.dumps({
            "method": r.method, "target": r.target, "ua": r.user_agent, "xff": r.forwarded_for,
            "origin": r.origin, "ip_override": parsed.ip_override,
            "ua_override": parsed.ua_override, "anonymize": parsed.anonymize_ip,
            "fields": {k: v for k, v in parsed.fields.items() if k in ENRICHMENT_INPUTS},
        }, ensure_ascii=False))
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def prewarm_inputs(path: Path) -> Iterator[Input]:
    """The hits of a :func:`prewarm_file` as ``Enricher.apply`` gets them, one at a time."""
    now = time.time()
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                d = json.loads(line)
                r = BenchRequest(d["method"], d["target"], d["ua"], d["origin"], "", d["xff"])
                yield Input(d["fields"], r.raw(now), d["ip_override"], d["ua_override"],
                            d["anonymize"])


def prewarm(enricher: Enrichment, path: Path) -> int:
    """Every hit of a :func:`prewarm_file` through ``enricher.apply``; the count.

    Each of the enrichment's caches is keyed on what these carry (the agent and its client
    hints, the X-Forwarded-For entry, the address looked up, the referrer and the page's
    host), so afterwards they hold exactly what they would after the collector handled the
    full requests — without parsing the payloads again in every server. The hits are read
    one at a time, as a server gets them: holding all of them at once would leave the
    caches' entries scattered over a heap twice their size (measured: 346 MB
    resident instead of 158), which made every later request slower than in production."""
    n = 0
    for x in prewarm_inputs(path):
        enricher.apply(x.fields, x.request, ip_override=x.ip_override, ua_override=x.ua_override,
                       anonymize=x.anonymize)
        n += 1
    return n


def replay(enricher: Enricher, requests: Iterable[BenchRequest]) -> int:
    """Every request's hit through ``enricher.apply``, as the handler does; the count."""
    now = time.time()
    n = 0
    for r in requests:
        parsed = r.parse()
        enricher.apply(parsed.fields, r.raw(now), ip_override=parsed.ip_override,
                       ua_override=parsed.ua_override, anonymize=parsed.anonymize_ip)
        n += 1
    return n
