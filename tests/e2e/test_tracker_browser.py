"""lt.js in a real browser, against the real pipeline: Debian's chromium (driven by
Playwright) loads pages of a loopback site whose tracker tag points at the collector; the
hits go through /g/collect, Kinesis and the archiver, and are read back from the archive.

A missing chromium fails the tests (CI installs it: .ci/run); Playwright cannot download a
browser here. Headless Chromium says it is headless, which the collector's default bot
policy filters: these collectors flag bots instead, and the tests check the flag.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from collector.settings import CollectorSettings
from lambdalytics import bootstrap
from lambdalytics.hit import Hit, from_dict
from tests.archiver.harness import Stack, wait_until
from tests.collector.test_policy_http import register
from tests.conftest import Spawn
from tests.support import create_stack, read_records, running_collector

MEASUREMENT_ID = "G-LTBROWSER1"
ARRIVAL_S = 60  # browser → collector → Kinesis → archiver → S3
SNIPPET = ("<script>window.lambdalytics = window.lambdalytics || function () {"
           " (lambdalytics.q = lambdalytics.q || []).push(arguments) }</script>")

Hits = list[Hit]


# -- the browser ---------------------------------------------------------------------------


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        pytest.fail("chromium is missing: these tests drive Debian's chromium with Playwright "
                    "(apt-get install chromium; .ci/run installs it when missing)")
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    """Started after the stack is made (its asyncio.run must not run inside Playwright's)."""
    with sync_playwright() as pw:
        # as root (CI) chromium runs only without its sandbox
        browser = pw.chromium.launch(executable_path=chromium_path(),
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


# -- loopback servers: the site, the other site, a proxy in front of the collector ---------------


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=handler.__name__, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def site(pages: dict[str, str]) -> Iterator[str]:
    """``pages`` by path, as HTML; the SPA's routes (``/app/…``) are its page too."""

    class Site(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            html = pages.get(path) or pages.get("/app" if path.startswith("/app/") else "")
            body = (html or "not found").encode()
            self.send_response(200 if html else 404)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Site) as url:
        yield url


@dataclass
class Exchange:
    at: float
    body: str
    status: int


@contextmanager
def failing_once_proxy(upstream: str) -> Iterator[tuple[str, list[Exchange]]]:
    """A proxy to ``upstream`` whose first POST to /g/collect is answered 503 with
    Retry-After: 1 (with the collector's CORS headers, and Retry-After exposed to the page);
    everything else forwarded. Yields its URL and every /g/collect POST it saw."""
    target = urlsplit(upstream)
    seen: list[Exchange] = []
    lock = threading.Lock()
    hop = {"connection", "keep-alive", "transfer-encoding", "host", "proxy-connection"}

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._forward(b"")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            exchange = None
            if urlsplit(self.path).path == "/g/collect":
                exchange = Exchange(time.monotonic(), body.decode(), 0)
                with lock:
                    first = not seen
                    seen.append(exchange)
                if first:
                    exchange.status = 503
                    self.send_response(503)
                    self.send_header("retry-after", "1")
                    if origin := self.headers.get("origin"):
                        self.send_header("access-control-allow-origin", origin)
                        self.send_header("access-control-allow-credentials", "true")
                        self.send_header("access-control-expose-headers", "retry-after")
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
            status = self._forward(body)
            if exchange is not None:
                exchange.status = status

        def _forward(self, body: bytes) -> int:
            conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in hop and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return answer.status
            finally:
                conn.close()

    with serving(Proxy) as url:
        yield url, seen


# -- the pipeline --------------------------------------------------------------------------------


@pytest.fixture
def stack(settings: CollectorSettings) -> Stack:
    create_stack(settings, [MEASUREMENT_ID])
    asyncio.run(bootstrap.provision(settings))  # leases, rollups, the archive bucket
    return Stack(settings.resource_prefix, str(settings.aws_endpoint_url),
                 str(settings.aws_endpoint_url))


@pytest.fixture
def flagging(settings: CollectorSettings) -> CollectorSettings:
    return settings.model_copy(update={"bot_policy": "flag"})


def tag(collector: str, extra: str = "") -> str:
    return f'<script async src="{collector}/lt.js" data-id="{MEASUREMENT_ID}"{extra}></script>'


def serves_tracker(collector: str) -> str:
    r = httpx.get(f"{collector}/lt.js")
    assert r.status_code == 200, ("the collector does not serve /lt.js: collector/app.py must "
                                  "include collector.tracker.router")
    assert r.headers["content-type"] == "application/javascript; charset=utf-8"
    return collector


def archived(stack: Stack) -> Hits:
    return [from_dict(hit) for _, hit in stack.archived_hits()]


def wait_for(stack: Stack, done: Callable[[Hits], bool], what: str) -> Hits:
    hits: Hits = []

    def ready() -> bool:
        nonlocal hits
        hits = archived(stack)
        return done(hits)

    wait_until(ready, ARRIVAL_S, what, every=0.5)
    return hits


def named(hits: Hits, name: str) -> Hits:
    return [h for h in hits if h.event_name == name]


def page_views(hits: Hits) -> dict[str, Hit]:
    views = named(hits, "page_view")
    by_path = {h.page_path or "": h for h in views}
    assert len(by_path) == len(views), f"a page view twice: {[h.page_path for h in views]}"
    return by_path


# -- the tests -----------------------------------------------------------------------------------


def test_page_views_spa_routes_an_event_and_an_outbound_click_reach_the_archive(
        flagging: CollectorSettings, stack: Stack, spawn: Spawn) -> None:
    with site(OUTBOUND) as other, running_collector(flagging) as collector, \
            site(spa_pages(serves_tracker(collector.url), f"{other}/landing")) as home:
        landing = f"{other}/landing"
        worker = spawn(stack, "w1")
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"{home}/app")
            page.wait_for_function("window.lambdalytics && window.lambdalytics.lt")
            page.click("#one")
            page.wait_for_url(f"{home}/app/one")
            page.click("#one")  # the same URL again: no second page view
            page.click("#two")
            page.wait_for_url(f"{home}/app/two")
            page.click("#signup")
            page.click("#out")
            page.wait_for_url(landing)

            def complete(hits: Hits) -> bool:
                return (len(named(hits, "page_view")) >= 3 and bool(named(hits, "signup"))
                        and bool(named(hits, "click")) and bool(named(hits, "user_engagement")))

            hits = wait_for(stack, complete, "3 page views, signup, click, user_engagement")
        assert worker.terminate() == 0, worker.log()

    assert {h.protocol for h in hits} == {"gtag"}
    assert {h.tracking_id for h in hits} == {MEASUREMENT_ID}
    assert all(h.is_bot for h in hits), "headless chromium is flagged (bot_policy=flag)"
    assert len({h.client_id for h in hits}) == 1
    (client_id,) = {h.client_id or "" for h in hits}
    random_part, _, seconds = client_id.partition(".")
    assert random_part.isdigit()
    assert abs(int(seconds) - time.time()) < 600
    assert len({h.session_id for h in hits}) == 1
    assert {h.session_number for h in hits} == {1}

    views = page_views(hits)
    assert sorted(views) == ["/app", "/app/one", "/app/two"]
    first, one, two = views["/app"], views["/app/one"], views["/app/two"]
    assert first.session_start is True
    assert first.first_visit is True
    assert first.engagement_time_ms is None
    assert first.session_engaged is False
    assert first.page_title == "Lambdalytics SPA"
    assert first.page_location == f"{home}/app"
    for view, previous in ((one, f"{home}/app"), (two, f"{home}/app/one")):
        assert view.page_referrer == previous  # an SPA's previous route
        assert view.engagement_time_ms is not None
        assert view.session_engaged is True  # a second page view engages the session
        assert not view.session_start
        assert not view.first_visit

    (signup,) = named(hits, "signup")
    assert signup.type == "event"
    assert signup.event_params == {"plan": "pro"}
    assert signup.event_params_num == {"seats": 3}
    assert signup.page_path == "/app/two"

    (click,) = named(hits, "click")
    assert click.event_params == {"link_url": landing, "link_domain": "127.0.0.1",
                                     "outbound": "true"}
    assert click.page_path == "/app/two"

    (engagement,) = named(hits, "user_engagement")  # at pagehide, in a beacon
    assert (engagement.engagement_time_ms or 0) > 0
    assert len({h.hit_id for h in hits}) == len(hits)


def test_a_page_view_answered_503_is_retried_and_arrives_once(
        flagging: CollectorSettings, stack: Stack, spawn: Spawn) -> None:
    with running_collector(flagging) as collector, \
            failing_once_proxy(serves_tracker(collector.url)) as (proxy, seen), \
            site(two_pages(proxy)) as home:
        worker = spawn(stack, "w1")
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"{home}/")
            hits = wait_for(stack, lambda hits: "/" in page_views(hits), "the retried page view")
            page.click("#about")
            page.wait_for_url(f"{home}/about")
            hits = wait_for(stack, lambda hits: "/about" in page_views(hits), "the next page view")
        assert worker.terminate() == 0, worker.log()

    # the 503'd request, then the same event again (its _p and _s too), after Retry-After
    refused, *rest = seen
    assert refused.status == 503
    assert dict(parse_qsl(refused.body))["en"] == "page_view"
    again = [e for e in rest if e.body == refused.body]
    assert len(again) == 1, [e.body for e in rest]
    assert again[0].status == 204
    assert again[0].at - refused.at >= 0.95, "sooner than Retry-After: 1"

    views = page_views(hits)
    assert len([h for h in hits if h.page_path == "/" and h.event_name == "page_view"]) == 1
    home_view, about = views["/"], views["/about"]
    assert home_view.session_start is True
    assert about.client_id == home_view.client_id  # localStorage, across page loads
    assert about.session_id == home_view.session_id
    assert not about.session_start
    assert not about.first_visit
    assert about.session_engaged is True
    assert about.page_referrer == f"{home}/"


def test_privacy_config_the_queue_and_the_gtag_shim(flagging: CollectorSettings,
                                                    stack: Stack) -> None:
    """With Global Privacy Control on, a page whose tag says data-respect-dnt sends nothing
    at all; one whose tag does not runs its queued calls (config first: no page views, not
    even on history changes) and answers a gtag() call through its shim."""
    with running_collector(flagging) as collector, \
            site(privacy_pages(serves_tracker(collector.url))) as home:
        with chromium() as browser:
            context = browser.new_context()
            context.add_init_script("Object.defineProperty(Navigator.prototype, "
                                    "'globalPrivacyControl', {get: () => true})")
            page = context.new_page()
            sent = posted_lines(page)
            page.goto(f"{home}/private")
            page.wait_for_function("window.lambdalytics && window.lambdalytics.lt")
            page.click("#route")
            page.click("#event")
            page.click("#next")
            page.wait_for_url(f"{home}/configured")
            page.wait_for_function("window.lambdalytics && window.lambdalytics.lt")
            page.click("#route")
            page.click("#shim")

            def both() -> bool:
                return {h.event_name for h in recorded(flagging)} >= {"queued", "shim"}

            wait_until(both, ARRIVAL_S, "the queued event and the shim's in Kinesis", every=0.5)
        hits = recorded(flagging)

    assert sorted(h.event_name or "" for h in hits) == ["queued", "shim"]
    queued, shim = sorted(hits, key=lambda h: h.event_name or "")
    assert queued.event_params_num == {"n": 1}
    assert queued.page_path == "/configured"
    assert shim.event_params == {"via": "gtag"}
    assert shim.page_path == "/configured/route"
    pages = {urlsplit(dict(parse_qsl(line)).get("dl", "")).path
             for body in sent for line in body.splitlines()}
    assert pages == {"/configured", "/configured/route"}, "the private page sent something"


def test_cookieless_stores_nothing_and_the_collector_makes_the_visitor_id(
        flagging: CollectorSettings) -> None:
    """A cookieless property and a tag that says so: nothing in localStorage, no cid on the
    wire, and the collector gives both page views one daily visitor id of its own."""
    create_stack(flagging)
    register(flagging, COOKIELESS_ID, cookieless=True)
    with running_collector(flagging) as collector, \
            site(cookieless_pages(serves_tracker(collector.url))) as home:
        with chromium() as browser:
            page = browser.new_page()
            sent = posted_lines(page)
            page.goto(f"{home}/c")
            page.wait_for_function("window.lambdalytics && window.lambdalytics.lt")
            page.click("#next")
            page.wait_for_url(f"{home}/c/next")

            def both() -> bool:
                return len(named(recorded(flagging), "page_view")) >= 2

            wait_until(both, ARRIVAL_S, "both page views in Kinesis", every=0.5)
            stored = page.evaluate("Object.keys(localStorage).length")
        views = named(recorded(flagging), "page_view")
    assert stored == 0
    assert sent
    assert all("cid" not in dict(parse_qsl(line)) for body in sent for line in body.splitlines())
    assert {h.page_path for h in views} == {"/c", "/c/next"}
    ids = {h.client_id for h in views}
    assert len(ids) == 1
    assert all(cid and len(cid) == 32 for cid in ids)


COOKIELESS_ID = "G-LTCOOKIE01"


def cookieless_pages(collector: str) -> dict[str, str]:
    def page(title: str, links: str) -> str:
        return (f"<!doctype html><title>{title}</title>\n{SNIPPET}\n"
                f'<script async src="{collector}/lt.js" data-id="{COOKIELESS_ID}" '
                f"data-cookieless></script>\n{links}")

    return {"/c": page("Cookieless", '<a id="next" href="/c/next">Next</a>'),
            "/c/next": page("Next", "")}


def posted_lines(page: Any) -> list[str]:
    """The bodies of the page's /g/collect requests, as they are sent."""
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.post_data or "") if "/g/collect" in r.url else None)
    return sent


def recorded(settings: CollectorSettings) -> Hits:
    """The hits the collector put into Kinesis (the archive is the other tests' check)."""
    return [r for r in read_records(settings) if isinstance(r, Hit)]


# -- the sites -------------------------------------------------------------------------------------


# another loopback origin, without the tracker: the outbound link's target
OUTBOUND = {"/landing": "<!doctype html><title>Elsewhere</title><p>elsewhere</p>"}


def spa_pages(collector: str, outbound: str) -> dict[str, str]:
    app = f"""<!doctype html><title>Lambdalytics SPA</title>
{SNIPPET}
{tag(collector)}
<nav>
<button id="one" onclick="history.pushState({{}}, '', '/app/one')">One</button>
<button id="two" onclick="history.pushState({{}}, '', '/app/two')">Two</button>
<button id="signup" onclick="lambdalytics('event', 'signup', {{plan: 'pro', seats: 3}})">Sign up</button>
<a id="out" href="{outbound}">Elsewhere</a>
</nav>"""
    return {"/app": app}


def two_pages(collector: str) -> dict[str, str]:
    def page(title: str, links: str) -> str:
        return f"<!doctype html><title>{title}</title>\n{SNIPPET}\n{tag(collector)}\n{links}"

    return {
        "/": page("Home", '<a id="about" href="/about">About</a> <a href="/app">App</a>'),
        "/about": page("About", '<a id="home" href="/">Home</a>'),
    }


def privacy_pages(collector: str) -> dict[str, str]:
    private = f"""<!doctype html><title>Private</title>
{SNIPPET}
{tag(collector, " data-respect-dnt")}
<button id="route" onclick="history.pushState({{}}, '', '/private/route')">Route</button>
<button id="event" onclick="lambdalytics('event', 'nope', {{x: 1}})">Event</button>
<a id="next" href="/configured">Next</a>"""
    configured = f"""<!doctype html><title>Configured</title>
{SNIPPET}
<script>lambdalytics('event', 'queued', {{n: 1}}); lambdalytics('config', {{send_page_view: false}})</script>
{tag(collector, " data-gtag")}
<button id="route" onclick="history.pushState({{}}, '', '/configured/route')">Route</button>
<button id="shim" onclick="gtag('event', 'shim', {{via: 'gtag'}})">gtag</button>"""
    return {"/private": private, "/configured": configured}
