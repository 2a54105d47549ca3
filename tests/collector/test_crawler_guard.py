"""collector.crawlerguard: the guard file is what the guard makes of the installed
crawler-user-agents over the browser corpus, so a bump of the list fails here with what it
adds and drops until ``python -m tests.data.useragents.guard --write`` is run and the
outcome reviewed; and the guard's own logic (drops, narrowed patterns, the warnings)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from collector import crawlerguard
from tests.data.useragents import corpus

ROOT = Path(__file__).resolve().parents[2]
CHROME = ("Mozilla/5.0 (Linux; Android 15; SM-S928B Build/AP3A.240617.008) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36")


def test_the_guard_file_is_what_the_guard_makes_of_the_installed_list() -> None:
    old = crawlerguard.read_guard_file()
    new, problems = crawlerguard.make(crawlerguard.list_entries(), old["narrowed"],
                                      corpus.human_agents())
    assert problems == []
    assert new == old, ("crawler-user-agents or the corpus changed; review and run "
                        "python -m tests.data.useragents.guard --write:\n"
                        + "\n".join(crawlerguard.changes(old, new)))


def test_every_narrowed_entry_says_why_and_still_catches_its_bot() -> None:
    narrowed = crawlerguard.read_guard_file()["narrowed"]
    assert len(narrowed) >= 5
    for entry in narrowed:
        assert entry["why"].strip()
        caught, _, total = entry["instances_caught"].partition(" of ")
        assert int(caught) >= 1 or int(total) == 0, entry


def test_the_guarded_patterns_leave_out_and_replace() -> None:
    guard = crawlerguard.load_guard()
    patterns = crawlerguard.guarded_patterns()
    assert len(patterns) > 1_000
    assert not guard.dropped & set(patterns)
    for pattern, instead in guard.narrowed.items():
        assert pattern not in patterns
        assert instead in patterns
    # the pattern issue 20 found: an Android 15 build id, a whole generation of phones
    assert r"AP3A\.240617\.008" in guard.dropped


def test_make_drops_a_pattern_that_matches_a_browser_and_keeps_the_others() -> None:
    entries = [{"pattern": "Grabby/", "instances": ["Grabby/1.0"]},
               {"pattern": r"AP3A\.240617\.008", "instances": ["80legs"]},
               {"pattern": "Sonic", "instances": ["Mozilla/5.0 (compatible; Sonic/1.0)"]}]
    narrowed = [{"pattern": "Sonic", "instead": r"\(compatible; Sonic/", "why": "ViewSonic"},
                {"pattern": "Gone", "instead": "Gone/", "why": "left the list"}]
    humans = [CHROME, "Mozilla/5.0 (Linux; Android 9; ViewSonic VSD242) AppleWebKit/537.36"]
    new, problems = crawlerguard.make(entries, narrowed, humans)
    assert new["dropped"] == [{"pattern": r"AP3A\.240617\.008", "browsers": 1, "example": CHROME}]
    assert [n["pattern"] for n in new["narrowed"]] == ["Sonic"]
    assert new["narrowed"][0]["instances_caught"] == "1 of 1"
    assert problems == ["narrowed pattern 'Gone' is no longer in the list"]
    guard = crawlerguard.Guard(new["crawler_user_agents"],
                               {n["pattern"]: n["instead"] for n in new["narrowed"]},
                               frozenset(d["pattern"] for d in new["dropped"]))
    assert guard.apply(e["pattern"] for e in entries) == ("Grabby/", r"\(compatible; Sonic/")


def test_a_narrowed_pattern_that_still_matches_a_browser_is_a_problem() -> None:
    entries = [{"pattern": "Sonic"}]
    narrowed = [{"pattern": "Sonic", "instead": "Sonic", "why": "not narrower"}]
    _, problems = crawlerguard.make(entries, narrowed, ["ViewSonic VSD242 Chrome/120"])
    assert len(problems) == 1
    assert "still matches 1 browsers" in problems[0]


def test_changes_show_what_a_bump_adds_and_drops() -> None:
    old = {"crawler_user_agents": "1.0.0", "narrowed": [],
           "dropped": [{"pattern": "A", "browsers": 2, "example": "x"},
                       {"pattern": "B", "browsers": 1, "example": "y"}]}
    new = {"crawler_user_agents": "1.1.0", "narrowed": [],
           "dropped": [{"pattern": "B", "browsers": 3, "example": "y"},
                       {"pattern": "C", "browsers": 1, "example": "z"}]}
    assert crawlerguard.changes(old, new) == [
        "crawler-user-agents 1.0.0 → 1.1.0",
        "drops 'C': matches 1 browsers, e.g. 'z'",
        "no longer drops 'A' (gone from the list, or it matches no browser now)",
        "'B' now matches 3 browsers (was 1)",
    ]
    assert crawlerguard.changes(new, new) == []


def test_a_guard_made_for_another_version_warns(monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(crawlerguard, "list_version", lambda: "99.0.0")
    with caplog.at_level(logging.WARNING, logger="collector.crawlerguard"):
        patterns = crawlerguard.guarded_patterns()
    assert "made for crawler-user-agents" in caplog.text
    assert "99.0.0" in caplog.text
    assert r"AP3A\.240617\.008" not in patterns  # the file still applies


def test_matches_finds_every_pattern_an_agent_matches() -> None:
    found = crawlerguard.matches(["Chrome/", "Android 15", "Nothing"], [CHROME, "Chrome/1"])
    assert found == {0: [CHROME, "Chrome/1"], 1: [CHROME]}


def test_the_guard_command_reports_no_change() -> None:
    done = subprocess.run([sys.executable, "-m", "tests.data.useragents.guard"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "no change\n", "")
