"""The dashboard's web page in a real browser: Debian's chromium (driven by Playwright) opens
the real app (dashboard.app.create_app under uvicorn on a loopback port) over the report
fixture's archive (tests/dashboard/report_fixture.py: hand-worked answers), written by the
archiver's processor and partly compacted by the real compactor, on moto.

"Today" is 2026-03-29 in Berlin (the app's clock) unless a test moves the clock. The numbers
asserted are the fixture's: for the 28th and 29th, 4 visitors, 7 sessions, 12 pageviews
against 2, 2 and 3 in the two days before; "/" the top page (5 views, 3 visitors); Germany
the top country (2 visitors, 10 views). Every test records each request the page makes and
fails if one leaves 127.0.0.1; none may trip the Content Security Policy.

A missing chromium fails the tests (tests/e2e/test_tracker_browser.py). Screenshots go to
.artifacts/screenshots/ (git-ignored); with LAMBDALYTICS_UPDATE_README_IMAGE=1 the overview
is also copied to docs/images/ for the README.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from archiver.processor import DuplicateWindow, Record, process
from collector.settings import CollectorSettings
from dashboard.settings import DashboardSettings
from dashboard.shares import KEY_PREFIX, digest_hex, new_token
from lambdalytics import aws, bootstrap
from lambdalytics.hit import Hit, encode
from lambdalytics.properties import PropertyStore
from lambdalytics.records import FilteredCount
from tests import lake_support
from tests.dashboard import dashboard_support as ds
from tests.dashboard import report_fixture as fx
from tests.e2e.test_tracker_browser import chromium
from tests.support import isolate_aws_env, read_stream, running_collector

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".artifacts" / "screenshots"
README_IMAGE = ROOT / "docs" / "images" / "dashboard.png"
DAYS = "range=custom&from=2026-03-28&to=2026-03-29"
HOSTILE = '<img src=x onerror="window.__pwned=1">'
XSS = "xss"  # a property whose name and data are all markup
LIVE = "live"  # the property the real collector takes hits for
LIVE_TID = "UA-7777-1"
WAIT_MS = 30_000


@dataclass
class Site:
    url: str
    settings: DashboardSettings
    collector: CollectorSettings
    clock: ds.Clock
    moto: str


def hostile_data() -> tuple[list[Hit], list[FilteredCount]]:
    """Markup in every string the page shows: path, title, referrer, event, bot agent."""
    hits = [fx.hit("2026-03-28 08:00:00", "ua-1", prop=XSS, page_path=f"/{HOSTILE}",
                   page_title=HOSTILE, referrer_source=HOSTILE, referrer_medium="referral"),
            fx.hit("2026-03-28 08:01:00", "ua-1", "event", prop=XSS, page_path="/",
                   event_category=HOSTILE, event_action="click")]
    hits = [dataclasses.replace(h, hit_id=f"{0xABC0 + n:032x}") for n, h in enumerate(hits)]
    counters = [FilteredCount(XSS, "UA-9-1", "bot", "2026-03-28T08:02Z", 3, HOSTILE)]
    return hits, counters


@pytest.fixture(scope="module")
def site(moto_url: str) -> Iterator[Site]:
    """The fixture archive, a hostile property's data beside it, the days up to the 28th
    (UTC) compacted; the dashboard on a loopback port with its clock at 2026-03-29 14:00
    Berlin; a stream and a property for the real collector."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_aws_env(mp)
        archive = fx.write_archive(moto_url)
        s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
        hits, counters = hostile_data()
        lake_support.archive(s3, archive.bucket, archive.prefix, hits, counters,
                             shard="shardId-000000000001")
        lake_support.compact(archive.endpoint, archive.bucket, archive.prefix,
                             dt.datetime(2026, 3, 29, 4, tzinfo=dt.UTC))
        prefix = "b" + archive.bucket[-10:]
        settings = ds.provision(moto_url, prefix, archive)
        collector = CollectorSettings(resource_prefix=prefix, aws_endpoint_url=moto_url,
                                      aws_region="us-east-1", sink_max_in_flight=1,
                                      sink_linger_ms=5, log_format="text")
        asyncio.run(_more_properties(settings, collector))
        clock = ds.Clock()
        with ds.running(settings, clock=clock) as url:
            yield Site(url, settings, collector, clock, moto_url)


async def _more_properties(settings: DashboardSettings, collector: CollectorSettings) -> None:
    await bootstrap.provision(collector, (collector.resources.properties,), bucket=False)
    async with aws.client(aws.session(), "dynamodb", settings) as ddb:
        store = PropertyStore(ddb, settings.resources.properties.name)
        await store.register(HOSTILE, ["UA-99-1"], property_id=XSS)
        await store.register("Live", [LIVE_TID], property_id=LIVE)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    """After the site: Playwright's loop must not be running while the setup's asyncio.run is."""
    with chromium() as b:
        yield b


@dataclass
class Watch:
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser: Browser, watch: Watch) -> Iterator[Page]:
    """A fresh context (its own sessionStorage); afterwards: every request stayed on
    127.0.0.1, no script error, no CSP violation."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US",
                                  color_scheme="light")
    p = context.new_page()
    context.on("request", lambda r: watch.requests.append(r.url))
    p.on("console", lambda m: watch.console.append(f"{m.type}: {m.text}"))
    p.on("pageerror", lambda e: watch.errors.append(str(e)))
    try:
        yield p
    finally:
        context.close()
    assert_loopback(watch.requests)
    assert not watch.errors
    assert not [m for m in watch.console if "Content Security Policy" in m], watch.console


def assert_loopback(urls: list[str]) -> None:
    """Every URL the page asked for is on 127.0.0.1 (a downloaded Blob's URL names the page's
    origin; a data: URL — the empty favicon — makes no request at all)."""
    assert urls, "the page made no request"
    for url in urls:
        parts = urlsplit(url.removeprefix("blob:"))
        assert parts.scheme == "data" or parts.hostname == "127.0.0.1", url


def admin_url(site: Site, query: str = DAYS) -> str:
    return f"{site.url}/?property={fx.SHOP}&{query}#token={ds.TOKEN}"


def metric(page: Page, name: str) -> Any:
    return page.locator(f'#panel-overview [data-metric="{name}"]')


def expect_overview(page: Page, values: dict[str, str], changes: dict[str, str] | None) -> None:
    for name, value in values.items():
        expect(metric(page, name).locator(".metric-value")).to_have_text(value, timeout=WAIT_MS)
        if changes is None:
            expect(metric(page, name).locator(".change")).to_have_count(0)
        elif name in changes:
            expect(metric(page, name).locator(".change")).to_have_text(changes[name])


def first_row(page: Page, panel: str) -> Any:
    return page.locator(f"#panel-{panel} tbody tr").first


def shot(page: Page, name: str, selector: str | None = None) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    if selector:
        page.locator(selector).screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)
    return path


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


# -- the numbers, filters, dates and comparisons ---------------------------------------------


def test_the_overview_shows_the_fixture_numbers(site: Site, page: Page) -> None:
    answer = page.goto(admin_url(site))
    assert answer is not None
    assert answer.headers["content-security-policy"] == ds.CSP
    assert answer.headers["x-content-type-options"] == "nosniff"
    # the credential moved from the fragment into sessionStorage, the fragment removed
    expect(page.locator("#app")).to_be_visible(timeout=WAIT_MS)
    assert "#" not in page.url
    assert ds.TOKEN not in page.url
    assert ds.TOKEN in page.evaluate("JSON.stringify(sessionStorage)")
    expect_overview(page, {"visitors": "4", "sessions": "7", "pageviews": "12",
                           "views_per_session": "1.57", "bounce_rate": "28.6%",
                           "avg_session_duration_s": "11:44"},  # 4925/7 s
                    {"visitors": "▲ 100%", "sessions": "▲ 250%", "pageviews": "▲ 300%"})
    expect(page.locator("#period")).to_have_text(
        "Mar 28 – 29, 2026 · compared with Mar 26 – 27, 2026 · Europe/Berlin")
    top = first_row(page, "pages")
    expect(top.locator(".key")).to_have_text("/", timeout=WAIT_MS)
    expect(top.locator("td")).to_have_text(["5", "3"])
    de = first_row(page, "countries")
    expect(de.locator(".key")).to_have_text("🇩🇪 Germany", timeout=WAIT_MS)
    expect(de.locator("td")).to_have_text(["2", "10"])
    # goals and ecommerce: the shop has both
    expect(page.locator("#panel-goals tbody tr")).to_have_count(4, timeout=WAIT_MS)
    expect(page.locator('#panel-ecommerce [data-metric="transactions"] .metric-value')).to_have_text("2")
    expect(page.locator('#panel-ecommerce [data-metric="revenue"] .metric-value')).to_have_text("€150.49")
    expect(page.locator("#panel-excluded table").first.locator("tbody tr")).to_have_count(3)
    expect(page.locator("#panel-chart .uplot")).to_have_count(1, timeout=WAIT_MS)
    # the marker the benchmark times the first render by
    expect(page.locator("body")).to_have_attribute("data-ready", "overview")
    expect(page.locator("#property-label")).to_be_visible()  # an admin sees several properties
    expect(page.locator("#share-open")).to_be_visible()
    page.wait_for_load_state("networkidle")
    overview = shot(page, "overview")
    assert overview.stat().st_size < 250_000  # small enough for the README
    if os.environ.get("LAMBDALYTICS_UPDATE_README_IMAGE") == "1":  # never dirty a clone by default
        README_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(overview, README_IMAGE)


def test_a_click_filters_the_whole_page_and_the_chip_removes_it(site: Site, page: Page) -> None:
    page.goto(admin_url(site))
    de = first_row(page, "countries").locator("button.key")
    expect(de).to_have_text("🇩🇪 Germany", timeout=WAIT_MS)
    expect(page.locator("body")).to_have_attribute("data-ready", "overview", timeout=WAIT_MS)
    de.click()
    assert query(page)["filter"] == ["country:equals:DE"]
    # Germany: ua-1 (S1–S3) and g-1 (S5, S6), and the consent ping's pageview; before:
    # ua-1's one pageview on the 27th
    expect_overview(page, {"visitors": "2", "sessions": "5", "pageviews": "10"},
                    {"visitors": "▲ 100%", "sessions": "▲ 400%", "pageviews": "▲ 900%"})
    top = first_row(page, "pages")
    expect(top.locator("td")).to_have_text(["4", "2"], timeout=WAIT_MS)  # "/": S1, S3, S5, ping
    expect(page.locator("#panel-countries tbody tr")).to_have_count(1)
    chip = page.locator("#filter-chips button.chip")
    expect(chip).to_have_text("country is DE ✕")
    # excluded traffic has no hit dimensions: shown unfiltered, and says so
    expect(page.locator("#panel-excluded table").first.locator("tbody tr")).to_have_count(3)
    expect(page.locator("#panel-excluded .panel-body > p")).to_contain_text("Not filtered")
    page.wait_for_load_state("networkidle")
    shot(page, "filtered")
    # a second filter from another table: the page path
    page.locator('#panel-pages button.key[data-value="/pricing"]').click()
    assert query(page)["filter"] == ["country:equals:DE", "page_path:equals:/pricing"]
    expect(page.locator("#filter-chips button.chip")).to_have_count(2)
    chip.first.click()
    assert query(page)["filter"] == ["page_path:equals:/pricing"]
    page.go_back()
    assert query(page)["filter"] == ["country:equals:DE", "page_path:equals:/pricing"]
    page.locator("#filters-clear").click()
    assert "filter" not in query(page)
    expect_overview(page, {"visitors": "4", "pageviews": "12"}, {"visitors": "▲ 100%"})


def test_the_date_range_and_the_comparison_change_the_numbers(site: Site, page: Page) -> None:
    page.goto(admin_url(site))
    expect_overview(page, {"visitors": "4"}, {"visitors": "▲ 100%"})
    page.select_option("#range", "yesterday")
    assert query(page)["range"] == ["yesterday"]
    # the 28th: S1–S4 and the ping; compared with the 27th: ua-1's last-millisecond pageview
    expect_overview(page, {"visitors": "2", "sessions": "4", "pageviews": "8"},
                    {"visitors": "▲ 100%", "sessions": "▲ 300%", "pageviews": "▲ 700%"})
    expect(page.locator("#panel-chart .uplot")).to_have_count(1, timeout=WAIT_MS)  # hourly
    page.select_option("#compare", "none")
    assert query(page)["compare"] == ["none"]
    expect_overview(page, {"visitors": "2", "pageviews": "8"}, None)
    page.select_option("#range", "custom")
    page.fill("#from", "2026-03-28")
    page.fill("#to", "2026-03-29")
    page.locator("#custom-range button[type=submit]").click()
    page.select_option("#compare", "year")
    assert query(page)["compare"] == ["year"]
    assert query(page)["from"] == ["2026-03-28"]
    expect_overview(page, {"visitors": "4", "pageviews": "12"}, {"visitors": "new"})
    expect(page.locator("#period")).to_contain_text("compared with Mar 28 – 29, 2025")
    # back and forward walk the views; a URL reproduces one
    page.go_back()
    expect_overview(page, {"visitors": "4"}, None)
    page.go_back()
    expect_overview(page, {"visitors": "2"}, None)
    page.go_forward()
    page.go_forward()
    expect_overview(page, {"visitors": "4"}, {"visitors": "new"})
    # the URL reproduces the view in another tab (sessionStorage is per tab: a login link)
    again = page.context.new_page()
    again.goto(f"{page.url}#token={ds.TOKEN}")
    expect_overview(again, {"visitors": "4", "pageviews": "12"}, {"visitors": "new"})
    expect(again.locator("#compare")).to_have_value("year")
    again.close()


def test_tabs_by_keyboard_and_the_csv_download(site: Site, page: Page) -> None:
    page.goto(admin_url(site))
    tab = page.locator('#panel-sources [role=tab][data-value="sources"]')
    expect(first_row(page, "sources")).to_be_visible(timeout=WAIT_MS)
    tab.focus()
    page.keyboard.press("ArrowRight")
    assert query(page)["sources"] == ["mediums"]
    expect(page.locator('#panel-sources [role=tab][data-value="mediums"]')).to_be_focused()
    expect(page.locator('#panel-sources table[data-report="mediums"]')).to_be_visible(timeout=WAIT_MS)
    page.locator('#panel-pages [role=tab][data-value="entry_pages"]').press("Enter")
    expect(page.locator('#panel-pages table[data-report="entry_pages"]')).to_be_visible(timeout=WAIT_MS)
    page.locator('#panel-pages button.key[data-value="/blog/one"]').click()
    assert query(page)["filter"] == ["entry_page:equals:/blog/one"]
    page.locator("#filters-clear").click()
    with page.expect_download() as got:
        page.locator('#panel-countries button.csv').click()
    download = got.value
    assert download.suggested_filename == "shop-countries-2026-03-28-2026-03-29.csv"
    text = Path(download.path()).read_text()
    assert text.splitlines()[:3] == ["country,visitors,sessions,pageviews", "DE,2,5,10", "FR,1,1,2"]


def test_a_failing_report_shows_its_problem_in_its_panel(site: Site, page: Page) -> None:
    r = httpx.get(f"{site.url}/v1/properties/shop/reports/pages", headers=ds.AUTH,
                  params={"filter": "page_path:contains:"})
    title = ds.is_problem(r, 400)["title"]
    page.goto(admin_url(site, f"{DAYS}&filter=page_path:contains:"))
    for panel in ("overview", "pages", "countries", "sources"):
        expect(page.locator(f"#panel-{panel} .error strong")).to_have_text(title, timeout=WAIT_MS)
    expect(page.locator("#panel-realtime .metric-value").first).to_be_visible(timeout=WAIT_MS)
    # a page whose overview failed never claims to be ready
    expect(page.locator("body")).not_to_have_attribute("data-ready", "overview")


# -- untrusted strings -----------------------------------------------------------------------


def test_markup_in_the_data_is_shown_as_text_and_runs_nothing(site: Site, page: Page) -> None:
    page.goto(f"{site.url}/?property={XSS}&{DAYS}#token={ds.TOKEN}")
    expect(page.locator("#property-name")).to_have_text(HOSTILE, timeout=WAIT_MS)
    expect(page.locator(f'#property option[value="{XSS}"]')).to_have_text(HOSTILE)
    expect(page.locator("#panel-pages tbody .key").first).to_have_text(f"/{HOSTILE}",
                                                                        timeout=WAIT_MS)
    expect(page.locator("#panel-sources tbody .key").first).to_have_text(HOSTILE)
    expect(page.locator("#panel-events tbody .key")).to_have_text([f"{HOSTILE} / click"])
    agents = page.locator("#panel-excluded table").nth(1).locator("tbody .key")
    expect(agents).to_have_text([HOSTILE])
    page.locator("#panel-pages tbody button.key").first.click()  # the filter chip: text too
    expect(page.locator("#filter-chips .chip-value")).to_have_text(f"/{HOSTILE}")
    expect(page.locator("#panel-pages tbody tr")).to_have_count(1, timeout=WAIT_MS)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0


# -- realtime --------------------------------------------------------------------------------


def rollups_of(site: Site, records: list[tuple[str, bytes]], first: int) -> int:
    """Records through the archiver's processor; its rollup items written to the rollups
    table as a worker writes them. Returns how many items."""
    arrival = int(time.time() * 1000)
    recs = [Record(str(first + n), arrival + n, data) for n, (_key, data) in enumerate(records)]
    out = process(recs, shard_id="shardId-000000000000", first=recs[0].sequence,
                  last=recs[-1].sequence, window=DuplicateWindow(3_600_000))
    ddb = boto3.client("dynamodb", endpoint_url=site.moto, region_name="us-east-1")
    for item in out.rollup_items:
        ddb.put_item(TableName=site.settings.resources.rollups.name, Item=item)
    return len(out.rollup_items)


def realtime(page: Page, name: str) -> Any:
    return page.locator(f'#panel-realtime [data-metric="{name}"] .metric-value')


def test_the_realtime_card_moves_when_the_archiver_writes_rollups(site: Site, page: Page) -> None:
    """Hits from the fixture's kind, a minute before the app's "now", through the processor."""
    page.goto(admin_url(site))
    expect(realtime(page, "visitors_30m")).to_have_text("0", timeout=WAIT_MS)
    now = dt.datetime.fromtimestamp(site.clock.now, dt.UTC)
    new = [fx.hit((now - dt.timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:%S"), client,
                  page_path=path, **fx.GOOGLE)
           for m, client, path in [(1, "ua-1", "/pricing"), (1, "ua-2", "/pricing"),
                                   (12, "ua-1", "/")]]
    new = [dataclasses.replace(h, hit_id=f"{0xFEED0 + n:032x}") for n, h in enumerate(new)]
    assert rollups_of(site, [("k", encode(h)) for h in new], 500) == 2
    expect(realtime(page, "visitors_5m")).to_have_text("2", timeout=WAIT_MS)  # 5 s refresh
    expect(realtime(page, "visitors_30m")).to_have_text("2", timeout=WAIT_MS)
    expect(realtime(page, "pageviews_30m")).to_have_text("3", timeout=WAIT_MS)
    expect(page.locator('#panel-realtime [data-top="pages"] li').first).to_have_text("/pricing2")
    expect(page.locator('#panel-realtime [data-top="countries"] li').first).to_contain_text("Germany")
    bars = page.locator("#panel-realtime svg.spark rect.on")
    expect(bars).to_have_count(2)
    shot(page, "realtime", "#panel-realtime")


def test_hits_from_the_real_collector_reach_the_realtime_card(site: Site, page: Page) -> None:
    """The collector takes three pageviews of two visitors, Kinesis holds them, the archiver's
    processor makes the rollups; the card (the app's clock moved to the wall clock) shows
    them within a refresh."""
    site.clock.now = time.time()
    try:
        page.goto(f"{site.url}/?property={LIVE}#token={ds.TOKEN}")
        expect(realtime(page, "visitors_30m")).to_have_text("0", timeout=WAIT_MS)
        bodies = [f"v=1&tid={LIVE_TID}&cid={cid}.1&t=pageview&dp=%2F{path}&dh=example.com&z={n}"
                  for n, (cid, path) in enumerate([(1, "live"), (2, "live"), (2, "next")])]
        with running_collector(site.collector) as c, httpx.Client() as http:
            answers = [http.post(f"{c.url}/collect", content=b) for b in bodies]
        assert [a.status_code for a in answers] == [200] * 3
        records = read_stream(site.collector)
        assert len(records) == 3
        assert rollups_of(site, records, 1000) >= 1
        expect(realtime(page, "visitors_5m")).to_have_text("2", timeout=WAIT_MS)
        expect(realtime(page, "pageviews_30m")).to_have_text("3", timeout=WAIT_MS)
        expect(page.locator('#panel-realtime [data-top="pages"] li').first).to_have_text("/live2")
    finally:
        site.clock.now = ds.NOW


# -- share links and signing in --------------------------------------------------------------


def test_share_links_read_only_then_revoked_and_expired_refused(site: Site, page: Page,
                                                                 browser: Browser) -> None:
    # the admin makes one in the dialog
    page.goto(admin_url(site))
    page.locator("#share-open").click()
    page.fill("#share-label", "Weekly report")
    page.fill("#share-days", "7")
    page.locator("#share-form button[type=submit]").click()
    link = page.locator("#share-url")
    expect(page.locator("#share-list li .share-label")).to_have_text(["Weekly report"],
                                                                    timeout=WAIT_MS)
    url = link.input_value()
    assert url.startswith(f"{site.url}/#share=lts_")
    token = url.split("#share=")[1]
    # the viewer: read-only, one property
    viewer = browser.new_context(locale="en-US")
    v = viewer.new_page()
    seen: list[str] = []
    v.on("request", lambda r: seen.append(r.url))
    v.goto(f"{url.split('#')[0]}?{DAYS}#share={token}")
    expect(v.locator('[data-metric="visitors"] .metric-value')).to_have_text("4", timeout=WAIT_MS)
    expect(v.locator("#share-badge")).to_have_text("Shared view: Weekly report")
    expect(v.locator("#share-open")).to_be_hidden()
    expect(v.locator("#property-label")).to_be_hidden()
    assert "#" not in v.url
    # revoked (in the admin's dialog): the viewer's next load is refused
    page.locator("#share-list li button.danger").click()
    expect(page.locator("#share-list li .share-label")).to_have_count(0, timeout=WAIT_MS)
    v.reload()
    expect(v.locator("#login")).to_be_visible(timeout=WAIT_MS)
    expect(v.locator("#login-message")).to_have_text(
        "This share link was refused: this share link is revoked or unknown.")
    # an expired one (written as the store writes it, its expiry an hour before the app's now)
    expired = new_token()
    now = int(site.clock.now)
    boto3.client("dynamodb", endpoint_url=site.moto, region_name="us-east-1").put_item(
        TableName=site.settings.resources.properties.name,
        Item={"pk": {"S": KEY_PREFIX + digest_hex(expired)}, "share_id": {"S": "sh_old"},
              "property_id": {"S": fx.SHOP}, "label": {"S": "old"},
              "created_at": {"N": str(now - 86400)}, "expires_at": {"N": str(now - 3600)}})
    v.goto(f"{site.url}/#share={expired}")
    expect(v.locator("#login-message")).to_have_text(
        "This share link was refused: this share link has expired.", timeout=WAIT_MS)
    assert v.locator("#app").is_hidden()
    viewer.close()
    assert_loopback(seen)


def test_the_login_form_a_wrong_token_and_logging_out(site: Site, page: Page) -> None:
    page.goto(f"{site.url}/?property={fx.SHOP}&{DAYS}")
    expect(page.locator("#login")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#app")).to_be_hidden()
    page.fill("#login-token", "wrong-token-wrong-token")
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator("#login-message")).to_contain_text("The token was refused", timeout=WAIT_MS)
    page.fill("#login-token", ds.TOKEN)
    page.keyboard.press("Enter")
    expect_overview(page, {"visitors": "4"}, {"visitors": "▲ 100%"})
    page.locator("#logout").click()
    expect(page.locator("#login-message")).to_have_text("You are logged out.")
    assert page.evaluate("sessionStorage.length") == 0


def test_a_phone_gets_one_column_and_dark_mode_its_colours(site: Site, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US",
                                  color_scheme="dark", is_mobile=True)
    try:
        p = context.new_page()
        seen: list[str] = []
        p.on("request", lambda r: seen.append(r.url))
        p.goto(admin_url(site))
        expect(p.locator('[data-metric="visitors"] .metric-value')).to_have_text("4", timeout=WAIT_MS)
        boxes = [p.locator(f"#panel-{name}").bounding_box() for name in ("realtime", "sources", "pages")]
        assert all(b is not None for b in boxes)
        assert len({round(b["x"]) for b in boxes if b}) == 1  # one column
        assert all(b["width"] <= 390 for b in boxes if b)
        background = p.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 17, 21)"
        assert p.evaluate("document.documentElement.scrollWidth") <= 390
        assert_loopback(seen)
    finally:
        context.close()
