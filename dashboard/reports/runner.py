"""Running a report on an engine (``dashboard.engine``: DuckDB locally, Athena on AWS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashboard.engine import Engine, QueryFailed, QueryResult
from dashboard.reports.catalog import REPORTS, Report
from dashboard.reports.errors import ReportError
from dashboard.reports.request import ReportRequest


def report(name: str) -> Report:
    try:
        return REPORTS[name]
    except KeyError:
        raise ReportError(f"unknown report {name!r}; one of {', '.join(REPORTS)}") from None


def report_sql(name: str, request: ReportRequest) -> str:
    """The report's SQL, in Trino/Athena's dialect."""
    return report(name).build(request)


@dataclass(frozen=True, slots=True)
class ReportResult:
    report: str
    request: ReportRequest
    sql: str
    result: QueryResult

    @property
    def columns(self) -> tuple[str, ...]:
        return self.result.columns

    @property
    def rows(self) -> tuple[tuple[Any, ...], ...]:
        return self.result.rows

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


async def run_report(engine: Engine, name: str, request: ReportRequest) -> ReportResult:
    """Build the report's SQL and run it; ReportError for a request it cannot answer,
    ``dashboard.engine.QueryError`` from the engine."""
    spec = report(name)
    sql = spec.build(request)
    result = await engine.query(sql)
    if result.columns != spec.columns:
        raise QueryFailed(f"report {name}: the engine answered columns {result.columns}, "
                          f"expected {spec.columns}")
    return ReportResult(name, request, sql, result)
