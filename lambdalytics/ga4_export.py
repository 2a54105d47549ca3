"""``events_ga4``: a view over ``events`` shaped like Google's GA4 BigQuery export.

So that BigQuery SQL written for ``analytics_<id>.events_*`` ports with Trino syntax only
(docs/ga4-export.md). The columns and what fills them are :data:`lambdalytics.ga4_schema.SCHEMA`;
:func:`view_sql` renders them as one ``SELECT`` written once in Trino/Athena SQL: every export
column cast to its export type (STRING → varchar, INT64 → bigint, FLOAT64 → double, BOOL →
boolean, RECORD → row, REPEATED → array), then ``property`` and ``"date"`` as they are, last,
so that Athena's partition projection (and its required ``property`` filter) and DuckDB's
hive-partition filters still apply through the view.

DuckDB's text is sqlglot's translation (``read="trino"``), unsupported constructs an error
rather than a silent change, after :func:`for_duckdb` rewrites the two it does not handle.
:func:`to_duckdb` is the same translation for queries over the view, for running ported
queries locally.
"""

from __future__ import annotations

from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from lambdalytics.ga4_schema import PASSTHROUGH, SCHEMA
from lambdalytics.ga4_sql import col, q

Engine = Literal["athena", "trino", "duckdb"]
ENGINES: tuple[Engine, ...] = ("athena", "trino", "duckdb")


# --- rendering ------------------------------------------------------------------------------


def _name(dotted: str) -> str:
    return ".".join(q(part) for part in dotted.split("."))


def select_sql(source: str = "events") -> str:
    """The view's ``SELECT`` in Trino/Athena SQL: every export column cast to its type, then
    the partition columns as they are."""
    cols = [f"  CAST({f.value()} AS {f.trino_type()}) AS {q(f.name)}" for f in SCHEMA]
    cols += [f"  {col(c)}" for c in PASSTHROUGH]
    return "SELECT\n" + ",\n".join(cols) + f"\nFROM {_name(source)}"


def view_sql(engine: Engine, *, name: str = "events_ga4", source: str = "events") -> str:
    """``CREATE OR REPLACE VIEW`` for ``engine``; ``name`` and ``source`` may be qualified
    (``lambdalytics.events``). The source view must have the ``events`` columns: every Hit
    column, then ``property`` and ``date``. Athena and Trino take the same text."""
    sql = f"CREATE OR REPLACE VIEW {_name(name)} AS\n{select_sql(source)}"
    if engine in ("athena", "trino"):
        return sql
    if engine == "duckdb":
        return to_duckdb(sql)
    raise ValueError(f"no engine {engine!r}; engines are {', '.join(ENGINES)}")


def to_duckdb(sql: str) -> str:
    """Trino SQL (the view, or a query over it) as DuckDB SQL: sqlglot's translation, with an
    error rather than a silent change where sqlglot cannot translate, after the rewrites of
    what it does not handle (:func:`for_duckdb`)."""
    return ";\n".join(
        for_duckdb(tree).sql("duckdb", pretty=True, unsupported_level=ErrorLevel.RAISE)
        for tree in sqlglot.parse(sql, read="trino") if tree is not None)


def for_duckdb(tree: exp.Expr) -> exp.Expr:
    """- ``reduce(a, s0, f, s -> s)``: DuckDB's ``list_reduce`` has no finish function; an
      identity one is dropped (any other is left, and the translation fails).
    - ``UNNEST(rows) AS t(f1, …, fn)`` (one array, n ≥ 2 names): Trino expands each row into
      its fields; DuckDB needs ``(SELECT UNNEST(r) FROM (SELECT UNNEST(rows) AS r)) AS t(…)``
      (unnest the list, then the struct into columns). The view has arrays of rows only, no
      maps; ``UNNEST(a, b)`` and ``WITH ORDINALITY`` are left as they are."""
    def rewrite(node: exp.Expr) -> exp.Expr:
        finish = node.args.get("finish")
        if (isinstance(node, exp.Reduce) and isinstance(finish, exp.Lambda)
                and len(finish.expressions) == 1 and finish.this == finish.expressions[0]):
            node.set("finish", None)
        if isinstance(node, exp.Unnest) and len(node.expressions) == 1 and not node.args.get("offset"):
            alias = node.args.get("alias")
            if isinstance(alias, exp.TableAlias) and len(alias.columns) >= 2:
                rows = exp.select(exp.Unnest(expressions=[node.expressions[0].copy()]).as_("_ga4_row"))
                fields = exp.select(exp.Unnest(expressions=[exp.column("_ga4_row")])).from_(rows.subquery())
                return fields.subquery(alias.copy())
        return node

    return tree.transform(rewrite)
