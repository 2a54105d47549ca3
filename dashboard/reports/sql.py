"""Rendering values into report SQL (Trino/Athena text that sqlglot translates for DuckDB).

User text never reaches a report's SQL except through :func:`literal`, which quotes it as a
standard SQL string: ``'`` doubled, every other character kept as it is (neither Trino nor
DuckDB treats a backslash in ``'…'`` as an escape). A NUL character is refused: no engine
stores one in a varchar the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from dashboard.reports.errors import ReportError


def literal(value: str) -> str:
    """``value`` as a SQL string literal."""
    if "\x00" in value:
        raise ReportError("a value cannot contain a NUL character")
    return "'" + value.replace("'", "''") + "'"


def timestamp(instant: datetime) -> str:
    """A UTC instant (aware) as a ``TIMESTAMP '…'`` literal of the ``timestamp`` (without time
    zone, holding UTC) columns. Whole seconds only: the report boundaries always are."""
    if instant.tzinfo is None:
        raise ValueError("timestamp() needs an aware datetime")
    utc = instant.astimezone(UTC)
    if utc.microsecond:
        raise ValueError("report boundaries are whole seconds")
    return f"TIMESTAMP '{utc:%Y-%m-%d %H:%M:%S}'"


def in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")"


def ratio(numerator: str, denominator: str) -> str:
    """``numerator / denominator`` as a double, NULL when the denominator is 0 or NULL (Trino
    fails or gives Infinity on a zero divisor where DuckDB gives NULL: never rely on it)."""
    return (f"CASE WHEN coalesce({denominator}, 0) = 0 THEN NULL "
            f"ELSE CAST({numerator} AS double) / CAST({denominator} AS double) END")


def values(alias: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A ``(VALUES …) AS alias(columns)`` relation of already-rendered SQL values."""
    if not rows:
        raise ValueError("VALUES needs at least one row")
    body = ", ".join("(" + ", ".join(row) + ")" for row in rows)
    return f"(VALUES {body}) AS {alias}({', '.join(columns)})"


def with_query(ctes: Sequence[tuple[str, str]], select: str) -> str:
    """``WITH name AS (body), … select``."""
    if not ctes:
        return select
    parts = ",\n".join(f"{name} AS (\n{body}\n)" for name, body in ctes)
    return f"WITH {parts}\n{select}"
