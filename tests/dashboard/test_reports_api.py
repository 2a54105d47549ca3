"""The reports API under uvicorn against moto, over the fixture archive (report_fixture.py)
read by real DuckDB: range keywords resolved in the property's time zone, comparisons,
filters, limits, CSV, problems for bad input, engine errors, the security headers.

"Today" is 2026-03-29 in Berlin (the app's clock). Where the fixture's hand-worked numbers
cover a request, they are asserted as they are; for the other ranges the API's rows are
compared with the same report run directly on DuckDB for the dates the range should give."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from collections.abc import Iterator
from typing import Any

import duckdb
import httpx
import pytest

from dashboard.engine import EngineUnavailable, QueryFailed, QueryResult, QueryTimeout
from dashboard.reports import REPORTS, DateRange, ReportRequest, parse_filter, report_sql
from tests import lake_support
from tests.dashboard import dashboard_support as ds
from tests.dashboard import report_fixture as fx
from tests.dashboard.report_fixture import rows
from tests.support import isolate_aws_env

CURRENT = ("current", "2026-03-28", "2026-03-29", 4, 7, 12, 11 / 7, 2 / 7, 4925 / 7)
PREVIOUS = ("previous", "2026-03-26", "2026-03-27", 2, 2, 3, 1.5, 0.5, 30.0)
DAYS = {"from": "2026-03-28", "to": "2026-03-29"}


@pytest.fixture(scope="module")
def site(moto_url: str) -> Iterator[tuple[httpx.Client, duckdb.DuckDBPyConnection]]:
    """One server for the tests that only read; and a DuckDB connection of our own over the
    same archive, to compute what the API should answer."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_aws_env(mp)
        archive = fx.write_archive(moto_url)
        settings = ds.provision(moto_url, "t" + archive.bucket[-10:], archive)
        conn = lake_support.connect(archive.endpoint, archive.root)
        with ds.client(settings, clock=ds.Clock()) as c:
            yield c, conn
        conn.close()


@pytest.fixture
def api(site: tuple[httpx.Client, duckdb.DuckDBPyConnection]) -> httpx.Client:
    return site[0]


def direct(conn: duckdb.DuckDBPyConnection, name: str, **changes: Any) -> list[tuple[Any, ...]]:
    """The report run on our own connection, values as JSON gives them (dates as text)."""
    got = asyncio.run(rows(conn, name, fx.request(**changes)))
    return [tuple(v.isoformat() if hasattr(v, "isoformat") else v for v in row) for row in got]


def test_the_hand_worked_overview_with_its_previous_period(api: httpx.Client) -> None:
    body = ds.report(api, "overview", **DAYS)
    assert ds.rows_of(body) == [CURRENT, PREVIOUS]
    assert (body["from"], body["to"], body["timezone"], body["currency"]) == (
        "2026-03-28", "2026-03-29", fx.ZONE, "EUR")
    assert body["compare"] == {"from": "2026-03-26", "to": "2026-03-27"}
    assert body["columns"] == list(REPORTS["overview"].columns)
    assert (body["engine"], body["bytes_scanned"], body["cost_usd"]) == ("duckdb", None, None)
    assert re.fullmatch(r"[0-9a-f]{20}", body["data_version"])
    assert body["filters"] == []


@pytest.mark.parametrize(("params", "first", "last", "compare"), [
    ({"range": "today"}, "2026-03-29", "2026-03-29", ("2026-03-28", "2026-03-28")),
    ({"range": "yesterday"}, "2026-03-28", "2026-03-28", ("2026-03-27", "2026-03-27")),
    ({"range": "7d"}, "2026-03-23", "2026-03-29", ("2026-03-16", "2026-03-22")),
    ({}, "2026-02-28", "2026-03-29", ("2026-01-29", "2026-02-27")),  # 30d, the default
    ({"range": "30d"}, "2026-02-28", "2026-03-29", ("2026-01-29", "2026-02-27")),
    ({"range": "month"}, "2026-03-01", "2026-03-29", ("2026-01-31", "2026-02-28")),
    ({"range": "last_month"}, "2026-02-01", "2026-02-28", ("2026-01-04", "2026-01-31")),
    ({"range": "custom", **DAYS}, "2026-03-28", "2026-03-29", ("2026-03-26", "2026-03-27")),
    (DAYS, "2026-03-28", "2026-03-29", ("2026-03-26", "2026-03-27")),  # from/to: custom
])
def test_every_range_keyword(site: tuple[httpx.Client, duckdb.DuckDBPyConnection],
                             params: dict[str, str], first: str, last: str,
                             compare: tuple[str, str]) -> None:
    api, conn = site
    body = ds.report(api, "overview", **params)
    assert (body["from"], body["to"]) == (first, last)
    assert body["compare"] == {"from": compare[0], "to": compare[1]}
    dates = DateRange.parse(first, last)
    assert ds.rows_of(body) == direct(conn, "overview", dates=dates,
                                      compare=DateRange.parse(*compare))
    daily = ds.rows_of(ds.report(api, "daily", **params))
    assert (len(daily), daily[0][0], daily[-1][0]) == (dates.days, first, last)
    assert daily == direct(conn, "daily", dates=dates)


def test_yesterday_and_today_split_the_hand_worked_days(api: httpx.Client) -> None:
    # the daily series of the 28th and 29th (test_reports_traffic), each day on its own
    assert ds.rows_of(ds.report(api, "daily", range="yesterday")) == [("2026-03-28", 2, 4, 8)]
    # the 29th alone: S4's hits after midnight are a session of their own in this window
    # (sessions are cut at the range's edges), so S4's tail, S5, S6 and S7
    assert ds.rows_of(ds.report(api, "daily", range="today")) == [("2026-03-29", 3, 4, 4)]


@pytest.mark.parametrize(("params", "previous"), [
    ({}, PREVIOUS),
    ({"compare": "previous"}, PREVIOUS),
    # the 25th (local) has ua-1's 22:59:59 UTC hit, the 26th ua-3's session
    ({"compare": "custom", "compare_from": "2026-03-25", "compare_to": "2026-03-26"},
     ("previous", "2026-03-25", "2026-03-26", 2, 2, 3, 1.5, 0.5, 30.0)),
    ({"compare": "year"}, ("previous", "2025-03-28", "2025-03-29", 0, 0, 0, None, None, None)),
    ({"compare": "none"}, None),
])
def test_compare_modes(api: httpx.Client, params: dict[str, str],
                       previous: tuple[Any, ...] | None) -> None:
    body = ds.report(api, "overview", **DAYS, **params)
    assert ds.rows_of(body) == [CURRENT] + ([previous] if previous else [])
    expected = None if previous is None else {"from": previous[1], "to": previous[2]}
    assert body["compare"] == expected


def test_a_leap_day_compared_with_the_year_before(api: httpx.Client) -> None:
    body = ds.report(api, "overview", **{"from": "2028-02-29", "to": "2028-02-29"},
                     compare="year")
    assert body["compare"] == {"from": "2027-02-28", "to": "2027-02-28"}


def test_reports_that_do_not_compare_ignore_compare(api: httpx.Client) -> None:
    body = ds.report(api, "pages", **DAYS, compare="year")
    assert body["compare"] is None


def test_filters_and_limit(site: tuple[httpx.Client, duckdb.DuckDBPyConnection]) -> None:
    api, conn = site
    r = api.get("/v1/properties/shop/reports/pages", headers=ds.AUTH, params=[
        ("from", "2026-03-28"), ("to", "2026-03-29"), ("filter", "country:equals:DE"),
        ("filter", "browser:in:Chrome,Firefox")])
    body = r.json()
    assert body["filters"] == [{"dimension": "country", "op": "equals", "values": ["DE"]},
                               {"dimension": "browser", "op": "in",
                                "values": ["Chrome", "Firefox"]}]
    filters = (parse_filter("country:equals:DE"), parse_filter("browser:in:Chrome,Firefox"))
    expected = direct(conn, "pages", filters=filters)
    assert ds.rows_of(body) == expected
    # ua-1 (DE, Firefox), g-1 (DE, Chrome) and the ping (DE, Chrome); not ua-2 (FR): "/" has
    # S1, S3, S5 and the ping
    assert expected[0] == ("/", 4, 2)
    limited = ds.report(api, "pages", **DAYS, limit="2")
    assert ds.rows_of(limited) == [("/", 5, 3), ("/blog/one", 2, 2)]  # test_reports_breakdowns


def test_every_report_answers_json_like_the_engine(
        site: tuple[httpx.Client, duckdb.DuckDBPyConnection]) -> None:
    api, conn = site
    for name, spec in REPORTS.items():
        body = ds.report(api, name, **DAYS)
        assert body["report"] == name
        assert body["columns"] == list(spec.columns)
        assert ds.rows_of(body) == direct(conn, name), name
    excluded = ds.report(api, "excluded", **DAYS)
    # COUNTERS: 4 + 1 bots, 2 disallowed hostname, 3 invalid hits in the two local days
    assert sorted(ds.rows_of(excluded)) == [("bot", 5), ("disallowed_hostname", 2),
                                            ("invalid_hit", 3)]


def test_csv(api: httpx.Client) -> None:
    r = api.get("/v1/properties/shop/reports/pages", headers=ds.AUTH,
                params={**DAYS, "format": "csv", "limit": "3"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == \
        'attachment; filename="shop-pages-2026-03-28-2026-03-29.csv"'
    assert r.headers["content-security-policy"] == ds.CSP
    assert list(csv.reader(io.StringIO(r.text))) == [
        ["page_path", "pageviews", "visitors"], ["/", "5", "3"], ["/blog/one", "2", "2"],
        ["/pricing", "2", "2"]]
    overview = api.get("/v1/properties/shop/reports/overview", headers=ds.AUTH,
                       params={**DAYS, "format": "csv"}).text.splitlines()
    assert overview[2] == "previous,2026-03-26,2026-03-27,2,2,3,1.5,0.5,30"


@pytest.mark.parametrize(("params", "parameter"), [
    ({"range": "fortnight"}, "range"),
    ({"range": "7d", "from": "2026-03-01", "to": "2026-03-02"}, "range"),
    ({"range": "custom"}, "from"),
    ({"from": "2026-03-28"}, "to"),
    ({"from": "2026-13-01", "to": "2026-12-01"}, "from"),
    ({"from": "2026-3-1", "to": "2026-03-02"}, "from"),
    ({"from": "2026-03-29", "to": "2026-03-28"}, "from"),
    ({"from": "2000-01-01", "to": "2026-03-28"}, "from"),  # over ten years
    ({"compare": "lastyear"}, "compare"),
    ({"compare_from": "2026-01-01", "compare_to": "2026-01-02"}, "compare"),
    ({"compare": "custom", "compare_from": "2026-01-01"}, "compare_to"),
    ({"filter": "nope:equals:x"}, "filter"),
    ({"filter": "country:like:x"}, "filter"),
    ({"filter": "country"}, "filter"),
    ({"filter": "page_path:contains:"}, "filter"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "9" * 5000}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"format": "xml"}, "format"),
    ({"rnage": "7d"}, "rnage"),
])
def test_bad_parameters_are_400_problems_naming_them(api: httpx.Client, params: dict[str, str],
                                                     parameter: str) -> None:
    body = ds.is_problem(api.get("/v1/properties/shop/reports/pages", headers=ds.AUTH,
                                 params=params), 400)
    assert body["errors"][0]["loc"] == ["query", parameter]
    assert parameter in body["detail"]


def test_more_400s(api: httpx.Client) -> None:
    twice = api.get("/v1/properties/shop/reports/pages?range=7d&range=30d", headers=ds.AUTH)
    assert ds.is_problem(twice, 400)["errors"][0]["loc"] == ["query", "range"]
    # the hourly series covers at most 92 days
    year = ds.is_problem(api.get("/v1/properties/shop/reports/hourly", headers=ds.AUTH,
                                 params={"from": "2025-01-01", "to": "2025-12-31"}), 400)
    assert "92 days" in year["detail"]


def test_unknown_report_and_property_are_404(api: httpx.Client) -> None:
    assert "/v1/reports" in ds.is_problem(api.get("/v1/properties/shop/reports/nope",
                                                  headers=ds.AUTH), 404)["detail"]
    ds.is_problem(api.get("/v1/properties/missing/reports/pages", headers=ds.AUTH), 404)
    ds.is_problem(api.get("/v1/properties/missing/realtime", headers=ds.AUTH), 404)


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer nope",
                                           f"Bearer {ds.TOKEN}x", "Bearer lts_" + "a" * 43,
                                           f"Basic {ds.TOKEN}"])
def test_reports_need_a_token(api: httpx.Client, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for path in ("/v1/reports", "/v1/me", "/v1/properties/shop/reports/pages",
                 "/v1/properties/shop/realtime", "/v1/properties/shop/shares", "/v1/nope"):
        body = ds.is_problem(api.get(path, headers=headers), 401)
        assert ds.TOKEN not in body["detail"]


def test_the_catalog(api: httpx.Client) -> None:
    body = api.get("/v1/reports", headers=ds.AUTH).json()
    assert [r["name"] for r in body["reports"]] == list(REPORTS)
    overview = body["reports"][0]
    assert (overview["compares"], overview["top_n"]) == (True, False)
    assert overview["columns"][:3] == ["period", "first_day", "last_day"]
    dims = {d["name"]: d["scope"] for d in body["dimensions"]}
    assert (dims["country"], dims["source"]) == ("hit", "session")
    assert len(dims) == 21
    assert body["operators"] == ["equals", "not_equals", "contains", "not_contains",
                                 "starts_with", "in", "not_in"]


def test_security_headers_on_every_kind_of_response(api: httpx.Client) -> None:
    page = api.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for r in (page, api.get("/healthz"), api.get("/openapi.json"),
              api.get("/static/index.html"), api.get("/v1/reports", headers=ds.AUTH),
              api.get("/v1/reports"), api.get("/static/nope.js"),
              api.get("/v1/properties/shop/reports/nope", headers=ds.AUTH)):
        assert r.headers["content-security-policy"] == ds.CSP, r.url
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "set-cookie" not in r.headers


def test_the_openapi_document_lists_the_dashboard_routes(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    run = paths["/v1/properties/{property_id}/reports/{name}"]["get"]
    assert {p["name"] for p in run["parameters"]} >= {
        "range", "from", "to", "compare", "compare_from", "compare_to", "filter", "limit",
        "format"}
    assert run["security"] == [{"HTTPBearer": []}]
    for path in ("/v1/me", "/v1/reports", "/v1/properties/{property_id}/realtime",
                 "/v1/properties/{property_id}/shares", "/v1/properties"):
        assert path in paths


def test_no_client_address_in_answers_or_our_logs(api: httpx.Client,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """(uvicorn's access log, which carries addresses, is off in the entrypoint: access_log=
    False and lambdalytics.logs disables it; pytest's capture handlers would re-enable it
    here, so only our own loggers are checked.)"""
    caplog.set_level(logging.DEBUG, logger="dashboard")
    answers = [api.get("/v1/properties/shop/reports/pages", headers=ds.AUTH,
                       params={"range": "7d", "compare": "year", "format": "csv"}),
               api.get("/v1/me", headers={"Authorization": "Bearer nope"}),
               api.get("/v1/properties/shop/realtime", headers=ds.AUTH)]
    for r in answers:
        assert "127.0.0.1" not in r.text
    ours = [r.getMessage() for r in caplog.records  # not moto's werkzeug server's own log
            if r.name.split(".")[0] in ("dashboard", "lambdalytics", "fastapi", "archiver")]
    assert "127.0.0.1" not in "\n".join(ours)


# --- engine errors, with an engine that fails as asked ------------------------------------


class Failing:
    name = "duckdb"

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.sql: list[str] = []

    async def query(self, sql: str) -> QueryResult:
        self.sql.append(sql)
        raise self.error


@pytest.mark.parametrize(("error", "status"), [
    (QueryTimeout("the query ran longer than 60 s and was cancelled"), 504),
    (EngineUnavailable("throttled"), 503),
    (QueryFailed("Binder Error: column s_source FROM events WHERE secret"), 502),
])
def test_engine_errors(moto_url: str, prefix: str, caplog: pytest.LogCaptureFixture,
                       error: Exception, status: int) -> None:
    settings = ds.provision(moto_url, prefix, fx.write_archive(moto_url))
    engine = Failing(error)
    with ds.client(settings, engine=engine, clock=ds.Clock()) as api:
        r = api.get("/v1/properties/shop/reports/sources", headers=ds.AUTH, params=DAYS)
        body = ds.is_problem(r, status)
    assert engine.sql == [report_sql("sources", ReportRequest.for_property(
        _shop(), DateRange.parse(DAYS["from"], DAYS["to"]), compare=None))]
    if status == 503:
        assert r.headers["retry-after"] == "5"
    if status == 502:
        for echoed in ("SELECT", "s_source", "secret"):
            assert echoed not in r.text
        assert "Binder Error" in caplog.text  # logged for us
    assert "detail" in body


def _shop() -> Any:
    from lambdalytics.properties import Property
    return Property(fx.SHOP, "Shop", ("UA-1-1",), timezone=fx.ZONE, currency="EUR",
                    goals=fx.GOALS)
