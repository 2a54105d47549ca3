"""The dashboard benchmark (issue 23): reports API latency per report, cold and cached, and
the first render of the overview page in headless chromium, on the demo's data.

    .venv/bin/python bench/dashboard_bench.py                       # 1 M requests, 30 days
    .venv/bin/python bench/dashboard_bench.py --hits 90k --repeat 10 --json /tmp/dash.json

It runs ``lambdalytics local --demo-hits N`` (the demo's backfill through the collector's code
into the archive on the embedded AWS, then the lake; live traffic on top), reads the banner
(the build time the demo measured), waits until the closed days are in the lake, then through
the real app over loopback HTTP, for each report on one property:

- **cold**: ``--repeat`` requests that each miss the report cache (a custom range whose first
  day moves back a day per request: a new cache key, about the same work);
- **cached**: ``--repeat`` times the 30-day request; an answer is counted cached when the
  API says so (``"cached": true``; the live trickle changes today's data, so some are not);
- **realtime**: the realtime endpoint (cached a second).

Then ``--browser-runs`` first renders of ``/?property=…#token=…`` in a fresh chromium context
(Playwright, /usr/bin/chromium, ``--no-sandbox``): from navigation to the overview's numbers
and the chart drawn — the page's ``[data-ready~=overview]`` marker when it has one, else the
visitors metric filled in and the chart's canvas present (printed: which one was used).
Prints the machine and a table; ``--json`` writes every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import cpu_model  # noqa: E402

REPORTS = ("overview", "daily", "pages", "sources", "countries", "devices", "browsers",
           "events", "goals", "ecommerce", "excluded")
READY_JS = """() => {
  if (document.querySelector('[data-ready~="overview"]')) return "marker";
  const v = document.querySelector('#panel-overview [data-metric="visitors"] .metric-value');
  const drawn = document.querySelector('#panel-chart canvas');
  return v && /\\d/.test(v.textContent) && drawn ? "metric+canvas" : false;
}"""


def count(text: str) -> int:
    text = text.strip().lower().replace(",", "").replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def start_local(args: argparse.Namespace) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    cmd = [sys.executable, "-m", "lambdalytics.cli", "local", "--port", "0", "--dashboard-port",
           "0", "--demo-hits", str(args.hits), "--demo-days", str(args.days)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    assert proc.stdout is not None
    info: dict[str, Any] = {}
    deadline = time.monotonic() + args.timeout
    for line in proc.stdout:
        if m := re.match(r"  log in\s+(http://\S+?)/#token=(\S+)", line):
            info["base"], info["token"] = m.group(1), m.group(2)
        elif m := re.match(r"Demo: .*?([\d,]+) requests .*\(([\d,]+) hits archived.* built in "
                           r"([\d.]+) s", line):
            info["requests"] = int(m.group(1).replace(",", ""))
            info["hits"] = int(m.group(2).replace(",", ""))
            info["build_s"] = float(m.group(3))
        elif line.startswith("Ctrl-C stops everything"):
            info["banner_s"] = time.perf_counter() - started
        elif m := re.match(r"demo: (\d+) closed days compacted into the lake in ([\d.]+) s", line):
            info["days_compacted"], info["compact_s"] = int(m.group(1)), float(m.group(2))
            info["ready_s"] = time.perf_counter() - started
            print(f"ready: {({k: v for k, v in info.items() if k != 'token'})}",
                  file=sys.stderr, flush=True)
            return proc, info
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit(f"lambdalytics local did not get ready within {args.timeout} s: {info}")


def timed(api: httpx.Client, path: str, params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    t = time.perf_counter()
    r = api.get(path, params=params)
    elapsed = time.perf_counter() - t
    if r.status_code != 200:
        raise SystemExit(f"{path} {params}: {r.status_code} {r.text[:300]}")
    return elapsed, r.json()


def measure_api(base: str, token: str, prop: str, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    today = dt.date.today()
    with httpx.Client(base_url=base, timeout=300,
                      headers={"Authorization": f"Bearer {token}"}) as api:
        for name in REPORTS:
            path = f"/v1/properties/{prop}/reports/{name}"
            cold = [timed(api, path, {"from": (today - dt.timedelta(days=29 + i)).isoformat(),
                                      "to": today.isoformat()})[0] for i in range(repeat)]
            cached, uncached = [], []
            for _ in range(repeat):
                elapsed, doc = timed(api, path, {"range": "30d"})
                (cached if doc.get("cached") else uncached).append(elapsed)
            out[name] = {"cold_s": cold, "cached_s": cached, "not_cached_s": uncached}
            print(f"{name}: cold {summary(cold)}, cached {summary(cached)}", file=sys.stderr,
                  flush=True)
        rt = [timed(api, f"/v1/properties/{prop}/realtime", {})[0] for _ in range(repeat)]
        out["realtime"] = {"cold_s": [], "cached_s": rt, "not_cached_s": []}
    return out


def measure_browser(base: str, token: str, prop: str, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    times, how = [], set()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            for _ in range(runs):
                context = browser.new_context()
                page = context.new_page()
                t = time.perf_counter()
                page.goto(f"{base}/?property={prop}#token={token}")
                handle = page.wait_for_function(READY_JS, timeout=300_000, polling=20)
                times.append(time.perf_counter() - t)
                how.add(handle.json_value())
                context.close()
        finally:
            browser.close()
    return {"first_render_s": times, "ready_by": sorted(how)}


def summary(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{pct(values, 50) * 1000:7.0f} {pct(values, 99) * 1000:7.0f}  (n={len(values)})"


def print_table(result: dict[str, Any]) -> None:
    print(f"machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, "
          f"Python {result['machine']['python']}")
    d = result["demo"]
    print(f"demo: {d.get('requests', 0):,} requests → {d.get('hits', 0):,} hits over "
          f"{result['days']} days; built in {d.get('build_s', 0):.1f} s (banner after "
          f"{d.get('banner_s', 0):.1f} s); {d.get('days_compacted', 0)} days compacted in "
          f"{d.get('compact_s', 0):.1f} s (ready after {d.get('ready_s', 0):.1f} s)")
    print(f"\nreports API on {result['property']} over loopback HTTP, ms (p50 p99):")
    print(f"{'report':12} {'cold p50':>8} {'p99':>7}         {'cached p50':>10} {'p99':>7}")
    for name, r in result["api"].items():
        print(f"{name:12} {summary(r['cold_s']):26} {summary(r['cached_s'])}")
    if "browser" in result:
        b = result["browser"]
        print(f"\nfirst render of the overview in chromium (ready by {', '.join(b['ready_by'])}):"
              f" {summary(b['first_render_s'])} ms (p50 p99)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hits", type=count, default=1_000_000, help="demo requests (1M, 90k, …)")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--property", default="pshop")
    p.add_argument("--repeat", type=int, default=20, help="requests per report and kind")
    p.add_argument("--browser-runs", type=int, default=5, help="0: no browser")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to get the demo ready")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    proc, info = start_local(args)
    token = info.pop("token")  # a secret: never printed, never in the JSON
    try:
        result: dict[str, Any] = {
            "machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                        "python": platform.python_version()},
            "days": args.days, "property": args.property, "demo": info,
            "api": measure_api(info["base"], token, args.property, args.repeat)}
        if args.browser_runs:
            result["browser"] = measure_browser(info["base"], token, args.property,
                                                args.browser_runs)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: local stops cleanly
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
