"""The labelled user-agent corpora, as the bot guard and the accuracy tests read them.

- ``device-detector-fixtures.csv.gz``: Matomo device-detector's test fixtures, 38,121
  distinct agents (convert_fixtures.py says how they were made): phones, tablets, TVs,
  consoles, cars, wearables, in-app browsers and WebViews, media players, and 1,347 bots;
- ``device-detector-sample.csv``: the 265 agents of the device categorisation test;
- the bench traffic generator's 60,000 browser agents (``bench/traffic.py``), variants of the
  mainstream ones across versions, devices and OSes.

A *browser* is every agent device-detector does not call a bot, except HTTP libraries (which
the collector never treats as bots: they are how server-side senders send real users' hits)
and feed readers (fetchers, not browsers).
"""

from __future__ import annotations

import csv
import functools
import gzip
import random
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_BROWSERS = frozenset({"library", "feed reader"})  # device-detector client types


@dataclass(frozen=True, slots=True)
class Agent:
    user_agent: str
    source: str  # "fixtures", "sample" or "bench"
    group: str  # the fixture file's group (smartphone, tablet, tv, bots …) or device type
    client_type: str  # browser, mobile app, mediaplayer, …; "" when unknown
    client_name: str  # device-detector's name: Chrome Mobile, Mobile Safari, Instagram, …
    os_name: str
    bot_name: str  # set for bots
    bot_category: str = ""  # device-detector's: Search bot, Crawler, Site Monitor, …

    @property
    def is_bot(self) -> bool:
        return bool(self.bot_name) or self.group in ("bots", "bot")


@functools.cache
def fixtures() -> tuple[Agent, ...]:
    with gzip.open(HERE / "device-detector-fixtures.csv.gz", "rt", encoding="utf-8",
                   newline="") as f:
        return tuple(Agent(r["user_agent"], "fixtures", r["fixture"], r["client_type"],
                           r["client_name"], r["os_name"], r["bot_name"], r["bot_category"])
                     for r in csv.DictReader(f))


@functools.cache
def sample() -> tuple[Agent, ...]:
    with (HERE / "device-detector-sample.csv").open(encoding="utf-8", newline="") as f:
        return tuple(Agent(r["user_agent"], "sample", r["device_type"], "", r["client_name"],
                           r["os_name"], r["bot_name"] or ("bot" if r["device_type"] == "bot"
                                                           else ""),
                           r["bot_category"])
                     for r in csv.DictReader(f))


@functools.cache
def bench() -> tuple[Agent, ...]:
    from bench.traffic import user_agents

    return tuple(Agent(ua, "bench", "bench", "browser", "", "", "")
                 for ua in user_agents(60_000, random.Random(7)))


def is_browser(agent: Agent) -> bool:
    return not agent.is_bot and agent.client_type not in NOT_BROWSERS


@functools.cache
def browsers() -> tuple[Agent, ...]:
    """Every browser agent of the three corpora, each agent once."""
    seen: set[str] = set()
    out = []
    for agent in (*fixtures(), *sample(), *bench()):
        if is_browser(agent) and agent.user_agent not in seen:
            seen.add(agent.user_agent)
            out.append(agent)
    return tuple(out)


def human_agents() -> list[str]:
    return [a.user_agent for a in browsers()]


def bots() -> tuple[Agent, ...]:
    return tuple(a for a in (*fixtures(), *sample()) if a.is_bot)
