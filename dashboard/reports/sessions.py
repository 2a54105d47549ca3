"""The hits a report reads, and the sessions built from them, as CTEs of Trino SQL.

``scoped`` is every hit of the property in the report's window(s) — one row per hit and
period, with ``period`` (``'current'``, ``'previous'``) and ``matched`` (the request's filters)
— and, when the report needs sessions, ``sessions``: one row per session with at least one
matched hit. docs/reports.md defines sessions, bounces and durations; in short:

- a hit with a GA4 ``session_id`` belongs to the session (client_id, session_id);
- the other hits of a client are cut into sessions by 30 minutes of inactivity (a gap of 30
  minutes or more), by ``session_control = 'start'`` on a hit and ``'end'`` on the previous;
- hits without a client id (consent pings) belong to no session;
- hits forwarded with ``is_bot`` (a bot policy that flags rather than filters) are left out:
  the collector counts them as excluded traffic (reason ``bot_flagged``);
- sessions are built per period from the hits inside it: one running across a boundary is
  counted on each side.

Ties in time are broken by ``hit_id``, so that every engine cuts and orders alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.reports import filters as flt
from dashboard.reports.localtime import LocalWindow
from dashboard.reports.request import ReportRequest
from dashboard.reports.sql import literal, values

INACTIVITY = "INTERVAL '30' MINUTE"

# the events columns any report or filter reads (Trino reads only the ones a query uses)
COLUMNS = (
    "hit_id", "event_time", "protocol", "type", "event_name", "non_interaction", "client_id",
    "session_control", "session_id", "session_engaged", "page_hostname", "page_path",
    "page_title", "language", "campaign_source", "campaign_medium", "campaign_name",
    "referrer_medium", "referrer_source", "event_category", "event_action", "event_label",
    "transaction_id", "transaction_revenue", "transaction_shipping", "transaction_tax",
    "currency", "geo_country", "geo_region", "geo_city", "device_category", "browser", "os",
)
SESSION_KEY = "period, client_id, sid, seq"
_ORDER = "ORDER BY event_time, hit_id"
_PAGEVIEW_FIRST = "CASE WHEN type = 'pageview' THEN 0 ELSE 1 END"
# a hit that keeps a one-pageview session from being a bounce
_INTERACTION = ("CASE WHEN type IN ('pageview', 'timing') THEN 0 WHEN non_interaction THEN 0 "
                "WHEN event_name = 'user_engagement' THEN 0 ELSE 1 END")
_PAGEVIEW = "CASE WHEN type = 'pageview' THEN 1 ELSE 0 END"


@dataclass(frozen=True, slots=True)
class Period:
    name: str  # "current" | "previous"
    window: LocalWindow


def periods(request: ReportRequest, *, compare: bool) -> tuple[Period, ...]:
    """The request's period and, for a report that compares, its comparison period."""
    current = Period("current", LocalWindow.of(request.dates, request.timezone))
    other = request.comparison if compare else None
    if other is None:
        return (current,)
    return current, Period("previous", LocalWindow.of(other, request.timezone))


def hit_ctes(request: ReportRequest, spans: tuple[Period, ...], *,
             sessions: bool, attributes: bool = True) -> list[tuple[str, str]]:
    """CTEs ending with ``scoped`` and, when ``sessions`` (or a session filter needs them),
    ``sessions``. ``attributes=False``: a report that reads no session attribute (source,
    medium, campaign, referrer, entry and exit page) skips the two windows that find them,
    unless a session filter needs them: the sessions are the same, the work about half."""
    ctes = [("base", _base(request, spans))]
    if not sessions and all(f.scope == "hit" for f in request.filters):
        ctes.append(("scoped", "SELECT b.*, hit_match AS matched FROM base AS b"))
        return ctes
    over = f"OVER (PARTITION BY period, client_id, session_id {_ORDER})"
    ctes.append(("gaps", f"""SELECT b.*,
  lag(event_time) {over} AS prev_time,
  lag(session_control) {over} AS prev_control
FROM base AS b"""))
    ctes.append(("numbered", f"""SELECT g.*, coalesce(session_id, '') AS sid,
  sum(CASE WHEN session_id IS NOT NULL THEN 0
           WHEN prev_time IS NULL OR event_time >= prev_time + {INACTIVITY}
                OR session_control = 'start' OR prev_control = 'end' THEN 1
           ELSE 0 END)
    OVER (PARTITION BY period, client_id, session_id {_ORDER}
          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS seq
FROM gaps AS g"""))
    if not attributes and all(f.scope == "hit" for f in request.filters):
        ctes.append(("scoped", "SELECT n.*, hit_match AS matched FROM numbered AS n"))
        if sessions:
            ctes.append(("sessions", _LEAN_SESSIONS))
        return ctes
    session = f"PARTITION BY {SESSION_KEY}"
    ctes.append(("ranked", f"""SELECT n.*,
  row_number() OVER ({session} ORDER BY {_PAGEVIEW_FIRST}, event_time, hit_id) AS entry_rank,
  row_number() OVER ({session} ORDER BY {_PAGEVIEW_FIRST}, event_time DESC, hit_id DESC) AS exit_rank
FROM numbered AS n"""))
    entry_page = "CASE WHEN type = 'pageview' THEN coalesce(page_path, '(not set)') END"
    found = {"s_source": flt.SOURCE_SQL, "s_medium": flt.MEDIUM_SQL,
                  "s_campaign": flt.CAMPAIGN_SQL, "s_referrer": "referrer_source",
                  "s_entry_page": entry_page}
    # every hit carries its session's entry-hit attributes; a hit without a session its own
    attributed = ",\n".join(
        f"  CASE WHEN client_id IS NULL THEN {expr} "
        f"ELSE max(CASE WHEN entry_rank = 1 THEN {expr} END) OVER ({session}) END AS {name}"
        for name, expr in found.items())
    ctes.append(("attributed", f"SELECT r.*,\n{attributed}\nFROM ranked AS r"))
    ctes.append(("scoped", "SELECT a.*, hit_match AND "
                           f"({flt.predicate(request.filters, 'session')}) AS matched\n"
                           "FROM attributed AS a"))
    if sessions:
        ctes.append(("sessions", _SESSIONS))
    return ctes


def _base(request: ReportRequest, spans: tuple[Period, ...]) -> str:
    cols = ", ".join(COLUMNS)
    hit_match = flt.predicate(request.filters, "hit")
    return "\nUNION ALL\n".join(
        f"SELECT {literal(p.name)} AS period, {cols},\n  ({hit_match}) AS hit_match\n"
        f"FROM events\nWHERE property = {literal(request.property_id)}\n"
        f"  AND {p.window.events_where()}\n"
        # hits forwarded with a bot flag are excluded traffic (the `bot_flagged` counter)
        "  AND (is_bot IS NULL OR NOT is_bot)"
        for p in spans)


_SESSION_MEASURES = f"""min(event_time) AS started,
  date_diff('millisecond', min(event_time), max(event_time)) AS duration_ms,
  sum(CASE WHEN matched AND type = 'pageview' THEN 1 ELSE 0 END) AS pageviews,
  CASE WHEN sum({_PAGEVIEW}) = 1 AND sum({_INTERACTION}) = 0
            AND max(CASE WHEN session_engaged THEN 1 ELSE 0 END) = 0 THEN 1 ELSE 0 END AS bounce"""
_SESSION_GROUPS = f"""FROM scoped
WHERE client_id IS NOT NULL
GROUP BY {SESSION_KEY}
HAVING max(CASE WHEN matched THEN 1 ELSE 0 END) = 1"""
_LEAN_SESSIONS = f"SELECT {SESSION_KEY},\n  {_SESSION_MEASURES}\n{_SESSION_GROUPS}"
_SESSIONS = f"""SELECT {SESSION_KEY},
  {_SESSION_MEASURES},
  max(s_source) AS source, max(s_medium) AS medium, max(s_campaign) AS campaign,
  max(s_referrer) AS referrer, max(s_entry_page) AS entry_page,
  max(CASE WHEN exit_rank = 1 AND type = 'pageview' THEN coalesce(page_path, '(not set)') END)
    AS exit_page
{_SESSION_GROUPS}"""


def periods_relation(spans: tuple[Period, ...]) -> str:
    """The periods as a relation ``p(ord, period, first_day, last_day)`` (local days), so
    that a period without hits still has its row."""
    rows = [(str(n), literal(p.name), literal(p.window.dates.start.isoformat()),
             literal(p.window.dates.end.isoformat())) for n, p in enumerate(spans)]
    return values("p", ("ord", "period", "first_day", "last_day"), rows)
