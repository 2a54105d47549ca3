"""How soon an accepted hit shows in the dashboard's realtime answer (issue 23: p99 ≤ 5 s).

A real archiver worker (a subprocess, production defaults: cuts every 20 s, a read pause of
1 s, early rollups every 2 s) reads a moto stream that carries background traffic on every
shard; a probe hit is put every ``--every`` seconds (jittered). A probe counts as accepted
when PutRecords returned (what the collector's 2xx means), and as shown when the dashboard's
realtime endpoint (``GET /v1/properties/probe/realtime``, the real app on a loopback port,
its one-second cache included) counts it in ``hits_30m``; with ``--via table``, when the
rollups table's items for its minute, merged as realtime merges them, count it (the cache
left out). The same run measures a baseline worker without early rollups
(``early_rollup_interval_s=0``: rollups only with each cut).

    .venv/bin/python bench/realtime_freshness.py                 # 60 probes each
    .venv/bin/python bench/realtime_freshness.py --probes 200 --early-only
    .venv/bin/python bench/realtime_freshness.py --via table
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archiver import rollup
from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from lambdalytics import aws
from lambdalytics import hit as hitmod
from lambdalytics.properties import PropertyStore
from tests.archiver.harness import ArchiverProcess, Stack, new_stack
from tests.support import isolate_aws_env, serving_app

TOKEN = "f" * 32  # the bench's own dashboard, on loopback, for this run only

PRODUCTION = {"flush_interval_s": 20, "idle_between_reads_s": 1.0, "batch_max_records": 20_000,
              "lease_duration_s": 10, "taker_interval_s": 1}


def hit(prop: str, client: str, n: int, tag: str) -> tuple[bytes, str]:
    now = datetime.now(UTC)
    fields = {"hit_id": hitmod.derived_hit_id("fresh", tag, str(n)), "received_time": now,
              "event_time": now, "property_id": prop, "tracking_id": "UA-1-1", "protocol": "ua",
              "type": "pageview", "client_id": client, "page_path": f"/p{n % 7}"}
    return hitmod.encode_fields(fields), client


def shown_in_table(stack: Stack, prop: str, minutes: list[str]) -> int:
    ddb = stack.boto("dynamodb")
    items: list[Any] = []
    for minute in minutes:
        out = ddb.query(TableName=stack.res.rollups.name, KeyConditionExpression="pk = :pk",
                        ExpressionAttributeValues={":pk": {"S": f"{prop}#{minute}"}})
        items += out["Items"]
    return rollup.merge(items).hits


@contextmanager
def dashboard(stack: Stack, moto_url: str) -> Iterator[Callable[[], int]]:
    """The dashboard app over the stack, with the probe property registered; a function
    returning the realtime answer's ``hits_30m`` for it."""
    settings = DashboardSettings(resource_prefix=stack.prefix, aws_endpoint_url=moto_url,
                                 aws_region="us-east-1", admin_token=TOKEN, log_format="text")

    async def register() -> None:
        async with aws.client(aws.session(), "dynamodb", settings) as ddb:
            await PropertyStore(ddb, settings.resources.properties.name).register(
                "Probe", ["UA-1-1"], property_id="probe")

    asyncio.run(register())
    with serving_app(create_app(settings), "dashboard") as url, \
            httpx.Client(base_url=url, timeout=10,
                         headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        def hits_30m() -> int:
            r = api.get("/v1/properties/probe/realtime")
            r.raise_for_status()
            return int(r.json()["hits_30m"])
        yield hits_30m


def phase(moto_url: str, log_dir: Path, *, early_s: float, probes: int, every_s: float,
          load_per_s: int, shards: int, seed: int, via: str) -> list[float]:
    stack = new_stack(moto_url)
    stack.create(shards=shards)
    if via == "table":
        return measure(stack, lambda minutes: shown_in_table(stack, "probe", minutes[-3:]),
                       log_dir, early_s=early_s, probes=probes, every_s=every_s,
                       load_per_s=load_per_s, seed=seed)
    with dashboard(stack, moto_url) as hits_30m:
        return measure(stack, lambda _minutes: hits_30m(), log_dir, early_s=early_s,
                       probes=probes, every_s=every_s, load_per_s=load_per_s, seed=seed)


def measure(stack: Stack, shown: Callable[[list[str]], int], log_dir: Path, *, early_s: float,
            probes: int, every_s: float, load_per_s: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    worker = ArchiverProcess(stack, log_dir, f"early{early_s:g}", early_rollup_interval_s=early_s,
                             **PRODUCTION)
    stop = threading.Event()

    def background() -> None:
        n = 0
        while not stop.is_set():
            stack.put([hit("load", f"c{rng.randrange(10_000)}", n + i, "load")
                       for i in range(load_per_s)])
            n += load_per_s
            stop.wait(1.0)

    loader = threading.Thread(target=background, daemon=True)
    loader.start()
    time.sleep(15)  # leases taken, the first cuts through
    sent: list[float] = []
    latencies: list[float] = []
    minutes: list[str] = []
    next_probe = time.monotonic()
    deadline = time.monotonic() + probes * every_s + 120
    while len(latencies) < probes and time.monotonic() < deadline:
        now = time.monotonic()
        if len(sent) < probes and now >= next_probe:
            minute = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
            if minute not in minutes:
                minutes.append(minute)
            stack.put([hit("probe", "probe-client", len(sent), "probe")])  # one shard, in order
            sent.append(time.monotonic())
            next_probe = now + every_s * rng.uniform(0.5, 1.5)
        count = shown(minutes)
        while len(latencies) < min(count, len(sent)):
            latencies.append(time.monotonic() - sent[len(latencies)])
        time.sleep(0.1)
    stop.set()
    worker.terminate()
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--probes", type=int, default=60)
    ap.add_argument("--every", type=float, default=1.0, help="seconds between probes (mean)")
    ap.add_argument("--load", type=int, default=100, help="background hits per second")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--early-only", action="store_true", help="skip the baseline")
    ap.add_argument("--via", choices=("api", "table"), default="api",
                    help="api: the dashboard's realtime endpoint; table: the rollups table")
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    import pytest

    isolate_aws_env(pytest.MonkeyPatch())
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for early_s in ([2.0] if args.early_only else [0.0, 2.0]):
                lat = phase(f"http://{host}:{port}", Path(tmp), early_s=early_s,
                            probes=args.probes, every_s=args.every, load_per_s=args.load,
                            shards=args.shards, seed=1, via=args.via)
                rows.append((early_s, lat))
    finally:
        server.stop()
    where = "the realtime API" if args.via == "api" else "the rollups table"
    print(f"accepted hit → counted by {where}, {args.load} background hits/s, "
          f"{args.shards} shards")
    print(f"{'early rollups':>14}  {'probes':>6}  {'p50 s':>6}  {'p99 s':>6}  {'max s':>6}")
    for early_s, lat in rows:
        label = f"every {early_s:g} s" if early_s else "off (cuts)"
        if not lat:
            print(f"{label:>14}  {0:>6}  (no probe shown)")
            continue
        print(f"{label:>14}  {len(lat):>6}  {statistics.median(lat):>6.2f}  "
              f"{pct(lat, 0.99):>6.2f}  {max(lat):>6.2f}")


if __name__ == "__main__":
    main()
