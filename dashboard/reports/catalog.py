"""Every report by name: its columns and the function that writes its SQL (docs/reports.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from dashboard.reports import breakdowns, conversions, excluded, traffic
from dashboard.reports.request import ReportRequest


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    columns: tuple[str, ...]
    build: Callable[[ReportRequest], str]
    doc: str
    compares: bool = False  # has a row per period (the request's ``compare``)
    top_n: bool = False  # cut to the request's ``limit``


def _catalog() -> dict[str, Report]:
    reports = [
        Report("overview", traffic.OVERVIEW, traffic.overview,
               "visitors, sessions, pageviews, views per session, bounce rate, average "
               "session duration; a row per period", compares=True),
        Report("daily", ("day", *traffic.SERIES), traffic.daily,
               "visitors, sessions and pageviews by local day"),
        Report("hourly", ("hour", *traffic.SERIES), traffic.hourly,
               f"the same by local hour (ranges of at most {traffic.MAX_HOURLY_DAYS} days)"),
        Report("pages", breakdowns.PAGES, breakdowns.pages, "pageviews by page path", top_n=True),
    ]
    docs = {"entry_pages": "sessions by the path of their first pageview",
            "exit_pages": "sessions by the path of their last pageview",
            "sources": "sessions by source (campaign tags, else the referrer)",
            "mediums": "sessions by medium (campaign tags, else the referrer's class)",
            "campaigns": "sessions by campaign name",
            "referrers": "sessions that came from a referrer, by its source"}
    for name, (_, column) in breakdowns.SESSION_DIMENSIONS.items():
        reports.append(Report(name, (column, *breakdowns.SESSION_METRICS),
                              partial(breakdowns.by_session, report=name), docs[name], top_n=True))
    for name, (_, column) in breakdowns.HIT_DIMENSIONS.items():
        reports.append(Report(name, (column, *breakdowns.HIT_METRICS),
                              partial(breakdowns.by_hit, report=name),
                              f"visitors, sessions and pageviews by {column}", top_n=True))
    reports += [
        Report("events", conversions.EVENTS, conversions.events,
               "GA4 events by name, UA events by category / action", top_n=True),
        Report("goals", conversions.GOALS, conversions.goals,
               "completions and converting sessions per goal of the property"),
        Report("ecommerce", conversions.ECOMMERCE, conversions.ecommerce,
               "transactions and revenue in the property's currency; a row per period",
               compares=True),
        Report("excluded", excluded.EXCLUDED, excluded.excluded, "filtered traffic by reason"),
        Report("excluded_daily", excluded.EXCLUDED_DAILY, excluded.excluded_daily,
               "filtered traffic by local day and reason"),
        Report("bot_agents", excluded.BOT_AGENTS, excluded.bot_agents,
               "agent families filtered as bots", top_n=True),
    ]
    return {r.name: r for r in reports}


REPORTS: dict[str, Report] = _catalog()
