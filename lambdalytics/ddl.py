"""Table definitions for the S3 archive, generated from the schema (DESIGN.md contracts 1, 3).

Nothing here lists a column by hand: the hits table is :func:`lambdalytics.hit.columns`, the
filtered table is the fields of :class:`lambdalytics.records.FilteredCount`, and the partition
columns and locations come from :mod:`lambdalytics.archive_layout`. One :class:`Table`, four
renderings with the same column names, order and types:

- Athena DDL (``CREATE EXTERNAL TABLE``, Hive JSON SerDe, partition projection) and the same
  table as a Glue ``TableInput`` (``glue.create_table``; the Pulumi program's catalog table);
- Presto/Trino Hive connector ``CREATE TABLE … WITH (format = 'JSON', …)`` plus the
  ``sync_partition_metadata`` call that registers partitions;
- a DuckDB view over ``read_json`` with explicit types, and :func:`register_s3` so that DuckDB
  reads ``s3://`` through pyarrow (its httpfs extension cannot be downloaded here).

Type mapping (Hit kind → Hive/Athena/Glue · Trino · DuckDB): string → string · varchar ·
VARCHAR; bigint, double, boolean alike; timestamp → timestamp · timestamp(3) · TIMESTAMP;
map<string,V> → map<string,V> · map(varchar, V) · MAP(VARCHAR, V); array<struct> →
array<struct<…>> · array(row(…)) · STRUCT(…)[].

**Timestamps** are ``timestamp`` without time zone, holding UTC, on every engine. The JSON holds
RFC 3339 with ``Z`` as orjson writes it: no fraction when the microseconds are 0, else six
digits (``2026-11-28T02:54:00Z``, ``2026-11-28T02:54:00.123000Z``). The Hive JSON SerDe (and
Trino's reimplementation, which Athena engine 3 runs) parses a timestamp with
``java.sql.Timestamp.valueOf`` or ISO *local* date-time unless ``timestamp.formats`` is set, so
those strings would fail; we set :data:`TIMESTAMP_FORMATS`, Joda patterns tried in turn, the
longest full match winning. Joda's ``S…S`` reads 1 to len(pattern) digits (kept to ms), and
``ZZ`` reads ``Z`` or ``±hh:mm``. Strings were rejected as a mapping because every report
would then parse times itself; epoch millis because the JSON is the contract and says RFC 3339.
DuckDB reads these columns as TIMESTAMPTZ (so an offset, should one appear, is honoured as Joda
does) and the view converts them to UTC ``TIMESTAMP``, so results never depend on the session's
TimeZone. Plain Trino's ``CREATE TABLE`` has no serde-properties clause; table parameters are
merged into the reader's schema, so the formats go in ``extra_properties``.

**Identifiers** are always quoted (backticks for Hive/Athena DDL, double quotes for Trino and
DuckDB): ``date``, ``type``, ``position`` and ``count`` are reserved or keyword-like in one
engine or another, and quoting all of them means a new column never needs a keyword list.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from lambdalytics import archive_layout as layout
from lambdalytics.hit import HIT_TYPES, Column, Hit, columns
from lambdalytics.records import FilteredCount

if TYPE_CHECKING:
    import duckdb

Engine = Literal["athena", "trino", "duckdb"]
ENGINES: tuple[Engine, ...] = ("athena", "trino", "duckdb")
TABLES = (layout.HITS, layout.FILTERED, layout.LAKE)
Format = Literal["json", "parquet"]

JSON_SERDE = "org.apache.hive.hcatalog.data.JsonSerDe"
INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
# Joda patterns, comma-separated (the SerDe's own separator): with a fraction of 1–9 digits,
# then without one. See the module docstring; tests check them against hit.encode's output.
TIMESTAMP_FORMATS = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSZZ,yyyy-MM-dd'T'HH:mm:ssZZ"
DATE_FORMAT = "yyyy-MM-dd"  # Athena projection format of the `date` partition
DEFAULT_DATE_RANGE_START = "2024-01-01"
COMMENT_MAX = 255  # Glue's limit for a column comment

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*\Z")
_MAP_KIND = re.compile(r"map<string,(\w+)>\Z")
_SCALARS = ("string", "bigint", "double", "boolean", "timestamp")

# --- the tables -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Partition:
    """A partition column (always a string) and how Athena projects its values."""

    name: str
    projection: Literal["injected", "enum", "date"]
    values: tuple[str, ...] = ()  # for enum
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    """One archive table: data columns in schema order, then the partition columns."""

    name: str  # table name and the layout's directory under the archive root
    doc: str
    columns: tuple[Column, ...]
    partitions: tuple[Partition, ...]
    format: Format = "json"  # landing tables: gzip JSON Lines; the lake: Parquet

    def location(self, root: str) -> str:
        return layout.table_location(root, self.name)

    def location_template(self, root: str) -> str:
        """Athena's ``storage.location.template``: the layout's key path with ``${name}``."""
        return self.location(root) + layout.partition_path(
            tuple((p.name, "${" + p.name + "}") for p in self.partitions))

    def glob(self, root: str) -> str:
        """Every object of the table, one ``*`` per partition level."""
        suffix = layout.SUFFIX if self.format == "json" else ".parquet"
        return self.location(root) + "*/" * len(self.partitions) + "*" + suffix

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns) + tuple(p.name for p in self.partitions)

    def struct_fields(self, column: str) -> tuple[str, ...]:
        """The field names of an array<struct> column, in order: the alias list Trino's
        ``CROSS JOIN UNNEST(items) AS i(…)`` needs (it expands a row into one column per field)."""
        for c in self.columns:
            if c.name == column and c.nested:
                return tuple(f.name for f in c.nested)
        raise ValueError(f"{self.name}.{column} is not an array<struct> column")


_PARTITION_DOCS = {
    "property": "our property id (from the key path)",
    "type": "hit type (from the key path; the same value as the JSON's `type`)",
    "date": "UTC date, YYYY-MM-DD (from the key path): of the event time for hits, of the minute "
            "for filtered counters",
}


def _partitions(table: str) -> tuple[Partition, ...]:
    kinds: dict[str, Partition] = {
        "property": Partition("property", "injected", doc=_PARTITION_DOCS["property"]),
        "type": Partition("type", "enum", HIT_TYPES, _PARTITION_DOCS["type"]),
        "date": Partition("date", "date", doc=_PARTITION_DOCS["date"]),
    }
    return tuple(kinds[name] for name in layout.partitions_of(table))


def _data_columns(cols: tuple[Column, ...], partitions: tuple[Partition, ...]) -> tuple[Column, ...]:
    # Hive forbids a data column named like a partition column; the partition carries the same
    # value (the hit's `type`), so the data column is dropped.
    names = {p.name for p in partitions}
    return tuple(c for c in cols if c.name not in names)


def hits_table(schema: type = Hit) -> Table:
    """The hits table from the Hit schema (``schema`` is for tests: a Hit with a new field)."""
    partitions = _partitions(layout.HITS)
    return Table(layout.HITS, "Hits as the collector accepted them: one canonical Hit per row",
                 _data_columns(columns(schema), partitions), partitions)


_FILTERED_DOCS = {
    "property_id": "our property, when the claimed id resolved to one (partition: '_unknown')",
    "tracking_id": "the id the request claimed ('' when it sent none)",
    "reason": "why the requests were filtered",
    "minute": "UTC minute of the requests, YYYY-MM-DDTHH:MMZ",
    "count": "how many requests or hits were filtered",
    "agent": "reason 'bot': the agent family, browser and OS claimed and the rule that matched",
    "record": "record kind, always 'filtered'",
}
_PLAIN_KINDS: dict[Any, str] = {str: "string", int: "bigint", float: "double", bool: "boolean"}


def _plain_columns(cls: type, docs: dict[str, str]) -> tuple[Column, ...]:
    """Columns of a flat dataclass whose fields carry no doc metadata (records.FilteredCount)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if typing.get_origin(tp) in (types.UnionType, typing.Union):
            (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
        out.append(Column(f.name, _PLAIN_KINDS[tp], docs.get(f.name, "")))
    return tuple(out)


def filtered_table(schema: type = FilteredCount) -> Table:
    """Per-minute counters of filtered traffic (records.FilteredCount), by property and date."""
    partitions = _partitions(layout.FILTERED)
    return Table(layout.FILTERED, "Filtered traffic: per-minute counters by property and reason",
                 _data_columns(_plain_columns(schema, _FILTERED_DOCS), partitions), partitions)


def lake_table(schema: type = Hit) -> Table:
    """The Parquet lake: every Hit column, ``type`` included (it is data here, not a
    partition), one object per property and UTC date, written by the compactor."""
    partitions = _partitions(layout.LAKE)
    return Table(layout.LAKE, "Hits of closed days, compacted: one canonical Hit per row, "
                 "duplicates dropped, sorted by event time", columns(schema), partitions, "parquet")


def table(name: str | Table) -> Table:
    if isinstance(name, Table):
        return name
    if name == layout.HITS:
        return hits_table()
    if name == layout.FILTERED:
        return filtered_table()
    if name == layout.LAKE:
        return lake_table()
    raise ValueError(f"no table {name!r}; tables are {', '.join(TABLES)}")


# --- types and quoting ----------------------------------------------------------------------


def _check_name(name: str) -> str:
    if not _IDENTIFIER.match(name):  # Glue and Hive lower-case names; keep every engine alike
        raise ValueError(f"column name {name!r} is not lower-case [a-z_][a-z0-9_]*")
    return name


def _render_type(col: Column, scalar: Callable[[str], str], map_of: Callable[[str, str], str],
                 array_of: Callable[[list[tuple[str, str]]], str],
                 nested: Callable[[Column], str]) -> str:
    kind = col.kind
    if kind in _SCALARS:
        return scalar(kind)
    m = _MAP_KIND.match(kind)
    if m and m.group(1) in _SCALARS:
        return map_of(scalar("string"), scalar(m.group(1)))
    if kind == "array<struct>" and col.nested:
        return array_of([(_check_name(c.name), nested(c)) for c in col.nested])
    raise TypeError(f"column {col.name}: no table type for kind {kind!r}")


_HIVE = {"string": "string", "bigint": "bigint", "double": "double", "boolean": "boolean",
         "timestamp": "timestamp"}
_TRINO = {"string": "varchar", "bigint": "bigint", "double": "double", "boolean": "boolean",
          "timestamp": "timestamp(3)"}
_DUCKDB = {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN",
           "timestamp": "TIMESTAMP"}


def hive_type(col: Column) -> str:
    """Hive/Glue type string, as Glue stores it (struct fields unquoted: it is not SQL)."""
    return _render_type(
        col, _HIVE.__getitem__, lambda k, v: f"map<{k},{v}>",
        lambda fields: "array<struct<" + ",".join(f"{n}:{t}" for n, t in fields) + ">>",
        hive_type)


def _athena_type(col: Column) -> str:
    return _render_type(
        col, _HIVE.__getitem__, lambda k, v: f"map<{k},{v}>",
        lambda fields: "array<struct<" + ",".join(f"`{n}`:{t}" for n, t in fields) + ">>",
        _athena_type)


def trino_type(col: Column) -> str:
    return _render_type(
        col, _TRINO.__getitem__, lambda k, v: f"map({k}, {v})",
        lambda fields: "array(row(" + ", ".join(f'"{n}" {t}' for n, t in fields) + "))",
        trino_type)


def duckdb_type(col: Column) -> str:
    return _render_type(
        col, _DUCKDB.__getitem__, lambda k, v: f"MAP({k}, {v})",
        lambda fields: "STRUCT(" + ", ".join(f'"{n}" {t}' for n, t in fields) + ")[]",
        duckdb_type)


def _hive_str(value: str) -> str:
    """A HiveQL string literal: backslash escapes (Hive reads '' as two adjacent literals)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql_str(value: str) -> str:
    """A standard SQL string literal (Trino, DuckDB)."""
    return "'" + value.replace("'", "''") + "'"


def _comment(doc: str) -> str:
    doc = " ".join(doc.split())
    return doc if len(doc) <= COMMENT_MAX else doc[: COMMENT_MAX - 1] + "…"


# --- Athena / Glue --------------------------------------------------------------------------


def projection_parameters(t: Table, root: str, *,
                          date_range_start: str = DEFAULT_DATE_RANGE_START) -> dict[str, str]:
    """Athena partition projection table properties (``projection.*``, the location template).

    ``date_range_start`` is a date or a relative bound such as ``NOW-3YEARS``; the range ends
    at ``NOW`` (event dates never run ahead of the receive time)."""
    params = {"projection.enabled": "true"}
    for p in t.partitions:
        params[f"projection.{p.name}.type"] = p.projection
        if p.projection == "enum":
            params[f"projection.{p.name}.values"] = ",".join(p.values)
        elif p.projection == "date":
            params[f"projection.{p.name}.format"] = DATE_FORMAT
            params[f"projection.{p.name}.range"] = f"{date_range_start},NOW"
            params[f"projection.{p.name}.interval"] = "1"
            params[f"projection.{p.name}.interval.unit"] = "DAYS"
    params["storage.location.template"] = t.location_template(root)
    return params


def _table_parameters(t: Table, root: str, date_range_start: str) -> dict[str, str]:
    kind = {"classification": "json", "compressionType": "gzip"} if t.format == "json" \
        else {"classification": "parquet"}
    return {"EXTERNAL": "TRUE", **kind,
            **projection_parameters(t, root, date_range_start=date_range_start)}


def _storage(t: Table) -> tuple[str, str, str, dict[str, str]]:
    """SerDe, input format, output format and SerDe parameters of the table's format."""
    if t.format == "json":
        return JSON_SERDE, INPUT_FORMAT, OUTPUT_FORMAT, {"timestamp.formats": TIMESTAMP_FORMATS}
    return PARQUET_SERDE, PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, {}


def athena_ddl(t: Table, root: str, *, database: str | None = None,
               date_range_start: str = DEFAULT_DATE_RANGE_START) -> str:
    """``CREATE EXTERNAL TABLE`` for Athena (Hive DDL) with partition projection."""
    name = f"`{database}`.`{t.name}`" if database else f"`{t.name}`"
    cols = ",\n".join(
        f"  `{_check_name(c.name)}` {_athena_type(c)} COMMENT {_hive_str(_comment(c.doc))}"
        for c in t.columns)
    parts = ",\n".join(
        f"  `{_check_name(p.name)}` string COMMENT {_hive_str(_comment(p.doc))}" for p in t.partitions)
    props = ",\n".join(
        f"  {_hive_str(k)}={_hive_str(v)}"
        for k, v in _table_parameters(t, root, date_range_start).items() if k != "EXTERNAL")
    serde, input_format, output_format, serde_params = _storage(t)
    serde_props = "".join(
        f"WITH SERDEPROPERTIES ({_hive_str(k)}={_hive_str(v)})\n" for k, v in serde_params.items())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n{cols}\n)\n"
        f"COMMENT {_hive_str(t.doc)}\n"
        f"PARTITIONED BY (\n{parts}\n)\n"
        f"ROW FORMAT SERDE {_hive_str(serde)}\n"
        f"{serde_props}"
        f"STORED AS INPUTFORMAT {_hive_str(input_format)}\n"
        f"OUTPUTFORMAT {_hive_str(output_format)}\n"
        f"LOCATION {_hive_str(t.location(root))}\n"
        f"TBLPROPERTIES (\n{props}\n)"
    )


def glue_table_input(t: Table, root: str, *,
                     date_range_start: str = DEFAULT_DATE_RANGE_START) -> dict[str, Any]:
    """The same table as a Glue ``TableInput`` (boto3 ``glue.create_table(DatabaseName=…,
    TableInput=…)``; Pulumi's ``aws.glue.CatalogTable`` takes the same fields in snake_case)."""
    serde, input_format, output_format, serde_params = _storage(t)
    return {
        "Name": t.name,
        "Description": t.doc,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": _table_parameters(t, root, date_range_start),
        "PartitionKeys": [
            {"Name": _check_name(p.name), "Type": "string", "Comment": _comment(p.doc)}
            for p in t.partitions
        ],
        "StorageDescriptor": {
            "Columns": [
                {"Name": _check_name(c.name), "Type": hive_type(c), "Comment": _comment(c.doc)}
                for c in t.columns
            ],
            "Location": t.location(root),
            "InputFormat": input_format,
            "OutputFormat": output_format,
            "Compressed": True,
            "SerdeInfo": {"SerializationLibrary": serde, "Parameters": serde_params},
        },
    }


# --- Presto / Trino -------------------------------------------------------------------------


def trino_ddl(t: Table, root: str, *, catalog: str = "hive", schema: str = "lambdalytics") -> str:
    """``CREATE TABLE`` for the Trino (or Presto) Hive connector over the archive. Partitions
    are then registered with :func:`trino_sync_partitions` (or projected, see docs/querying.md)."""
    cols = [
        f'  "{_check_name(c.name)}" {trino_type(c)} COMMENT {_sql_str(_comment(c.doc))}'
        for c in t.columns
    ] + [
        f'  "{_check_name(p.name)}" varchar COMMENT {_sql_str(_comment(p.doc))}' for p in t.partitions
    ]
    partitioned_by = ", ".join(_sql_str(p.name) for p in t.partitions)
    body = ",\n".join(cols)
    options = [f"  format = '{t.format.upper()}'",
               f"  external_location = {_sql_str(t.location(root))}",
               f"  partitioned_by = ARRAY[{partitioned_by}]"]
    if t.format == "json":
        options.append("  extra_properties = MAP(ARRAY['timestamp.formats'], "
                       f"ARRAY[{_sql_str(TIMESTAMP_FORMATS)}])")
    return (
        f'CREATE TABLE IF NOT EXISTS "{catalog}"."{schema}"."{t.name}" (\n{body}\n)\n'
        f"COMMENT {_sql_str(t.doc)}\n"
        "WITH (\n" + ",\n".join(options) + "\n)"
    )


def trino_sync_partitions(t: Table, *, catalog: str = "hive", schema: str = "lambdalytics",
                          mode: Literal["ADD", "DROP", "FULL"] = "ADD") -> str:
    """The call that registers the partitions found under the table's location (run it after
    new dates appear, e.g. daily; ``FULL`` also drops partitions whose objects are gone)."""
    return (f'CALL "{catalog}".system.sync_partition_metadata('
            f"schema_name => {_sql_str(schema)}, table_name => {_sql_str(t.name)}, "
            f"mode => {_sql_str(mode)})")


# --- DuckDB ---------------------------------------------------------------------------------


def _duckdb_read_type(col: Column) -> str:
    # top-level timestamps are read as TIMESTAMPTZ and converted to UTC in the view (see top)
    return "TIMESTAMPTZ" if col.kind == "timestamp" else duckdb_type(col)


def duckdb_column(col: Column, fmt: Format) -> str:
    """One column of a DuckDB view's select list."""
    name = f'"{_check_name(col.name)}"'
    # JSON timestamps are read with their offset (TIMESTAMPTZ) and converted; Parquet holds
    # UTC TIMESTAMPs (without time zone) already
    return f"timezone('UTC', {name}) AS {name}" if col.kind == "timestamp" and fmt == "json" else name


def duckdb_source(t: Table, paths: str | list[str], *, filename: bool = False) -> str:
    """The ``read_json``/``read_parquet`` call over ``paths`` (a glob or a list of objects),
    with explicit types and hive partitions read as VARCHAR (``filename``: with the object
    each row came from, as a ``filename`` column)."""
    files = _sql_str(paths) if isinstance(paths, str) else \
        "[" + ", ".join(_sql_str(p) for p in paths) + "]"
    hive_types = ", ".join(f"{_sql_str(p.name)}: 'VARCHAR'" for p in t.partitions)
    if t.format == "parquet":
        # union_by_name: a day written before a new column existed reads it as NULL
        return (f"read_parquet(\n  {files},\n  hive_partitioning = true,\n"
                f"  hive_types = {{{hive_types}}},\n  union_by_name = true"
                f"{', filename = true' if filename else ''}\n)")
    columns_arg = ", ".join(f"{_sql_str(c.name)}: {_sql_str(_duckdb_read_type(c))}" for c in t.columns)
    return (
        f"read_json(\n  {files},\n"
        "  format = 'newline_delimited',\n"
        "  compression = 'gzip',\n"
        "  hive_partitioning = true,\n"
        f"  hive_types = {{{hive_types}}},\n"
        f"  columns = {{{columns_arg}}}{', filename = true' if filename else ''}\n"
        ")"
    )


def duckdb_select(t: Table) -> str:
    """The select list of the table's DuckDB view: its columns, then its partitions."""
    return ",\n  ".join([duckdb_column(c, t.format) for c in t.columns]
                        + [f'"{_check_name(p.name)}"' for p in t.partitions])


def duckdb_view(t: Table, root: str, *, name: str | None = None) -> str:
    """``CREATE OR REPLACE VIEW`` over ``read_json`` (``read_parquet`` for the lake) of the
    table's objects, with explicit types and hive partitions read as VARCHAR: the Athena
    table's columns, names and order. ``root`` is the archive root (``s3://bucket/prefix/``
    through :func:`register_s3`, or a local directory)."""
    return (f'CREATE OR REPLACE VIEW "{name or t.name}" AS\nSELECT\n  {duckdb_select(t)}\n'
            f"FROM {duckdb_source(t, t.glob(root))}")


def duckdb_empty_view(t: Table, *, name: str | None = None) -> str:
    """The same view with no rows, for an archive that has no objects yet (DuckDB binds a view
    when it is created, and ``read_json`` of a glob that matches nothing is an error)."""
    select = ",\n  ".join(
        [f'CAST(NULL AS {duckdb_type(c)}) AS "{_check_name(c.name)}"' for c in t.columns]
        + [f'CAST(NULL AS VARCHAR) AS "{_check_name(p.name)}"' for p in t.partitions])
    return f'CREATE OR REPLACE VIEW "{name or t.name}" AS\nSELECT\n  {select}\nWHERE false'


def create_duckdb_views(conn: duckdb.DuckDBPyConnection, root: str,
                        tables: tuple[str, ...] = TABLES) -> dict[str, bool]:
    """Create a view per table on ``conn``; a table with no objects yet gets the empty view.
    Returns, per table, whether it has data. Register the filesystem first for ``s3://``."""
    import duckdb

    has_data = {}
    for name in tables:
        t = table(name)
        try:
            conn.execute(duckdb_view(t, root))
            has_data[name] = True
        except duckdb.IOException as e:
            if "No files found" not in str(e):
                raise
            conn.execute(duckdb_empty_view(t))
            has_data[name] = False
    return has_data


def s3_filesystem(*, endpoint_url: str | None = None, region: str | None = None,
                  access_key: str | None = None, secret_key: str | None = None,
                  session_token: str | None = None) -> Any:
    """An fsspec filesystem for ``s3://`` backed by pyarrow's S3 client. Without keys pyarrow
    takes credentials from the AWS SDK default chain (environment, profile, ECS task role);
    ``endpoint_url`` is the SDK-style endpoint (``AWS_ENDPOINT_URL``), e.g. moto's."""
    import pyarrow.fs
    from fsspec.implementations.arrow import ArrowFSWrapper

    kwargs: dict[str, Any] = {}
    if region:
        kwargs["region"] = region
    if endpoint_url:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"endpoint {endpoint_url!r} is not an http(s) URL")
        kwargs["endpoint_override"] = parts.netloc
        kwargs["scheme"] = parts.scheme
    if access_key is not None or secret_key is not None:
        kwargs["access_key"] = access_key
        kwargs["secret_key"] = secret_key
        if session_token is not None:
            kwargs["session_token"] = session_token
    return ArrowFSWrapper(pyarrow.fs.S3FileSystem(**kwargs))


def register_s3(conn: duckdb.DuckDBPyConnection, **kwargs: Any) -> Any:
    """Make ``conn`` read ``s3://`` through :func:`s3_filesystem` (same keyword arguments);
    returns the filesystem."""
    fs = s3_filesystem(**kwargs)
    conn.register_filesystem(fs)
    return fs


def require_bucket(fs: Any, root: str) -> None:
    """Raise :class:`ArchiveUnreachable` unless the bucket of the ``s3://`` ``root`` can be
    read through ``fs`` (from :func:`register_s3`). Reading through fsspec's glob turns every
    error into "no files", so an unreachable endpoint, missing credentials or a wrong bucket
    would otherwise look like an empty archive."""
    bucket = urlsplit(root).netloc
    try:
        info = fs.fs.get_file_info(bucket)
    except OSError as e:
        raise ArchiveUnreachable(f"cannot read s3://{bucket}/: {e}") from None
    if info.type.name == "NotFound":
        raise ArchiveUnreachable(f"no bucket s3://{bucket}/ at this endpoint (check "
                                 "LAMBDALYTICS_AWS_ENDPOINT_URL and --bucket)")


class ArchiveUnreachable(Exception):
    pass


# --- one entry point for the CLI ------------------------------------------------------------


def render(engine: Engine, table_name: str | Table, location: str, **options: Any) -> str:
    """The definition of one archive table for one engine, as text.

    ``location`` is the archive root (``archive_layout.archive_root(bucket, archive_prefix)``,
    e.g. ``s3://lambdalytics-archive/``; a local directory for DuckDB). Options: athena —
    ``database``, ``date_range_start``; trino — ``catalog``, ``schema``; duckdb — ``name``.
    """
    t = table(table_name)
    if engine == "athena":
        return athena_ddl(t, location, **options)
    if engine == "trino":
        return trino_ddl(t, location, **options)
    if engine == "duckdb":
        return duckdb_view(t, location, **options)
    raise ValueError(f"no engine {engine!r}; engines are {', '.join(ENGINES)}")
