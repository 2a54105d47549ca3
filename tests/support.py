"""Test helpers: the collector under uvicorn on a loopback port, and reading Kinesis back."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn

from collector.app import Overrides
from collector.server import config
from collector.settings import CollectorSettings
from lambdalytics import aws, bootstrap
from lambdalytics.properties import PropertyStore
from lambdalytics.records import decode

UA_TID = "UA-1234-1"
# test data vendored with its licence (MaxMind's test databases, a labelled agent corpus)
TESTDATA = Path(__file__).resolve().parent / "data"


def isolate_aws_env(mp: pytest.MonkeyPatch) -> None:
    """No real account, endpoint or setting leaks in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "LAMBDALYTICS_")):
            mp.delenv(name)
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    mp.setenv("AWS_CONFIG_FILE", "/dev/null")
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


def serve_in_thread(cfg: uvicorn.Config, what: str) -> tuple[str, uvicorn.Server,
                                                            threading.Thread]:
    """Start ``cfg`` (a loopback host, port 0) under uvicorn in a daemon thread; its URL, the
    server and the thread once it listens. Stop it with ``server.should_exit = True``."""
    server = uvicorn.Server(cfg)
    thread = threading.Thread(target=server.run, name=what, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}", server, thread


@contextmanager
def serving_app(app: Any, what: str) -> Iterator[str]:
    """An ASGI app on a loopback port, under uvicorn in a thread (lifespan on, no access
    log); its URL. Stopped, and its thread checked gone, at the end."""
    cfg = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", access_log=False,
                         log_config=None)
    url, server, thread = serve_in_thread(cfg, what)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive()


COLLECTOR_THREAD = "collector"  # the thread a running_collector serves on (its log records')


@contextmanager
def running_collector(settings: CollectorSettings,
                      overrides: Overrides | None = None) -> Iterator[RunningCollector]:
    cfg = config(settings.model_copy(update={"host": "127.0.0.1", "port": 0}), overrides)
    running = RunningCollector(*serve_in_thread(cfg, COLLECTOR_THREAD))
    try:
        yield running
    finally:
        running.stop()


class RunningCollector:
    def __init__(self, url: str, server: uvicorn.Server, thread: threading.Thread) -> None:
        self.url = url
        self.server = server
        self.thread = thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "collector did not stop"

    @property
    def app(self) -> Any:
        return self.server.config.loaded_app if hasattr(self.server.config, "loaded_app") else None


def create_stack(settings: CollectorSettings, tracking_ids: list[str] | None = None,
                 *, enabled: bool = True) -> None:
    """Stream and properties table as `lambdalytics local` makes them, plus one property."""

    async def go() -> None:
        res = settings.resources
        await bootstrap.provision(settings, (res.properties,), bucket=False)
        if tracking_ids:
            async with aws.client(aws.session(), "dynamodb", settings) as ddb:
                await PropertyStore(ddb, res.properties.name).register(
                    "Test site", tracking_ids, enabled=enabled)

    asyncio.run(go())


def boto(settings: CollectorSettings, service: str) -> Any:  # a plain boto3 client
    return boto3.client(service, endpoint_url=settings.aws_endpoint_url,
                        region_name=settings.aws_region)


def read_stream(settings: CollectorSettings) -> list[tuple[str, bytes]]:
    """Every record in the stream as (partition key, data), oldest first per shard."""
    client = boto(settings, "kinesis")
    stream = settings.resources.stream.name
    out: list[tuple[str, bytes]] = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        it = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            resp = client.get_records(ShardIterator=it, Limit=10000)
            out.extend((r["PartitionKey"], r["Data"]) for r in resp["Records"])
            if not resp["Records"]:  # moto never ends a shard: an empty page is the end
                break
            it = resp.get("NextShardIterator")
    return out


def read_records(settings: CollectorSettings) -> list[Any]:
    return [decode(data) for _, data in read_stream(settings)]
