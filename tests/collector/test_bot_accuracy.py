"""Bot detection measured on both sides over the labelled corpora (tests/data/useragents):
tens of thousands of real browser agents from another project's fixtures and the bench's
traffic, and 1,408 labelled bots. A hit filtered as a bot is gone for good, so:

- no rule of any table, and no crawler pattern after its guard, matches a browser;
- browsers filtered (a strong verdict) stay under 0.5 % of them, flagged ones too, and no
  common family (Chrome, Safari, Samsung Internet, Firefox, in-app browsers on Android and
  iOS) is flagged at all;
- the bots found do not silently fall away: recall and the strong share have floors.

The per-group table is printed (``pytest -s``, or ``python -m tests.data.useragents.accuracy``).
"""

from __future__ import annotations

import pytest

from collector import bots, crawlerguard
from collector.bots import BotDetector
from tests.data.useragents import accuracy, corpus

MAX_FILTERED = 0.005  # of the browser agents
MAX_FLAGGED = 0.005
MIN_FOUND = 0.75  # of the labelled bots: 80.1 % when written
MIN_STRONG = 0.50  # of the labelled bots, filtered by default: 58.2 % when written


@pytest.fixture(scope="module")
def measured() -> accuracy.Accuracy:
    result = accuracy.measure(BotDetector(cache_size=0))
    print("\n" + "\n".join(result.lines()))
    return result


TABLES = {"MONITORING": bots.MONITORING, "HEADLESS": bots.HEADLESS, "HEURISTICS": bots.HEURISTICS}


@pytest.mark.parametrize("table", [*TABLES, "crawler list"])
def test_no_rule_matches_a_browser(table: str) -> None:
    """Each table alone, in its order (an ``allow`` rule, as MSIE's before the URL rules,
    stops the rules after it). TOOLS is not checked: a tool is not a bot to the Hit (okhttp
    is also how Android podcast apps fetch)."""
    rules = (bots.crawler_rules(crawlerguard.guarded_patterns()) if table == "crawler list"
             else TABLES[table])
    extractor, _ = bots.compile_rules(rules)
    found: dict[str, list[str]] = {}
    for agent in corpus.human_agents():
        verdict = bots.check_user_agent(extractor, agent)
        if verdict.is_bot:
            found.setdefault(str(verdict.reason), []).append(agent)
    assert not found, "\n".join(f"{reason} matches {len(agents)} browsers, e.g. {agents[0]!r}"
                                for reason, agents in sorted(found.items()))


def test_the_browser_corpus_is_big_and_varied() -> None:
    agents = corpus.browsers()
    assert len(agents) > 90_000
    groups = {a.group for a in agents}
    assert {"smartphone", "tablet", "tv", "console", "wearable", "car_browser"} <= groups
    assert sum(a.client_type == "mobile app" for a in agents) > 1_500  # in-app browsers
    assert sum(a.client_name == "Chrome Webview" for a in agents) > 3_000


def test_browsers_filtered_and_flagged_stay_under_the_limit(measured: accuracy.Accuracy) -> None:
    n = measured.human_agents
    filtered, flagged = measured.filtered(), measured.flagged()
    assert len(filtered) <= MAX_FILTERED * n, [(v.reason, a.user_agent) for a, v in filtered[:20]]
    assert len(flagged) <= MAX_FLAGGED * n, [(v.reason, a.user_agent) for a, v in flagged[:20]]


def test_no_common_family_is_flagged(measured: accuracy.Accuracy) -> None:
    common = sum(accuracy.is_common(a) for a in corpus.browsers())
    assert common > 80_000  # the check covers them
    assert measured.common_flagged() == []


def test_the_labelled_bots_are_found(measured: accuracy.Accuracy) -> None:
    n = measured.bot_agents
    assert n > 1_300
    assert len(measured.missed()) <= (1 - MIN_FOUND) * n
    assert sum(b.strong for b in measured.bots.values()) >= MIN_STRONG * n
    # the big search engines' crawlers are filtered, not only flagged
    search = measured.bots["Search bot"]
    assert search.strong >= 0.7 * search.agents


def test_an_agent_a_rule_matches_is_reported() -> None:
    """The measurement can fail: a detector with a pattern that matches Chrome flags the
    common families, and the report names them."""
    chrome = next(a for a in corpus.browsers() if a.client_name == "Chrome Mobile")
    loose = BotDetector(cache_size=0, crawler_patterns=["Chrome/"])
    result = accuracy.measure(loose)
    assert any(a.user_agent == chrome.user_agent for a, _ in result.common_flagged())
    assert len(result.filtered()) > MAX_FILTERED * result.human_agents
    assert any("crawler:Chrome" in line for line in result.lines())
