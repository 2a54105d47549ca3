"""GA4 end to end over HTTP: /g/collect as gtag.js sends it and /mp/collect with the
property's API secret, through the collector under uvicorn, properties in the real table
(moto), events read back from Kinesis and filtered traffic from its counter records; the
answers of DESIGN.md's table (204, 429, 503, 413), CORS for the property's allowed origins,
/debug/mp/collect's validationMessages, and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from collector.settings import CollectorSettings
from tests.collector.test_policy_http import _store_call, counted, register, run
from tests.collector.test_sink_faults import faulty, hits
from tests.support import create_stack, read_records, running_collector

GID = "G-TESTGA4001"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")


def gtag_query(cid: str, *, tid: str = GID, en: str = "page_view", s: int = 1,
               **extra: str) -> str:
    params = {"v": "2", "tid": tid, "gtm": "45je4c20v9100000000", "_p": "1733550000123",
              "cid": cid, "ul": "en-gb", "sr": "1920x1080", "_s": str(s), "sid": "1733550000",
              "sct": "3", "seg": "1", "dl": "https://shop.example/products?utm_source=news",
              "dr": "https://www.google.com/", "dt": "Products", "en": en, **extra}
    return urlencode(params)


def line(**params: str) -> str:
    return urlencode(params)


def new_secret(settings: CollectorSettings, property_id: str) -> str:
    made = run(_store_call(settings, "add_secret", property_id, label="test"))
    return str(made.secret)


@pytest.fixture
def stack(settings: CollectorSettings) -> Iterator[tuple[CollectorSettings, str, str]]:
    create_stack(settings)
    pid = register(settings, GID)
    return settings, pid, new_secret(settings, pid)


def mp_url(secret: str, tid: str = GID, path: str = "/mp/collect") -> str:
    return f"{path}?{urlencode({'measurement_id': tid, 'api_secret': secret})}"


def purchase(cid: str, **top: Any) -> bytes:
    return orjson.dumps({"client_id": cid, "user_id": "u-42", **top, "events": [
        {"name": "page_view", "params": {"page_location": "https://shop.example/cart",
                                         "session_id": "1733550000", "engagement_time_msec": 120}},
        {"name": "purchase", "params": {"currency": "EUR", "value": 42.5, "transaction_id": "T-1",
                                        "items": [{"item_id": "SKU-1", "item_name": "Mug",
                                                   "price": 21.25, "quantity": 2}]}}]})


# --- /g/collect -----------------------------------------------------------------------------


def test_a_query_only_page_view_is_one_hit(stack: tuple[CollectorSettings, str, str]) -> None:
    settings, pid, _ = stack
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        r = http.post(f"/g/collect?{gtag_query('111.222', _fv='1', _ss='1')}",
                      headers={"user-agent": CHROME, "origin": "https://shop.example",
                               "content-type": "text/plain;charset=UTF-8"})
        scrolled = gtag_query("111.222", s=2, en="scroll", **{"epn.percent_scrolled": "90"})
        g = http.get(f"/g/collect?{scrolled}", headers={"user-agent": CHROME})
    assert (r.status_code, r.content) == (204, b"")
    assert r.headers["access-control-allow-origin"] == "https://shop.example"
    assert r.headers["access-control-allow-credentials"] == "true"
    assert g.status_code == 204
    view, scroll = sorted(hits(settings), key=lambda h: h.event_name != "page_view")
    assert (view.protocol, view.type, view.event_name, view.property_id, view.tracking_id) == (
        "gtag", "pageview", "page_view", pid, GID)
    assert (view.client_id, view.session_id, view.session_number, view.session_engaged) == (
        "111.222", "1733550000", 3, True)
    assert (view.first_visit, view.session_start) == (True, True)
    assert (view.page_hostname, view.page_path, view.page_title) == ("shop.example", "/products",
                                                                     "Products")
    assert view.campaign_source == "news"  # utm tags of dl, as for UA
    assert view.referrer_medium == "search"
    assert (view.browser, view.device_category, view.is_bot) == ("Chrome", "desktop", False)
    assert (scroll.type, scroll.event_name, dict(scroll.event_params_num)) == (
        "event", "scroll", {"percent_scrolled": 90.0})


def test_a_batched_body_is_one_hit_per_line_and_a_retry_keeps_the_ids(
        stack: tuple[CollectorSettings, str, str]) -> None:
    settings, pid, _ = stack
    body = "\n".join([line(en="page_view", _s="1"), "",
                      line(en="user_engagement", _s="2", _et="5200"),
                      line(en="", _s="3"),  # no event name: invalid, counted
                      line(en="signup", _s="4", **{"ep.plan": "pro"})]).encode()
    query = gtag_query("333.444")
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        for _ in range(2):  # the same request twice: the same hit ids
            assert http.post(f"/g/collect?{query}", content=body).status_code == 204
    got = hits(settings)
    assert sorted((h.event_name or "") for h in got) == sorted(
        ["page_view", "user_engagement", "signup"] * 2)
    by_name: dict[str, set[str]] = {}
    for h in got:
        by_name.setdefault(h.event_name or "", set()).add(h.hit_id)
    assert all(len(ids) == 1 for ids in by_name.values())  # a retry repeats its ids
    assert len({next(iter(ids)) for ids in by_name.values()}) == 3  # each line its own
    engagement = next(h for h in got if h.event_name == "user_engagement")
    assert engagement.engagement_time_ms == 5200
    assert next(h for h in got if h.event_name == "signup").event_params == {"plan": "pro"}
    assert counted(settings)[(pid, GID, "invalid_hit")] == 2


def test_client_hints_in_the_params_describe_the_device(
        stack: tuple[CollectorSettings, str, str]) -> None:
    settings, _, _ = stack
    reduced = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/124.0.0.0 Mobile Safari/537.36")
    hints = {"uaa": "", "uab": "64", "uafvl": "Chromium;124.0.6367.113|Google%20Chrome;124.0.6367.113",
             "uamb": "1", "uam": "Pixel 8", "uap": "Android", "uapv": "14.0.0", "uaw": "0"}
    with running_collector(settings) as c:
        r = httpx.post(f"{c.url}/g/collect?{gtag_query('555.666', **hints)}",
                       headers={"user-agent": reduced})
    assert r.status_code == 204
    (h,) = hits(settings)
    assert (h.device_category, h.device_model, h.os, h.os_version) == ("mobile", "Pixel 8",
                                                                       "Android", "14")


def test_unknown_ids_bots_and_disallowed_origins_are_counted_not_forwarded(
        settings: CollectorSettings) -> None:
    create_stack(settings)
    pid = register(settings, GID, allowed_hostnames=["shop.example"])
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        unknown = http.post(f"/g/collect?{gtag_query('1.1', tid='G-NOTOURS99')}")
        evil = http.post(f"/g/collect?{gtag_query('1.2')}",
                         headers={"origin": "https://evil.example", "user-agent": CHROME})
        crawler = http.post(f"/g/collect?{gtag_query('1.3')}", headers={"user-agent": bot})
        ok = http.post(f"/g/collect?{gtag_query('1.4')}",
                       headers={"origin": "https://shop.example", "user-agent": CHROME})
    assert [r.status_code for r in (unknown, evil, crawler, ok)] == [204] * 4
    # an Origin the property does not allow gets no CORS grant (tests/security/test_cors.py)
    assert "access-control-allow-origin" not in evil.headers
    assert ok.headers["access-control-allow-origin"] == "https://shop.example"
    assert [h.client_id for h in hits(settings)] == ["1.4"]
    counts = counted(settings)
    assert counts[(None, "G-NOTOURS99", "unknown_property")] == 1
    assert counts[(pid, GID, "disallowed_hostname")] == 1
    assert counts[(pid, GID, "bot")] == 1


def test_preflight_and_wrong_methods(stack: tuple[CollectorSettings, str, str]) -> None:
    settings, _, _ = stack
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        pre = http.options(f"/g/collect?{gtag_query('1.1')}",
                           headers={"origin": "https://shop.example",
                                    "access-control-request-method": "POST"})
        put = http.put("/g/collect", content=b"x")
        get_mp = http.get("/mp/collect")
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "https://shop.example"
    assert (put.status_code, get_mp.status_code) == (405, 405)
    assert get_mp.headers["allow"] == "POST"


# --- /mp/collect ----------------------------------------------------------------------------


def test_measurement_protocol_events_with_the_secret_are_hits(
        stack: tuple[CollectorSettings, str, str]) -> None:
    settings, pid, secret = stack
    body = purchase("777.888", timestamp_micros=None, user_location={"country_id": "FR"},
                    device={"category": "tablet", "model": "iPad Air"},
                    ip_override="81.2.69.142")
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        r = http.post(mp_url(secret), content=body)
        r2 = http.post(mp_url(secret), content=body.replace(b'"timestamp_micros":null,', b""))
    assert (r.status_code, r.content) == (204, b"")
    assert r2.status_code == 204
    got = [h for h in hits(settings) if h.client_id == "777.888"]
    assert len(got) >= 2
    view = next(h for h in got if h.event_name == "page_view")
    buy = next(h for h in got if h.event_name == "purchase")
    assert (view.protocol, view.type, view.property_id, view.user_id, view.session_id) == (
        "ga4mp", "pageview", pid, "u-42", "1733550000")
    assert (view.page_hostname, view.page_path, view.engagement_time_ms) == (
        "shop.example", "/cart", 120)
    assert (buy.type, buy.currency, buy.transaction_revenue, buy.transaction_id) == (
        "transaction", "EUR", 42.5, "T-1")
    assert [(i.item_id, i.price, i.quantity) for i in buy.items] == [("SKU-1", 21.25, 2)]
    # the sender's device and place win over detection from the agent and the address
    assert (view.device_category, view.device_model, view.geo_country) == ("tablet", "iPad Air", "FR")
    assert view.ip_truncated == "81.2.69.0"


def test_a_wrong_secret_or_an_invalid_request_is_204_and_counted(
        stack: tuple[CollectorSettings, str, str]) -> None:
    settings, pid, secret = stack
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        wrong = http.post(mp_url("x" * 40), content=purchase("1.1"))
        no_cid = http.post(mp_url(secret), content=b'{"events": [{"name": "signup"}]}')
        not_json = http.post(mp_url(secret), content=b"{nope")
        bad_name = http.post(mp_url(secret), content=orjson.dumps(
            {"client_id": "1.2", "events": [{"name": "_bad"}, {"name": "ok_event"}]}))
        too_big = http.post(mp_url(secret), content=b" " * 140_000)
    assert [r.status_code for r in (wrong, no_cid, not_json, bad_name, too_big)] == [204] * 5
    assert [h.event_name for h in hits(settings)] == ["ok_event"]
    counts = counted(settings)
    assert counts[(pid, GID, "invalid_api_secret")] == 2  # both events of the request
    assert counts[(pid, GID, "invalid_hit")] == 4  # no client id, not JSON, _bad, too big


def test_allowed_hostnames_do_not_apply_to_the_measurement_protocol(
        settings: CollectorSettings) -> None:
    create_stack(settings)
    pid = register(settings, GID, allowed_hostnames=["shop.example"])
    secret = new_secret(settings, pid)
    with running_collector(settings) as c:
        r = httpx.post(f"{c.url}{mp_url(secret)}",
                       content=b'{"client_id": "9.9", "events": [{"name": "refund"}]}')
    assert r.status_code == 204
    assert [h.event_name for h in hits(settings)] == ["refund"]


def test_debug_answers_validation_messages_and_records_nothing(
        stack: tuple[CollectorSettings, str, str]) -> None:
    settings, _, secret = stack
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        valid = http.post(mp_url(secret, path="/debug/mp/collect"), content=purchase("2.1"))
        bad = http.post(mp_url(secret, path="/debug/mp/collect"), content=orjson.dumps(
            {"client_id": "2.2", "events": [{"name": "_badEventName"}]}))
        wrong = http.post(mp_url("y" * 40, path="/debug/mp/collect"), content=purchase("2.3"))
    assert valid.status_code == 200
    assert valid.json() == {"validationMessages": []}
    assert bad.json() == {"validationMessages": [{
        "fieldPath": "events",
        "description": "Event at index: [0] has invalid name [_badEventName]. Names must "
                       "start with an alphabetic character.",
        "validationCode": "NAME_INVALID"}]}
    assert [(m["fieldPath"], m["validationCode"]) for m in wrong.json()["validationMessages"]] == [
        ("api_secret", "VALUE_INVALID")]
    assert read_records(settings) == []


# --- what every protocol answers alike -------------------------------------------------------


def test_over_the_rate_limit_both_answer_429(settings: CollectorSettings) -> None:
    create_stack(settings)
    pid = register(settings, GID, rate_limit=1)
    secret = new_secret(settings, pid)
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        g = [http.post(f"/g/collect?{gtag_query(f'3.{i}')}").status_code for i in range(4)]
        m = [http.post(mp_url(secret), content=purchase(f"4.{i}")) for i in range(3)]
    assert g[0] == 204
    assert 429 in g
    assert 429 in [r.status_code for r in m]
    assert all(int(r.headers["retry-after"]) >= 1 for r in m if r.status_code == 429)


def test_kinesis_down_answers_503_with_retry_after(stack: tuple[CollectorSettings, str, str]) -> None:
    settings, _, secret = stack
    overrides, _ = faulty(lambda _n, _r: "throttle")
    slow = settings.model_copy(update={"sink_retry_budget_s": 0.5, "retry_after_s": 7})
    with running_collector(slow, overrides) as c, httpx.Client(base_url=c.url) as http:
        g = http.post(f"/g/collect?{gtag_query('5.1')}")
        m = http.post(mp_url(secret), content=purchase("5.2"))
    assert (g.status_code, g.headers["retry-after"]) == (503, "7")
    assert (m.status_code, m.headers["retry-after"]) == (503, "7")


def test_the_ga4_routes_are_in_the_openapi_document(stack: tuple[CollectorSettings, str, str]) -> None:
    settings, _, _ = stack
    with running_collector(settings) as c:
        doc = httpx.get(f"{c.url}/openapi.json").json()
    assert {"post", "get", "options"} <= set(doc["paths"]["/g/collect"])
    assert {"post", "options"} <= set(doc["paths"]["/mp/collect"])
    assert "post" in doc["paths"]["/debug/mp/collect"]
    names = {p["name"] for p in doc["paths"]["/mp/collect"]["post"]["parameters"]}
    assert {"api_secret", "measurement_id", "firebase_app_id"} <= names


def test_a_cookieless_property_gets_a_daily_visitor_id_from_the_collector(
        settings: CollectorSettings) -> None:
    create_stack(settings)
    pid = register(settings, GID, cookieless=True)
    secret = new_secret(settings, pid)
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
    no_cid = gtag_query("x").replace("cid=x&", "")
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        for query, agent in [(no_cid, CHROME), (gtag_query("123.456", s=2), CHROME),
                             (no_cid, firefox)]:
            assert http.post(f"/g/collect?{query}", headers={"user-agent": agent}).status_code == 204
        assert http.post(mp_url(secret), content=purchase("777.1")).status_code == 204
    got = hits(settings)
    browser = [(h.browser, h.client_id) for h in got if h.protocol == "gtag"]
    assert len(browser) == 3
    chrome = {cid for name, cid in browser if name == "Chrome"}
    other = {cid for name, cid in browser if name == "Firefox"}
    assert len(chrome) == len(other) == 1  # one visitor per agent; a sent id replaced
    assert chrome != other
    assert all(cid and len(cid) == 32 and cid != "123.456" for _, cid in browser)
    assert {h.client_id for h in got if h.protocol == "ga4mp"} == {"777.1"}  # a server's own
