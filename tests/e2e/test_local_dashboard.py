"""`lambdalytics local --demo` as a new user runs it: the banner's dashboard and login link,
a month of the demo sites' traffic in the reports API, realtime moving with the live
trickle (collector → Kinesis → archiver → rollups), the filtered traffic counted, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_local import read_banner

ROOT = Path(__file__).resolve().parents[2]
DEMO = ("pshop", "pblog", "pdocs")
HOME = {"pshop": "DE", "pblog": "US", "pdocs": "JP"}  # each site's largest market


def test_local_demo_fills_the_dashboard_and_stops_cleanly() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambdalytics.cli", "local", "--port", "0", "--dashboard-port",
         "0", "--demo-hits", "12000"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        banner = read_banner(proc, timeout=120)
        dashboard = re.search(r"^  dashboard\s+(http://127\.0\.0\.1:\d+)/\s", banner, re.M)
        login = re.search(r"^  log in\s+(http://127\.0\.0\.1:\d+)/#token=([A-Za-z0-9_-]{43})$",
                          banner, re.M)
        built = re.search(r"^Demo: 3 sites, ([\d,]+) requests over the last 30 days .* built in "
                          r"([\d.]+) s$", banner, re.M)
        assert dashboard, banner
        assert login, banner
        assert built, banner
        assert login.group(1) == dashboard.group(1)
        assert 10_000 < int(built.group(1).replace(",", "")) <= 12_000, banner
        base, token = dashboard.group(1), login.group(2)
        # the closed days move to the lake in the background: report on the lake, without
        # the engine rebuilding its views under the reports (each move changes them)
        compacted = _read_until(proc, r"^demo: (\d+) closed days compacted into the lake")
        assert 87 <= int(compacted.group(1)) <= 90, compacted.group(0)  # 3 × 29-30 days
        printed_at = time.time()
        with httpx.Client(base_url=base, timeout=120,
                          headers={"Authorization": f"Bearer {token}"}) as api:
            assert httpx.get(f"{base}/v1/me").status_code == 401  # the token is what admits
            me = api.get("/v1/me").json()
            props = {p["property_id"]: p for p in me["properties"]}
            assert set(DEMO) <= set(props), me
            assert (props["pshop"]["timezone"], props["pshop"]["currency"]) == \
                ("Europe/Berlin", "EUR")

            def report(pid: str, name: str, **params: Any) -> list[dict[str, Any]]:
                r = api.get(f"/v1/properties/{pid}/reports/{name}",
                            params={"range": "30d", **params})
                assert r.status_code == 200, r.text
                rows: list[dict[str, Any]] = r.json()["rows"]
                return rows

            # each report over moto's S3 takes seconds (bench/dashboard_bench.py): the few that
            # show each part of the demo
            asked = [(pid, name, {}) for pid in DEMO for name in ("overview", "daily")]
            asked += [("pshop", name, {"limit": 50}) for name in (
                "countries", "sources", "devices", "browsers", "excluded", "ecommerce", "goals")]
            asked += [("pblog", "countries", {}), ("pblog", "excluded", {}),
                      ("pdocs", "countries", {}), ("pdocs", "events", {"limit": 50})]
            answers = {(pid, name): report(pid, name, **params) for pid, name, params in asked}
            for pid in DEMO:
                overview = answers[pid, "overview"][0]
                assert overview["period"] == "current"
                assert overview["visitors"] > 50, (pid, overview)
                assert overview["sessions"] >= overview["visitors"]
                assert overview["pageviews"] > overview["sessions"]
                assert 0 < overview["bounce_rate"] < 1
                days = [d for d in answers[pid, "daily"] if d["pageviews"] > 0]
                assert 29 <= len(days) <= 30, (pid, days)  # the first local day may be cut
                countries = answers[pid, "countries"]
                assert countries[0]["country"] == HOME[pid], (pid, countries)
                assert len(countries) >= 5
            sources = {r["source"] for r in answers["pshop", "sources"]}
            assert {"google", "(direct)", "newsletter", "bing", "facebook"} <= sources, sources
            devices = {r["device"] for r in answers["pshop", "devices"]}
            assert {"desktop", "mobile", "tablet"} <= devices, devices
            browsers = {r["browser"] for r in answers["pshop", "browsers"]}
            assert {"Chrome", "Mobile Safari", "Firefox", "Edge"} <= browsers, browsers
            excluded = {r["reason"]: r["hits"] for r in answers["pshop", "excluded"]}
            assert excluded.get("bot", 0) > 0, excluded  # crawlers: filtered
            assert excluded.get("bot_flagged", 0) > 0, excluded  # monitors: kept, flagged
            assert excluded.get("referrer_spam", 0) > 0, excluded
            # the blog's copy on a foreign hostname
            assert "disallowed_hostname" in {r["reason"] for r in answers["pblog", "excluded"]}
            shop = answers["pshop", "ecommerce"][0]
            assert shop["transactions"] > 0, shop
            assert shop["revenue"] > 0, shop
            assert shop["currency"] == "EUR"
            goals = {g["goal"]: g for g in answers["pshop", "goals"]}
            assert goals["Purchase"]["completions"] > 0, goals
            events = {e["event"]: e["events"] for e in answers["pdocs", "events"]}
            assert events.get("sign_up", 0) > 0, events  # from the docs' backend (MP)
            assert events.get("page_view", 0) > 0, events

            # realtime: the backfill's last hour, then the live trickle's hits arriving
            def live_hits() -> int:
                minute = datetime.fromtimestamp(printed_at, UTC).strftime("%Y-%m-%dT%H:%M")
                total = 0
                for pid in DEMO:
                    r = api.get(f"/v1/properties/{pid}/realtime")
                    assert r.status_code == 200, r.text
                    doc = r.json()
                    assert len(doc["series"]) == 30
                    total += sum(m["hits"] for m in doc["series"] if m["minute"] >= minute)
                return total

            now = api.get("/v1/properties/pshop/realtime").json()
            assert now["hits_30m"] > 0, now
            assert now["pages"], now
            assert now["countries"], now
            first = live_hits()
            deadline = time.monotonic() + 45
            while live_hits() <= first and time.monotonic() < deadline:
                time.sleep(1)
            assert live_hits() > first, "no live hits reached realtime within 45 s"
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        err = proc.stderr.read() if proc.stderr else ""
        assert "Traceback" not in err, err
        assert " ERROR " not in err, err
        assert token not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 120) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"local exited early: {proc.poll()}")
        if found := re.search(pattern, line):
            return found
    raise AssertionError(f"no line like {pattern!r} within {timeout} s")

