"""The `lambdalytics` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path

from lambdalytics import bootstrap, compose, cost, logs, properties_cli, query_cli, schema_doc
from lambdalytics.properties import PropertyError
from lambdalytics.settings import CommonSettings

# lambdalytics.demo's defaults, repeated so that `--help` does not import the demo
DEMO_HITS = 90_000
DEMO_DAYS = 30


def _positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _local(args: argparse.Namespace) -> None:
    from lambdalytics import local

    logs.configure(args.log_level, "text")
    hits = args.demo_hits if args.demo_hits is not None else DEMO_HITS if args.demo else 0
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(local.run(args.port, args.aws_port, args.host, args.geoip,
                              dashboard_port=args.dashboard_port, demo_hits=hits,
                              demo_days=args.demo_days))


def _collector(_args: argparse.Namespace) -> None:
    from collector.__main__ import main

    main()


def _archiver(_args: argparse.Namespace) -> None:
    from archiver.__main__ import main

    main()


def _bootstrap(_args: argparse.Namespace) -> None:
    settings = CommonSettings()
    logs.configure(settings.log_level, settings.log_format)

    asyncio.run(bootstrap.provision(settings))


def _properties(args: argparse.Namespace) -> None:
    try:
        asyncio.run(properties_cli.run(args))
    except PropertyError as exc:
        sys.exit(f"error: {exc}")


def _admin(_args: argparse.Namespace) -> None:
    import uvicorn

    from dashboard.admin import create_app
    from dashboard.settings import AdminSettings

    settings = AdminSettings()
    logs.configure(settings.log_level, settings.log_format)
    uvicorn.run(create_app(settings), host=settings.admin_host, port=settings.admin_port,
                log_config=None, server_header=False)


def _schema(args: argparse.Namespace) -> None:
    text = schema_doc.render()
    path = Path(args.output)
    if args.check:
        if not path.exists() or path.read_text() != text:
            sys.exit(f"{path} is out of date: run `lambdalytics schema`")
        return
    path.write_text(text)
    print(f"wrote {path}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lambdalytics", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="run the pipeline locally on the embedded AWS emulator")
    local.add_argument("--port", type=int, default=8080, help="collector port (0: any free)")
    local.add_argument("--aws-port", type=int, default=0, help="emulator port (0: any free)")
    local.add_argument("--dashboard-port", type=int, default=8081,
                       help="dashboard port (0: any free)")
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--geoip", metavar="PATH", default=None,
                       help="a MaxMind GeoLite2/GeoIP2 City or Country database (optional)")
    local.add_argument("--demo", action="store_true",
                       help="add three demo sites with a month of traffic, and live traffic")
    local.add_argument("--demo-hits", type=_positive, metavar="N", default=None,
                       help=f"requests in the demo's past (default {DEMO_HITS:,}; implies --demo)")
    local.add_argument("--demo-days", type=_positive, metavar="DAYS", default=DEMO_DAYS,
                       help=f"days of the demo's past (default {DEMO_DAYS})")
    local.add_argument("--log-level", default="WARNING")
    local.set_defaults(func=_local)

    sub.add_parser("collector", help="run the collector (settings from the environment)") \
        .set_defaults(func=_collector)
    sub.add_parser("archiver", help="run an archiver worker (settings from the environment)") \
        .set_defaults(func=_archiver)
    sub.add_parser("bootstrap", help="create the stream, tables and bucket if missing") \
        .set_defaults(func=_bootstrap)

    properties_cli.add_parser(sub).set_defaults(func=_properties)
    compose.add_parser(sub)  # compose.yaml's one-shot services
    sub.add_parser("admin", help="serve the admin API (LAMBDALYTICS_ADMIN_TOKEN, "
                                 "LAMBDALYTICS_ADMIN_HOST/PORT; loopback by default)") \
        .set_defaults(func=_admin)

    query_cli.add_parsers(sub)
    cost.add_parser(sub)

    schema = sub.add_parser("schema", help="write the Hit schema document")
    schema.add_argument("--output", default="docs/hit-schema.md")
    schema.add_argument("--check", action="store_true", help="fail if the document is stale")
    schema.set_defaults(func=_schema)
    return p


def main(argv: list[str] | None = None) -> None:
    from botocore.exceptions import NoCredentialsError, NoRegionError

    args = parser().parse_args(argv)
    try:
        args.func(args)
    except NoRegionError:
        sys.exit("error: no AWS region: set LAMBDALYTICS_AWS_REGION (or AWS_REGION)")
    except BrokenPipeError:  # `lambdalytics ddl | head`: the reader has gone, say nothing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except NoCredentialsError:
        sys.exit("error: no AWS credentials: configure the SDK's chain (a profile, "
                 "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an instance role)")


if __name__ == "__main__":
    main()
