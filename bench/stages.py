"""Where a benchmark server's time goes: wall time per stage of the ``/collect`` hot path.

``python -m bench.serve ... --stages`` calls :func:`install` before the server starts. It
wraps the hot path's stages where the handler looks them up (module attributes and class
attributes, so the collector's code is unchanged) with timers that add up the time spent in
each, and counts the hit payloads parsed. ``SIGUSR1`` zeroes the sums (say, after a warm-up
load), ``SIGUSR2`` prints them as one ``STAGESJSON {...}`` line on stderr; so does the exit.

The stages, in the order a hit goes through them:

- ``pairs``: the query string or body split into pairs (``ua.payload_pairs``);
- ``ua.parse``: the pairs checked and turned into Hit fields (``ua.parse``);
- ``fields``: hit id, times and property added (``collect._fields``);
- ``enrich``: ``Enricher.apply`` (``PeerOnlyEnricher.apply`` before enrichment);
- ``submit``: the record encoded and queued for the sink (``Ingest.submit``);
- ``respond``: the answer encoded and written to the connection
  (``protocol.HitProtocol._answer_now``; ``edge.respond``'s two ``send`` calls when the hit
  routes go through ASGI, with ``fast_path`` off);
- ``gc``: garbage collections, whichever stage triggered them (also inside the others).

What the stages do not cover is the rest of a request: uvicorn's protocol (reading and
parsing) and the event loop, the header walk, the sink's batching and the wake-up of each
waiting request. The caller gets that as the process's CPU time per hit minus the stages'
sum. The sums are wall time (``perf_counter_ns``): on a core the server has to itself, as
in the benchmark, that is its CPU time; a timer costs about 0.1 µs.
"""

from __future__ import annotations

import atexit
import functools
import gc
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bench import workload
from collector import collect, edge, protocol, ua
from collector.enrich import Enricher
from collector.ingest import Ingest
from lambdalytics import compiled

STAGES = ("pairs", "ua.parse", "fields", "enrich", "submit", "respond", "gc")
PREFIX = "STAGESJSON "

F = TypeVar("F", bound=Callable[..., Any])


class StageTimes:
    """Nanoseconds per stage and the hit payloads parsed since the last reset."""

    def __init__(self) -> None:
        self.ns: dict[str, int] = dict.fromkeys(STAGES, 0)
        self.hits = 0
        self.since = time.perf_counter()
        self._gc_started: int | None = None

    def reset(self) -> None:
        self.ns = dict.fromkeys(STAGES, 0)
        self.hits = 0
        self.since = time.perf_counter()

    def snapshot(self) -> dict[str, Any]:
        return {"hits": self.hits, "seconds": round(time.perf_counter() - self.since, 3),
                "us_per_hit": {k: round(v / self.hits / 1000, 2) if self.hits else None
                               for k, v in self.ns.items()}}

    def report(self) -> None:
        print(PREFIX + json.dumps(self.snapshot()), file=sys.stderr, flush=True)

    def timed(self, fn: F, stage: str, *, counts: bool = False) -> F:
        clock = time.perf_counter_ns

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:  # self.ns: reset() rebinds it
            started = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ns[stage] += clock() - started
                if counts:
                    self.hits += 1

        return wrapper  # type: ignore[return-value]

    def timed_async(self, fn: Callable[..., Awaitable[Any]], stage: str) -> Callable[..., Awaitable[Any]]:
        clock = time.perf_counter_ns

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.ns[stage] += clock() - started

        return wrapper

    def gc_callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter_ns()
        elif self._gc_started is not None:
            self.ns["gc"] += time.perf_counter_ns() - self._gc_started
            self._gc_started = None


def install() -> StageTimes:
    """Wrap the stages (once per process), hook SIGUSR1/SIGUSR2 and the exit.

    Only over the interpreted build: compiled modules (lambdalytics.compiled) call each other
    directly, past the module attributes the wrappers replace, so the stages would read 0."""
    if built := compiled.compiled_modules():
        raise SystemExit(f"--stages times the interpreted build; these modules are compiled: "
                         f"{', '.join(built)} (run it from the source tree)")
    times = StageTimes()
    ua.payload_pairs = times.timed(ua.payload_pairs, "pairs", counts=True)
    ua.parse = times.timed(ua.parse, "ua.parse")
    collect._fields = times.timed(collect._fields, "fields")
    Enricher.apply = times.timed(Enricher.apply, "enrich")  # type: ignore[method-assign]
    workload.PeerOnlyEnricher.apply = times.timed(  # type: ignore[method-assign]
        workload.PeerOnlyEnricher.apply, "enrich")
    Ingest.submit = times.timed(Ingest.submit, "submit")  # type: ignore[method-assign]
    edge.respond = times.timed_async(edge.respond, "respond")  # type: ignore[assignment]
    protocol.HitProtocol._answer_now = times.timed(  # type: ignore[method-assign]
        protocol.HitProtocol._answer_now, "respond")
    gc.callbacks.append(times.gc_callback)
    signal.signal(signal.SIGUSR1, lambda *_: times.reset())
    signal.signal(signal.SIGUSR2, lambda *_: times.report())
    atexit.register(times.report)
    return times


def read_report(text: str) -> dict[str, Any] | None:
    """The last STAGESJSON report in a server's log, or None."""
    found = None
    for line in text.splitlines():
        if line.startswith(PREFIX):
            found = json.loads(line[len(PREFIX):])
    return found
