"""Traffic the collector filtered out (bots, spam, invalid hits, …), from the per-minute
counters of the ``filtered`` table: by reason, by local day and reason, and the agent
families filtered as bots. The counters carry no hit dimensions, so these reports take no
filters."""

from __future__ import annotations

from dashboard.reports.errors import ReportError
from dashboard.reports.localtime import LocalWindow
from dashboard.reports.request import ReportRequest
from dashboard.reports.sql import literal

EXCLUDED = ("reason", "hits")
EXCLUDED_DAILY = ("day", "reason", "hits")
BOT_AGENTS = ("agent", "hits")
MINUTE = "date_parse(\"minute\", '%Y-%m-%dT%H:%iZ')"


def _where(request: ReportRequest) -> tuple[LocalWindow, str]:
    if request.filters:
        raise ReportError("excluded traffic is counted without hit dimensions: it takes no filters")
    window = LocalWindow.of(request.dates, request.timezone)
    return window, f"property = {literal(request.property_id)} AND {window.filtered_where()}"


def excluded(request: ReportRequest) -> str:
    _, where = _where(request)
    return f"""SELECT reason, sum("count") AS hits
FROM filtered
WHERE {where}
GROUP BY reason
ORDER BY hits DESC, reason"""


def excluded_daily(request: ReportRequest) -> str:
    """Days without excluded traffic have no rows."""
    window, where = _where(request)
    return f"""SELECT "day", reason, sum("count") AS hits
FROM (SELECT {window.day_sql(MINUTE)} AS "day", reason, "count"
      FROM filtered WHERE {where}) AS f
GROUP BY "day", reason
ORDER BY "day", reason"""


def bot_agents(request: ReportRequest) -> str:
    """The agent families filtered as bots (counters from before families were recorded:
    ``(not recorded)``), to spot a real browser filtered by mistake."""
    _, where = _where(request)
    return f"""SELECT agent, sum("count") AS hits
FROM (SELECT coalesce(agent, '(not recorded)') AS agent, "count"
      FROM filtered WHERE {where} AND reason = 'bot') AS f
GROUP BY agent
ORDER BY hits DESC, agent
LIMIT {request.limit}"""
