"""The query engines' common port, their error tree, and the local engine (DuckDB).

Reports are written once, in Trino/Athena SQL. ``AthenaEngine`` (dashboard/athena.py) runs
them as they are; ``DuckDBEngine`` translates them with sqlglot first. Both answer a
``QueryResult`` whose values have the same Python types for the same SQL: ``int`` for the
integer types, ``float`` for double/real, ``Decimal``, ``str``, ``bool``, ``datetime.date``,
naive ``datetime.datetime`` for ``timestamp`` (aware for ``timestamp with time zone``),
``None``. Nested values (arrays, maps, rows) are ``list``/``dict`` on DuckDB and their text on
Athena: reports do not return them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types

from lambdalytics.ga4_export import for_duckdb


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    engine: str  # "duckdb" | "athena"
    elapsed_s: float
    bytes_scanned: int | None = None  # Athena's DataScannedInBytes; None on DuckDB
    cost_usd: float | None = None  # what Athena bills for it (dashboard/athena.py: query_cost_usd)
    query_id: str | None = None  # Athena's QueryExecutionId


class Engine(Protocol):
    name: str

    async def query(self, sql: str) -> QueryResult:
        """Run one statement of Trino/Athena SQL."""
        ...


class QueryError(Exception):
    """Base of the engines' errors; the message is meant for the user."""


class QueryFailed(QueryError):
    """The engine rejected or failed the query (syntax, missing table, type error, ...)."""


class QueryTimeout(QueryError):
    """The query ran out of time; it was cancelled."""


class EngineUnavailable(QueryError):
    """Retryable: the engine is throttled or unreachable (APIs answer 503)."""


def to_duckdb(sql: str) -> str:
    """One Trino/Athena statement in DuckDB's dialect, or QueryFailed.

    Types are annotated before generating, so that a division of two integers keeps Trino's
    meaning (``7 / 2`` is 3, where DuckDB's ``/`` gives 3.5). A division whose operand types
    sqlglot cannot tell would give different values on the two engines, so it is refused, as
    is a construct sqlglot cannot translate: an error, not a silent guess.
    """
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except SqlglotError as exc:
        raise QueryFailed(f"invalid SQL: {exc}") from exc
    if len(statements) != 1:
        raise QueryFailed(f"expected one SQL statement, got {len(statements)}")
    try:
        # the constructs sqlglot does not translate by itself (UNNEST of rows into columns, …)
        typed = annotate_types(for_duckdb(statements[0]), dialect="trino")
        _require_portable_divisions(typed)
        return typed.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise QueryFailed(f"cannot translate the query for DuckDB: {exc}") from exc


def _is_double(node: exp.Expr) -> bool:
    if isinstance(node, exp.Literal) and node.is_number and "e" not in node.name.lower():
        return False  # 2.5 is a decimal in Trino (sqlglot types it as a double)
    return node.is_type(*exp.DataType.FLOAT_TYPES)


def _require_portable_divisions(tree: exp.Expr) -> None:
    """Trino divides integers as integers and decimals as decimals; DuckDB gives a double.
    They agree when one side is a double, or when both are known integers (translated)."""
    for div in tree.find_all(exp.Div):
        left, right = div.left, div.right
        if _is_double(left) or _is_double(right):
            continue
        if left.is_type(*exp.DataType.INTEGER_TYPES) and right.is_type(*exp.DataType.INTEGER_TYPES):
            continue
        raise QueryFailed(
            f"the division {div.sql(dialect='trino')} has a different result on Athena and on "
            "DuckDB unless its operand types are known: write CAST(... AS double) on one side "
            "for a fraction, or CAST(... AS bigint) on both for an integer division")


@dataclass(frozen=True, slots=True)
class _Answer:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def _run(cursor: duckdb.DuckDBPyConnection, sql: str) -> _Answer:
    """In a worker thread: run ``sql`` on its own cursor."""
    cursor.execute(sql)
    description = cursor.description or []
    rows = cursor.fetchall()
    columns = tuple(str(d[0]) for d in description)
    uuids = [i for i, d in enumerate(description) if str(d[1]) == "UUID"]
    if uuids:  # Athena gives uuid as text
        rows = [tuple(str(v) if i in uuids and isinstance(v, uuid.UUID) else v
                      for i, v in enumerate(row)) for row in rows]
    return _Answer(columns, tuple(tuple(row) for row in rows))


class DuckDBEngine:
    """Runs Trino SQL, translated, on a DuckDB connection (views from ``ddl.create_duckdb_views``).

    Each query runs in a worker thread on its own cursor of ``conn`` (a connection is not for
    concurrent use; its cursors are), so queries run concurrently. On timeout the query is
    interrupted and QueryTimeout raised; a cancelled caller interrupts it too.
    """

    name: str = "duckdb"

    INTERRUPT_GRACE_S = 5.0  # how long a timed-out query may take to stop before we stop waiting

    def __init__(self, conn: duckdb.DuckDBPyConnection, *, timeout_s: float = 60.0) -> None:
        self._conn = conn
        self.timeout_s = timeout_s
        self._stopping: set[asyncio.Task[None]] = set()

    async def query(self, sql: str) -> QueryResult:
        duck_sql = to_duckdb(sql)
        started = time.perf_counter()
        cursor = self._conn.cursor()
        waiter = asyncio.get_running_loop().run_in_executor(None, _run, cursor, duck_sql)
        waiter.add_done_callback(partial(_finished, cursor))
        try:
            done, _ = await asyncio.wait({waiter}, timeout=self.timeout_s)
        except asyncio.CancelledError:
            task = asyncio.ensure_future(_interrupt(cursor, waiter, self.INTERRUPT_GRACE_S))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
            raise
        if not done:
            await _interrupt(cursor, waiter, self.INTERRUPT_GRACE_S)
            raise QueryTimeout(f"the query ran longer than {self.timeout_s:g} s and was cancelled")
        try:
            answer = waiter.result()
        except duckdb.Error as exc:
            raise QueryFailed(str(exc)) from exc
        return QueryResult(columns=answer.columns, rows=answer.rows, engine=self.name,
                           elapsed_s=time.perf_counter() - started)


def _finished(cursor: duckdb.DuckDBPyConnection, waiter: asyncio.Future[_Answer]) -> None:
    """Once the worker is done, on the event loop (where interrupts are sent from, so never
    while one is): close the cursor. A query given up on (timed out, cancelled) ends with an
    error nobody awaits, which is expected."""
    cursor.close()
    if not waiter.cancelled():
        waiter.exception()


async def _interrupt(cursor: duckdb.DuckDBPyConnection, waiter: asyncio.Future[_Answer],
                     grace_s: float) -> None:
    """Interrupt until the worker has stopped (an interrupt that lands before the query has
    begun is forgotten by DuckDB, so one is not enough), for at most ``grace_s``."""
    deadline = time.monotonic() + grace_s
    while not waiter.done() and time.monotonic() < deadline:
        with contextlib.suppress(duckdb.Error):  # already closed: the worker has finished
            cursor.interrupt()
        await asyncio.wait({waiter}, timeout=0.05)
