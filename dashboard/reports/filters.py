"""Report filters: a whitelist of dimensions, each a fixed SQL expression, and operators whose
values are always rendered as escaped literals (:func:`dashboard.reports.sql.literal`).

Two scopes. A **hit** dimension (page path, event, country, browser, …) selects the hits it
matches: hit counts (pageviews, events, revenue) count those hits, and session counts count
the sessions with at least one of them. A **session** dimension (source, medium, campaign,
referrer, entry page: what the session's entry hit says) selects whole sessions, every hit of
them. Filters are combined with AND. The negative operators (``not_equals``, ``not_contains``,
``not_in``) also match hits where the dimension is not set, as "(not set)" is not the value.

Syntax for the command line (:func:`parse_filter`): ``DIMENSION:OPERATOR:VALUE``, e.g.
``country:equals:DE``, ``page_path:starts_with:/blog/``, ``browser:in:Chrome,Firefox``
(``in`` and ``not_in`` split the value at commas; the API takes a list).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from dashboard.reports.errors import ReportError
from dashboard.reports.sql import in_list, literal

Scope = Literal["hit", "session"]
MAX_FILTERS = 20
MAX_VALUES = 100
MAX_VALUE_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    sql: str  # over the hit columns (scope hit) or the session attributes s_* (scope session)
    scope: Scope
    doc: str


# The traffic source of a hit, as the session reports use it for the session's entry hit:
# campaign tags where the hit has any, else what the collector made of the referrer.
_TAGGED = "(campaign_source IS NOT NULL OR campaign_medium IS NOT NULL)"
_UNREFERRED = "(referrer_medium IS NULL OR referrer_medium IN ('direct', 'internal'))"
SOURCE_SQL = (f"CASE WHEN {_TAGGED} THEN coalesce(campaign_source, '(not set)') "
              "WHEN referrer_source IS NOT NULL THEN referrer_source "
              f"WHEN {_UNREFERRED} THEN '(direct)' ELSE '(not set)' END")
MEDIUM_SQL = (f"CASE WHEN {_TAGGED} THEN coalesce(campaign_medium, '(not set)') "
              f"WHEN {_UNREFERRED} THEN '(none)' ELSE referrer_medium END")
CAMPAIGN_SQL = "coalesce(campaign_name, '(not set)')"

DIMENSIONS: dict[str, Dimension] = {d.name: d for d in (
    Dimension("page_path", "page_path", "hit", "page path"),
    Dimension("page_title", "page_title", "hit", "page title"),
    Dimension("hostname", "page_hostname", "hit", "page hostname"),
    Dimension("event_name", "event_name", "hit", "GA4 event name (page_view, purchase, …)"),
    Dimension("event_category", "event_category", "hit", "UA event category"),
    Dimension("event_action", "event_action", "hit", "UA event action"),
    Dimension("event_label", "event_label", "hit", "UA event label"),
    Dimension("type", "type", "hit", "hit type: pageview, event, transaction, …"),
    Dimension("protocol", "protocol", "hit", "ua, ga4mp or gtag"),
    Dimension("country", "geo_country", "hit", "ISO 3166-1 alpha-2 country"),
    Dimension("region", "geo_region", "hit", "ISO 3166-2 subdivision"),
    Dimension("city", "geo_city", "hit", "city name"),
    Dimension("device", "device_category", "hit", "desktop, mobile, tablet, …"),
    Dimension("browser", "browser", "hit", "browser family"),
    Dimension("os", "os", "hit", "operating system family"),
    Dimension("language", "language", "hit", "user language"),
    Dimension("source", "s_source", "session", "the session's source (docs/reports.md)"),
    Dimension("medium", "s_medium", "session", "the session's medium"),
    Dimension("campaign", "s_campaign", "session", "the session's campaign name"),
    Dimension("referrer", "s_referrer", "session", "the session's referrer source"),
    Dimension("entry_page", "s_entry_page", "session", "the session's first page path"),
)}

SINGLE = ("equals", "not_equals", "contains", "not_contains", "starts_with")
LISTS = ("in", "not_in")
OPERATORS = SINGLE + LISTS
_NONEMPTY = ("contains", "not_contains", "starts_with")  # engines disagree on strpos(x, '')


@dataclass(frozen=True, slots=True)
class Filter:
    dimension: str
    op: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.dimension not in DIMENSIONS:
            raise ReportError(f"unknown dimension {self.dimension!r}; one of {', '.join(DIMENSIONS)}")
        if self.op not in OPERATORS:
            raise ReportError(f"unknown operator {self.op!r}; one of {', '.join(OPERATORS)}")
        if not isinstance(self.values, tuple) or not all(isinstance(v, str) for v in self.values):
            raise ReportError("filter values must be a tuple of strings")
        if self.op in SINGLE and len(self.values) != 1:
            raise ReportError(f"{self.op} takes one value")
        if not 1 <= len(self.values) <= MAX_VALUES:
            raise ReportError(f"{self.op} takes 1–{MAX_VALUES} values")
        for value in self.values:
            if len(value) > MAX_VALUE_LENGTH:
                raise ReportError(f"a filter value is at most {MAX_VALUE_LENGTH} characters")
            if not value and self.op in _NONEMPTY:
                raise ReportError(f"{self.op} needs a non-empty value")
            literal(value)  # refuses what cannot be a literal

    @property
    def scope(self) -> Scope:
        return DIMENSIONS[self.dimension].scope

    def sql(self) -> str:
        """The condition, over the columns of the report's hits."""
        expr = DIMENSIONS[self.dimension].sql
        if self.op in LISTS:
            values = in_list(self.values)
            return f"{expr} IN {values}" if self.op == "in" else f"({expr} IS NULL OR {expr} NOT IN {values})"
        value = literal(self.values[0])
        return {
            "equals": f"{expr} = {value}",
            "not_equals": f"({expr} IS NULL OR {expr} <> {value})",
            "contains": f"strpos({expr}, {value}) > 0",
            "not_contains": f"({expr} IS NULL OR strpos({expr}, {value}) = 0)",
            "starts_with": f"starts_with({expr}, {value})",
        }[self.op]


def check_filters(filters: Iterable[Filter]) -> tuple[Filter, ...]:
    out = tuple(filters)
    if len(out) > MAX_FILTERS:
        raise ReportError(f"at most {MAX_FILTERS} filters")
    if not all(isinstance(f, Filter) for f in out):
        raise ReportError("filters must be Filter values")
    return out


def predicate(filters: Sequence[Filter], scope: Scope) -> str:
    """The AND of the filters of one scope, ``TRUE`` when there are none."""
    parts = [f"({f.sql()})" for f in filters if f.scope == scope]
    return " AND ".join(parts) if parts else "TRUE"


def parse_filter(text: str) -> Filter:
    """``DIMENSION:OPERATOR:VALUE`` (the value may contain ``:``; ``in``/``not_in`` split it at
    commas)."""
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise ReportError(f"filter {text!r}: expected DIMENSION:OPERATOR:VALUE")
    dimension, op, value = parts
    values = tuple(value.split(",")) if op in LISTS else (value,)
    return Filter(dimension, op, values)
