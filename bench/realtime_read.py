"""How long the dashboard's realtime answer takes to read (issue 23: under 200 ms).

A busy half hour is written to a rollups table as the archiver writes it (4 shards × 3 cuts a
minute × 30 minutes = 360 items, 61,200 hits; tests/dashboard/test_realtime.py's
``busy_items``), then ``dashboard.realtime.Realtime`` reads it: the **first read** (30 Queries,
one per minute, ten at a time; nothing cached) and a **refresh** (the three newest minutes;
the older ones kept 15 s). What a read costs does not grow with traffic: an item per shard
per cut, whatever the hits in it.

The table is on moto (in process, the default) or on any DynamoDB endpoint given, e.g.
dynalite, which answers concurrent requests as DynamoDB does (moto handles one at a time):

    .venv/bin/python bench/realtime_read.py
    npm install --prefix .cache/npm --no-save dynalite && \\
      (node .cache/npm/node_modules/dynalite/cli.js --port 18500 &) && \\
      .venv/bin/python bench/realtime_read.py --endpoint http://127.0.0.1:18500
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import secrets
import statistics
import sys
import time
from pathlib import Path

import aiobotocore.session
import boto3
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archiver.rollup_store import RollupStore
from dashboard.realtime import Realtime
from lambdalytics.resources import resources
from tests.dashboard import test_realtime as busy
from tests.support import isolate_aws_env


def create(endpoint: str) -> tuple[str, int]:
    spec = resources("rt" + secrets.token_hex(4)).rollups
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    keys = [spec.hash_key] + ([spec.range_key] if spec.range_key else [])
    ddb.create_table(TableName=spec.name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": k.name, "KeyType": t}
                                for k, t in zip(keys, ("HASH", "RANGE"), strict=False)],
                     AttributeDefinitions=[{"AttributeName": k.name, "AttributeType": k.type}
                                           for k in keys])
    ddb.get_waiter("table_exists").wait(TableName=spec.name)
    items, _visitors, hits = busy.busy_items(random.Random(7))
    for i in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={spec.name: [{"PutRequest": {"Item": it}}
                                                       for it in items[i:i + 25]]})
    return spec.name, hits


async def measure(endpoint: str, table: str, hits: int, runs: int) -> tuple[list[float], list[float]]:
    session = aiobotocore.session.get_session()
    now = busy.NOW.timestamp()
    async with session.create_client("dynamodb", endpoint_url=endpoint,
                                     region_name="us-east-1") as client:
        store = RollupStore(client, table)
        first: list[float] = []
        refresh: list[float] = []
        for _ in range(runs + 1):  # the first of all warms the client's connections: left out
            realtime = Realtime(store, clock=lambda: now)
            started = time.perf_counter()
            body = await realtime.read(busy.fx.SHOP)
            first.append(time.perf_counter() - started)
            started = time.perf_counter()
            await realtime.read(busy.fx.SHOP)
            refresh.append(time.perf_counter() - started)
            if body["hits_30m"] != hits:
                raise SystemExit(f"read {body['hits_30m']} hits, wrote {hits}")
        return first[1:], refresh[1:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", help="a DynamoDB endpoint (default: moto, in process)")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    import pytest

    isolate_aws_env(pytest.MonkeyPatch())
    server = None
    endpoint = args.endpoint
    if endpoint is None:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
    try:
        table, hits = create(endpoint)
        first, refresh = asyncio.run(measure(endpoint, table, hits, args.runs))
    finally:
        if server is not None:
            server.stop()
    where = "moto (in process)" if server is not None else endpoint
    print(f"realtime read of 360 items ({hits:,} hits) on {where}, {args.runs} runs, ms:")
    for name, values in (("first read (30 Queries)", first), ("refresh (3 Queries)", refresh)):
        print(f"  {name:<24} p50 {statistics.median(values) * 1000:6.0f}   "
              f"max {max(values) * 1000:6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
