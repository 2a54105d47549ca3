"""The `lambdalytics` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

from lambdalytics import bootstrap, logs, properties_cli, schema_doc
from lambdalytics.properties import PropertyError
from lambdalytics.settings import CommonSettings


def _local(args: argparse.Namespace) -> None:
    from lambdalytics import local

    logs.configure(args.log_level, "text")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(local.run(args.port, args.aws_port, args.host, args.geoip))


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


def _ddl(args: argparse.Namespace) -> None:
    from lambdalytics import archive_layout, ddl

    settings = CommonSettings()
    bucket = args.bucket or settings.resources.archive.name
    root = args.location or archive_layout.archive_root(bucket, args.archive_prefix)
    options: dict[str, str] = {}
    if args.engine == "athena" and args.database:
        options["database"] = args.database
    if args.engine == "trino":
        options |= {"catalog": args.catalog, "schema": args.schema}
    for name in args.table or list(ddl.TABLES):
        if args.engine == "glue":
            print(json.dumps(ddl.glue_table_input(ddl.table(name), root), indent=2))
            continue
        print(ddl.render(args.engine, name, root, **options).rstrip().rstrip(";") + ";\n")
        if args.engine == "trino":  # plain Trino finds partitions only when told
            print(ddl.trino_sync_partitions(ddl.table(name), catalog=args.catalog,
                                            schema=args.schema).rstrip().rstrip(";") + ";\n")


def _query(args: argparse.Namespace) -> None:
    import duckdb

    from lambdalytics import archive_layout, ddl

    settings = CommonSettings()
    bucket = args.bucket or settings.resources.archive.name
    root = args.location or archive_layout.archive_root(bucket, args.archive_prefix)
    conn = duckdb.connect()
    if root.startswith("s3://"):  # through the S3 API, wherever the SDK settings point
        endpoint = (settings.aws_endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3")
                    or os.environ.get("AWS_ENDPOINT_URL"))
        region = settings.aws_region or os.environ.get("AWS_REGION") or \
            os.environ.get("AWS_DEFAULT_REGION")
        fs = ddl.register_s3(conn, endpoint_url=endpoint, region=region)
        try:
            ddl.require_bucket(fs, root)
        except ddl.ArchiveUnreachable as exc:
            sys.exit(f"error: {exc}")
    ddl.create_duckdb_views(conn, root)
    try:
        result = conn.sql(args.sql)
    except duckdb.Error as exc:
        sys.exit(f"error: {exc}")
    if result is None:
        return
    print("\t".join(result.columns))
    for row in result.fetchall():
        print("\t".join("" if v is None else str(v) for v in row))


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
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--geoip", metavar="PATH", default=None,
                       help="a MaxMind GeoLite2/GeoIP2 City or Country database (optional)")
    local.add_argument("--log-level", default="WARNING")
    local.set_defaults(func=_local)

    sub.add_parser("collector", help="run the collector (settings from the environment)") \
        .set_defaults(func=_collector)
    sub.add_parser("archiver", help="run an archiver worker (settings from the environment)") \
        .set_defaults(func=_archiver)
    sub.add_parser("bootstrap", help="create the stream, tables and bucket if missing") \
        .set_defaults(func=_bootstrap)

    properties_cli.add_parser(sub).set_defaults(func=_properties)
    sub.add_parser("admin", help="serve the admin API (LAMBDALYTICS_ADMIN_TOKEN, "
                                 "LAMBDALYTICS_ADMIN_HOST/PORT; loopback by default)") \
        .set_defaults(func=_admin)

    d = sub.add_parser("ddl", help="print the archive's table definitions for a query engine")
    d.add_argument("--engine", choices=("athena", "glue", "trino", "duckdb"), required=True)
    d.add_argument("--table", action="append", choices=("hits", "filtered"),
                   help="default: every table")
    d.add_argument("--bucket", help="default: the archive bucket of LAMBDALYTICS_RESOURCE_PREFIX")
    d.add_argument("--archive-prefix", default="", help="key prefix in the bucket ('' or a/b/)")
    d.add_argument("--location", help="the archive root instead (s3://… or a local directory)")
    d.add_argument("--database", help="athena: the Glue database")
    d.add_argument("--catalog", default="hive", help="trino: the Hive catalog")
    d.add_argument("--schema", default="lambdalytics", help="trino: the schema")
    d.set_defaults(func=_ddl)

    q = sub.add_parser("query", help="run SQL on the archive with DuckDB (tables hits, filtered)")
    q.add_argument("sql", help='e.g. "SELECT type, count(*) FROM hits GROUP BY type"')
    q.add_argument("--bucket", help="default: the archive bucket of LAMBDALYTICS_RESOURCE_PREFIX")
    q.add_argument("--archive-prefix", default="", help="key prefix in the bucket ('' or a/b/)")
    q.add_argument("--location", help="the archive root instead (s3://… or a local directory)")
    q.set_defaults(func=_query)

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
