"""CORS only for the property's allowed origins, on every browser-facing hit route.

A collector on loopback against moto, with a property that allows ``www.example.com`` and
``*.example.org`` and one that allows any host. Each hit route is called with an allowed
Origin, disallowed ones (another site, a look-alike suffix, the bare parent of a wildcard),
``null`` and none: the status is the same 2xx every time (Google's behaviour: the tag learns
nothing), and only an allowed Origin gets the grant (``Access-Control-Allow-Origin`` echoing
it, with credentials). A property with no list allows every Origin, ``null`` included.
The preflight answers any Origin: it carries nothing, and the request's own answer decides
whether the page may read it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from collector.settings import CollectorSettings
from lambdalytics import aws, bootstrap
from lambdalytics.properties import PropertyStore
from tests.support import isolate_aws_env, running_collector

SECRET = "CorsTestApiSecret0123456789"
CLOSED = {"ua": "UA-7100-1", "ga4": "G-CORSCLOSED"}
OPEN = {"ua": "UA-7200-1", "ga4": "G-CORSOPEN"}
PAGE = "https://www.example.com/landing"
ALLOWED = ["https://www.example.com", "https://shop.example.org:8443", "HTTPS://WWW.EXAMPLE.COM"]
DISALLOWED = ["https://evil.example", "https://www.example.com.evil.example",
              "https://example.org", "null", "file://", "https://[2001:db8::1]"]
GRANT = ("access-control-allow-origin", "access-control-allow-credentials")


def requests(ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx arguments) of one hit on every browser-facing hit route."""
    ua = f"v=1&tid={ids['ua']}&cid=1.2&t=pageview&dh=www.example.com&dp=%2F"
    gtag = {"v": "2", "tid": ids["ga4"], "cid": "1.2", "en": "page_view", "dl": PAGE}
    mp = {"measurement_id": ids["ga4"], "api_secret": SECRET}
    mp_body = orjson.dumps({"client_id": "1.2", "events": [{"name": "signup"}]})
    return [
        ("GET", "/collect", {"params": ua}),
        ("POST", "/collect", {"content": ua}),
        ("POST", "/r/collect", {"content": ua}),
        ("POST", "/j/collect", {"content": ua}),
        ("POST", "/batch", {"content": ua + "\n" + ua.replace("dp=%2F", "dp=%2Fb")}),
        ("GET", "/debug/collect", {"params": ua}),
        ("GET", "/g/collect", {"params": gtag}),
        ("POST", "/g/collect", {"params": {"v": "2", "tid": ids["ga4"]},
                                "content": f"cid=1.2&en=page_view&dl={PAGE}"}),
        ("POST", "/mp/collect", {"params": mp, "content": mp_body}),
        ("POST", "/debug/mp/collect", {"params": mp, "content": mp_body}),
    ]


def provision(settings: CollectorSettings) -> None:
    async def go() -> None:
        res = settings.resources
        await bootstrap.provision(settings, (res.properties,), bucket=False)
        async with aws.client(aws.session(), "dynamodb", settings) as ddb:
            store = PropertyStore(ddb, res.properties.name)
            await store.register("Closed", list(CLOSED.values()), api_secrets_=[SECRET],
                                 allowed_hostnames=["www.example.com", "*.example.org"])
            await store.register("Open", list(OPEN.values()), api_secrets_=[SECRET])

    asyncio.run(go())


@pytest.fixture(scope="module", params=["protocol", "asgi"])
def collector(request: pytest.FixtureRequest, moto_url: str) -> Iterator[httpx.Client]:
    """The collector on loopback: hit routes answered by its protocol, or by FastAPI's
    routes (fast_path off): the same CORS either way."""
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the autouse isolation
        isolate_aws_env(mp)
        settings = CollectorSettings(resource_prefix="t" + secrets.token_hex(5),
                                     aws_endpoint_url=moto_url, aws_region="us-east-1",
                                     sink_max_in_flight=1, sink_linger_ms=5, log_format="text",
                                     fast_path=request.param == "protocol")
        provision(settings)
        with running_collector(settings) as c, httpx.Client(base_url=c.url, timeout=30) as http:
            yield http


def send(http: httpx.Client, method: str, path: str, args: dict[str, Any],
         origin: str | None) -> httpx.Response:
    headers = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"}
    if origin is not None:
        headers["origin"] = origin
    return http.request(method, path, headers=headers, **args)


@pytest.mark.parametrize(("method", "path", "args"), requests(CLOSED),
                         ids=[f"{m} {p}" for m, p, _ in requests(CLOSED)])
def test_only_an_allowed_origin_is_granted(collector: httpx.Client, method: str, path: str,
                                           args: dict[str, Any]) -> None:
    statuses = set()
    for origin in ALLOWED:
        r = send(collector, method, path, args, origin)
        statuses.add(r.status_code)
        assert r.headers.get("access-control-allow-origin") == origin, (origin, r.headers)
        assert r.headers.get("access-control-allow-credentials") == "true"
        assert "origin" in r.headers.get("vary", "").lower()
    for refused in [*DISALLOWED, None]:
        r = send(collector, method, path, args, refused)
        statuses.add(r.status_code)
        granted = [h for h in GRANT if h in r.headers]
        assert granted == [], f"{refused!r} was granted {granted}: {r.headers}"
        if refused is not None:  # the answer differs by Origin: a cache must know
            assert "origin" in r.headers.get("vary", "").lower()
    assert len(statuses) == 1, statuses  # the tag learns nothing
    assert statuses <= {200, 204}


@pytest.mark.parametrize(("method", "path", "args"), requests(OPEN),
                         ids=[f"{m} {p}" for m, p, _ in requests(OPEN)])
def test_a_property_without_a_list_allows_every_origin(
        collector: httpx.Client, method: str, path: str, args: dict[str, Any]) -> None:
    for origin in [*ALLOWED, *DISALLOWED]:
        r = send(collector, method, path, args, origin)
        assert r.status_code in (200, 204)
        assert r.headers.get("access-control-allow-origin") == origin
    r = send(collector, method, path, args, None)
    assert [h for h in GRANT if h in r.headers] == []


def test_a_request_of_both_properties_is_granted_only_what_both_allow(
        collector: httpx.Client) -> None:
    both = "\n".join(f"v=1&tid={tid}&cid=1.2&t=pageview&dh=www.example.com&dp=%2F"
                     for tid in (OPEN["ua"], CLOSED["ua"]))
    assert "access-control-allow-origin" not in send(
        collector, "POST", "/batch", {"content": both}, "https://evil.example").headers
    allowed = send(collector, "POST", "/batch", {"content": both}, "https://www.example.com")
    assert allowed.headers.get("access-control-allow-origin") == "https://www.example.com"


@pytest.mark.parametrize("path", ["/collect", "/r/collect", "/j/collect", "/batch",
                                  "/debug/collect", "/g/collect", "/mp/collect",
                                  "/debug/mp/collect"])
def test_the_preflight_grants_only_simple_methods_and_content_type(
        collector: httpx.Client, path: str) -> None:
    origin = "https://www.example.com"
    r = collector.options(path, headers={"origin": origin,
                                         "access-control-request-method": "POST",
                                         "access-control-request-headers": "content-type"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == origin
    assert r.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert r.headers["access-control-allow-headers"] == "content-type"
    bare = collector.options(path)
    assert [h for h in GRANT if h in bare.headers] == []


def test_the_tracker_script_is_public_without_credentials(collector: httpx.Client) -> None:
    r = collector.get("/lt.js", headers={"origin": "https://evil.example"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers
