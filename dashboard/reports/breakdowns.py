"""Top-N breakdowns of the current period: pages, the session dimensions (entry and exit page,
source, medium, campaign, referrer) and the hit dimensions (geo and device).

Every list is ordered by its first metric, descending, ties broken by the dimension value
(ascending, by code point on both engines), then cut to the request's limit; an unset value
is ``(not set)``.
"""

from __future__ import annotations

from dashboard.reports.request import ReportRequest
from dashboard.reports.sessions import hit_ctes, periods
from dashboard.reports.sql import ratio, with_query

PAGES = ("page_path", "pageviews", "visitors")
SESSION_METRICS = ("sessions", "visitors", "pageviews", "bounce_rate")
HIT_METRICS = ("visitors", "sessions", "pageviews")

# report name → (column of ``sessions``, output name); sessions where it is NULL are left out
SESSION_DIMENSIONS = {
    "entry_pages": ("entry_page", "page_path"),
    "exit_pages": ("exit_page", "page_path"),
    "sources": ("source", "source"),
    "mediums": ("medium", "medium"),
    "campaigns": ("campaign", "campaign"),
    "referrers": ("referrer", "referrer"),
}
# report name → (hit column, output name)
HIT_DIMENSIONS = {
    "countries": ("geo_country", "country"),
    "regions": ("geo_region", "region"),
    "cities": ("geo_city", "city"),
    "devices": ("device_category", "device"),
    "browsers": ("browser", "browser"),
    "os": ("os", "os"),
}


def pages(request: ReportRequest) -> str:
    """Pageviews and visitors by page path."""
    ctes = hit_ctes(request, periods(request, compare=False), sessions=False)
    return with_query(ctes, f"""SELECT dim AS page_path, count(*) AS pageviews,
  count(DISTINCT client_id) AS visitors
FROM (SELECT coalesce(page_path, '(not set)') AS dim, client_id
      FROM scoped WHERE matched AND type = 'pageview') AS m
GROUP BY dim
ORDER BY pageviews DESC, dim
LIMIT {request.limit}""")


def by_session(request: ReportRequest, report: str) -> str:
    """Sessions by an attribute of the session: its visitors, its (matched) pageviews and
    its bounce rate."""
    column, name = SESSION_DIMENSIONS[report]
    ctes = hit_ctes(request, periods(request, compare=False), sessions=True)
    return with_query(ctes, f"""SELECT dim AS {name}, count(*) AS sessions,
  count(DISTINCT client_id) AS visitors, sum(pageviews) AS pageviews,
  {ratio("sum(bounce)", "count(*)")} AS bounce_rate
FROM (SELECT {column} AS dim, client_id, pageviews, bounce
      FROM sessions WHERE {column} IS NOT NULL) AS s
GROUP BY dim
ORDER BY sessions DESC, dim
LIMIT {request.limit}""")


def by_hit(request: ReportRequest, report: str) -> str:
    """Visitors, sessions (with a matched hit of that value) and pageviews by an attribute of
    the hit; hits without a client id count in pageviews only."""
    column, name = HIT_DIMENSIONS[report]
    ctes = hit_ctes(request, periods(request, compare=False), sessions=True, attributes=False)
    ctes.append(("per_session", f"""SELECT dim, client_id, sid, seq,
  sum(CASE WHEN type = 'pageview' THEN 1 ELSE 0 END) AS pageviews
FROM (SELECT coalesce({column}, '(not set)') AS dim, client_id, sid, seq, type
      FROM scoped WHERE matched) AS m
GROUP BY dim, client_id, sid, seq"""))
    return with_query(ctes, f"""SELECT dim AS {name}, count(DISTINCT client_id) AS visitors,
  count(client_id) AS sessions, sum(pageviews) AS pageviews
FROM per_session
GROUP BY dim
ORDER BY visitors DESC, dim
LIMIT {request.limit}""")
