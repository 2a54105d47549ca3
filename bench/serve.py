"""One benchmark server under the collector's own uvicorn settings, until SIGINT/SIGTERM.

``python -m bench.serve --mode baseline|floor|reference|null|kinesis --port N [--app NAME]
[--prefix P --endpoint URL]
[--enrich default|minimal|full --geoip DB --cache-size N --prewarm FILE|--prewarm-ga4 FILE]
[--gc-stats] [--stages]``

- ``baseline``: :mod:`bench.baseline_app` (an empty 204), served with the very
  ``uvicorn.Config`` that :func:`collector.server.config` builds for the collector, but with
  uvicorn's own httptools protocol (the collector's, :mod:`collector.protocol`, answers the
  hit routes itself).
- ``floor``: the same, but the hit routes answered by
  :class:`bench.baseline_app.FloorProtocol` with the collector's answer bytes and nothing
  run: a reference for what the protocol's reading and writing cost.
- ``reference``: one of the issue's reference apps (:mod:`bench.reference_apps`, ``--app``),
  served as ``baseline`` is.
- ``null``: the collector with :class:`collector.sink.NullWriter` behind the group-commit
  sink and a fixed in-memory property lookup (no AWS at all).
- ``kinesis``: the collector against moto at ``--endpoint`` (stream and properties table
  named by ``--prefix``), one PutRecords call at a time as moto needs.

Enrichment (``--enrich``), for ``null`` and ``kinesis``:

- ``default``: the collector's default settings (no GeoIP database, X-Forwarded-For ignored,
  bots filtered);
- ``minimal``: ``Overrides(enricher=PeerOnlyEnricher())``, what the collector did before
  enrichment existed (:class:`bench.workload.PeerOnlyEnricher`);
- ``full``: the collector's own enrichment on the GeoIP database ``--geoip``, behind one
  trusted proxy (``trusted_proxy_hops=1``, as behind an ALB), bots forwarded flagged
  (``bot_policy="flag"``), ``--cache-size`` entries per LRU.

``--prewarm FILE`` (a :func:`bench.workload.prewarm_file`: what enrichment reads of the first
N requests of the request file): once the collector has started (after
:func:`collector.server.tune_gc` froze the start-up objects, as in production), those hits go
through its enricher in process, so that its caches are in the steady state of a collector
that has run for a while; only then does the server answer. The load generators then start
at request N. ``--prewarm-ga4 FILE`` does the same with a :func:`bench.ga4_hits.files`
prewarm file (the first N senders of a GA4 stream, whose measured requests follow them).

In ``null`` mode the in-memory property owns the UA ids of :mod:`bench.hits`, the GA4
measurement ids of :mod:`bench.ga4_hits` and the digest of its bench-only API secret.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

from bench import baseline_app, ga4_hits, reference_apps, stages, workload
from bench.hits import PROPERTY_ID, TRACKING_IDS
from collector.app import Overrides
from collector.edge import Edge, Receive, Send
from collector.server import config, run
from collector.settings import CollectorSettings
from collector.sink import NullWriter
from lambdalytics import logs
from lambdalytics.properties import Property


class StaticProperties:
    """The bench property for the bench tracking ids, nobody else (a PropertyLookup): its UA
    ids (bench.hits) and GA4 measurement ids (bench.ga4_hits), with the digest of the bench
    Measurement Protocol API secret."""

    def __init__(self) -> None:
        self._ids = frozenset((*TRACKING_IDS, *ga4_hits.MEASUREMENT_IDS))
        self._property = Property(PROPERTY_ID, "Bench site", (*TRACKING_IDS, *ga4_hits.MEASUREMENT_IDS),
                                  enabled=True, api_secrets=ga4_hits.api_secrets())

    async def lookup(self, tracking_id: str) -> Property | None:
        return self._property if tracking_id in self._ids else None


class Prewarm:
    """Wraps the collector for its lifespan only: when the collector reports it has started,
    its enricher replays the first requests before uvicorn is told so (and so before it
    listens); then uvicorn's HTTP connections get the collector itself, not this wrapper."""

    def __init__(self, cfg: uvicorn.Config, edge: Edge, prewarm_file: Path, *,
                 ga4: bool = False) -> None:
        self.cfg = cfg
        self.edge = edge
        self.prewarm_file = prewarm_file
        self.replay = ga4_hits.prewarm if ga4 else workload.prewarm

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.edge(scope, receive, send)
            return

        async def started(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.prewarm()
                if self.cfg.loaded_app is self:
                    self.cfg.loaded_app = self.edge  # read by each new HTTP connection
            await send(message)

        await self.edge(scope, receive, started)

    def prewarm(self) -> None:
        ingest = self.edge.runtime.ingest
        assert ingest is not None, "the collector reported started without its ingest"
        started = time.perf_counter()
        n = self.replay(ingest.enricher, self.prewarm_file)
        print(f"prewarmed the enricher with {n:,} requests in {time.perf_counter() - started:.1f} s",
              flush=True)


class GcStats:
    """Time spent in each generation's collections (``gc.callbacks``), printed at exit."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self.since = time.perf_counter()
        gc.callbacks.append(self.callback)
        atexit.register(self.report)

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        elif self.started is not None:
            generation = info["generation"]
            self.seconds[generation] += time.perf_counter() - self.started
            self.count[generation] += 1
            self.started = None

    def report(self) -> None:
        alive = time.perf_counter() - self.since
        parts = ", ".join(f"gen{g}: {self.count[g]} in {self.seconds[g]:.3f} s" for g in range(3))
        print(f"gc over {alive:.0f} s: {parts}; {len(gc.get_objects()):,} objects tracked, "
              f"{gc.get_freeze_count():,} frozen", file=sys.stderr, flush=True)


def settings_for(args: argparse.Namespace) -> CollectorSettings:
    common: dict[str, Any] = {"host": "127.0.0.1", "port": args.port, "resource_prefix": args.prefix,
                              "log_level": "WARNING", "log_format": "text"}
    if args.linger_ms is not None:
        common["sink_linger_ms"] = args.linger_ms
    if args.mode == "kinesis":
        if not args.endpoint:
            raise SystemExit("--endpoint is required with --mode kinesis")
        common.update(aws_endpoint_url=args.endpoint, aws_region="us-east-1",
                      sink_max_in_flight=1,  # moto loses records otherwise
                      kinesis_thread=args.kinesis_thread == "on")
    if args.enrich == "full":
        if not args.geoip:
            raise SystemExit("--geoip is required with --enrich full")
        return workload.enrichment_settings(Path(args.geoip), args.cache_size, **common)
    return CollectorSettings(**common)


def build(args: argparse.Namespace) -> uvicorn.Config:
    settings = settings_for(args)
    overrides = Overrides()
    if args.mode != "kinesis":
        overrides = Overrides(writer=NullWriter(), properties=StaticProperties())
    if args.enrich == "minimal":
        overrides.enricher = workload.PeerOnlyEnricher()
    cfg = config(settings, overrides)
    if args.mode in ("baseline", "floor"):
        cfg.app = baseline_app.app  # same Config options, the bare app instead
        # uvicorn's own protocol (the collector's answers its hit routes), or the floor's
        cfg.http = "httptools" if args.mode == "baseline" else baseline_app.FloorProtocol
    elif args.mode == "reference":  # one of the reference apps, as (a) is served
        cfg.app = reference_apps.APPS[args.app]
        cfg.http = "httptools"
    elif args.prewarm or args.prewarm_ga4:
        assert isinstance(cfg.app, Edge)
        cfg.app = Prewarm(cfg, cfg.app, Path(args.prewarm or args.prewarm_ga4),
                          ga4=not args.prewarm)
    return cfg


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("baseline", "floor", "reference", "null", "kinesis"),
                        required=True)
    parser.add_argument("--app", choices=sorted(reference_apps.APPS), default="starlette",
                        help="reference mode: which of bench.reference_apps")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", default="bench")
    parser.add_argument("--endpoint", default=None, help="moto's URL (kinesis mode)")
    parser.add_argument("--kinesis-thread", choices=("on", "off"), default="on",
                        help="kinesis mode: the Kinesis client on its own thread (the default) "
                             "or on the collector's loop (kinesis_thread=False)")
    parser.add_argument("--linger-ms", type=float, default=None,
                        help="override the sink's linger (default: the collector's default)")
    parser.add_argument("--enrich", choices=("default", "minimal", "full"), default="default")
    parser.add_argument("--geoip", default=None, help="GeoIP database (--enrich full)")
    parser.add_argument("--cache-size", type=int, default=20_000,
                        help="enrich_cache_size (--enrich full)")
    parser.add_argument("--prewarm", default=None, metavar="FILE",
                        help="replay these hits (bench.workload.prewarm_file) through the "
                             "enricher before serving")
    parser.add_argument("--prewarm-ga4", default=None, metavar="FILE",
                        help="the same with the GA4 senders of a bench.ga4_hits.files prewarm file "
                             "(their client hints and MP overrides too)")
    parser.add_argument("--gc-stats", action="store_true",
                        help="print the time spent in garbage collection at exit (stderr)")
    parser.add_argument("--stages", action="store_true",
                        help="time the hot path's stages (bench.stages: SIGUSR1 resets, "
                             "SIGUSR2 prints a STAGESJSON line on stderr, as the exit does)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logs.configure("WARNING", "text")
    if args.gc_stats:
        GcStats()
    if args.stages:
        stages.install()
    run(build(args))


if __name__ == "__main__":
    main()
