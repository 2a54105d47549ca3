"""Traffic over a period: the overview (with its comparison period) and the series by local
day and by local hour."""

from __future__ import annotations

from dashboard.reports.errors import ReportError
from dashboard.reports.request import ReportRequest
from dashboard.reports.sessions import hit_ctes, periods, periods_relation
from dashboard.reports.sql import literal, ratio, values, with_query

OVERVIEW = ("period", "first_day", "last_day", "visitors", "sessions", "pageviews",
            "views_per_session", "bounce_rate", "avg_session_duration_s")
SERIES = ("visitors", "sessions", "pageviews")
MAX_HOURLY_DAYS = 92


def overview(request: ReportRequest) -> str:
    spans = periods(request, compare=True)
    ctes = hit_ctes(request, spans, sessions=True, attributes=False)
    ctes.append(("hit_totals", """SELECT period,
  count(DISTINCT CASE WHEN matched THEN client_id END) AS visitors,
  sum(CASE WHEN matched AND type = 'pageview' THEN 1 ELSE 0 END) AS pageviews
FROM scoped
GROUP BY period"""))
    ctes.append(("session_totals", """SELECT period, count(*) AS sessions, sum(pageviews) AS pageviews,
  sum(bounce) AS bounces, sum(duration_ms) AS duration_ms
FROM sessions
GROUP BY period"""))
    return with_query(ctes, f"""SELECT p.period, p.first_day, p.last_day,
  coalesce(h.visitors, 0) AS visitors,
  coalesce(s.sessions, 0) AS sessions,
  coalesce(h.pageviews, 0) AS pageviews,
  {ratio("s.pageviews", "s.sessions")} AS views_per_session,
  {ratio("s.bounces", "s.sessions")} AS bounce_rate,
  {ratio("s.duration_ms", "1000 * s.sessions")} AS avg_session_duration_s
FROM {periods_relation(spans)}
LEFT JOIN hit_totals AS h ON h.period = p.period
LEFT JOIN session_totals AS s ON s.period = p.period
ORDER BY p.ord""")


def daily(request: ReportRequest) -> str:
    return _series(request, "day")


def hourly(request: ReportRequest) -> str:
    if request.dates.days > MAX_HOURLY_DAYS:
        raise ReportError(f"an hourly series covers at most {MAX_HOURLY_DAYS} days")
    return _series(request, "hour")


def _series(request: ReportRequest, unit: str) -> str:
    """Every local day (hour) of the range, with zeros where there was nothing. A session
    counts in the bucket where it started; visitors are counted per bucket (they do not add
    up to the period's)."""
    spans = periods(request, compare=False)
    window = spans[0].window
    labels, label = ((window.days(), window.day_sql) if unit == "day"
                     else (window.hours(), window.hour_sql))
    ctes = hit_ctes(request, spans, sessions=True, attributes=False)
    ctes.append(("buckets", "SELECT bucket FROM "
                 + values("b", ("bucket",), [(literal(x),) for x in labels])))
    ctes.append(("hit_series", f"""SELECT bucket, count(DISTINCT client_id) AS visitors,
  sum(CASE WHEN type = 'pageview' THEN 1 ELSE 0 END) AS pageviews
FROM (SELECT {label("event_time")} AS bucket, client_id, type FROM scoped WHERE matched) AS m
GROUP BY bucket"""))
    ctes.append(("session_series", f"""SELECT bucket, count(*) AS sessions
FROM (SELECT {label("started")} AS bucket FROM sessions) AS s
GROUP BY bucket"""))
    return with_query(ctes, f"""SELECT b.bucket AS "{unit}",
  coalesce(h.visitors, 0) AS visitors,
  coalesce(s.sessions, 0) AS sessions,
  coalesce(h.pageviews, 0) AS pageviews
FROM buckets AS b
LEFT JOIN hit_series AS h ON h.bucket = b.bucket
LEFT JOIN session_series AS s ON s.bucket = b.bucket
ORDER BY b.bucket""")
