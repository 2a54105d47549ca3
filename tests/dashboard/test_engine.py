"""DuckDBEngine: Trino SQL translated and run on a real DuckDB, its types, errors, timeouts."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from dashboard.engine import DuckDBEngine, QueryFailed, QueryTimeout, to_duckdb

# about a minute's work on two cores (2.25e10 rows through a filter), so that only an
# interrupt ends it in time, yet a broken interrupt fails the tests instead of hanging them
LONG = ("SELECT count(*) FROM range(150000) AS a CROSS JOIN range(150000) AS b "
        "WHERE a.range + b.range > 5")

HITS = [  # event_time, client_id, custom_dimensions, value
    ("2026-11-27 23:59:59", "c1", {"1": "red"}, 5),
    ("2026-11-28 00:00:00", "c1", {"1": "red"}, 1),
    ("2026-11-28 02:54:00", "c2", {"1": "red", "2": "x"}, 2),
    ("2026-11-28 13:00:00", "c1", {}, 4),
    ("2026-11-29 08:00:00", "c3", {"1": "blue"}, 10),
]


@pytest.fixture
def conn() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("CREATE TABLE hits (event_time TIMESTAMP, client_id VARCHAR, "
                 "custom_dimensions MAP(VARCHAR, VARCHAR), value BIGINT)")
    conn.executemany("INSERT INTO hits VALUES (CAST(? AS TIMESTAMP), ?, ?, ?)",
                     [list(hit) for hit in HITS])
    return conn


def typed(rows: tuple[tuple[Any, ...], ...]) -> list[list[tuple[type, Any]]]:
    """Values with their types, so that 1 == 1.0 == True cannot pass for each other."""
    return [[(type(v), v) for v in row] for row in rows]


async def test_a_trino_report_gives_the_right_values_and_types(
        conn: duckdb.DuckDBPyConnection) -> None:
    result = await DuckDBEngine(conn).query("""
        SELECT date_trunc('day', event_time) AS day,
               element_at(custom_dimensions, '1') AS colour,
               count(*) AS hits,
               count(DISTINCT client_id) AS clients,
               CAST(sum(value) AS double) / count(*) AS mean,
               CAST(sum(value) AS bigint) / count(*) AS int_mean
        FROM hits
        WHERE event_time >= TIMESTAMP '2026-11-28 00:00:00'
          AND event_time < TIMESTAMP '2026-11-29 00:00:00'
        GROUP BY 1, 2
        ORDER BY 1, 2 NULLS FIRST""")

    assert result.engine == "duckdb"
    assert result.columns == ("day", "colour", "hits", "clients", "mean", "int_mean")
    day = datetime(2026, 11, 28)
    # the key absent from a map is NULL, as Athena's element_at gives it; sum / count is a
    # Trino integer division (7 / 2 is 3), not DuckDB's 3.5
    assert typed(result.rows) == typed((
        (day, None, 1, 1, 4.0, 4),
        (day, "red", 2, 2, 1.5, 1),
    ))
    assert result.elapsed_s >= 0
    assert (result.bytes_scanned, result.cost_usd, result.query_id) == (None, None, None)


async def test_each_sql_type_comes_back_as_its_python_type(conn: duckdb.DuckDBPyConnection) -> None:
    result = await DuckDBEngine(conn).query("""
        SELECT CAST(7 AS tinyint) AS t, CAST(7 AS smallint) AS s, 7 AS i, CAST(7 AS bigint) AS b,
               CAST(7 AS double) AS d, CAST(0.5 AS real) AS r, CAST(1.5 AS decimal(10, 2)) AS m,
               'text' AS v, true AS bo, DATE '2026-11-28' AS da,
               TIMESTAMP '2026-11-28 02:54:00.123' AS ts, CAST(NULL AS varchar) AS n""")
    assert typed(result.rows) == typed(((
        7, 7, 7, 7, 7.0, 0.5, Decimal("1.50"), "text", True, date(2026, 11, 28),
        datetime(2026, 11, 28, 2, 54, 0, 123000), None),))
    assert result.rows[0][10].tzinfo is None  # timestamp is without time zone


def test_trino_functions_are_translated() -> None:
    assert to_duckdb("SELECT element_at(m, 'k') FROM t") == "SELECT m['k'] FROM t"
    assert "TIMESTAMP" in to_duckdb("SELECT TIMESTAMP '2026-11-28 00:00:00'")


@pytest.mark.parametrize(("sql", "value"), [
    ("SELECT 7 / 2", 3),  # Trino's integer division: DuckDB's / would give 3.5
    ("SELECT -7 / 2", -3),  # truncated toward zero, as in Trino
    ("SELECT count(*) / 2 FROM (VALUES 1, 2, 3) AS t(x)", 1),
    ("SELECT CAST(7 AS double) / 2", 3.5),
    ("SELECT 7 / 2e0", 3.5),
])
async def test_divisions_keep_trinos_meaning(conn: duckdb.DuckDBPyConnection, sql: str,
                                            value: object) -> None:
    result = await DuckDBEngine(conn).query(sql)
    assert typed(result.rows) == typed(((value,),))


@pytest.mark.parametrize("sql", [
    "SELECT sum(value) / count(*) FROM hits",  # bigint / bigint in Trino: unknown here
    "SELECT count(*) / 2.5 FROM hits",  # a decimal in Trino, a double in DuckDB
    "SELECT value / 100.0 FROM hits",
])
async def test_a_division_whose_types_are_unknown_is_refused(conn: duckdb.DuckDBPyConnection,
                                                            sql: str) -> None:
    with pytest.raises(QueryFailed, match=r"CAST\(\.\.\. AS double\)"):
        await DuckDBEngine(conn).query(sql)


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT 1; SELECT 2", "expected one SQL statement, got 2"),
    ("", "expected one SQL statement, got 0"),
    (" ; ", "expected one SQL statement, got 0"),
    ("SELECT FROM WHERE (", "invalid SQL"),
])
async def test_what_is_not_one_statement_fails(conn: duckdb.DuckDBPyConnection, sql: str,
                                              message: str) -> None:
    with pytest.raises(QueryFailed, match=message):
        await DuckDBEngine(conn).query(sql)


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT * FROM no_such_table", "no_such_table"),
    ("SELECT CAST('seven' AS integer)", "seven"),
    ("SELECT no_such_column FROM hits", "no_such_column"),
])
async def test_what_duckdb_rejects_is_a_query_failure(conn: duckdb.DuckDBPyConnection, sql: str,
                                                     message: str) -> None:
    with pytest.raises(QueryFailed, match=message) as caught:
        await DuckDBEngine(conn).query(sql)
    assert isinstance(caught.value.__cause__, duckdb.Error)


async def test_a_long_query_is_interrupted_at_the_timeout(conn: duckdb.DuckDBPyConnection) -> None:
    engine = DuckDBEngine(conn, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match=r"longer than 0\.3 s"):
        await engine.query(LONG)
    assert time.monotonic() - started < 5  # the query itself would run for minutes
    # the worker thread has ended: the query was stopped, not abandoned
    await asyncio.wait_for(asyncio.get_running_loop().shutdown_default_executor(), 5)


async def test_the_engine_still_works_after_a_timeout(conn: duckdb.DuckDBPyConnection) -> None:
    engine = DuckDBEngine(conn, timeout_s=0.2)
    with pytest.raises(QueryTimeout):
        await engine.query(LONG)
    assert (await engine.query("SELECT count(*) FROM hits")).rows == ((5,),)


async def test_a_cancelled_caller_interrupts_its_query(conn: duckdb.DuckDBPyConnection) -> None:
    task = asyncio.ensure_future(DuckDBEngine(conn, timeout_s=600).query(LONG))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(asyncio.get_running_loop().shutdown_default_executor(), 5)


async def test_concurrent_queries_on_one_engine(conn: duckdb.DuckDBPyConnection) -> None:
    engine = DuckDBEngine(conn, timeout_s=1.0)
    sql = "SELECT {n} AS n, count(*) AS hits FROM hits WHERE value >= {n}"
    long_query = asyncio.ensure_future(engine.query(LONG))
    results = await asyncio.gather(*(engine.query(sql.format(n=n)) for n in range(12)))
    expected = [((n, sum(1 for hit in HITS if hit[3] >= n)),) for n in range(12)]
    assert [r.rows for r in results] == expected
    # interrupting one query's cursor leaves the others alone
    with pytest.raises(QueryTimeout):
        await long_query
    assert (await engine.query(sql.format(n=3))).rows == ((3, 3),)


async def test_unnesting_rows_into_columns_translates() -> None:
    # Trino expands each row of an unnested array into one column per field; DuckDB needs a
    # rewrite (lambdalytics.ga4_export.for_duckdb), applied to every query
    engine = DuckDBEngine(duckdb.connect())
    result = await engine.query(
        "SELECT i.a, i.b FROM (SELECT ARRAY[CAST(ROW(1, 'x') AS ROW(a bigint, b varchar)), "
        "CAST(ROW(2, 'y') AS ROW(a bigint, b varchar))] AS r) AS t "
        "CROSS JOIN UNNEST(t.r) AS i(a, b) ORDER BY i.a")
    assert result.rows == ((1, "x"), (2, "y"))
