"""Reports: SQL written once, in Trino/Athena's dialect, run by any ``dashboard.engine.Engine``
(Athena as it is, DuckDB through sqlglot) with identical answers. docs/reports.md defines
every report, its columns, sessions, bounces and sources.

    request = ReportRequest.for_property(prop, DateRange.parse("2026-03-01", "2026-03-31"),
                                         filters=(parse_filter("country:equals:DE"),))
    result = await run_report(engine, "overview", request)
"""

from dashboard.reports.catalog import REPORTS, Report
from dashboard.reports.errors import ReportError
from dashboard.reports.filters import DIMENSIONS, OPERATORS, Filter, parse_filter
from dashboard.reports.output import FORMATS, render
from dashboard.reports.request import DateRange, ReportRequest
from dashboard.reports.runner import ReportResult, report_sql, run_report

__all__ = [
    "DIMENSIONS", "FORMATS", "OPERATORS", "REPORTS", "DateRange", "Filter", "Report",
    "ReportError", "ReportRequest", "ReportResult", "parse_filter", "render", "report_sql",
    "run_report",
]
