"""Authentication on every route, found by walking the route tables (issue 26, security).

The dashboard (``dashboard.app.create_app``) and the admin API (``dashboard.admin.create_app``)
are served on loopback against moto; every route and method of their tables is called without
credentials, with wrong tokens, with a share token of another property and with one of the
property itself. A route added later is in the table, so it is called too: left open, the test
fails naming it. The public routes are an explicit allow-list here; so are the collector's
routes besides the hit routes (it has no authenticated route: anything new there fails too).
"""

from __future__ import annotations

import http.client
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from collector.app import create_app as create_collector
from collector.edge import ROUTES as HIT_ROUTES
from collector.settings import CollectorSettings
from dashboard import admin
from dashboard.app import create_app as create_dashboard
from dashboard.settings import AdminSettings, DashboardSettings
from tests.dashboard import dashboard_support as ds
from tests.dashboard import report_fixture as fx
from tests.support import isolate_aws_env, serving_app

# What anyone may read: the page and its assets, liveness, the API's documentation.
PUBLIC = frozenset({"/", "/static", "/healthz", "/openapi.json", "/docs",
                    "/docs/oauth2-redirect", "/redoc"})
# What a share token reads: who it is and the report catalogue (any share), and its own
# property's reports and realtime (nothing else, and nothing but GET).
SHARE_ANY = frozenset({("GET", "/v1/me"), ("GET", "/v1/reports")})
SHARE_OWN = frozenset({("GET", "/v1/properties/{property_id}/reports/{name}"),
                       ("GET", "/v1/properties/{property_id}/realtime")})
# The collector's routes that are not hit routes: all public, none takes credentials.
COLLECTOR_PUBLIC = frozenset({"/healthz", "/readyz", "/metrics", "/lt.js", "/openapi.json",
                              "/docs", "/docs/oauth2-redirect", "/redoc"})
PARAMS = {"property_id": fx.SHOP, "name": "overview", "tracking_id": "UA-1-1",
          "secret_id": "s0badf00d", "share_id": "sh_0123456789abcdef"}


def table(app: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(method, path) of every route in a Starlette app's table (HEAD with every GET), the
    routers it includes too (FastAPI 0.165 keeps an included router whole, as a route)."""
    out: list[tuple[str, str]] = []
    for route in app.routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            out += table(included, prefix + route.include_context.prefix)
        elif isinstance(route, Mount):
            out.append(("GET", prefix + route.path))
        elif isinstance(route, APIRoute | Route):
            methods = set(route.methods or ())
            if "GET" in methods:
                methods.add("HEAD")
            out += [(m, prefix + route.path) for m in sorted(methods)]
        else:
            raise AssertionError(f"a route of a kind the walk does not know: {route!r}")
    return out


DASHBOARD = table(create_dashboard(DashboardSettings(admin_token=ds.TOKEN)))
ADMIN = table(admin.create_app(AdminSettings(admin_token=ds.TOKEN)).app)


def url_of(path: str) -> str:
    def fill(m: re.Match[str]) -> str:
        return PARAMS[m.group(1)]  # a KeyError: a new path parameter, name a value above
    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", fill, path)


def call(client: httpx.Client, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    body = {"name": "x"} if method in {"POST", "PATCH", "PUT"} else None
    target = url_of(path) + ("/app.js" if path == "/static" else "")
    return client.request(method, target, headers=headers, json=body)


@pytest.fixture(scope="module")
def dashboard(moto_url: str) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """The dashboard on loopback and tokens: shares of ``shop`` and of ``other``."""
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the autouse isolation
        isolate_aws_env(mp)
        settings = ds.provision(moto_url, "t" + secrets.token_hex(5))
        with ds.client(settings) as c:
            tokens = {}
            for pid in (fx.SHOP, fx.OTHER):
                r = c.post(f"/v1/properties/{pid}/shares", headers=ds.AUTH, json={})
                assert r.status_code == 201, r.text
                tokens[pid] = r.json()["token"]
            yield c, tokens


def refusals(client: httpx.Client, routes: list[tuple[str, str]], token: str | None,
             allowed: set[int], skip: frozenset[tuple[str, str]] = frozenset()) -> list[str]:
    """The routes whose answer to ``token`` is not in ``allowed``: 'METHOD path → status'."""
    out = []
    for method, path in routes:
        if path in PUBLIC or (method, path) in skip:
            continue
        r = call(client, method, path, token)
        ok = r.status_code in allowed and r.headers["content-type"] == "application/problem+json"
        if r.status_code == 401:
            ok = ok and r.headers.get("www-authenticate") == "Bearer"
        if not ok:
            out.append(f"{method} {path} → {r.status_code}")
        if token is not None:
            assert token not in r.text
    return out


def forged_share() -> str:
    return "lts_" + secrets.token_urlsafe(32)


def test_the_walk_sees_every_route() -> None:
    paths = {p for _, p in DASHBOARD}
    assert {"/v1/properties", "/v1/properties/{property_id}/shares", "/v1/me",
            "/v1/properties/{property_id}/reports/{name}", "/static"} <= paths
    assert {p for _, p in ADMIN} <= paths  # the dashboard serves the admin API too
    assert len([r for r in DASHBOARD if r[1] not in PUBLIC]) >= 22
    # the allow-lists name only routes that exist (a removed one must leave them)
    assert paths >= PUBLIC
    assert set(DASHBOARD) >= SHARE_ANY | SHARE_OWN


@pytest.mark.parametrize("case", ["none", "wrong", "truncated", "forged share"])
def test_every_dashboard_route_refuses_without_a_valid_token(
        dashboard: tuple[httpx.Client, dict[str, str]], case: str) -> None:
    client, _ = dashboard
    token = {"none": None, "wrong": secrets.token_urlsafe(32), "truncated": ds.TOKEN[:-1],
             "forged share": forged_share()}[case]
    assert refusals(client, DASHBOARD, token, {401}) == []


def test_a_share_of_another_property_reads_nothing_of_this_one(
        dashboard: tuple[httpx.Client, dict[str, str]]) -> None:
    client, tokens = dashboard
    other = tokens[fx.OTHER]
    assert refusals(client, DASHBOARD, other, {403}, skip=SHARE_ANY) == []
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {other}"}).json()
    assert [p["property_id"] for p in me["properties"]] == [fx.OTHER]


def test_a_share_of_this_property_reads_its_reports_and_nothing_else(
        dashboard: tuple[httpx.Client, dict[str, str]]) -> None:
    client, tokens = dashboard
    own = tokens[fx.SHOP]
    assert refusals(client, DASHBOARD, own, {403}, skip=SHARE_ANY | SHARE_OWN) == []
    for method, path in sorted(SHARE_ANY | SHARE_OWN):
        r = call(client, method, path, own)
        assert r.status_code not in (401, 403), f"{method} {path} → {r.status_code}: {r.text}"


def test_public_routes_answer_without_credentials(
        dashboard: tuple[httpx.Client, dict[str, str]]) -> None:
    client, _ = dashboard
    for method, path in DASHBOARD:
        if path in PUBLIC:
            r = call(client, method, path, None)
            # FastAPI's own routes take no HEAD (405): refused only past the Guard
            wanted = {200, 405} if method == "HEAD" else {200}
            assert r.status_code in wanted, f"{method} {path} → {r.status_code}"


@pytest.mark.parametrize("raw", [
    "/v1/nope", "//v1/properties", "/v1/properties/", "/V1/PROPERTIES", "/healthz/../v1/properties",
    "/static/../v1/properties", "/static/%2e%2e/v1/properties", "/static/..%2fv1%2fproperties",
    "/%2e/v1/properties", "/v1/properties/shop/reports/..%2f..%2fsecrets",
    "/v1/properties%2fshop%2fsecrets", "/docs/../v1/properties", "/./v1/properties",
])
def test_odd_paths_are_refused_too(dashboard: tuple[httpx.Client, dict[str, str]],
                                   raw: str) -> None:
    """Sent as written (http.client leaves dot segments and escapes alone): no spelling of
    a path reaches a route without the token, nor reads a file outside the page's folder."""
    client, tokens = dashboard
    where = urlsplit(str(client.base_url))
    for token in (None, tokens[fx.OTHER]):
        conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        conn.request("GET", raw, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status in (401, 403, 404), (raw, resp.status, body[:200])
        assert b"api_secrets" not in body
        assert b"property_id" not in body


def test_every_admin_api_route_refuses_without_the_admin_token(
        moto_url: str, prefix: str, dashboard: tuple[httpx.Client, dict[str, str]]) -> None:
    """The admin API served on its own admits the admin token only: a share token (valid on
    the dashboard) is a 401 there."""
    _, tokens = dashboard
    settings = AdminSettings(resource_prefix=prefix, aws_endpoint_url=moto_url,
                             aws_region="us-east-1", log_format="text", admin_token=ds.TOKEN)
    with serving_app(admin.create_app(settings), "admin API") as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        for token in (None, secrets.token_urlsafe(32), tokens[fx.SHOP]):
            assert refusals(client, ADMIN, token, {401}) == []


def test_the_collector_has_no_route_but_the_hit_routes_and_the_public_ones() -> None:
    """The collector authenticates nothing but the MP api_secret (in the hit): a route added
    to it must be public on purpose (listed here) or belong elsewhere."""
    edge = create_collector(CollectorSettings())
    paths = {p for _, p in table(edge.fallback)}
    extra = sorted(paths - set(HIT_ROUTES) - COLLECTOR_PUBLIC)
    assert extra == [], f"collector routes neither hit routes nor public on purpose: {extra}"
    assert paths >= COLLECTOR_PUBLIC
