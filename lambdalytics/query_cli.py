"""`lambdalytics ddl`, `query`, `compact` and `report`: the query layer from a shell.

The archive is the bucket of the settings (``LAMBDALYTICS_RESOURCE_PREFIX`` /
``LAMBDALYTICS_ARCHIVE_BUCKET``) or ``--location`` (``s3://…`` or a local directory). SQL is
Trino/Athena SQL on every engine; DuckDB runs it transpiled (dashboard.engine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from lambdalytics import archive_layout, ddl, lake
from lambdalytics.settings import CommonSettings

if TYPE_CHECKING:
    import duckdb


def _root(args: argparse.Namespace, settings: CommonSettings) -> str:
    if args.location:
        location: str = args.location
        return location if location.endswith("/") else location + "/"
    return archive_layout.archive_root(args.bucket or settings.resources.archive.name,
                                       args.archive_prefix)


def _region(settings: CommonSettings) -> str | None:
    return settings.aws_region or os.environ.get("AWS_REGION") or \
        os.environ.get("AWS_DEFAULT_REGION")


def duckdb_connection(settings: CommonSettings, root: str) -> tuple[duckdb.DuckDBPyConnection, Any]:
    """A connection that reads ``root``, and the filesystem it reads it through; exits with
    an error when an ``s3://`` archive cannot be read (rather than answering "no rows")."""
    import duckdb

    conn = duckdb.connect()
    if not root.startswith("s3://"):
        from fsspec.implementations.local import LocalFileSystem
        return conn, LocalFileSystem()
    endpoint = (settings.aws_endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3")
                or os.environ.get("AWS_ENDPOINT_URL"))
    fs = ddl.register_s3(conn, endpoint_url=endpoint, region=_region(settings))
    try:
        ddl.require_bucket(fs, root)
    except ddl.ArchiveUnreachable as exc:
        sys.exit(f"error: {exc}")
    return conn, fs


def _ddl(args: argparse.Namespace) -> None:
    settings = CommonSettings()
    root = _root(args, settings)
    options: dict[str, str] = {}
    if args.engine == "athena":
        options["database"] = args.database or settings.resources.athena.database
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

    settings = CommonSettings()
    root = _root(args, settings)
    conn, fs = duckdb_connection(settings, root)
    lake.create_duckdb_views(conn, root, fs)
    try:
        result = conn.sql(args.sql)
    except duckdb.Error as exc:
        sys.exit(f"error: {exc}")
    if result is None:
        return
    print("\t".join(result.columns))
    for row in result.fetchall():
        print("\t".join("" if v is None else str(v) for v in row))


def _compact(args: argparse.Namespace) -> None:
    settings = CommonSettings()
    root = _root(args, settings)
    try:
        report = asyncio.run(_run_compaction(args, settings, root))
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return
    for d in report.days:
        print(f"{d.property_id}\t{d.date}\t{d.rows} rows\t{d.duplicates} duplicates dropped\t"
              f"{d.sources} objects\t{d.landing_bytes} → {d.lake_bytes} bytes\t{d.seconds:.1f} s")
    for prop, through in sorted(report.through.items()):
        print(f"{prop}\tlake complete through {through}")
    print(f"{len(report.days)} days compacted, {report.up_to_date} up to date, "
          f"{report.skipped_open} not closed yet")


async def _run_compaction(args: argparse.Namespace, settings: CommonSettings,
                          root: str) -> Any:
    from archiver.compact import Compactor
    from archiver.lake_store import LakeStore, LocalStore, S3Store
    from lambdalytics import aws

    conn, _fs = duckdb_connection(settings, root)
    if args.memory_limit:
        conn.execute(f"SET memory_limit = '{args.memory_limit}'")
    async with AsyncExitStack() as stack:
        store: LakeStore
        if root.startswith("s3://"):
            bucket, _, prefix = root[len("s3://"):].partition("/")
            client = await stack.enter_async_context(aws.client(aws.session(), "s3", settings))
            store = S3Store(client, bucket, prefix)
        else:
            store, prefix = LocalStore(root), ""
        compactor = Compactor(store, conn, archive_prefix=prefix,
                              close_delay=timedelta(hours=args.close_delay_hours))
        return await compactor.run(args.property or None, day=args.date)


def _archive_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bucket", help="default: the archive bucket of LAMBDALYTICS_RESOURCE_PREFIX")
    p.add_argument("--archive-prefix", default="", help="key prefix in the bucket ('' or a/b/)")
    p.add_argument("--location", help="the archive root instead (s3://… or a local directory)")


def add_parsers(sub: Any) -> None:
    d = sub.add_parser("ddl", help="print the archive's table definitions for a query engine")
    d.add_argument("--engine", choices=("athena", "glue", "trino", "duckdb"), required=True)
    d.add_argument("--table", action="append", choices=ddl.TABLES, help="default: every table")
    _archive_args(d)
    d.add_argument("--database", help="athena: the Glue database (default: the deployment's)")
    d.add_argument("--catalog", default="hive", help="trino: the Hive catalog")
    d.add_argument("--schema", default="lambdalytics", help="trino: the schema")
    d.set_defaults(func=_ddl)

    q = sub.add_parser("query", help="run SQL on the archive with DuckDB "
                                     "(tables events, hits, filtered, lake)")
    q.add_argument("sql", help='e.g. "SELECT type, count(*) FROM events GROUP BY type"')
    _archive_args(q)
    q.set_defaults(func=_query)

    c = sub.add_parser("compact", help="rewrite closed days of landing JSON as the Parquet lake")
    c.add_argument("--date", help="only this UTC date (YYYY-MM-DD); default: every closed day "
                                  "that needs it")
    c.add_argument("--property", action="append", help="only this property (repeatable)")
    _archive_args(c)
    c.add_argument("--close-delay-hours", type=float, default=4.0,
                   help="a UTC day is closed this long after it ends (default 4)")
    c.add_argument("--memory-limit", help="DuckDB's memory limit, e.g. 2GB (it spills beyond)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=_compact)
