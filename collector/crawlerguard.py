"""The guard on the crawler list: no pattern that matches a real browser filters anyone.

crawler-user-agents (PyPI, updated monthly upstream) is a list of regexes, each added for
some bot; a few match far more than their bot. ``AP3A\\.240617\\.008`` is an Android 15 build
id shared by a whole generation of phones, ``Sogou`` is also Sogou's mobile browser,
``Butterfly`` an HTC phone. A hit filtered as a bot is gone for good, so every pattern is
checked against a corpus of real browser agents (tens of thousands, labelled by another
project: ``tests/data/useragents``), and the outcome is pinned beside the list's version in
``collector/data/crawler_guard.json``:

- ``narrowed``: written by hand — a pattern, the narrower one used instead, and why; the
  guard checks that the narrower one matches no browser of the corpus and how many of the
  list's own examples (``instances``) it still catches;
- ``dropped``: written by the guard — every other pattern that matches a browser of the
  corpus, with how many and one of them.

:class:`collector.bots.BotDetector` applies the file at start-up (it cannot see the corpus:
the tests hold it). ``tests/collector/test_crawler_guard.py`` runs the guard in ``make test``
and fails when the file is not what the guard makes of the installed list, so a bump of
crawler-user-agents shows what it adds and drops; ``tests/data/useragents/guard.py`` writes
the file again (after a bump):

    .venv/bin/python -m tests.data.useragents.guard            # what would change
    .venv/bin/python -m tests.data.useragents.guard --write
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ua_parser_rs

log = logging.getLogger(__name__)

LIST_PACKAGE = "crawler-user-agents"
GUARD = "crawler_guard.json"
EXAMPLE_MAX = 200  # characters of the example agent kept in the file


@dataclass(frozen=True, slots=True)
class Guard:
    version: str  # the list's version the file was made for
    narrowed: Mapping[str, str]  # pattern → the narrower pattern used instead
    dropped: frozenset[str]

    def apply(self, patterns: Iterable[str]) -> tuple[str, ...]:
        """The patterns to use: dropped ones left out, narrowed ones replaced."""
        return tuple(self.narrowed.get(p, p) for p in patterns if p not in self.dropped)


def list_version() -> str:
    return importlib.metadata.version(LIST_PACKAGE)


def list_entries() -> list[dict[str, Any]]:
    """The packaged list's entries (pattern, instances, …), in its order."""
    text = (importlib.resources.files("crawleruseragents") / "crawler-user-agents.json").read_text("utf-8")
    return [e for e in json.loads(text) if isinstance(e, dict) and isinstance(e.get("pattern"), str)]


def guarded_patterns() -> tuple[str, ...]:
    """The packaged list's patterns as the guard file says to use them; a warning when the
    file was made for another version of the list (its new patterns are then unguarded)."""
    guard = load_guard()
    version = list_version()
    if version != guard.version:
        log.warning("the crawler guard was made for crawler-user-agents %s, %s is installed: "
                    "run python -m tests.data.useragents.guard", guard.version, version)
    return guard.apply(str(e["pattern"]) for e in list_entries())


def guard_path() -> Path:
    return Path(str(importlib.resources.files("collector") / "data" / GUARD))


def read_guard_file(path: Path | None = None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path or guard_path()).read_text("utf-8"))
    return data


def load_guard(path: Path | None = None) -> Guard:
    data = read_guard_file(path)
    return Guard(str(data["crawler_user_agents"]),
                 {n["pattern"]: n["instead"] for n in data.get("narrowed", ())},
                 frozenset(d["pattern"] for d in data.get("dropped", ())))


def matches(patterns: Sequence[str], agents: Iterable[str]) -> dict[int, list[str]]:
    """For each pattern (by index) that matches any of ``agents``, the agents it matches,
    with the Rust regex engine the detector uses. One pass over every agent finds each
    agent's first matching pattern; the agents that matched are tried again without the
    patterns already found for them, until none matches (few agents match two)."""
    found: dict[int, list[str]] = {}
    todo: list[tuple[str, frozenset[int]]] = [(a, frozenset()) for a in agents]
    while todo:
        again: list[tuple[str, frozenset[int]]] = []
        by_excluded: dict[frozenset[int], list[str]] = {}
        for agent, excluded in todo:
            by_excluded.setdefault(excluded, []).append(agent)
        for excluded, group in by_excluded.items():
            specs = [(f"({p})", str(i), None, None, None, None)
                     for i, p in enumerate(patterns) if i not in excluded]
            if not specs:
                continue
            extractor = ua_parser_rs.UserAgentExtractor(specs)
            for agent in group:
                m = extractor.extract(agent)
                if m is not None:
                    i = int(m.family)
                    found.setdefault(i, []).append(agent)
                    again.append((agent, excluded | {i}))
        todo = again
    return found


def make(entries: Sequence[Mapping[str, Any]], narrowed: Sequence[Mapping[str, str]],
         humans: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """The guard file's content for the list ``entries`` over the ``humans`` corpus, keeping
    the hand-written ``narrowed`` entries; and the problems that need a person (a narrowed
    pattern the list no longer has, a narrower one that still matches a browser)."""
    problems: list[str] = []
    patterns = [str(e["pattern"]) for e in entries]
    known = set(patterns)
    kept_narrowed = []
    for entry in narrowed:
        if entry["pattern"] not in known:
            problems.append(f"narrowed pattern {entry['pattern']!r} is no longer in the list")
            continue
        kept_narrowed.append(dict(entry))
    instead = [n["instead"] for n in kept_narrowed]
    for i, agents in sorted(matches(instead, humans).items()):
        problems.append(f"narrowed pattern {instead[i]!r} still matches {len(agents)} browsers, "
                        f"e.g. {agents[0][:EXAMPLE_MAX]!r}")
    instances = {str(e["pattern"]): [str(x) for x in e.get("instances") or ()] for e in entries}
    for entry in kept_narrowed:
        examples = instances.get(entry["pattern"], [])
        caught = matches([entry["instead"]], examples).get(0, [])
        entry["instances_caught"] = f"{len(caught)} of {len(examples)}"
    by_pattern = {n["pattern"] for n in kept_narrowed}
    dropped = []
    for i, agents in sorted(matches(patterns, humans).items()):
        if patterns[i] in by_pattern:
            continue
        dropped.append({"pattern": patterns[i], "browsers": len(agents),
                        "example": agents[0][:EXAMPLE_MAX]})
    return {"crawler_user_agents": list_version(), "narrowed": kept_narrowed,
            "dropped": dropped}, problems


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What a new guard file changes against the old one, a line each."""
    lines = []
    if old.get("crawler_user_agents") != new.get("crawler_user_agents"):
        lines.append(f"crawler-user-agents {old.get('crawler_user_agents')} → "
                     f"{new.get('crawler_user_agents')}")
    before = {d["pattern"]: d for d in old.get("dropped", ())}
    after = {d["pattern"]: d for d in new.get("dropped", ())}
    for p in sorted(after.keys() - before.keys()):
        lines.append(f"drops {p!r}: matches {after[p]['browsers']} browsers, e.g. "
                     f"{after[p]['example']!r}")
    for p in sorted(before.keys() - after.keys()):
        lines.append(f"no longer drops {p!r} (gone from the list, or it matches no browser now)")
    for p in sorted(before.keys() & after.keys()):
        if before[p]["browsers"] != after[p]["browsers"]:
            lines.append(f"{p!r} now matches {after[p]['browsers']} browsers "
                         f"(was {before[p]['browsers']})")
    old_n = {n["pattern"]: n for n in old.get("narrowed", ())}
    for n in new.get("narrowed", ()):
        was = old_n.get(n["pattern"], {}).get("instances_caught")
        if was != n.get("instances_caught"):
            lines.append(f"narrowed {n['pattern']!r} catches {n.get('instances_caught')} of the "
                         f"list's examples" + (f" (was {was})" if was else ""))
    return lines
