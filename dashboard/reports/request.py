"""What a report is asked for: a property, a range of days in the property's time zone, the
property's currency and goals, filters, a comparison period and a row limit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from dashboard.reports.errors import ReportError
from dashboard.reports.filters import Filter, check_filters
from lambdalytics import archive_layout
from lambdalytics.properties import Property
from lambdalytics.property_policy import Goal, PolicyError, check_currency, check_goals, check_timezone

MAX_DAYS = 3660  # ten years and a bit
MAX_LIMIT = 1000
DEFAULT_LIMIT = 10
Comparison = Literal["previous"] | None


@dataclass(frozen=True, slots=True)
class DateRange:
    """Local days ``start`` to ``end``, both included."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if not isinstance(self.start, dt.date) or not isinstance(self.end, dt.date):
            raise ReportError("a date range is two dates")
        if self.start > self.end:
            raise ReportError(f"the range starts ({self.start}) after it ends ({self.end})")
        if self.days > MAX_DAYS:
            raise ReportError(f"a range is at most {MAX_DAYS} days")

    @classmethod
    def parse(cls, start: str, end: str) -> DateRange:
        """From ``YYYY-MM-DD`` strings."""
        try:
            return cls(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
        except ValueError as exc:
            if isinstance(exc, ReportError):
                raise
            raise ReportError(f"dates are YYYY-MM-DD: {exc}") from None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> DateRange:
        """The period of the same length that ends the day before this one starts."""
        return DateRange(self.start - dt.timedelta(days=self.days), self.start - dt.timedelta(days=1))


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """``compare``: ``"previous"`` (the default: the period of the same length just before),
    another :class:`DateRange`, or None (no comparison). Only the reports that compare
    (overview, ecommerce) read it."""

    property_id: str
    dates: DateRange
    timezone: str = "UTC"
    currency: str = "USD"
    goals: tuple[Goal, ...] = ()
    filters: tuple[Filter, ...] = ()
    compare: DateRange | Comparison = "previous"
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        try:
            archive_layout.partition_value("property", self.property_id)
            check_timezone(self.timezone)
            check_currency(self.currency)
            check_goals(self.goals)
        except (PolicyError, ValueError) as exc:
            raise ReportError(str(exc)) from None
        if not isinstance(self.dates, DateRange):
            raise ReportError("dates must be a DateRange")
        check_filters(self.filters)
        if not (self.compare is None or self.compare == "previous" or isinstance(self.compare, DateRange)):
            raise ReportError("compare is 'previous', a DateRange or None")
        limit = self.limit
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ReportError(f"limit must be a whole number in 1..{MAX_LIMIT}")

    @classmethod
    def for_property(cls, prop: Property, dates: DateRange, *, filters: tuple[Filter, ...] = (),
                     compare: DateRange | Comparison = "previous",
                     limit: int = DEFAULT_LIMIT) -> ReportRequest:
        """A request with the property's time zone, currency and goals (its policy)."""
        return cls(prop.property_id, dates, timezone=prop.timezone, currency=prop.currency,
                   goals=prop.goals, filters=filters, compare=compare, limit=limit)

    @property
    def comparison(self) -> DateRange | None:
        if self.compare == "previous":
            return self.dates.previous()
        return self.compare if isinstance(self.compare, DateRange) else None
