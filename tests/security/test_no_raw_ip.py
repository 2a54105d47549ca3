"""No raw client IP at rest, on a real collector → Kinesis → archiver flow (and the dashboard
reading it): hits from distinctive addresses (the TCP peer, X-Forwarded-For chains, IPv4 and
IPv6, ``uip`` and MP ``ip_override``), then every S3 object, DynamoDB item, Kinesis record
and log line (collector and dashboard records formatted as JSON and text, the archiver's own
JSON lines at DEBUG) is scanned for them with tests/security/no_raw_ip.py."""

from __future__ import annotations

import asyncio

import boto3
import httpx
import orjson
import pytest

from collector.settings import CollectorSettings
from dashboard.app import create_app as create_dashboard
from dashboard.settings import DashboardSettings
from lambdalytics import aws, bootstrap, kinesalite
from lambdalytics.properties import PropertyStore
from tests.archiver.harness import Stack, wait_until
from tests.conftest import Spawn
from tests.security import no_raw_ip
from tests.support import TESTDATA, running_collector, serving_app

PEER = "127.44.55.66"  # the client binds this loopback address: the peer the collector sees
FORWARDED_V4 = "203.0.113.199"
FORWARDED_V6 = "2001:db8:85a3:1234:5678:8a2e:370:7334"
FORWARDED_V6_SHORT = "2001:db8:ab:cd::9"
SPOOFED = "192.0.2.211"  # client-written, left of the trusted hop: never read
UIP = "198.51.100.77"
MP_OVERRIDE = "2001:db8:feed:beef::42"
LOCATED_V4 = "214.78.121.77"  # San Diego in MaxMind's test database
LOCATED_V6 = "2001:218::4c:77"
ADDRESSES = (PEER, FORWARDED_V4, FORWARDED_V6, FORWARDED_V6_SHORT, SPOOFED, UIP, MP_OVERRIDE,
             LOCATED_V4, LOCATED_V6)
UA_TID, UA_NONE, GA4_ID = "UA-7300-1", "UA-7301-1", "G-NORAWIP1"
SECRET = "NoRawIpApiSecret0123456789"
TOKEN = "n" * 20 + "-no-raw-ip-admin-token"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")


def test_the_scanner_finds_every_form_and_nothing_else() -> None:
    search = no_raw_ip.Addresses([FORWARDED_V4, FORWARDED_V6_SHORT])
    for text in ["ip=203.0.113.199", "::ffff:203.0.113.199", "::FFFF:CB00:71C7",
                 "2001:db8:ab:cd::9", "2001:0db8:00ab:00cd:0000:0000:0000:0009",
                 "2001:db8:ab:cd:0:0:0:9", "[2001:DB8:AB:CD::9]:443", "2001%3Adb8%3Aab%3Acd%3A%3A9",
                 '{"ip": "203.0.113.199"}']:
        assert search.find(text, "t"), text
    for text in ["203.0.113.0", "203.0.113.1990", "1203.0.113.199", "203.0.113.199.5",
                 "2001:db8:ab::", "2001:db8:ab:cd::99", "2001:db8:ab:cd::9a"]:
        assert not search.find(text, "t"), text


def test_forms_that_prefix_one_another_are_each_found() -> None:
    # the pattern shares prefixes (a trie): a shorter form ending inside a longer one's path
    search = no_raw_ip.Addresses(["192.0.2.1", "192.0.2.12", "192.0.2.123"])
    found = search.find("a 192.0.2.1, b 192.0.2.12; c 192.0.2.123 d 192.0.2.124 e 192.0.2.13",
                        "t")
    assert [f.address for f in found] == ["192.0.2.1", "192.0.2.12", "192.0.2.123"]


def test_the_stream_is_read_past_one_page_to_every_shards_end() -> None:
    # GetRecords answers at most 10,000 records, and kinesalite says MillisBehindLatest 0 on
    # every page: the address is the last of 10,500 records in one shard
    emulator = kinesalite.start()
    try:
        kinesis = boto3.client("kinesis", endpoint_url=emulator.url, region_name="us-east-1",
                               aws_access_key_id="x", aws_secret_access_key="x")
        kinesis.create_stream(StreamName="deep", ShardCount=1)
        kinesis.get_waiter("stream_exists").wait(StreamName="deep")
        for call in range(21):
            kinesis.put_records(StreamName="deep", Records=[
                {"Data": b"hit %d" % (call * 500 + i), "PartitionKey": "p"} for i in range(500)])
        kinesis.put_record(StreamName="deep", Data=f"uip={FORWARDED_V4}".encode(),
                           PartitionKey="p")
        found, read = no_raw_ip.scan_kinesis(kinesis, "deep", no_raw_ip.Addresses([FORWARDED_V4]))
    finally:
        emulator.stop()
    assert read == 10_501
    assert [f.address for f in found] == [FORWARDED_V4]


@pytest.fixture
def flow_settings(settings: CollectorSettings) -> CollectorSettings:
    geoip = TESTDATA / "geoip" / "GeoIP2-City-Test.mmdb"
    return settings.model_copy(update={"trusted_proxy_hops": 1, "geoip_database": str(geoip)})


def provision(settings: CollectorSettings) -> None:
    async def go() -> None:
        await bootstrap.provision(settings)  # stream, every table, the archive bucket
        async with aws.client(aws.session(), "dynamodb", settings) as ddb:
            store = PropertyStore(ddb, settings.resources.properties.name)
            await store.register("Kept /24", [UA_TID, GA4_ID], api_secrets_=[SECRET])
            await store.register("Kept none", [UA_NONE], ip_precision="none", cookieless=True)

    asyncio.run(go())


def hits(c_url: str) -> int:
    """Send the flow's hits from PEER; how many are accepted (each must be archived)."""
    transport = httpx.HTTPTransport(local_address=PEER)
    ua = "v=1&t=pageview&dh=example.com&dp=%2Fp{n}&cid=7.{n}&z=z{n}&tid={tid}"
    sent = 0
    with httpx.Client(base_url=c_url, transport=transport, timeout=30,
                      headers={"user-agent": CHROME}) as http:
        def ok(r: httpx.Response) -> None:
            nonlocal sent
            assert r.status_code in (200, 204), r.text
            sent += 1

        for tid in (UA_TID, UA_NONE):
            ok(http.get("/collect", params=ua.format(n=1, tid=tid)))  # the peer: no XFF
            ok(http.post("/collect", content=ua.format(n=2, tid=tid),
                         headers={"x-forwarded-for": f"{SPOOFED}, {FORWARDED_V4}"}))
            ok(http.post("/collect", content=ua.format(n=3, tid=tid),
                         headers={"x-forwarded-for": f"[{FORWARDED_V6}]:443"}))
            ok(http.get("/collect", params=ua.format(n=4, tid=tid) + f"&uip={UIP}",
                        headers={"x-forwarded-for": FORWARDED_V6_SHORT}))
            ok(http.post("/collect", content=ua.format(n=5, tid=tid) + "&aip=1",
                         headers={"x-forwarded-for": f"{SPOOFED},{FORWARDED_V4}:5123"}))
            # the debug answer says what would be kept; nothing of it is stored
            assert http.get("/debug/collect", params=ua.format(n=6, tid=tid) + f"&uip={UIP}",
                            headers={"x-forwarded-for": FORWARDED_V4}).status_code == 200
        ok(http.get("/g/collect", params={"v": "2", "tid": GA4_ID, "cid": "8.1", "en": "page_view",
                                          "dl": "https://example.com/g", "_p": "11", "_s": "1"},
                    headers={"x-forwarded-for": f"{SPOOFED}, {FORWARDED_V6}",
                             "origin": "https://example.com"}))
        body = {"client_id": "9.1", "ip_override": MP_OVERRIDE, "events": [{"name": "signup"}]}
        ok(http.post("/mp/collect", params={"measurement_id": GA4_ID, "api_secret": SECRET},
                     content=orjson.dumps(body),
                     headers={"x-forwarded-for": FORWARDED_V6_SHORT}))
        for n, located in enumerate((LOCATED_V4, LOCATED_V6), 10):  # geo-located
            ok(http.get("/collect", params=ua.format(n=n, tid=UA_TID),
                        headers={"x-forwarded-for": f"{SPOOFED}, {located}"}))
        # filtered traffic (a bot, an unknown id) is counted: its counters hold no address
        http.get("/collect", params=ua.format(n=7, tid="UA-9999-9"),
                 headers={"x-forwarded-for": FORWARDED_V4})
        http.get("/collect", params=ua.format(n=8, tid=UA_TID),
                 headers={"x-forwarded-for": FORWARDED_V4, "user-agent": "Googlebot/2.1"})
    return sent


def read_dashboard(settings: CollectorSettings) -> None:
    """The dashboard reads the archive and rollups, asked from the distinctive addresses."""
    dash = DashboardSettings(resource_prefix=settings.resource_prefix,
                             aws_endpoint_url=settings.aws_endpoint_url, aws_region="us-east-1",
                             log_format="text", admin_token=TOKEN)
    with serving_app(create_dashboard(dash), "dashboard") as url, httpx.Client(
            base_url=url, transport=httpx.HTTPTransport(local_address=PEER), timeout=60,
            headers={"authorization": f"Bearer {TOKEN}",
                     "x-forwarded-for": f"{SPOOFED}, {FORWARDED_V4}"}) as http:
        props = http.get("/v1/properties").json()["properties"]
        for p in props:
            pid = p["property_id"]
            r = http.get(f"/v1/properties/{pid}/reports/overview",
                         params={"from": "2020-01-01", "to": "2030-12-31"})
            assert r.status_code in (200, 400), r.text
            assert http.get(f"/v1/properties/{pid}/realtime").status_code == 200
        assert http.get("/v1/properties", headers={"authorization": "Bearer wrong"}
                        ).status_code == 401


def test_no_raw_client_address_anywhere_at_rest(flow_settings: CollectorSettings, spawn: Spawn,
                                                captured: no_raw_ip.LogLines) -> None:
    settings = flow_settings
    provision(settings)
    stack = Stack(settings.resource_prefix, str(settings.aws_endpoint_url),
                  str(settings.aws_endpoint_url))
    with running_collector(settings) as c:
        accepted = hits(c.url)
    assert accepted == 14
    # two workers share the shards: the archiver's lines in both formats, at DEBUG
    workers = [spawn(stack, "w1", log_format="json", log_level="DEBUG"),
               spawn(stack, "w2", log_format="text", log_level="DEBUG")]
    wait_until(lambda: len(stack.archived_hits()) >= accepted, 60, f"{accepted} hits archived")
    wait_until(lambda: stack.rollup_items(), 30, "rollups written")
    read_dashboard(settings)
    for worker in workers:
        assert worker.terminate() == 0, worker.log()

    archived = [h for _, h in stack.archived_hits()]
    assert len(archived) == accepted
    # the scan looks where the truncated addresses are: the data is there, the raw never
    kept = {h.get("ip_truncated") for h in archived}
    assert {"127.44.55.0", "203.0.113.0", "2001:db8:85a3::", "198.51.100.0"} <= kept, kept
    assert None in kept  # the ip_precision none property keeps none
    assert "San Diego" in {h.get("geo_city") for h in archived}  # geo looked the address up

    archiver_lines = [(w.name, line) for w in workers for line in w.log().splitlines()]
    assert any('"level":"DEBUG"' in line for w, line in archiver_lines if w == "w1")
    assert any(" DEBUG " in line for w, line in archiver_lines if w == "w2")
    ddb = stack.boto("dynamodb")
    # every table of the prefix (the shared moto holds other tests' too: more than a page)
    tables = [t for page in ddb.get_paginator("list_tables").paginate()
              for t in page["TableNames"] if t.startswith(f"{settings.resource_prefix}-")]
    assert sorted(tables) == sorted(t.name for t in stack.res.tables)
    report = no_raw_ip.scan_stack(
        ADDRESSES, s3=stack.boto("s3"), buckets=[stack.res.archive.name], dynamodb=ddb,
        tables=tables, kinesis=stack.boto("kinesis"), stream=stack.res.stream.name,
        logs=[*captured.lines, *archiver_lines])
    assert report.objects >= 2
    assert report.items >= 3
    assert report.records >= accepted
    threads = {src.split(":")[1] for src, _ in captured.lines}
    assert {"collector", "dashboard"} <= threads, threads  # both servers' records were seen
    assert report.log_lines > 100
    assert report.findings == [], "\n".join(map(str, report.findings[:20]))
