"""`lambdalytics local`: the whole pipeline on this machine, on the embedded AWS emulator.

Starts moto server on loopback, creates the stream and tables with the same names and
shapes the infrastructure uses (lambdalytics.resources), registers a demo property, runs
the collector, and prints where everything is. Ctrl-C drains the collector into Kinesis and
stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from typing import TextIO

import uvicorn

from collector.server import config as collector_config
from collector.settings import CollectorSettings
from lambdalytics import aws, bootstrap
from lambdalytics.properties import PropertyStore, TrackingIdTaken

log = logging.getLogger(__name__)

DEMO_TRACKING_ID = "UA-100000-1"
DEMO_PROPERTY = "pdemo"


def start_moto(port: int) -> tuple[object, str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:  # pragma: no cover - depends on the install
        sys.exit("lambdalytics local needs the embedded AWS emulator: pip install 'lambdalytics[local]'")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    return server, f"http://{host}:{bound}"


async def prepare(settings: CollectorSettings) -> None:
    await bootstrap.provision(settings)
    async with aws.client(aws.session(), "dynamodb", settings) as ddb:
        with contextlib.suppress(TrackingIdTaken):
            await PropertyStore(ddb, settings.resources.properties.name).register(
                "Demo site", [DEMO_TRACKING_ID], property_id=DEMO_PROPERTY)


def banner(settings: CollectorSettings, url: str, aws_url: str, out: TextIO) -> None:
    res = settings.resources
    tid = DEMO_TRACKING_ID
    print(f"""
Lambdalytics is running locally.
  collector     {url}
  tracking id   {tid}   (demo property {DEMO_PROPERTY})
  embedded AWS  {aws_url}   (moto: stream {res.stream.name}, table {res.properties.name})

Send a hit:
  curl -i '{url}/collect?v=1&tid={tid}&cid=555.1&t=pageview&dp=%2Fhello&dt=Hello'
Check a hit without recording it (this one lacks `ea`, and debug says so):
  curl -s '{url}/debug/collect?v=1&tid={tid}&cid=555.1&t=event&ec=video'
Point analytics.js at it:  ga('set', 'transportUrl', '{url}/collect');
Health and metrics:  {url}/readyz   {url}/metrics   API docs: {url}/docs

Ctrl-C stops everything (queued hits are sent to Kinesis first).
""", file=out, flush=True)


async def run(port: int, aws_port: int, host: str = "127.0.0.1",
              geoip_database: str | None = None) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    server, aws_url = start_moto(aws_port)
    # moto accepts any credentials; set dummy ones only when none are configured
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    try:
        settings = CollectorSettings(
            host=host, port=port, aws_endpoint_url=aws_url,
            aws_region=os.environ.get("AWS_REGION", "us-east-1"),
            sink_max_in_flight=1,  # moto loses records under concurrent PutRecords
            geoip_database=geoip_database,
        )
        await prepare(settings)
        uv = uvicorn.Server(collector_config(settings))
        serving = asyncio.create_task(uv.serve())
        while not uv.started and not serving.done():  # noqa: ASYNC110 (uvicorn has no event)
            await asyncio.sleep(0.05)
        if uv.started:
            bound = uv.servers[0].sockets[0].getsockname()[1]
            banner(settings, f"http://{host}:{bound}", aws_url, sys.stdout)
        await serving
    finally:
        server.stop()  # type: ignore[attr-defined]
