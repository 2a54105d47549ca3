"""A report's query parameters (docs/dashboard.md) resolved into dates, comparison, filters.

Pure: ``today`` is the property's local date, given by the caller. Every error names the
parameter it is about (:class:`BadParameter`), which the API answers as a 400 problem.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from dashboard.reports import DateRange, Filter, ReportError, parse_filter
from dashboard.reports.request import DEFAULT_LIMIT, MAX_LIMIT

RANGES: Final = ("today", "yesterday", "7d", "30d", "month", "last_month", "custom")
COMPARES: Final = ("previous", "year", "none", "custom")
FORMATS: Final = ("json", "csv")
SINGLE: Final = frozenset({"range", "from", "to", "compare", "compare_from", "compare_to",
                           "limit", "format"})
REPEATABLE: Final = frozenset({"filter"})
Format = Literal["json", "csv"]


class BadParameter(ReportError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True, slots=True)
class ReportQuery:
    dates: DateRange
    compare: DateRange | None
    filters: tuple[Filter, ...]
    limit: int
    format: Format


def year_before(day: dt.date) -> dt.date:
    """The same date a year earlier (29 February → 28 February)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def named_range(name: str, today: dt.date) -> DateRange:
    if name == "today":
        return DateRange(today, today)
    if name == "yesterday":
        day = today - dt.timedelta(days=1)
        return DateRange(day, day)
    if name in ("7d", "30d"):
        return DateRange(today - dt.timedelta(days=int(name[:-1]) - 1), today)
    if name == "month":
        return DateRange(today.replace(day=1), today)
    if name == "last_month":
        end = today.replace(day=1) - dt.timedelta(days=1)
        return DateRange(end.replace(day=1), end)
    raise BadParameter("range", f"one of {', '.join(RANGES)}")


def _date(params: Mapping[str, str], name: str) -> dt.date:
    value = params.get(name)
    if value is None:
        raise BadParameter(name, "required here (YYYY-MM-DD)")
    try:
        if len(value) != 10:
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadParameter(name, f"{value[:40]!r} is not a date YYYY-MM-DD") from None


def _span(params: Mapping[str, str], start: str, end: str) -> DateRange:
    first, last = _date(params, start), _date(params, end)
    try:
        return DateRange(first, last)
    except ReportError as exc:
        raise BadParameter(start, str(exc)) from None


def parse(items: Sequence[tuple[str, str]], today: dt.date) -> ReportQuery:
    """The query string's (name, value) pairs, in order, resolved against ``today``."""
    params: dict[str, str] = {}
    filters: list[str] = []
    for name, value in items:
        if name in REPEATABLE:
            filters.append(value)
        elif name in SINGLE:
            if name in params:
                raise BadParameter(name, "given more than once")
            params[name] = value
        else:
            raise BadParameter(name[:40], "unknown parameter")
    custom = "from" in params or "to" in params
    range_name = params.get("range", "custom" if custom else "30d")
    if range_name == "custom":
        dates = _span(params, "from", "to")
    elif custom:
        raise BadParameter("range", "from and to go with range=custom (or no range)")
    else:
        dates = named_range(range_name, today)
    compare_name = params.get("compare", "previous")
    compare: DateRange | None
    if compare_name not in COMPARES:
        raise BadParameter("compare", f"one of {', '.join(COMPARES)}")
    if compare_name != "custom" and ("compare_from" in params or "compare_to" in params):
        raise BadParameter("compare", "compare_from and compare_to go with compare=custom")
    if compare_name == "previous":
        compare = dates.previous()
    elif compare_name == "year":
        compare = DateRange(year_before(dates.start), year_before(dates.end))
    elif compare_name == "custom":
        compare = _span(params, "compare_from", "compare_to")
    else:
        compare = None
    parsed: list[Filter] = []
    for text in filters:
        try:
            parsed.append(parse_filter(text))
        except ReportError as exc:
            raise BadParameter("filter", str(exc)) from None
    limit_text = params.get("limit", str(DEFAULT_LIMIT))
    if not (limit_text.isascii() and limit_text.isdigit() and len(limit_text) <= 4
            and 1 <= int(limit_text) <= MAX_LIMIT):
        raise BadParameter("limit", f"a whole number in 1..{MAX_LIMIT}")
    fmt = params.get("format", "json")
    if fmt not in FORMATS:
        raise BadParameter("format", f"one of {', '.join(FORMATS)}")
    return ReportQuery(dates, compare, tuple(parsed), int(limit_text),
                       "csv" if fmt == "csv" else "json")
