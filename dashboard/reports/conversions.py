"""What visitors did: events, goals (the property's, in its policy's order) and ecommerce
(revenue in the property's currency, with its comparison period)."""

from __future__ import annotations

from dashboard.reports.request import ReportRequest
from dashboard.reports.sessions import hit_ctes, periods, periods_relation
from dashboard.reports.sql import literal, ratio, with_query
from lambdalytics.property_policy import Goal

EVENTS = ("event", "events", "visitors")
GOALS = ("goal", "completions", "converting_sessions", "conversion_rate")
ECOMMERCE = ("period", "first_day", "last_day", "currency", "transactions", "revenue", "tax",
             "shipping", "average_order_value", "other_currency_transactions")
MONEY = "decimal(38, 6)"  # summed exactly, so that every engine adds up to the same double

# a GA4 event by its name; a UA event hit as "category / action"
EVENT_SQL = ("CASE WHEN event_name IS NOT NULL THEN event_name ELSE "
             "coalesce(event_category, '(not set)') || ' / ' || coalesce(event_action, '(not set)') END")


def events(request: ReportRequest) -> str:
    """Every GA4 event (page_view included) and every UA event hit."""
    ctes = hit_ctes(request, periods(request, compare=False), sessions=False)
    return with_query(ctes, f"""SELECT dim AS event, count(*) AS events,
  count(DISTINCT client_id) AS visitors
FROM (SELECT {EVENT_SQL} AS dim, client_id
      FROM scoped WHERE matched AND (event_name IS NOT NULL OR type = 'event')) AS e
GROUP BY dim
ORDER BY events DESC, dim
LIMIT {request.limit}""")


def goal_condition(goal: Goal) -> str:
    """A page-path goal is reached by a pageview of a matching path; an event-name goal by any
    hit with a matching GA4 event name. ``regex`` is a search (not anchored unless the
    pattern is), as :meth:`Goal.matches` does."""
    column = "page_path" if goal.field == "page_path" else "event_name"
    value = literal(goal.value)
    match = {"equals": f"{column} = {value}", "prefix": f"starts_with({column}, {value})",
             "regex": f"regexp_like({column}, {value})"}[goal.match]
    return f"type = 'pageview' AND {match}" if goal.field == "page_path" else match


def goals(request: ReportRequest) -> str:
    """Per goal: completions (matching hits), converting sessions, and those as a share of
    the period's sessions."""
    if not request.goals:
        return ("SELECT goal, completions, converting_sessions, conversion_rate FROM (VALUES "
                "(CAST(NULL AS varchar), CAST(NULL AS bigint), CAST(NULL AS bigint), "
                "CAST(NULL AS double))) AS g(goal, completions, converting_sessions, "
                "conversion_rate) WHERE 1 = 0")
    ctes = hit_ctes(request, periods(request, compare=False), sessions=True, attributes=False)
    flags = ",\n".join(f"  CASE WHEN {goal_condition(g)} THEN 1 ELSE 0 END AS g{n}"
                       for n, g in enumerate(request.goals))
    ctes.append(("goal_hits", f"SELECT client_id, sid, seq,\n{flags}\nFROM scoped WHERE matched"))
    sums = ", ".join(f"sum(g{n}) AS g{n}" for n in range(len(request.goals)))
    ctes.append(("goal_sessions",
                 f"SELECT client_id, sid, seq, {sums}\nFROM goal_hits\nGROUP BY client_id, sid, seq"))
    rows = "\nUNION ALL\n".join(
        f"""SELECT {n} AS ord, {literal(g.name)} AS goal,
  coalesce(sum(g{n}), 0) AS completions,
  {_converting(n)} AS converting_sessions,
  {ratio(_converting(n), "count(client_id)")} AS conversion_rate
FROM goal_sessions""" for n, g in enumerate(request.goals))
    return with_query(ctes, f"""SELECT goal, completions, converting_sessions, conversion_rate
FROM (
{rows}
) AS g
ORDER BY ord""")


def _converting(n: int) -> str:
    return f"coalesce(sum(CASE WHEN client_id IS NOT NULL AND g{n} > 0 THEN 1 ELSE 0 END), 0)"


def ecommerce(request: ReportRequest) -> str:
    """Transactions (UA ``transaction`` hits and GA4 ``purchase`` events, both type
    ``transaction``), each transaction id once (its first hit); revenue, tax and shipping of
    those in the property's currency (or with none given). Transactions in another currency
    are counted apart: there are no exchange rates to convert them."""
    spans = periods(request, compare=True)
    ctes = hit_ctes(request, spans, sessions=False)
    own = f"currency IS NULL OR upper(currency) = {literal(request.currency)}"
    ctes.append(("transactions", f"""SELECT period, transaction_id, transaction_revenue,
  transaction_tax, transaction_shipping,
  CASE WHEN {own} THEN 1 ELSE 0 END AS own,
  row_number() OVER (PARTITION BY period, transaction_id ORDER BY event_time, hit_id) AS occurrence
FROM scoped
WHERE matched AND type = 'transaction'"""))
    money = {name: f"sum(CASE WHEN own = 1 THEN CAST(transaction_{name} AS {MONEY}) END) AS {name}"
             for name in ("revenue", "tax", "shipping")}
    ctes.append(("totals", f"""SELECT period, sum(own) AS transactions, sum(1 - own) AS other,
  {money["revenue"]}, {money["tax"]}, {money["shipping"]}
FROM transactions
WHERE transaction_id IS NULL OR occurrence = 1
GROUP BY period"""))
    return with_query(ctes, f"""SELECT p.period, p.first_day, p.last_day,
  {literal(request.currency)} AS currency,
  coalesce(t.transactions, 0) AS transactions,
  CAST(coalesce(t.revenue, 0) AS double) AS revenue,
  CAST(coalesce(t.tax, 0) AS double) AS tax,
  CAST(coalesce(t.shipping, 0) AS double) AS shipping,
  {ratio("coalesce(t.revenue, 0)", "t.transactions")} AS average_order_value,
  coalesce(t.other, 0) AS other_currency_transactions
FROM {periods_relation(spans)}
LEFT JOIN totals AS t ON t.period = p.period
ORDER BY p.ord""")
