"""One lake day: a property's landing objects of one UTC date (and the day's previous lake
object) read, de-duplicated, sorted and written as one Parquet file.

DuckDB does the reading and the sort (typed exactly as the query layer's views read the same
objects, and spilling to disk when a day is larger than memory); pyarrow writes the file with
the lake schema (:func:`lambdalytics.lake.arrow_schema`), zstd and row groups of
:data:`ROW_GROUP_ROWS`. The output depends only on the set of rows: ``hit_id`` keeps the copy
received first (ties: landing before lake, then by object), rows are ordered by event time
and ``hit_id``, so a rerun over the same inputs writes the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdalytics import ddl, lake
from lambdalytics.hit import columns

if TYPE_CHECKING:
    import duckdb

ROW_GROUP_ROWS = 262_144
ZSTD_LEVEL = 3


@dataclass(frozen=True, slots=True)
class Written:
    rows: int  # rows in the file
    landing_rows: int  # rows read from landing objects
    previous_rows: int  # rows read from the day's previous lake object
    duplicates: int  # landing rows dropped because another landing row had the same hit_id
    bytes: int


def _landing_select(sources: list[str]) -> str:
    t = ddl.hits_table()
    by_name = {c.name: c for c in t.columns}
    cols = []
    for c in columns():
        # `type` is the landing table's partition (taken from the key, as the hits view does)
        cols.append('"type"' if c.name == "type" else ddl.duckdb_column(by_name[c.name], "json"))
    return (f"SELECT {', '.join(cols)}, 0 AS _source, filename AS _object "
            f"FROM {ddl.duckdb_source(t, sources, filename=True)}")


def _lake_select(previous: str) -> str:
    names = ", ".join(f'"{c.name}"' for c in columns())
    return (f"SELECT {names}, 1 AS _source, '' AS _object "
            f"FROM read_parquet({ddl._sql_str(previous)})")


def day_query(sources: list[str], previous: str | None) -> str:
    """Every input row of the day with ``_keep``: whether it is the copy of its ``hit_id``
    that the file holds (``sources``: landing object URLs; ``previous``: the day's lake
    object, if there is one)."""
    parts = ([_landing_select(sources)] if sources else []) + \
        ([_lake_select(previous)] if previous is not None else [])
    if not parts:
        raise ValueError("a lake day needs landing objects or a previous lake object")
    names = ", ".join(f'"{c.name}"' for c in columns())
    union = "\nUNION ALL\n".join(parts)
    return (f"SELECT {names}, _source, row_number() OVER (PARTITION BY hit_id "
            f"ORDER BY received_time, _source, _object) = 1 AS _keep FROM ({union})")


def write_day(conn: duckdb.DuckDBPyConnection, sources: list[str], previous: str | None,
              out: Path) -> Written:
    """Write the day's file to the local path ``out``. ``conn`` reads the inputs (its
    filesystem registered for ``s3://``) and holds the day in a temporary table meanwhile."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = lake.arrow_schema()
    names = ", ".join(f'"{c.name}"' for c in columns())
    conn.execute(f"CREATE OR REPLACE TEMP TABLE lake_day AS {day_query(sources, previous)}")
    try:
        counted = conn.execute(
            "SELECT count(*) FILTER (WHERE _source = 0), "
            "count(DISTINCT hit_id) FILTER (WHERE _source = 0), "
            "count(*) FILTER (WHERE _source = 1) FROM lake_day").fetchall()[0]
        reader = conn.sql(f"SELECT {names} FROM lake_day WHERE _keep "
                          "ORDER BY event_time, hit_id").to_arrow_reader(ROW_GROUP_ROWS)
        rows = 0
        with pq.ParquetWriter(out, schema, compression="zstd", compression_level=ZSTD_LEVEL,
                              write_statistics=True) as writer:
            for batch in reader:
                table = pa.Table.from_batches([batch]).cast(schema, safe=False)  # µs → ms
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
                rows += table.num_rows
    finally:
        conn.execute("DROP TABLE IF EXISTS lake_day")
    landing, distinct, previous_rows = (int(n or 0) for n in counted)
    return Written(rows, landing, previous_rows, landing - distinct, out.stat().st_size)
