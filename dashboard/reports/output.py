"""A report's answer as text for the command line: an aligned table, JSON or CSV.

``lambdalytics report NAME --property P --from D --to D [--format table|json|csv]`` is
:func:`report_text` over an engine and a :class:`ReportRequest`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

from dashboard.engine import Engine
from dashboard.reports.catalog import REPORTS
from dashboard.reports.errors import ReportError
from dashboard.reports.request import DateRange, ReportRequest
from dashboard.reports.runner import ReportResult, run_report

FORMATS = ("table", "json", "csv")


async def report_text(engine: Engine, name: str, request: ReportRequest, fmt: str = "table") -> str:
    """Run report ``name`` and render it (ReportError for an unknown format, before running)."""
    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return render(await run_report(engine, name, request), fmt)


def render(result: ReportResult, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document(result), indent=2, default=json_value) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(["" if v is None else _text(v) for v in row] for row in result.rows)
        return out.getvalue()
    if fmt == "table":
        return _table(result)
    raise ReportError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def document(result: ReportResult) -> dict[str, Any]:
    """The JSON document of a report (the CLI's --format json; the API adds cache fields)."""
    req = result.request
    compare = req.comparison if REPORTS[result.report].compares else None
    return {
        "report": result.report,
        "property": req.property_id,
        "from": req.dates.start.isoformat(),
        "to": req.dates.end.isoformat(),
        "timezone": req.timezone,
        "currency": req.currency,
        "compare": _range(compare),
        "filters": [{"dimension": f.dimension, "op": f.op, "values": list(f.values)}
                    for f in req.filters],
        "columns": list(result.columns),
        "rows": result.records(),
        "engine": result.result.engine,
        "elapsed_s": round(result.result.elapsed_s, 3),
        "bytes_scanned": result.result.bytes_scanned,
        "cost_usd": result.result.cost_usd,
    }


def _range(dates: DateRange | None) -> dict[str, str] | None:
    return None if dates is None else {"from": dates.start.isoformat(), "to": dates.end.isoformat()}


def json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _table(result: ReportResult) -> str:
    cells = [["-" if v is None else _text(v) for v in row] for row in result.rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(result.columns)]
    numeric = [all(isinstance(row[i], int | float | Decimal) and not isinstance(row[i], bool)
                   for row in result.rows if row[i] is not None) and bool(result.rows)
               for i in range(len(result.columns))]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    lines = [line(list(result.columns)), line(["-" * w for w in widths])]
    lines += [line(row) for row in cells]
    if not cells:
        lines.append("(no rows)")
    return "\n".join(lines) + "\n"
