"""`lambdalytics local`: the whole pipeline on this machine, on embedded AWS emulators.

Starts moto server on loopback for DynamoDB and S3 and kinesalite (:mod:`lambdalytics.kinesalite`)
for the stream, creates the stream and tables with the same names and shapes the
infrastructure uses (lambdalytics.resources), registers a demo property, runs the collector,
an archiver worker and the dashboard (DuckDB over the archive bucket, realtime from the
rollups table; an admin token made for the run, printed only in the login link's URL
fragment, which browsers never send), and prints where everything is. With ``demo``, three
sites with a month of traffic and a live trickle (:mod:`lambdalytics.demo`). Ctrl-C stops the
demo, drains the collector into Kinesis, lets the archiver flush and checkpoint what it read,
and stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import uvicorn
from pydantic import SecretStr

from archiver import worker as archiver_worker
from archiver.settings import ArchiverSettings
from collector.server import config as collector_config
from collector.settings import CollectorSettings
from dashboard.app import create_app as dashboard_app
from dashboard.settings import DashboardSettings
from lambdalytics import api_secrets, aws, bootstrap, demo, kinesalite
from lambdalytics.properties import PropertyStore, TrackingIdTaken

log = logging.getLogger(__name__)

DEMO_TRACKING_ID = "UA-100000-1"
DEMO_MEASUREMENT_ID = "G-DEMO100000"
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


# kinesalite has no on-demand streams: local's has the four shards an on-demand one starts with
LOCAL_SHARDS = 4


async def prepare(settings: CollectorSettings) -> str:
    """The demo property (a UA id, a GA4 id and an API secret made for this run: the
    embedded AWS keeps nothing after it) on the provisioned stack; the secret, for the banner."""
    secret = api_secrets.new_secret()
    async with aws.client(aws.session(), "dynamodb", settings) as ddb:
        with contextlib.suppress(TrackingIdTaken):
            await PropertyStore(ddb, settings.resources.properties.name).register(
                "Demo site", [DEMO_TRACKING_ID, DEMO_MEASUREMENT_ID], property_id=DEMO_PROPERTY,
                api_secrets_=[secret])
    return secret


# hits reach S3 within seconds locally (production defaults favour fewer, larger objects)
LOCAL_FLUSH_INTERVAL_S = 5.0


def banner(settings: CollectorSettings, url: str, aws_url: str, kinesis_url: str,
           out: TextIO, secret: str = "", dashboard: str = "", token: str = "",
           extra: str = "") -> None:
    res = settings.resources
    tid, gid = DEMO_TRACKING_ID, DEMO_MEASUREMENT_ID
    flush = int(LOCAL_FLUSH_INTERVAL_S)
    today = datetime.now(UTC).date().isoformat()
    script = Path(sys.executable).with_name("lambdalytics")
    command = str(script) if script.exists() else "lambdalytics"
    export = ("export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local "
              f"LAMBDALYTICS_AWS_ENDPOINT_URL={aws_url} "
              f"LAMBDALYTICS_AWS_ENDPOINT_URL_KINESIS={kinesis_url}")
    print(f"""
Lambdalytics is running locally.
  dashboard     {dashboard}/   (reports, realtime, share links; the admin API under /v1)
  log in        {dashboard}/#token={token}
                (this run's admin token, in the URL fragment: browsers never send it)
  collector     {url}
  tracking ids  {tid} and {gid}   (demo property {DEMO_PROPERTY})
  API secret    {secret}   (for {gid}'s Measurement Protocol, this run only)
  embedded AWS  {aws_url}   (moto: tables {res.properties.name}, … and the archive bucket)
  Kinesis       {kinesis_url}   (kinesalite: stream {res.stream.name}, {LOCAL_SHARDS} shards)
  archive       s3://{res.archive.name}/hits/   (on the embedded AWS; hits land within ~{flush} s)
  rollups       DynamoDB table {res.rollups.name}   (per property per minute)

Send a hit:
  curl -i '{url}/collect?v=1&tid={tid}&cid=555.1&t=pageview&dp=%2Fhello&dt=Hello'
Check a hit without recording it (this one lacks `ea`, and debug says so):
  curl -s '{url}/debug/collect?v=1&tid={tid}&cid=555.1&t=event&ec=video'
Point analytics.js at it:  ga('set', 'transportUrl', '{url}/collect');
Point gtag.js at it:       gtag('config', '{gid}', {{server_container_url: '{url}'}});
Or use our tracker:        <script async src="{url}/lt.js" data-id="{gid}"></script>
Send a GA4 Measurement Protocol event:
  curl -i -X POST '{url}/mp/collect?measurement_id={gid}&api_secret={secret}' \\
       -d '{{"client_id": "555.1", "events": [{{"name": "signup", "params": {{"plan": "pro"}}}}]}}'
Health and metrics:  {url}/readyz   {url}/metrics   API docs: {url}/docs

The CLI on the embedded AWS, from another shell:
  {export}
Query the archive with DuckDB (Trino SQL; `events` is every hit once), once a hit has landed:
  {command} query "SELECT type, page_path, count(*) AS hits FROM events \\
      WHERE property = '{DEMO_PROPERTY}' GROUP BY 1, 2"
A report (overview, pages, sources, countries, …; `report --help` lists them):
  {command} report overview --property {DEMO_PROPERTY} --from {today} --to {today}
Compact closed days into the Parquet lake (a day closes 4 hours after it ends, UTC):
  {command} compact
Create a property (prints its tracking ids and an API secret):
  {command} properties create --name 'My site' --allowed-hostname www.example.com

{extra}Ctrl-C stops everything (queued hits go to Kinesis and are archived first).
""", file=out, flush=True)  # noqa: S608 (a banner that shows a query, not SQL built from input)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `local` stops the collector and the archiver
    in order itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: Any, host: str, port: int) -> _Server:
    # no access log: it would carry client addresses (and the dashboard's, share tokens)
    return _Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                  server_header=False))


async def _started(*servers: tuple[_Server, asyncio.Task[None]]) -> list[str]:
    """The servers' URLs once they listen (empty when one of them failed to start)."""
    while not all(uv.started or task.done() for uv, task in servers):  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # uvicorn has no event for it
    if not all(uv.started for uv, _ in servers):
        return []
    return ["http://{}:{}".format(*uv.servers[0].sockets[0].getsockname()[:2])
            for uv, _ in servers]


async def run(port: int, aws_port: int, host: str = "127.0.0.1",
              geoip_database: str | None = None, *, dashboard_port: int = 8081,
              demo_hits: int = 0, demo_days: int = demo.DEFAULT_DAYS) -> None:
    """``demo_hits`` > 0: the demo sites, with that many requests over ``demo_days`` days."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    try:
        stream = kinesalite.start()
    except (kinesalite.KinesaliteMissing, kinesalite.KinesaliteFailed) as exc:
        sys.exit(f"error: {exc}")
    server, aws_url = start_moto(aws_port)
    # the emulators accept any credentials; set dummy ones only when none are configured
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    region = os.environ.get("AWS_REGION", "us-east-1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    scratch = tempfile.TemporaryDirectory(prefix="lambdalytics-local-")

    def on_signal() -> None:
        if stop.is_set():  # a second Ctrl-C: stop waiting
            os._exit(130)
        print("\nstopping: draining the collector, then the archiver …", file=sys.stderr)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    background: list[asyncio.Task[Any]] = []
    try:
        made_geo = demo_hits > 0 and geoip_database is None
        if made_geo:
            geoip_database = str(demo.geo_database(Path(scratch.name)))
        settings = CollectorSettings(
            host=host, port=port, aws_endpoint_url=aws_url, aws_region=region,
            aws_endpoint_url_kinesis=stream.url,
            # kinesalite writes one call per stream at a time (and the collector serialises
            # calls to an emulator anyway): with one in flight the next batch fills meanwhile
            sink_max_in_flight=1,
            geoip_database=geoip_database,
            # the demo's live visitors come with their addresses in X-Forwarded-For
            trusted_proxy_hops=1 if demo_hits else 0,
        )
        archiver_settings = ArchiverSettings(
            aws_endpoint_url=aws_url, aws_endpoint_url_kinesis=stream.url, aws_region=region,
            flush_interval_s=LOCAL_FLUSH_INTERVAL_S,
            idle_between_reads_s=0.5, parent_poll_interval_s=1.0, shard_sync_interval_s=10.0,
        )
        token = secrets.token_urlsafe(32)
        dashboard_settings = DashboardSettings(
            aws_endpoint_url=aws_url, aws_region=region, admin_host=host,
            admin_port=dashboard_port, admin_token=SecretStr(token))
        await bootstrap.provision(settings, shard_count=LOCAL_SHARDS)
        # the demo sites first: the page opens on the first property
        demo_secrets = await demo.register(settings) if demo_hits else {}
        secret = await prepare(settings)
        uv = _Server(collector_config(settings))
        dash = _server(dashboard_app(dashboard_settings), host, dashboard_port)
        serving = asyncio.create_task(uv.serve())
        dashing = asyncio.create_task(dash.serve())
        archiver_stop = asyncio.Event()
        archiving = asyncio.create_task(archiver_worker.run(archiver_settings, archiver_stop))
        stopping = asyncio.create_task(stop.wait())
        urls = await _started((uv, serving), (dash, dashing))
        extra = ""
        if urls and demo_hits:
            print(f"Building the demo: {demo_days} days of traffic ({demo_hits:,} requests) …",
                  flush=True)
            building = asyncio.create_task(demo.build(settings, demo_secrets, hits=demo_hits,
                                                      days=demo_days))
            await asyncio.wait([building, stopping], return_when=asyncio.FIRST_COMPLETED)
            if not building.done():  # Ctrl-C while building: its workers stop too
                building.cancel()
                await asyncio.gather(building, return_exceptions=True)
            else:
                built = building.result()
                background = demo.start_background(settings, demo_secrets, urls[0], built)
                extra = demo.banner(built, geoip_database if made_geo else None)
        if urls and not stop.is_set():
            banner(settings, urls[0], aws_url, stream.url, sys.stdout, secret, urls[1], token,
                   extra)
        await asyncio.wait([stopping, serving, dashing, archiving],
                           return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        for task in background:  # the live trickle and the compaction
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        dash.should_exit = True
        uv.should_exit = True
        await dashing
        await serving  # the collector drains its queue into Kinesis
        archiver_stop.set()
        await archiving  # the archiver flushes, checkpoints and lets its leases go
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        server.stop()  # type: ignore[attr-defined]
        stream.stop()
        scratch.cleanup()
