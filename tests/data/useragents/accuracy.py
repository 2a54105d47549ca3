"""The bot detector measured on both sides over the labelled corpora (corpus.py), as the Hit
gets its verdict (HTTP libraries are not bots there: collector.enrich.NOT_BOTS): per group,
the share of real browsers flagged (any verdict) and filtered (a strong verdict, which the
default ``filter`` policy drops); per bot category, the share of labelled bots missed.

    .venv/bin/python -m tests.data.useragents.accuracy

tests/collector/test_bot_accuracy.py holds the limits; this prints the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from collector.bots import NOT_BOT, BotDetector, BotVerdict
from collector.enrich import NOT_BOTS
from tests.data.useragents import corpus

# the families no rule may touch at all (issue 20): device-detector's names for Chrome,
# Safari, Samsung Internet and Firefox, with their mobile, iOS and WebView variants
COMMON_BROWSERS = frozenset({
    "Chrome", "Chrome Mobile", "Chrome Mobile iOS", "Chrome Webview", "Safari", "Mobile Safari",
    "Samsung Browser", "Firefox", "Firefox Mobile", "Firefox Mobile iOS", "Firefox Focus",
})
IN_APP_OSES = frozenset({"Android", "iOS", "iPadOS"})


def is_common(agent: corpus.Agent) -> bool:
    """A common family: the four mainstream browsers, an in-app browser on Android or iOS
    (device-detector's client type ``mobile app``), or the bench's mainstream agents."""
    return (agent.source == "bench" or agent.client_name in COMMON_BROWSERS
            or (agent.client_type == "mobile app" and agent.os_name in IN_APP_OSES))


def group_of(agent: corpus.Agent) -> str:
    if agent.source == "bench":
        return "bench traffic"
    if agent.is_bot:
        return agent.bot_category or "(no category)"
    return agent.group


def verdict_of(detector: BotDetector, user_agent: str) -> BotVerdict:
    verdict = detector.check(user_agent)
    return NOT_BOT if (verdict.reason or "").startswith(NOT_BOTS) else verdict


@dataclass
class Group:
    name: str
    agents: int = 0
    flagged: list[tuple[corpus.Agent, BotVerdict]] = field(default_factory=list)

    @property
    def filtered(self) -> list[tuple[corpus.Agent, BotVerdict]]:
        return [(a, v) for a, v in self.flagged if v.strong]


@dataclass
class Bots:
    name: str
    agents: int = 0
    missed: list[corpus.Agent] = field(default_factory=list)
    strong: int = 0  # with a strong verdict (filtered by default)


@dataclass
class Accuracy:
    humans: dict[str, Group]  # by group
    bots: dict[str, Bots]  # by device-detector's bot category

    @property
    def human_agents(self) -> int:
        return sum(g.agents for g in self.humans.values())

    @property
    def bot_agents(self) -> int:
        return sum(b.agents for b in self.bots.values())

    def missed(self) -> list[corpus.Agent]:
        return [a for b in self.bots.values() for a in b.missed]

    def flagged(self) -> list[tuple[corpus.Agent, BotVerdict]]:
        return [x for g in self.humans.values() for x in g.flagged]

    def filtered(self) -> list[tuple[corpus.Agent, BotVerdict]]:
        return [x for g in self.humans.values() for x in g.filtered]

    def common_flagged(self) -> list[tuple[corpus.Agent, BotVerdict]]:
        return [(a, v) for a, v in self.flagged() if is_common(a)]

    def lines(self) -> Iterable[str]:
        yield f"{'group':<24}{'agents':>8}{'flagged':>9}{'filtered':>10}"
        for g in sorted(self.humans.values(), key=lambda g: -g.agents):
            yield f"{g.name:<24}{g.agents:>8,}{len(g.flagged):>9,}{len(g.filtered):>10,}"
        n = self.human_agents
        yield (f"{'browsers':<24}{n:>8,}{len(self.flagged()):>9,}{len(self.filtered()):>10,}"
               f"   ({len(self.flagged()) / n:.3%} flagged, {len(self.filtered()) / n:.3%} filtered)")
        yield ""
        yield f"{'bot category':<24}{'agents':>8}{'missed':>9}{'filtered':>10}"
        for b in sorted(self.bots.values(), key=lambda b: -b.agents):
            yield f"{b.name:<24}{b.agents:>8,}{len(b.missed):>9,}{b.strong:>10,}"
        bots, missed = self.bot_agents, len(self.missed())
        strong = sum(b.strong for b in self.bots.values())
        yield (f"{'labelled bots':<24}{bots:>8,}{missed:>9,}{strong:>10,}   ({missed / bots:.1%} "
               f"missed, {strong / bots:.1%} filtered by default)")
        for agent, verdict in self.flagged()[:20]:
            yield f"  flagged {verdict.reason} ({'filtered' if verdict.strong else 'weak'}): " \
                  f"{agent.user_agent[:160]}"


def measure(detector: BotDetector | None = None) -> Accuracy:
    detector = detector or BotDetector(cache_size=0)
    humans: dict[str, Group] = {}
    for agent in corpus.browsers():
        group = humans.setdefault(group_of(agent), Group(group_of(agent)))
        group.agents += 1
        verdict = verdict_of(detector, agent.user_agent)
        if verdict.is_bot:
            group.flagged.append((agent, verdict))
    bots: dict[str, Bots] = {}
    for agent in corpus.bots():
        category = bots.setdefault(group_of(agent), Bots(group_of(agent)))
        category.agents += 1
        verdict = verdict_of(detector, agent.user_agent)
        if not verdict.is_bot:
            category.missed.append(agent)
        category.strong += verdict.strong
    return Accuracy(humans, bots)


def main() -> None:
    for line in measure().lines():
        print(line)


if __name__ == "__main__":
    main()
