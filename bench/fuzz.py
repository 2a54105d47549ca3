"""The hostile-input checks of tests/hostile at volume (issue 26); the short versions run in CI.

    .venv/bin/python bench/fuzz.py parsers --examples 20000   # every parser, Hypothesis
    .venv/bin/python bench/fuzz.py openapi --examples 200     # schemathesis, three documents
    .venv/bin/python bench/fuzz.py junk --ids 200000          # junk tracking ids: cache, RSS
    .venv/bin/python bench/fuzz.py slowloris --connections 1000 --seconds 60

Each prints what it ran, what failed (nothing, or the process exits 1) and its figures, with
the machine. ``slowloris`` runs the collector's production deadline (30 s, swept each second)
unless ``--timeout`` says otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.server import ThreadedMotoServer

from bench.machine import cpu_model
from collector.app import Overrides
from collector.server import ConnectionGuard
from collector.settings import CollectorSettings
from collector.sink import NullWriter
from tests.support import UA_TID, create_stack, isolate_aws_env, running_collector


def _machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"


@contextmanager
def _moto() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        isolate_aws_env(mp)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def _settings(moto_url: str) -> CollectorSettings:
    return CollectorSettings(resource_prefix="f" + secrets.token_hex(5), aws_endpoint_url=moto_url,
                             aws_region="us-east-1", sink_max_in_flight=1, log_format="text")


def _runner(target: Callable[[st.DataObject], None], examples: int) -> Callable[[], None]:
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        target(data)

    return run


def parsers(args: argparse.Namespace) -> int:
    from tests.hostile.targets import TARGETS

    failed = 0
    print("| parser | examples | seconds | examples/s | result |\n| --- | ---: | ---: | ---: | --- |")
    for name, target in sorted(TARGETS.items()):
        run = _runner(target, args.examples)
        start = time.perf_counter()
        try:
            run()
            result = "ok"
        except Exception as exc:
            failed += 1
            result = f"FAILED: {type(exc).__name__}: {str(exc)[:200]}"
        spent = time.perf_counter() - start
        print(f"| {name} | {args.examples} | {spent:.1f} | {args.examples / spent:.0f} | {result} |")
    return 1 if failed else 0


def openapi(args: argparse.Namespace) -> int:
    from dashboard import admin
    from dashboard.settings import AdminSettings
    from tests.dashboard import dashboard_support as ds
    from tests.hostile import test_openapi as t
    from tests.support import boto, serving_app

    found: list[str] = []
    with _moto() as moto_url:
        cs = _settings(moto_url)
        create_stack(cs, [UA_TID, "G-HOSTILE001"])
        with running_collector(cs) as c:
            found += t.failures(c.url, examples=args.examples)
        dsets = ds.provision(moto_url, "f" + secrets.token_hex(5))
        boto(dsets, "s3").create_bucket(Bucket=dsets.resources.archive.name)  # type: ignore[arg-type]
        with ds.running(dsets, clock=ds.Clock()) as url:
            found += t.failures(url, headers=ds.AUTH, path_parameters=t._with_property,
                                problems=True, examples=args.examples)
            found += t.failures(url, headers=ds.AUTH, problems=True, examples=args.examples)
        asets = AdminSettings(**dsets.model_dump(include=set(AdminSettings.model_fields)))
        with serving_app(admin.create_app(asets), "admin") as url:
            found += t.failures(url, headers=ds.AUTH, path_parameters=t._with_property,
                                problems=True, examples=args.examples)
    print(f"schemathesis, {args.examples} examples per operation and mode: "
          f"{len(found)} failures")
    for line in found:
        print(" -", line)
    return 1 if found else 0


def junk(args: argparse.Namespace) -> int:
    from tests.hostile.test_junk_ids import Lookup, _flood, _ids
    from tests.hostile.test_slow import rss_bytes

    lookup = Lookup()
    rounds = []
    with _moto() as moto_url, running_collector(
            _settings(moto_url), Overrides(properties=lookup, writer=NullWriter())) as c, \
            httpx.Client(base_url=c.url, timeout=60) as http:
        ingest = c.server.config.loaded_app.runtime.ingest
        start = time.perf_counter()
        step = max(args.ids // 10, 1)
        for sent in range(0, args.ids, step):
            _flood(http, _ids(step))
            rounds.append((sent + step, rss_bytes(), len(ingest.properties._entries),
                           len(ingest.counters.pending())))
        spent = time.perf_counter() - start
    print(f"{args.ids} junk tracking ids in {spent:.0f} s; the cache's bound: "
          f"{ingest.properties._max_entries} entries; {lookup.calls} lookups")
    print("| ids sent | RSS MiB | cache entries | counter keys pending |\n| ---: | ---: | ---: | ---: |")
    for sent, rss, entries, keys in rounds:
        print(f"| {sent} | {rss / 2**20:.0f} | {entries} | {keys} |")
    return 0


def slowloris(args: argparse.Namespace) -> int:
    from tests.hostile.conftest import address
    from tests.hostile.test_slow import HIT, Slowloris

    ConnectionGuard.request_timeout = args.timeout
    with _moto() as moto_url:
        cs = _settings(moto_url)
        create_stack(cs, [UA_TID])
        with running_collector(cs) as c, httpx.Client(base_url=c.url, timeout=30) as http:
            def latencies(seconds: float) -> list[float]:
                out, end = [], time.monotonic() + seconds
                while time.monotonic() < end:
                    t0 = time.perf_counter()
                    assert http.get(f"{HIT}&z={secrets.token_hex(4)}").status_code == 200
                    out.append(time.perf_counter() - t0)
                return out

            base = latencies(5)
            attack = Slowloris(address(c), args.connections, every=args.every)
            attack.thread.start()
            under = latencies(args.seconds)
            attack.stop.set()
            attack.thread.join(30)
            held = len(c.server.server_state.connections)

    def q(xs: list[float], p: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(len(xs) * p))] * 1000

    print(f"slowloris: {args.connections} connections, a byte each per {args.every} s, "
          f"{args.seconds} s; deadline {args.timeout} s; {attack.opened} opened in all, "
          f"{held} held by the collector at the end")
    print("| | hits | p50 ms | p99 ms | max ms |\n| --- | ---: | ---: | ---: | ---: |")
    for label, xs in (("before", base), ("during", under)):
        print(f"| {label} | {len(xs)} | {q(xs, .5):.2f} | {q(xs, .99):.2f} | {max(xs) * 1000:.2f} |")
    print(f"median ratio during/before: {statistics.median(under) / statistics.median(base):.2f}")
    return 0


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("parsers")
    p.add_argument("--examples", type=int, default=20_000)
    p = sub.add_parser("openapi")
    p.add_argument("--examples", type=int, default=200)
    p = sub.add_parser("junk")
    p.add_argument("--ids", type=int, default=200_000)
    p = sub.add_parser("slowloris")
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--every", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=ConnectionGuard.request_timeout)
    args = parser.parse_args()
    print(f"bench/fuzz.py {args.what} — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — {_machine()}")
    return {"parsers": parsers, "openapi": openapi, "junk": junk, "slowloris": slowloris}[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
