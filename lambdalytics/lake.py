"""The Parquet lake and the ``events`` view (DESIGN.md contract 3).

Closed days of landing JSON are compacted (:mod:`archiver.compact`) into one Parquet object per
property and UTC date, ``{prefix}lake/property=…/date=…/hits.parquet``, with the Arrow schema
:func:`arrow_schema` generated from the Hit schema. Each property's manifests record what every
lake day was built from and **through which date the lake is complete**: every landing day up
to and including it is in the lake (:class:`Through`).

``events`` is the table reports and analysts read: the lake for a property's days up to its
``through`` date, the landing ``hits`` table for the days after it. The dates are written into
the view as literals (:func:`events_view_sql`), so both engines prune partitions statically
and no day is ever read from both sources. The compactor switches a property over by
rewriting ``through`` and then the view; until the view changes, the old split still holds,
and the lake object of a day past it is simply not read yet.

Columns of ``events``: every Hit column in schema order (``type`` in its place), then
``property`` and ``date`` — the same on Athena, Trino and DuckDB.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambdalytics import archive_layout as layout
from lambdalytics import ddl
from lambdalytics.hit import Column, Hit, columns

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

EVENTS = "events"
FORMAT_VERSION = 1  # of the manifests

# --- the Parquet schema ---------------------------------------------------------------------


def _arrow_type(col: Column) -> pa.DataType:
    import pyarrow as pa

    scalars: dict[str, pa.DataType] = {
        "string": pa.string(), "bigint": pa.int64(), "double": pa.float64(),
        "boolean": pa.bool_(), "timestamp": pa.timestamp("ms"),  # UTC, without time zone
    }
    if col.kind in scalars:
        return scalars[col.kind]
    if col.kind.startswith("map<string,"):
        return pa.map_(pa.string(), scalars[col.kind[len("map<string,"):-1]])
    if col.kind == "array<struct>":
        return pa.list_(pa.struct([pa.field(c.name, _arrow_type(c)) for c in col.nested]))
    raise TypeError(f"column {col.name}: no Parquet type for kind {col.kind!r}")


def arrow_schema(schema: type = Hit) -> pa.Schema:
    """The lake's Parquet schema: every Hit column in order (``type`` included), typed; the
    partitions (``property``, ``date``) are in the key, not in the file."""
    import pyarrow as pa

    return pa.schema([pa.field(c.name, _arrow_type(c), metadata={"doc": c.doc[:255]})
                      for c in columns(schema)])


# --- where the lake is complete -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Through:
    """A property's lake holds every landing day up to and including ``date``."""

    property_id: str
    date: str

    def encode(self) -> bytes:
        return json.dumps({"format_version": FORMAT_VERSION, "property": self.property_id,
                           "through": self.date}, sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> Through:
        obj = json.loads(data)
        return cls(layout.partition_value("property", obj["property"]),
                   layout.date_value(obj["through"]))


def read_through(fs: Any, root: str) -> dict[str, str]:
    """Every property's ``through`` date under the archive ``root``, read through an fsspec
    filesystem (:func:`lambdalytics.ddl.register_s3`'s for ``s3://``, or a local one)."""
    pattern = root.rstrip("/") + f"/{layout.LAKE_MANIFESTS}/*/through.json"
    out: dict[str, str] = {}
    for path in sorted(fs.glob(_fs_path(pattern))):
        t = Through.decode(fs.cat_file(path))
        out[t.property_id] = t.date
    return out


def _fs_path(url: str) -> str:
    return url[len("s3://"):] if url.startswith("s3://") else url


# --- the events view ------------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def lake_condition(through: Mapping[str, str]) -> str:
    """The rows the lake answers for: each property's days through its date."""
    if not through:
        return "false"
    return " OR ".join(
        f'("property" = {_lit(layout.partition_value("property", p))} '
        f'AND "date" <= {_lit(layout.date_value(d))})'
        for p, d in sorted(through.items()))


def event_columns() -> tuple[str, ...]:
    """The columns of ``events``: the Hit's, then the partitions ``property`` and ``date``."""
    return (*(c.name for c in columns(Hit)), "property", "date")


def events_select(through: Mapping[str, str], *, lake: str = layout.LAKE,
                  landing: str = layout.HITS) -> str:
    """The view's query, valid Trino/Athena and DuckDB SQL alike."""
    cols = ", ".join(_quote(c) for c in event_columns())
    cond = lake_condition(through)
    return (f"SELECT {cols} FROM {_quote(lake)} WHERE {cond}\n"
            f"UNION ALL\n"
            f"SELECT {cols} FROM {_quote(landing)} WHERE NOT ({cond})")


def events_view_sql(through: Mapping[str, str], *, name: str = EVENTS,
                    database: str | None = None) -> str:
    """``CREATE OR REPLACE VIEW`` of ``events`` (Athena with ``database``, Trino, DuckDB)."""
    qualified = f"{_quote(database)}.{_quote(name)}" if database else _quote(name)
    return f"CREATE OR REPLACE VIEW {qualified} AS\n{events_select(through)}"


def landing_globs(fs: Any, root: str, through: Mapping[str, str]) -> list[str]:
    """Globs of the landing days the lake does not answer for: a property's whole landing
    table when it has no ``through`` date, else one glob per (type, date) directory after it.
    Listing three directory levels of a compacted property is cheap; DuckDB expanding the
    table's glob into every object and filtering them on each query is not (its cost grows
    with the landing objects kept, tens of thousands)."""
    base = _fs_path(layout.table_location(root, layout.HITS))
    globs: list[str] = []
    prefix = root if root.endswith("/") else root + "/"
    for prop_dir in sorted(fs.ls(base, detail=False)):
        name = prop_dir.rstrip("/").rsplit("/", 1)[-1]
        if not name.startswith("property="):
            continue
        prop = name[len("property="):]
        after = through.get(prop)
        if after is None:
            globs.append(f"{prefix}{layout.HITS}/{name}/*/*/*{layout.SUFFIX}")
            continue
        for type_dir in sorted(fs.ls(prop_dir, detail=False)):
            for date_dir in sorted(fs.ls(type_dir, detail=False)):
                parts = date_dir.rstrip("/").rsplit("/", 2)[-2:]
                if parts[1].startswith("date=") and parts[1][len("date="):] > after:
                    globs.append(f"{prefix}{layout.HITS}/{name}/{parts[0]}/{parts[1]}/*{layout.SUFFIX}")
    return globs


def duckdb_events_sql(through: Mapping[str, str], globs: list[str]) -> str:
    """DuckDB's ``events``: the lake through each property's date, and landing read from
    ``globs`` (:func:`landing_globs`) only, so that a query never lists the whole landing
    table. The same rows as :func:`events_view_sql`'s."""
    cols = ", ".join(_quote(c) for c in event_columns())
    cond = lake_condition(through)
    if globs:
        t = ddl.hits_table()
        landing = f"(SELECT {ddl.duckdb_select(t)} FROM {ddl.duckdb_source(t, globs)})"
    else:  # nothing to read from landing: typed NULLs, so that no object is even listed
        nulls = ", ".join(f"CAST(NULL AS {ddl.duckdb_type(c)}) AS {_quote(c.name)}"
                          for c in columns(Hit))
        landing = (f"(SELECT {nulls}, CAST(NULL AS VARCHAR) AS \"property\", "
                   f"CAST(NULL AS VARCHAR) AS \"date\" WHERE false)")
        cond = "false"
    return (f"CREATE OR REPLACE VIEW {_quote(EVENTS)} AS\n"
            f"SELECT {cols} FROM {_quote(layout.LAKE)} WHERE {lake_condition(through)}\n"
            f"UNION ALL\n"
            f"SELECT {cols} FROM {landing} AS landing WHERE NOT ({cond})")


def create_duckdb_views(conn: duckdb.DuckDBPyConnection, root: str, fs: Any = None,
                        ) -> dict[str, bool]:
    """The query layer on a DuckDB connection: ``hits``, ``filtered``, ``lake``, ``events`` and
    ``events_ga4`` (:mod:`lambdalytics.ga4_export`); ``fs`` is the filesystem the manifests
    and landing directories are listed through (:func:`ddl.register_s3`'s for ``s3://``; a
    local directory needs none). Returns, per table, whether it has objects.

    ``events`` knows the landing dates that existed when it was made: a connection that lives
    across UTC midnight, or past a compaction, should make its views again (they are cheap)."""
    from lambdalytics import ga4_export

    if fs is None:
        from fsspec.implementations.local import LocalFileSystem
        fs = LocalFileSystem()
    has_data = ddl.create_duckdb_views(conn, root)
    through = read_through(fs, root) if has_data[layout.LAKE] else {}
    globs = landing_globs(fs, root, through) if has_data[layout.HITS] else []
    conn.execute(duckdb_events_sql(through, globs))
    conn.execute(ga4_export.view_sql("duckdb"))
    return has_data
