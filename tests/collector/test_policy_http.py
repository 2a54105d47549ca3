"""Each property policy enforced end to end: hits over HTTP through the collector under
uvicorn, properties in the real table (moto), hits read back from Kinesis, filtered traffic
from its counter records (flushed when the collector stops)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.settings import CollectorSettings
from lambdalytics import aws
from lambdalytics.hit import Hit
from lambdalytics.properties import PropertyStore
from lambdalytics.records import FilteredCount
from tests.collector.test_collect_http import metric
from tests.support import TESTDATA, create_stack, read_records, running_collector

CITY_DB = TESTDATA / "geoip" / "GeoIP2-City-Test.mmdb"
ROOT = Path(__file__).resolve().parents[2]
LONDON, SAN_DIEGO_V6 = "81.2.69.142", "2001:480:10::1"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _store_call(settings: CollectorSettings, method: str, *args: Any, **kwargs: Any) -> Any:
    async with aws.client(aws.session(), "dynamodb", settings) as ddb:
        store = PropertyStore(ddb, settings.resources.properties.name)
        return await getattr(store, method)(*args, **kwargs)


def register(settings: CollectorSettings, tid: str, **policy: Any) -> str:
    """A property owning ``tid`` with this policy; its id."""
    prop = run(_store_call(settings, "register", f"site {tid}", [tid], **policy))
    return str(prop.property_id)


def update(settings: CollectorSettings, property_id: str, **changes: Any) -> None:
    run(_store_call(settings, "update", property_id, changes))


def set_enabled(settings: CollectorSettings, property_id: str, enabled: bool) -> None:
    run(_store_call(settings, "set_enabled", property_id, enabled))


def hit(tid: str, cid: str, *extra: str, t: str = "pageview") -> str:
    return "&".join([f"v=1&tid={tid}&cid={cid}&t={t}", *extra])


def hits(settings: CollectorSettings) -> dict[str, Hit]:
    return {r.client_id: r for r in read_records(settings) if isinstance(r, Hit) and r.client_id}


def counted(settings: CollectorSettings) -> dict[tuple[str | None, str, str], int]:
    out: dict[tuple[str | None, str, str], int] = {}
    for r in read_records(settings):
        if isinstance(r, FilteredCount):
            key = (r.property_id, r.tracking_id, r.reason)
            out[key] = out.get(key, 0) + r.count
    return out


@pytest.fixture
def stack(settings: CollectorSettings) -> CollectorSettings:
    create_stack(settings)
    return settings


# --- enabled ---------------------------------------------------------------------------------


def test_disabling_is_seen_within_the_ttl(stack: CollectorSettings) -> None:
    settings = stack.model_copy(update={"property_ttl_s": 0.5})
    pid = register(settings, "UA-100-1")
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        assert http.get(f"/collect?{hit('UA-100-1', 'before.1', 'dp=%2F')}").status_code == 200
        set_enabled(settings, pid, False)
        time.sleep(0.6)
        assert http.get(f"/collect?{hit('UA-100-1', 'after.1', 'dp=%2F')}").status_code == 200
        set_enabled(settings, pid, True)
        time.sleep(0.6)
        assert http.get(f"/collect?{hit('UA-100-1', 'again.1', 'dp=%2F')}").status_code == 200
    assert set(hits(settings)) == {"before.1", "again.1"}
    assert counted(settings) == {(pid, "UA-100-1", "disabled_property"): 1}


def test_added_and_removed_tracking_ids_are_seen_within_the_ttl(stack: CollectorSettings) -> None:
    settings = stack.model_copy(update={"property_ttl_s": 0.5, "property_negative_ttl_s": 0.5})
    pid = register(settings, "UA-110-1")
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        for cid in ("new.before", "old.before"):  # the new id is unknown (and cached so)
            tid = "UA-110-2" if cid.startswith("new") else "UA-110-1"
            assert http.get(f"/collect?{hit(tid, cid, 'dp=%2F')}").status_code == 200
        run(_store_call(settings, "add_tracking_ids", pid, ["UA-110-2"]))
        run(_store_call(settings, "remove_tracking_id", pid, "UA-110-1"))
        time.sleep(0.6)
        for cid in ("new.after", "old.after"):
            tid = "UA-110-2" if cid.startswith("new") else "UA-110-1"
            assert http.get(f"/collect?{hit(tid, cid, 'dp=%2F')}").status_code == 200
    got = hits(settings)
    assert set(got) == {"old.before", "new.after"}
    assert (got["new.after"].property_id, got["new.after"].tracking_id) == (pid, "UA-110-2")
    assert counted(settings) == {(None, "UA-110-2", "unknown_property"): 1,
                                 (None, "UA-110-1", "unknown_property"): 1}


# --- allowed hostnames -----------------------------------------------------------------------


def test_hits_from_other_hostnames_are_filtered(stack: CollectorSettings) -> None:
    pid = register(stack, "UA-200-1", allowed_hostnames=["shop.example", "*.shop.example"])
    open_pid = register(stack, "UA-201-1")  # no allowlist: any host
    dl = "dl=https%3A%2F%2F{}%2Fp"
    sent = {  # cid → (payload extras, Origin, forwarded?)
        "dh.1": (["dh=shop.example", "dp=%2F"], None, True),
        "dh-case-port.1": (["dh=Shop.Example:8443", "dp=%2F"], None, True),
        "dl-sub.1": ([dl.format("a.b.shop.example")], None, True),
        "origin-ok.1": (["dh=shop.example", "dp=%2F"], "https://www.shop.example", True),
        "dh-evil.1": (["dh=evil.example", "dp=%2F"], None, False),
        "dl-lookalike.1": ([dl.format("shop.example.evil.com")], None, False),
        "dh-wins.1": (["dh=evil.example", dl.format("shop.example")], None, False),
        "origin-evil.1": (["dh=shop.example", "dp=%2F"], "https://evil.example", False),
        "origin-null.1": (["dh=shop.example", "dp=%2F"], "null", False),
    }
    with running_collector(stack) as c, httpx.Client(base_url=c.url) as http:
        for cid, (extra, origin, forwarded) in sent.items():
            headers = {"origin": origin} if origin else {}
            r = http.post("/collect", content=hit("UA-200-1", cid, *extra), headers=headers)
            assert r.status_code == 200, cid
            if origin:  # a grant only for an Origin the property allows
                assert r.headers.get("access-control-allow-origin") == (
                    origin if forwarded else None), cid
        # no page at all (ghost spam names none): filtered
        assert http.get(f"/collect?{hit('UA-200-1', 'nopage.1', 'ec=c&ea=a', t='event')}"
                        ).status_code == 200
        # a batch: each hit on its own
        batch = "\n".join([hit("UA-200-1", "batch-ok.1", "dh=shop.example", "dp=%2F"),
                           hit("UA-200-1", "batch-evil.1", "dh=evil.example", "dp=%2F")])
        assert http.post("/batch", content=batch).status_code == 200
        # the other property takes any host
        assert http.get(f"/collect?{hit('UA-201-1', 'open.1', 'dh=evil.example', 'dp=%2F')}",
                        headers={"origin": "https://evil.example"}).status_code == 200

        debug_page = http.get(f"/debug/collect?{hit('UA-200-1', '1', 'dh=evil.example', 'dp=%2F')}")
        debug_origin = http.get(f"/debug/collect?{hit('UA-200-1', '1', 'dh=shop.example', 'dp=%2F')}",
                                headers={"origin": "https://evil.example"})
        debug_ok = http.get(f"/debug/collect?{hit('UA-200-1', '1', 'dh=shop.example', 'dp=%2F')}")
        before = http.get("/metrics").text
    forwarded = {cid for cid, (_, _, ok) in sent.items() if ok} | {"batch-ok.1", "open.1"}
    assert set(hits(stack)) == forwarded
    n_filtered = sum(1 for _, _, ok in sent.values() if not ok) + 2
    assert counted(stack) == {(pid, "UA-200-1", "disallowed_hostname"): n_filtered}
    assert metric(before, "lambdalytics_hits_filtered_total", protocol="ua",
                  reason="disallowed_hostname") == n_filtered
    assert open_pid != pid

    page = debug_page.json()["hitParsingResult"][0]
    assert page["valid"] is True  # a valid hit, filtered (as a spam referrer is)
    assert page["parserMessage"] == [{
        "messageType": "WARN", "messageCode": "HIT_FILTERED", "parameter": "dh",
        "description": "The page hostname (evil.example) is not among the property's allowed "
                       "hostnames; the hit is not recorded."}]
    assert debug_origin.json()["hitParsingResult"][0]["parserMessage"] == [{
        "messageType": "WARN", "messageCode": "HIT_FILTERED",
        "description": "The request's Origin (https://evil.example) is not among the "
                       "property's allowed hostnames; the hit is not recorded."}]
    assert debug_ok.json()["hitParsingResult"][0]["parserMessage"] == []


# --- rate limit ------------------------------------------------------------------------------


def test_a_property_over_its_rate_limit_is_answered_429(stack: CollectorSettings) -> None:
    pid = register(stack, "UA-300-1", rate_limit=1)
    register(stack, "UA-301-1")  # no limit
    with running_collector(stack) as c, httpx.Client(base_url=c.url) as http:
        def send(tid: str, cid: str) -> httpx.Response:
            return http.get(f"/collect?{hit(tid, cid, 'dp=%2F')}",
                            headers={"origin": "https://shop.example"})

        first = send("UA-300-1", "first.1")
        second = send("UA-300-1", "second.1")  # within the same second: over the burst of 1
        other = send("UA-301-1", "other.1")  # another property is not limited
        debug = http.get(f"/debug/collect?{hit('UA-300-1', '1', 'dp=%2F')}")  # never limited
        time.sleep(1.1)  # a full bucket again
        batch = "\n".join(hit("UA-300-1", f"batch{i}.1", "dp=%2F") for i in range(3))
        batched = http.post("/batch", content=batch)  # a batch over the burst: taken, in debt
        after = send("UA-300-1", "after.1")  # two hits of debt plus one: about 3 s
        metrics = http.get("/metrics").text
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["retry-after"] == "1"
    assert second.headers["access-control-allow-origin"] == "https://shop.example"
    assert other.status_code == 200
    assert debug.status_code == 200
    assert batched.status_code == 200
    assert after.status_code == 429
    assert after.headers["retry-after"] == "3"
    assert set(hits(stack)) == {"first.1", "other.1", "batch0.1", "batch1.1", "batch2.1"}
    assert metric(metrics, "lambdalytics_hits_refused_total", protocol="ua",
                  reason="rate_limited") == 2
    assert counted(stack) == {(pid, "UA-300-1", "rate_limited"): 2}


def test_a_batch_is_limited_as_a_whole(stack: CollectorSettings) -> None:
    register(stack, "UA-310-1", rate_limit=5)
    with running_collector(stack) as c, httpx.Client(base_url=c.url) as http:
        batch = "\n".join(hit("UA-310-1", f"a{i}.1", "dp=%2F") for i in range(4))
        assert http.post("/batch", content=batch).status_code == 200  # 4 of 5 tokens
        batch = "\n".join(hit("UA-310-1", f"b{i}.1", "dp=%2F") for i in range(3))
        refused = http.post("/batch", content=batch)  # 3 > the 1 left: none forwarded
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert set(hits(stack)) == {f"a{i}.1" for i in range(4)}


# --- IP and geo precision --------------------------------------------------------------------


def test_hits_carry_exactly_the_configured_precision(stack: CollectorSettings) -> None:
    settings = stack.model_copy(update={"geoip_database": str(CITY_DB), "trusted_proxy_hops": 1})
    register(settings, "UA-400-1")  # the defaults: 24/48, city
    register(settings, "UA-401-1", ip_precision="16/32", geo_precision="region")
    register(settings, "UA-402-1", ip_precision="none", geo_precision="country")
    register(settings, "UA-403-1", ip_precision="24/48", geo_precision="none")
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        def send(tid: str, cid: str, *extra: str, xff: str = LONDON) -> None:
            # the same address and agent for every property: the enricher's caches must
            # keep their answers apart by precision
            r = http.get(f"/collect?{hit(tid, cid, 'dp=%2F', *extra)}",
                         headers={"x-forwarded-for": xff, "user-agent": CHROME})
            assert r.status_code == 200

        for tid in ("UA-400-1", "UA-401-1", "UA-402-1", "UA-403-1"):
            n = tid[3:6]
            send(tid, f"{n}.v4")
            send(tid, f"{n}.v4.again")  # from the caches
            send(tid, f"{n}.v6", xff=SAN_DIEGO_V6)
            send(tid, f"{n}.aip", "aip=1")
            send(tid, f"{n}.geoid", "geoid=FR")
    got = hits(settings)

    def place(cid: str) -> tuple[Any, ...]:
        h = got[cid]
        return (h.ip_truncated, h.geo_continent, h.geo_country, h.geo_region, h.geo_city,
                h.geo_timezone)

    london = ("EU", "GB", "GB-ENG", "London", "Europe/London")
    assert place("400.v4") == place("400.v4.again") == ("81.2.69.0", *london)
    assert place("400.v6") == ("2001:480:10::", "NA", "US", "US-CA", "San Diego",
                               "America/Los_Angeles")
    assert place("400.aip")[0] == "81.2.69.0"
    assert place("400.geoid")[2] == "FR"

    assert place("401.v4") == place("401.v4.again") == ("81.2.0.0", "EU", "GB", "GB-ENG", None,
                                                        "Europe/London")
    assert place("401.v6") == ("2001:480::", "NA", "US", "US-CA", None, "America/Los_Angeles")
    assert place("401.aip")[0] == "81.2.0.0"  # aip: GA's /24 at least, and /16 is less
    assert got["401.aip"].ip_anonymized is True

    assert place("402.v4") == place("402.v4.again") == (None, "EU", "GB", None, None, None)
    assert place("402.v6") == (None, "NA", "US", None, None, None)
    assert place("402.aip")[0] is None
    assert got["402.aip"].ip_anonymized is True
    assert place("402.geoid")[2] == "FR"

    for cid in ("403.v4", "403.v4.again", "403.aip", "403.geoid"):
        assert place(cid)[1:] == (None,) * 5, cid  # a geoid is geo too
    assert place("403.v4")[0] == "81.2.69.0"
    assert place("403.v6")[0] == "2001:480:10::"


def test_debug_reports_the_property_ip_precision(stack: CollectorSettings) -> None:
    register(stack, "UA-410-1", ip_precision="16/32")
    register(stack, "UA-411-1", ip_precision="none")
    with running_collector(stack) as c, httpx.Client(base_url=c.url) as http:
        coarse = http.get(f"/debug/collect?{hit('UA-410-1', '1', 'dp=%2F', 'uip=203.0.113.77')}")
        none = http.get(f"/debug/collect?{hit('UA-411-1', '1', 'dp=%2F', 'uip=203.0.113.77')}")
    assert coarse.json()["hitParsingResult"][0]["parserMessage"] == [{
        "messageType": "INFO", "messageCode": "VALUE_MODIFIED", "parameter": "aip",
        "description": "IP Address from this hit was anonymized to 203.0.0.0."}]
    assert none.json()["hitParsingResult"][0]["parserMessage"] == [{
        "messageType": "INFO", "messageCode": "VALUE_MODIFIED", "parameter": "aip",
        "description": "IP Address from this hit is not kept (the property keeps no address)."}]


# --- bot policy ------------------------------------------------------------------------------


# a weak signal (the bot convention, no list knows it): filtered only under filter_all
GRABBY = "Mozilla/5.0 (compatible; Grabby/1.0)"
PROPERTY_POLICIES = ("default", "filter", "filter_all", "flag")


@pytest.mark.parametrize("collector_policy", ["filter", "filter_all", "flag"])
def test_a_property_bot_policy_overrides_the_collector_setting(
        stack: CollectorSettings, collector_policy: str) -> None:
    settings = stack.model_copy(update={"bot_policy": collector_policy})
    pids = {policy: register(settings, f"UA-50{i}-1", bot_policy=policy)
            for i, policy in enumerate(PROPERTY_POLICIES)}
    agents = {"strong": GOOGLEBOT, "weak": GRABBY, "human": CHROME}
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        for i, policy in enumerate(PROPERTY_POLICIES):
            for kind, agent in agents.items():
                r = http.get(f"/collect?{hit(f'UA-50{i}-1', f'{policy}.{kind}', 'dp=%2F')}",
                             headers={"user-agent": agent})
                assert r.status_code == 200
    effective = {p: collector_policy if p == "default" else p for p in PROPERTY_POLICIES}
    filters = {"filter": {"strong"}, "filter_all": {"strong", "weak"}, "flag": set()}
    got = hits(settings)
    assert set(got) == {f"{p}.{kind}" for p, e in effective.items() for kind in agents
                        if kind not in filters[e]}
    counts = counted(settings)
    for i, (p, e) in enumerate(effective.items()):
        for kind in ("strong", "weak"):
            if kind not in filters[e]:  # forwarded flagged, with its reason
                assert got[f"{p}.{kind}"].is_bot is True
                assert (got[f"{p}.{kind}"].bot_reason or "").startswith(
                    "crawler:" if kind == "strong" else "heuristic:")
        assert counts.get((pids[p], f"UA-50{i}-1", "bot"), 0) == len(filters[e])
        assert counts.get((pids[p], f"UA-50{i}-1", "bot_flagged"), 0) == 2 - len(filters[e])


# --- every collector sees a change within the TTL ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def collector_process(settings: CollectorSettings, log: Path) -> Iterator[str]:
    """``python -m collector`` in its own process, settings from the environment."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBDALYTICS_")}
    env |= {
        "LAMBDALYTICS_RESOURCE_PREFIX": settings.resource_prefix,
        "LAMBDALYTICS_AWS_ENDPOINT_URL": str(settings.aws_endpoint_url),
        "LAMBDALYTICS_AWS_REGION": str(settings.aws_region),
        "LAMBDALYTICS_PORT": str(port),
        "LAMBDALYTICS_SINK_MAX_IN_FLIGHT": "1",
        "LAMBDALYTICS_SINK_LINGER_MS": "5",
        "LAMBDALYTICS_PROPERTY_TTL_S": str(settings.property_ttl_s),
        "LAMBDALYTICS_FILTERED_FLUSH_S": "0.2",
        "LAMBDALYTICS_LOG_FORMAT": "text",
    }
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "collector"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"collector did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_every_collector_sees_a_change_within_the_ttl(stack: CollectorSettings,
                                                      tmp_path: Path) -> None:
    # Long enough that four requests and one update fit inside it on a busy 2-core CI
    # machine once each process has paid its first-request costs (warm-up below).
    ttl = 5.0
    settings = stack.model_copy(update={"property_ttl_s": ttl})
    register(settings, "UA-601-1")
    pid = register(settings, "UA-600-1")
    with collector_process(settings, tmp_path / "a.log") as a, \
            collector_process(settings, tmp_path / "b.log") as b:
        def send(url: str, cid: str, host: str = "shop.example", tid: str = "UA-600-1") -> None:
            r = httpx.get(f"{url}/collect?{hit(tid, cid, f'dh={host}', 'dp=%2F')}")
            assert r.status_code == 200

        send(a, "a.warm", tid="UA-601-1")  # first Kinesis put, connection pools, …
        send(b, "b.warm", tid="UA-601-1")
        cached_at = time.monotonic()  # before either process looks UA-600-1 up
        send(a, "a.open")  # both have it cached now, as it was
        send(b, "b.open")
        update(settings, pid, allowed_hostnames=["shop.example"])
        send(a, "a.cached", host="other.example")  # within the TTL: the old policy
        send(b, "b.cached", host="other.example")
        assert time.monotonic() - cached_at < ttl, "too slow to see the cache at work"
        time.sleep(ttl + 0.2)
        send(a, "a.after", host="other.example")
        send(b, "b.after", host="other.example")
        send(a, "a.allowed")
        set_enabled(settings, pid, False)
        time.sleep(ttl + 0.2)
        send(a, "a.disabled")
        send(b, "b.disabled")
    assert set(hits(settings)) == {"a.warm", "b.warm", "a.open", "b.open", "a.cached",
                                   "b.cached", "a.allowed"}
    assert counted(settings) == {(pid, "UA-600-1", "disallowed_hostname"): 2,
                                 (pid, "UA-600-1", "disabled_property"): 2}

