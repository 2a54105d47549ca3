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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from lambdalytics import archive_layout, ddl, lake
from lambdalytics.settings import CommonSettings

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")


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
    settings = CommonSettings()
    if args.engine == "duckdb" and args.dialect == "duckdb":  # DuckDB's own SQL, as it is
        import duckdb

        conn = _duckdb_views(settings, _root(args, settings))
        try:
            result = conn.sql(args.sql)
        except duckdb.Error as exc:
            sys.exit(f"error: {exc}")
        if result is not None:
            _print_rows(result.columns, result.fetchall())
        return
    from dashboard.engine import QueryError

    try:
        answer = asyncio.run(_with_engine(args, settings, lambda e: e.query(args.sql)))
    except QueryError as exc:
        sys.exit(f"error: {exc}")
    _print_rows(answer.columns, answer.rows)
    if answer.bytes_scanned is not None:
        print(f"{answer.engine}: {answer.bytes_scanned} bytes scanned, "
              f"${answer.cost_usd or 0:.6f}, {answer.elapsed_s:.2f} s", file=sys.stderr)


def _print_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    print("\t".join(columns))
    for row in rows:
        print("\t".join("" if v is None else str(v) for v in row))


def _duckdb_views(settings: CommonSettings, root: str) -> duckdb.DuckDBPyConnection:
    conn, fs = duckdb_connection(settings, root)
    lake.create_duckdb_views(conn, root, fs)
    return conn


async def _with_engine(args: argparse.Namespace, settings: CommonSettings,
                       use: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``use(engine)`` on the engine ``args.engine`` names: DuckDB over the archive, or
    Athena in the deployment's workgroup and database."""
    if args.engine == "duckdb":
        from dashboard.engine import DuckDBEngine

        return await use(DuckDBEngine(_duckdb_views(settings, _root(args, settings))))
    from dashboard.athena import AthenaEngine
    from lambdalytics import aws

    athena = settings.resources.athena
    # one attempt per call: the engine retries with its own budget
    async with aws.client(aws.session(), "athena", settings, aws.config(max_attempts=1)) as client:
        engine = AthenaEngine(client, workgroup=settings.athena_workgroup or athena.workgroup,
                              database=settings.athena_database or athena.database,
                              output_location=settings.athena_output_location)
        return await use(engine)


def _report(args: argparse.Namespace) -> None:
    from dashboard.engine import QueryError
    from dashboard.reports import DateRange, ReportError, ReportRequest, parse_filter
    from dashboard.reports.output import report_text
    from lambdalytics.properties import PropertyError

    settings = CommonSettings()
    try:
        dates = DateRange.parse(args.from_date, args.to_date)
        filters = tuple(parse_filter(f) for f in args.filter or ())
        compare: Literal["previous"] | None = None if args.no_compare else "previous"
        if args.timezone or args.currency:  # the flags instead of the properties table
            request = ReportRequest(args.property, dates, timezone=args.timezone or "UTC",
                                    currency=args.currency or "USD", filters=filters,
                                    compare=compare, limit=args.limit)
        else:
            prop = asyncio.run(_property(settings, args.property))
            request = ReportRequest.for_property(prop, dates, filters=filters, compare=compare,
                                                 limit=args.limit)
        text = asyncio.run(_with_engine(
            args, settings, lambda e: report_text(e, args.name, request, args.format)))
    except (ReportError, QueryError, PropertyError) as exc:
        sys.exit(f"error: {exc}")
    sys.stdout.write(text)


async def _property(settings: CommonSettings, property_id: str) -> Any:
    """The property's policy (time zone, currency, goals) from the properties table."""
    from lambdalytics import aws
    from lambdalytics.properties import PropertyNotFound, PropertyStore

    async with aws.client(aws.session(), "dynamodb", settings,
                          aws.config(max_attempts=2, connect_timeout=2, read_timeout=5)) as ddb:
        prop = await PropertyStore(ddb, settings.resources.properties.name).get(property_id)
    if prop is None:
        raise PropertyNotFound(f"no property {property_id!r} in the properties table (give "
                               "--timezone and --currency to report on it without one)")
    return prop


def _compact(args: argparse.Namespace) -> None:
    settings = CommonSettings()
    root = _root(args, settings)
    from dashboard.engine import QueryError

    try:
        report = asyncio.run(_run_compaction(args, settings, root))
        views = asyncio.run(_with_engine(args, settings, lambda e: _publish(e, settings, root))) \
            if args.athena else ()
    except (ValueError, QueryError) as exc:
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
    if args.athena:
        print(f"athena: views {', '.join(views)} switched in "
              f"{settings.athena_database or settings.resources.athena.database}")


async def _publish(engine: Any, settings: CommonSettings, root: str) -> tuple[str, ...]:
    """Create ``events`` (with every property's ``through``, read back from the archive) and
    ``events_ga4`` again in the Athena database: the switch from landing to lake."""
    from lambdalytics import ga4_export

    _conn, fs = duckdb_connection(settings, root)
    database = settings.athena_database or settings.resources.athena.database
    await engine.query(lake.events_view_sql(lake.read_through(fs, root), database=database))
    await engine.query(ga4_export.view_sql("athena", name=f"{database}.events_ga4",
                                           source=f"{database}.{lake.EVENTS}"))
    return (lake.EVENTS, "events_ga4")


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


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("duckdb", "athena"), default="duckdb",
                   help="duckdb: over the archive's objects (default); athena: in the "
                        "deployment's workgroup (LAMBDALYTICS_ATHENA_*)")
    _archive_args(p)


def add_parsers(sub: Any) -> None:
    d = sub.add_parser("ddl", help="print the archive's table definitions for a query engine")
    d.add_argument("--engine", choices=("athena", "glue", "trino", "duckdb"), required=True)
    d.add_argument("--table", action="append", choices=ddl.TABLES, help="default: every table")
    _archive_args(d)
    d.add_argument("--database", help="athena: the Glue database (default: the deployment's)")
    d.add_argument("--catalog", default="hive", help="trino: the Hive catalog")
    d.add_argument("--schema", default="lambdalytics", help="trino: the schema")
    d.set_defaults(func=_ddl)

    q = sub.add_parser("query", help="run SQL on the archive (tables events, events_ga4, "
                                     "hits, filtered, lake)")
    q.add_argument("sql", help='Trino/Athena SQL, e.g. "SELECT type, count(*) FROM events '
                               'WHERE property = \'p1\' GROUP BY type"')
    _engine_args(q)
    q.add_argument("--dialect", choices=("trino", "duckdb"), default="trino",
                   help="duckdb: DuckDB's own SQL, run as it is (--engine duckdb only)")
    q.set_defaults(func=_query)

    from dashboard.reports import REPORTS
    from dashboard.reports.output import FORMATS

    r = sub.add_parser("report", help="run a report for a property and a range of days")
    r.add_argument("name", choices=sorted(REPORTS))
    r.add_argument("--property", required=True)
    r.add_argument("--from", dest="from_date", required=True, help="first day, YYYY-MM-DD, "
                                                                  "in the property's time zone")
    r.add_argument("--to", dest="to_date", required=True, help="last day, included")
    r.add_argument("--filter", action="append", metavar="DIMENSION:OP:VALUE",
                   help="e.g. country:equals:DE, page_path:starts_with:/blog (repeatable)")
    r.add_argument("--limit", type=int, default=10, help="rows of a top list")
    r.add_argument("--no-compare", action="store_true", help="no previous period")
    r.add_argument("--timezone", help="when the property is not in the properties table")
    r.add_argument("--currency", help="when the property is not in the properties table")
    r.add_argument("--format", choices=FORMATS, default="table")
    _engine_args(r)
    r.set_defaults(func=_report)

    c = sub.add_parser("compact", help="rewrite closed days of landing JSON as the Parquet lake")
    c.add_argument("--date", help="only this UTC date (YYYY-MM-DD); default: every closed day "
                                  "that needs it")
    c.add_argument("--property", action="append", help="only this property (repeatable)")
    _archive_args(c)
    c.add_argument("--close-delay-hours", type=float, default=4.0,
                   help="a UTC day is closed this long after it ends (default 4)")
    c.add_argument("--memory-limit", help="DuckDB's memory limit, e.g. 2GB (it spills beyond)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.add_argument("--athena", action="store_true",
                   help="then create the events and events_ga4 views again in Athena "
                        "(LAMBDALYTICS_ATHENA_*), switching the compacted days to the lake")
    c.set_defaults(func=_compact, engine="athena")
