"""`lambdalytics compose …`: the one-shot services of compose.yaml (`docker compose up`).

- ``bootstrap``: the stream, tables and archive bucket of :mod:`lambdalytics.resources`
  (:func:`lambdalytics.bootstrap.provision`, as `lambdalytics local` and infra/ make them;
  ``--shards``: kinesalite has no on-demand streams), the demo property `lambdalytics local`
  registers (same ids), and two secrets in the emulator's Secrets Manager: the admin token the
  dashboard reads at start-up (``LAMBDALYTICS_ADMIN_TOKEN_SECRET``, as the ECS task reads its
  own from Secrets Manager) and the demo property's API secret. Idempotent: run again against
  the same emulator, it keeps both secrets and the property.
- ``welcome``: waits for the given URLs to answer 200, then prints where to look (the login
  link carries the token in the URL fragment, which browsers never send).
- ``demo``: `lambdalytics local --demo`'s three sites — a month of traffic through the
  collector's and archiver's code, compacted into the lake — and live traffic into the
  collector service until stopped.

Settings come from the environment (LAMBDALYTICS_*), as in every entrypoint.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from lambdalytics import api_secrets, aws, bootstrap, logs
from lambdalytics.properties import PropertyStore, TrackingIdTaken
from lambdalytics.settings import CommonSettings

log = logging.getLogger(__name__)

# `lambdalytics local`'s demo property (lambdalytics.local: tests/docker check they agree)
DEMO_TRACKING_ID = "UA-100000-1"
DEMO_MEASUREMENT_ID = "G-DEMO100000"
DEMO_PROPERTY = "pdemo"


def admin_token_secret(prefix: str) -> str:
    """The admin token's secret: the name infra/secrets.py gives it on AWS."""
    return f"{prefix}/admin-token"


def demo_api_secret(prefix: str) -> str:
    return f"{prefix}/local/demo-api-secret"


async def _get_or_create(sm: Any, name: str, make: str) -> tuple[str, bool]:
    """(the secret's value, whether it was created now with ``make``)."""
    try:
        return str((await sm.get_secret_value(SecretId=name))["SecretString"]), False
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    await sm.create_secret(Name=name, SecretString=make)
    return make, True


async def provision(settings: CommonSettings, shard_count: int | None = None) -> None:
    await bootstrap.provision(settings, shard_count=shard_count)
    prefix = settings.resource_prefix
    async with aws.client(aws.session(), "secretsmanager", settings) as sm:  # type: ignore[call-overload]
        await _get_or_create(sm, admin_token_secret(prefix), secrets.token_urlsafe(32))
        secret, created = await _get_or_create(sm, demo_api_secret(prefix),
                                               api_secrets.new_secret())
    if created:
        async with aws.client(aws.session(), "dynamodb", settings) as ddb:
            with contextlib.suppress(TrackingIdTaken):
                await PropertyStore(ddb, settings.resources.properties.name).register(
                    "Demo site", [DEMO_TRACKING_ID, DEMO_MEASUREMENT_ID],
                    property_id=DEMO_PROPERTY, api_secrets_=[secret])
    res = settings.resources
    print(f"bootstrap: stream {res.stream.name}, tables "
          f"{', '.join(t.name for t in res.tables)}, bucket {res.archive.name}, demo property "
          f"{DEMO_PROPERTY} ({DEMO_TRACKING_ID}, {DEMO_MEASUREMENT_ID})", flush=True)


def wait_for(urls: list[str], timeout: float) -> None:
    """Until every URL answers 200, or SystemExit after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (our URLs)
                    if resp.status == 200:
                        break
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                sys.exit(f"error: {url} did not answer 200 within {timeout:.0f} s")
            time.sleep(0.5)


async def _read_secrets(settings: CommonSettings) -> tuple[str, str]:
    prefix = settings.resource_prefix
    async with aws.client(aws.session(), "secretsmanager", settings) as sm:  # type: ignore[call-overload]
        token = (await sm.get_secret_value(SecretId=admin_token_secret(prefix)))["SecretString"]
        secret = (await sm.get_secret_value(SecretId=demo_api_secret(prefix)))["SecretString"]
    return str(token), str(secret)


def banner(settings: CommonSettings, args: argparse.Namespace, token: str, secret: str) -> str:
    res = settings.resources
    today = datetime.now(UTC).date().isoformat()
    url, dash, tid, gid = args.collector_url, args.dashboard_url, DEMO_TRACKING_ID, \
        DEMO_MEASUREMENT_ID
    return f"""
Lambdalytics is running in compose (the same stack as `lambdalytics local`).
  dashboard     {dash}/   (reports, realtime, share links; the admin API under /v1)
  log in        {dash}/#token={token}
                (the admin token, in the URL fragment: browsers never send it; it is the
                secret {admin_token_secret(settings.resource_prefix)} on the emulator)
  collector     {url}   (health {url}/readyz, metrics {url}/metrics, API docs {url}/docs)
  tracking ids  {tid} and {gid}   (demo property {DEMO_PROPERTY})
  API secret    {secret}   (for {gid}'s Measurement Protocol)
  embedded AWS  {args.aws_url}   (moto: tables {res.properties.name}, … and the archive bucket)
  Kinesis       {args.kinesis_url}   (kinesalite: stream {res.stream.name})
  archive       s3://{res.archive.name}/hits/   (hits land within seconds)

Send a hit:
  curl -i '{url}/collect?v=1&tid={tid}&cid=555.1&t=pageview&dp=%2Fhello&dt=Hello'
Send a GA4 Measurement Protocol event:
  curl -i -X POST '{url}/mp/collect?measurement_id={gid}&api_secret={secret}' \\
       -d '{{"client_id": "555.1", "events": [{{"name": "signup"}}]}}'
The CLI on the embedded AWS, from this machine:
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\
      LAMBDALYTICS_AWS_ENDPOINT_URL={args.aws_url} LAMBDALYTICS_AWS_ENDPOINT_URL_KINESIS={args.kinesis_url}
  lambdalytics report overview --property {DEMO_PROPERTY} --from {today} --to {today}
Or in the stack:  docker compose run --rm compactor   (closed days into the Parquet lake)
The demo's three sites and live traffic:  docker compose --profile demo up
`docker compose down` forgets everything (the emulators keep it in memory).
"""


def _bootstrap(args: argparse.Namespace) -> None:
    settings = CommonSettings()
    logs.configure(settings.log_level, settings.log_format)
    asyncio.run(provision(settings, args.shards))


def _welcome(args: argparse.Namespace) -> None:
    settings = CommonSettings()
    logs.configure(settings.log_level, settings.log_format)
    wait_for(args.wait, args.timeout)
    token, secret = asyncio.run(_read_secrets(settings))
    print(banner(settings, args, token, secret), flush=True)


async def _demo(args: argparse.Namespace) -> None:
    import tempfile
    from pathlib import Path

    from collector.settings import CollectorSettings
    from lambdalytics import demo

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with tempfile.TemporaryDirectory(prefix="lambdalytics-demo-") as scratch:
        geo = str(demo.geo_database(Path(scratch)))
        # as `lambdalytics local --demo`: the demo's visitors come in X-Forwarded-For
        settings = CollectorSettings(geoip_database=geo, trusted_proxy_hops=1,
                                     sink_max_in_flight=1)
        demo_secrets = await demo.register(settings)
        print(f"demo: building {args.days} days of traffic ({args.hits:,} requests) …",
              flush=True)
        built = await demo.build(settings, demo_secrets, hits=args.hits, days=args.days)
        print(demo.banner(built, None), flush=True)
        background = demo.start_background(settings, demo_secrets, args.collector_url, built)
        await stop.wait()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)


def _demo_main(args: argparse.Namespace) -> None:
    settings = CommonSettings()
    logs.configure(settings.log_level, settings.log_format)
    wait_for([f"{args.collector_url}/readyz"], args.timeout)
    asyncio.run(_demo(args))


def add_parser(sub: Any) -> None:
    """`lambdalytics compose` and its three actions, under ``sub`` (cli.py's subparsers)."""
    p = sub.add_parser("compose", help="the one-shot services of compose.yaml "
                                       "(bootstrap, welcome, demo)")
    actions = p.add_subparsers(dest="compose_action", required=True)
    b = actions.add_parser("bootstrap", help="create the resources, the demo property and "
                                             "the admin token's secret (idempotent)")
    b.add_argument("--shards", type=int, default=None,
                   help="a provisioned stream of this many shards (default: on-demand)")
    b.set_defaults(func=_bootstrap)
    w = actions.add_parser("welcome", help="wait for the services, then print where to look")
    w.add_argument("--wait", action="append", default=[], metavar="URL",
                   help="a URL that must answer 200 first (repeatable)")
    w.add_argument("--timeout", type=float, default=180.0)
    for name, default in (("collector", "http://localhost:8080"),
                          ("dashboard", "http://localhost:8081"),
                          ("aws", "http://127.0.0.1:5000"), ("kinesis", "http://127.0.0.1:4567")):
        w.add_argument(f"--{name}-url", default=default, help="as this machine reaches it")
    w.set_defaults(func=_welcome)
    d = actions.add_parser("demo", help="the demo sites: a month of traffic, then live hits")
    d.add_argument("--collector-url", default="http://collector:8080")
    d.add_argument("--hits", type=int, default=90_000)
    d.add_argument("--days", type=int, default=30)
    d.add_argument("--timeout", type=float, default=180.0)
    d.set_defaults(func=_demo_main)
