"""The UA endpoints over HTTP: the collector under uvicorn on loopback, Kinesis and DynamoDB on moto.

Most tests share one collector per module and mode (the lean edge path and the FastAPI route
path, which must answer alike) and find their own hits in the stream by a unique client id:
a 2xx means the hit is already in Kinesis, so it can be read back at once. Tests about what
is *not* forwarded, and about the filtered-traffic counters (flushed when the collector
stops), run their own collector on their own stream.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.http import GIF
from collector.settings import CollectorSettings
from lambdalytics import hit as hitmod
from lambdalytics.records import FilteredCount
from tests.support import (
    UA_TID,
    boto,
    create_stack,
    isolate_aws_env,
    read_records,
    read_stream,
    running_collector,
)

HIT_PATHS = ["/collect", "/r/collect", "/j/collect"]
NO_CACHE = {"cache-control": "no-cache, no-store, must-revalidate", "pragma": "no-cache",
            "expires": "Fri, 01 Jan 1990 00:00:00 GMT"}
HELP = "Please see http://goo.gl/a8d4RP#{} for details."
FOUND_ONE = [{"messageType": "INFO", "description": "Found 1 hit in the request."}]


def new_cid() -> str:
    return f"{secrets.randbelow(10**9)}.{secrets.randbelow(10**9)}"


def payload(cid: str, *extra: str, tid: str = UA_TID, t: str = "pageview") -> str:
    parts = [f"v=1&tid={tid}&cid={cid}&t={t}"]
    if t == "pageview":
        parts.append("dp=%2Fhome")
    return "&".join([*parts, *extra])


def padded(base: str, size: int) -> str:
    """``base`` plus an ignored parameter, ``size`` bytes in all."""
    filler = size - len(base) - len("&_pad=")
    assert filler >= 0
    return f"{base}&_pad={'x' * filler}"


def property_id_of(settings: CollectorSettings, tid: str) -> str:
    item = boto(settings, "dynamodb").get_item(
        TableName=settings.resources.properties.name, Key={"pk": {"S": f"tid#{tid}"}})["Item"]
    return str(item["property_id"]["S"])


def hits(settings: CollectorSettings, cid: str | None = None) -> list[hitmod.Hit]:
    return [r for r in read_records(settings)
            if isinstance(r, hitmod.Hit) and (cid is None or r.client_id == cid)]


def counters(settings: CollectorSettings) -> list[FilteredCount]:
    return [r for r in read_records(settings) if isinstance(r, FilteredCount)]


def counted(settings: CollectorSettings) -> dict[tuple[str | None, str, str], int]:
    """Filtered counts by (property, claimed id, reason), summed over minutes."""
    records = counters(settings)
    out: dict[tuple[str | None, str, str], int] = {}
    for r in records:
        key = (r.property_id, r.tracking_id, r.reason)
        out[key] = out.get(key, 0) + r.count
    # compact: one record per key and minute, never one per request
    assert len(records) == len({(r.property_id, r.tracking_id, r.reason, r.minute) for r in records})
    return out


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_env() -> Iterator[None]:
    """conftest's AWS isolation, for collectors that live as long as the module."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_aws_env(mp)
        yield


@dataclass
class Live:
    settings: CollectorSettings
    http: httpx.Client
    property_id: str

    def hits(self, cid: str) -> list[hitmod.Hit]:
        return hits(self.settings, cid)


# the three ways a hit request can be answered: by the HTTP protocol itself
# (collector.protocol), by the edge's lean ASGI path, by the FastAPI routes
PATHS: dict[str, dict[str, bool]] = {
    "protocol": {}, "edge": {"hit_protocol": False}, "fastapi": {"fast_path": False},
}


@pytest.fixture(scope="module", params=PATHS, ids=list(PATHS))
def live(request: pytest.FixtureRequest, moto_url: str, module_env: None) -> Iterator[Live]:
    settings = CollectorSettings(
        resource_prefix="t" + secrets.token_hex(5), aws_endpoint_url=moto_url,
        aws_region="us-east-1", sink_max_in_flight=1, sink_linger_ms=5, log_format="text",
        **PATHS[request.param],
    )
    create_stack(settings, [UA_TID])
    with running_collector(settings) as collector, httpx.Client(base_url=collector.url) as http:
        yield Live(settings, http, property_id_of(settings, UA_TID))


@pytest.fixture
def stack(settings: CollectorSettings) -> CollectorSettings:
    create_stack(settings, [UA_TID])
    return settings


# --- responses ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", HIT_PATHS)
@pytest.mark.parametrize("valid", [True, False], ids=["valid", "invalid"])
def test_get_answers_the_gif_without_caching(live: Live, path: str, valid: bool) -> None:
    query = payload(new_cid()) if valid else "v=1&tid=fake"
    r = live.http.get(f"{path}?{query}")
    assert r.status_code == 200
    assert r.content == GIF
    assert r.headers["content-type"] == "image/gif"
    assert {k: r.headers.get(k) for k in NO_CACHE} == NO_CACHE


def test_the_gif_is_a_1x1_gif() -> None:
    assert GIF[:6] == b"GIF89a"
    assert (int.from_bytes(GIF[6:8], "little"), int.from_bytes(GIF[8:10], "little")) == (1, 1)


@pytest.mark.parametrize("path", [*HIT_PATHS, "/batch"])
@pytest.mark.parametrize("valid", [True, False], ids=["valid", "invalid"])
def test_post_answers_200(live: Live, path: str, valid: bool) -> None:
    body = payload(new_cid()) if valid else "this is not a hit"
    r = live.http.post(path, content=body)
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["cache-control"] == NO_CACHE["cache-control"]


@pytest.mark.parametrize("path", HIT_PATHS)
def test_every_collect_path_forwards_get_and_post(live: Live, path: str) -> None:
    cid = new_cid()
    assert live.http.get(f"{path}?{payload(cid, 'dt=by+get')}").status_code == 200
    assert live.http.post(path, content=payload(cid, "dt=by+post")).status_code == 200
    assert sorted(h.page_title or "" for h in live.hits(cid)) == ["by get", "by post"]


def test_a_hit_reads_back_as_sent(live: Live) -> None:
    cid = new_cid()
    query = payload(cid, "ec=Video", "ea=play%20now", "el=Holiday+%E2%82%AC", "ev=42", "ni=1",
                    "cd1=gold", "cd5=caf%C3%A9", "cm2=3.5", "dh=www.example.com", "dp=%2Fvideos%2F1",
                    "dt=Cats", "cn=spring", "cm=email", "qt=1500", "z=abc123",
                    "_v=j101", "jid=99", t="event")
    before = hitmod.utc_ms(time.time())
    r = live.http.get(f"/collect?{query}", headers={"User-Agent": "Mozilla/5.0 (test)"})
    after = hitmod.utc_ms(time.time())
    assert r.status_code == 200
    (got,) = live.hits(cid)
    assert before <= got.received_time <= after
    assert got.event_time == got.received_time - timedelta(milliseconds=1500)
    assert len(got.hit_id) == 32
    int(got.hit_id, 16)
    sent = {
        "schema_version": hitmod.SCHEMA_VERSION, "property_id": live.property_id,
        "tracking_id": UA_TID, "protocol": "ua", "type": "event", "client_id": cid,
        "event_category": "Video", "event_action": "play now", "event_label": "Holiday €",
        "event_value": 42, "non_interaction": True, "custom_dimensions": {"1": "gold", "5": "café"},
        "custom_metrics": {"2": 3.5}, "page_hostname": "www.example.com", "page_path": "/videos/1",
        "page_title": "Cats", "campaign_name": "spring", "campaign_medium": "email",
        "ip_truncated": "127.0.0.0", "ip_anonymized": False,
    }
    assert {k: getattr(got, k) for k in sent} == sent
    for absent in ("user_id", "page_location", "screen_name", "items", "promotions", "event_name"):
        assert getattr(got, absent) in (None, (), {}), absent


def test_the_raw_client_ip_never_reaches_kinesis(live: Live) -> None:
    plain, anonymised, overridden = new_cid(), new_cid(), new_cid()
    live.http.get(f"/collect?{payload(plain)}")
    live.http.post("/collect", content=payload(anonymised, "aip=1"))
    live.http.post("/collect", content=payload(overridden, "uip=203.0.113.77"))
    records = {pk: data for pk, data in read_stream(live.settings)}
    for cid in (plain, anonymised, overridden):
        assert b"127.0.0.1" not in records[cid]
        assert b"203.0.113.77" not in records[cid]
    (h,) = live.hits(plain)
    assert (h.ip_truncated, h.ip_anonymized) == ("127.0.0.0", False)
    (h,) = live.hits(anonymised)
    assert (h.ip_truncated, h.ip_anonymized) == ("127.0.0.0", True)
    (h,) = live.hits(overridden)
    assert (h.ip_truncated, h.ip_anonymized) == ("203.0.113.0", True)


def test_hit_ids_follow_the_nonce(live: Live) -> None:
    same, other, none, requeued = new_cid(), new_cid(), new_cid(), new_cid()
    for _ in range(2):
        live.http.get(f"/collect?{payload(same, 'z=777')}")
        live.http.get(f"/collect?{payload(none)}")
    live.http.get(f"/collect?{payload(other, 'z=1')}")
    live.http.get(f"/collect?{payload(other, 'z=2')}")
    # a retry that updates qt (as analytics.js and MP clients do) is still the same hit
    live.http.post("/collect", content=payload(requeued, "qt=100", "z=9"))
    live.http.post("/collect", content=payload(requeued, "qt=5100", "z=9"))
    assert len({h.hit_id for h in live.hits(same)}) == 1
    assert len(live.hits(same)) == 2
    assert len({h.hit_id for h in live.hits(other)}) == 2
    assert len({h.hit_id for h in live.hits(none)}) == 2
    retried = live.hits(requeued)
    assert len({h.hit_id for h in retried}) == 1
    assert sorted(h.received_time - h.event_time for h in retried) == [
        timedelta(milliseconds=100), timedelta(milliseconds=5100)]


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded", "text/plain;charset=UTF-8", None, "application/json",
    "multipart/form-data; boundary=x",
])
def test_the_body_is_a_payload_whatever_the_content_type(live: Live, content_type: str | None) -> None:
    cid = new_cid()
    headers = {"Content-Type": content_type} if content_type else {}
    r = live.http.post("/collect", content=payload(cid, "dt=typed").encode(), headers=headers)
    assert r.status_code == 200
    assert r.request.headers.get("content-type") == content_type
    (h,) = live.hits(cid)
    assert h.page_title == "typed"


def test_a_long_client_id_is_kept_whole(live: Live) -> None:
    cid = "c" * 600  # longer than a Kinesis partition key may be
    assert live.http.post("/collect", content=payload(cid)).status_code == 200
    assert [h.client_id for h in live.hits(cid)] == [cid]


def test_uid_only_hits_are_forwarded(live: Live) -> None:
    uid = "user-" + new_cid()
    live.http.post("/collect", content=f"v=1&tid={UA_TID}&uid={uid}&t=pageview&dp=%2F")
    (h,) = [h for h in hits(live.settings) if h.user_id == uid]
    assert h.client_id is None


# --- /batch ---------------------------------------------------------------------------------


def test_a_batch_of_20_hits_is_all_forwarded(live: Live) -> None:
    cid = new_cid()
    body = "\n".join(payload(cid, f"dt=hit{i}") for i in range(20))
    assert live.http.post("/batch", content=body).status_code == 200
    assert sorted(h.page_title or "" for h in live.hits(cid)) == sorted(f"hit{i}" for i in range(20))


def test_batch_lines_may_end_in_crlf_and_be_blank(live: Live) -> None:
    cid = new_cid()
    body = f"{payload(cid, 'dt=a')}\r\n\r\n{payload(cid, 'dt=b')}\r\n\n"
    assert live.http.post("/batch", content=body).status_code == 200
    assert sorted(h.page_title or "" for h in live.hits(cid)) == ["a", "b"]


def test_a_batch_at_the_byte_limits_is_forwarded(live: Live) -> None:
    cid = new_cid()
    body = padded(payload(cid, "dt=first"), 8192) + "\n" + padded(payload(cid, "dt=second"), 8191)
    assert len(body) == 16384
    assert live.http.post("/batch", content=body).status_code == 200
    assert sorted(h.page_title or "" for h in live.hits(cid)) == ["first", "second"]


def test_batch_limits(stack: CollectorSettings) -> None:
    too_many, too_big, long_line = new_cid(), new_cid(), new_cid()
    with running_collector(stack) as collector, httpx.Client(base_url=collector.url) as http:
        r = http.post("/batch", content="\n".join(payload(too_many, f"dt={i}") for i in range(21)))
        assert r.status_code == 200
        # three lines, each within 8192 bytes, 16386 bytes together
        body = "\n".join(padded(payload(too_big, f"dt={i}"), 5461) for i in range(3))
        assert len(body) == 16385
        assert http.post("/batch", content=body).status_code == 200
        body = payload(long_line, "dt=short") + "\n" + padded(payload(long_line, "dt=long"), 8193)
        assert len(body) < 16384
        assert http.post("/batch", content=body).status_code == 200
    assert hits(stack) == []
    assert counted(stack) == {(property_id_of(stack, UA_TID), UA_TID, "batch_too_large"): 21 + 3 + 2}


# --- size limits of one hit -----------------------------------------------------------------


def test_protocol_size_limits(stack: CollectorSettings) -> None:
    cid = new_cid()
    pid = property_id_of(stack, UA_TID)
    with running_collector(stack) as collector, httpx.Client(base_url=collector.url) as http:
        for size, title in ((8000, "get-at"), (8001, "get-over")):
            query = padded(payload(cid, f"dt={title}"), size - len("/collect?"))
            r = http.get(f"/collect?{query}")
            assert len(r.request.url.raw_path) == size
            assert (r.status_code, r.content) == (200, GIF)
        for size, title in ((8192, "post-at"), (8193, "post-over")):
            body = padded(payload(cid, f"dt={title}"), size)
            assert len(body) == size
            r = http.post("/collect", content=body)
            assert r.status_code == 200
    assert sorted(h.page_title or "" for h in hits(stack, cid)) == ["get-at", "post-at"]
    assert all(h.property_id == pid for h in hits(stack, cid))
    assert counted(stack) == {(pid, UA_TID, "payload_too_large"): 2}


def test_a_body_over_the_hard_cap_is_413(live: Live) -> None:
    cap = live.settings.max_body_bytes
    assert cap == 256 * 1024  # above GA4 MP's 130 kB
    r = live.http.post("/collect", content=b"v" * (cap + 1))
    assert r.status_code == 413
    r = live.http.post("/batch", content=b"v" * (cap + 1))
    assert r.status_code == 413

    def chunked() -> Iterator[bytes]:
        for _ in range(cap // 1000 + 2):
            yield b"x" * 1000

    r = live.http.post("/collect", content=chunked())
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in r.request.headers
    assert r.status_code == 413
    r = live.http.post("/debug/collect", content=chunked())
    assert r.status_code == 413
    # at the cap itself the body is read: over the protocol's limit, so a filtered 200
    r = live.http.post("/collect", content=b"v" * cap)
    assert r.status_code == 200


# --- what is not forwarded, and how it is counted --------------------------------------------


def test_invalid_hits_are_answered_and_counted_not_forwarded(stack: CollectorSettings) -> None:
    cid = new_cid()
    bad = [payload(cid, t="bogus"), payload(cid, "ev=-1", t="event"),
           f"v=2&tid={UA_TID}&cid={cid}&t=pageview", f"v=1&tid={UA_TID}&t=pageview&dp=%2F",
           payload(cid, "qt=99999999999")]
    with running_collector(stack) as collector, httpx.Client(base_url=collector.url) as http:
        for i, body in enumerate(bad):
            r = http.get(f"/collect?{body}") if i % 2 else http.post("/collect", content=body)
            assert r.status_code == 200
        assert hits(stack) == []
    assert hits(stack) == []
    assert counted(stack) == {(property_id_of(stack, UA_TID), UA_TID, "invalid_hit"): 5}


def test_a_raw_byte_that_is_not_utf8_invalidates_its_pair_not_the_hit_s_identity(
        stack: CollectorSettings) -> None:
    # a client sending Latin-1 unencoded: the hit is invalid for that pair alone, and counted
    # under the tracking id it names (not as a hit that names none)
    body = payload(new_cid(), "dt=caf").encode() + b"\xe9"
    with running_collector(stack) as collector, httpx.Client(base_url=collector.url) as http:
        assert http.post("/collect", content=body).status_code == 200
        explained = orjson.loads(http.post("/debug/collect", content=body).content)
    assert explained["hitParsingResult"] == [{
        "valid": False, "hit": "/debug/collect?" + body.decode("utf-8", "replace"),
        "parserMessage": [{"messageType": "ERROR", "messageCode": "VALUE_INVALID",
                           "description": "A parameter is not valid UTF-8 percent-encoding."}],
    }]
    assert hits(stack) == []
    assert counted(stack) == {(property_id_of(stack, UA_TID), UA_TID, "invalid_hit"): 1}


def test_an_unknown_property_is_counted_not_forwarded(stack: CollectorSettings) -> None:
    with running_collector(stack) as collector, httpx.Client(base_url=collector.url) as http:
        for _ in range(3):
            assert http.post("/collect", content=payload(new_cid(), tid="UA-999-1")).status_code == 200
        assert http.get(f"/collect?{payload(new_cid(), tid='UA-999-1')}").content == GIF
    assert hits(stack) == []
    assert counted(stack) == {(None, "UA-999-1", "unknown_property"): 4}


def test_a_disabled_property_is_counted_not_forwarded(settings: CollectorSettings) -> None:
    create_stack(settings, [UA_TID], enabled=False)
    pid = property_id_of(settings, UA_TID)
    with running_collector(settings) as collector, httpx.Client(base_url=collector.url) as http:
        for _ in range(2):
            assert http.post("/collect", content=payload(new_cid())).status_code == 200
        r = http.get(f"/debug/collect?{payload('1')}")
    assert r.json()["hitParsingResult"][0]["parserMessage"] == [{
        "messageType": "ERROR", "messageCode": "VALUE_INVALID", "parameter": "tid",
        "description": f"The value provided for parameter 'tid' ({UA_TID}) belongs to a disabled "
                       f"property; the hit is not recorded. {HELP.format('tid')}",
    }]
    assert hits(settings) == []
    assert counted(settings) == {(pid, UA_TID, "disabled_property"): 2}


def test_debug_never_reaches_kinesis(stack: CollectorSettings) -> None:
    with running_collector(stack) as collector, httpx.Client(base_url=collector.url) as http:
        for body in (payload(new_cid()), payload(new_cid(), "aip=1"), "v=1&tid=fake",
                     payload(new_cid(), tid="UA-999-1"), padded(payload(new_cid()), 9000)):
            assert http.get(f"/debug/collect?{body}").status_code == 200
            assert http.post("/debug/collect", content=body).status_code == 200
    assert read_stream(stack) == []  # neither hits nor filtered counters


# --- /debug/collect -------------------------------------------------------------------------


def debug(live: Live, method: str, query: str) -> Any:
    if method == "GET":
        r = live.http.get(f"/debug/collect?{query}")
    else:
        r = live.http.post("/debug/collect", content=query)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert {k: r.headers.get(k) for k in NO_CACHE} == NO_CACHE
    return orjson.loads(r.content)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_debug_a_valid_hit(live: Live, method: str) -> None:
    cid = new_cid()
    query = payload(cid, "dt=Home%20page")
    assert debug(live, method, query) == {
        "hitParsingResult": [{"valid": True, "hit": f"/debug/collect?{query}", "parserMessage": []}],
        "parserMessage": FOUND_ONE,
    }
    assert live.hits(cid) == []


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_debug_lists_every_problem(live: Live, method: str) -> None:
    query = "v=2&tid=fake&t=event&ec=Video&ev=-5&ni=yes&cd0=x&cg6=y&dt=" + "t" * 1501 + "&qt=abc"

    def problem(kind: str, code: str, param: str, text: str) -> dict[str, str]:
        return {"messageType": kind, "messageCode": code, "parameter": param,
                "description": f"{text} {HELP.format(param)}"}

    assert debug(live, method, query) == {
        "hitParsingResult": [{
            "valid": False,
            "hit": f"/debug/collect?{query}",
            "parserMessage": [
                problem("ERROR", "VALUE_OUT_OF_BOUNDS", "ev",
                        "The value provided for parameter 'ev' is out of bounds."),
                problem("ERROR", "VALUE_INVALID", "ni", "The value provided for parameter 'ni' is invalid."),
                problem("ERROR", "VALUE_OUT_OF_BOUNDS", "cd0",
                        "The value provided for parameter 'cd0' is out of bounds."),
                problem("ERROR", "VALUE_OUT_OF_BOUNDS", "cg6",
                        "The value provided for parameter 'cg6' is out of bounds."),
                problem("WARN", "VALUE_MODIFIED", "dt",
                        "The value provided for parameter 'dt' is longer than 1500 bytes and was truncated."),
                problem("ERROR", "VALUE_INVALID", "qt", "The value provided for parameter 'qt' is invalid."),
                problem("ERROR", "VALUE_INVALID", "v", "The value provided for parameter 'v' is invalid."),
                problem("ERROR", "VALUE_INVALID", "tid",
                        "The value provided for parameter 'tid' is invalid."),
                problem("ERROR", "VALUE_REQUIRED", "cid",
                        "A value is required for parameter 'cid' or 'uid'."),
                problem("ERROR", "VALUE_REQUIRED", "ea",
                        "A value is required for parameter 'ea' on event hits."),
            ],
        }],
        "parserMessage": FOUND_ONE,
    }


def test_debug_an_empty_request(live: Live) -> None:
    result = debug(live, "GET", "")
    assert result["parserMessage"] == FOUND_ONE
    (hit,) = result["hitParsingResult"]
    assert hit["valid"] is False
    assert [m["parameter"] for m in hit["parserMessage"]] == ["v", "tid", "cid", "t"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_debug_an_unknown_property(live: Live, method: str) -> None:
    query = payload(new_cid(), tid="UA-999-1")
    assert debug(live, method, query) == {
        "hitParsingResult": [{"valid": False, "hit": f"/debug/collect?{query}", "parserMessage": [{
            "messageType": "ERROR", "messageCode": "VALUE_INVALID", "parameter": "tid",
            "description": "The value provided for parameter 'tid' (UA-999-1) is not registered with "
                           f"this collector; the hit is not recorded. {HELP.format('tid')}",
        }]}],
        "parserMessage": FOUND_ONE,
    }


@pytest.mark.parametrize("aip", ["aip=1", "aip=0", "aip="])
def test_debug_reports_ip_anonymisation(live: Live, aip: str) -> None:
    cid = new_cid()
    query = payload(cid, aip)
    assert debug(live, "GET", query) == {
        "hitParsingResult": [{"valid": True, "hit": f"/debug/collect?{query}", "parserMessage": [{
            "messageType": "INFO", "messageCode": "VALUE_MODIFIED", "parameter": "aip",
            "description": "IP Address from this hit was anonymized to 127.0.0.0.",
        }]}],
        "parserMessage": FOUND_ONE,
    }
    assert live.hits(cid) == []


def test_debug_an_oversized_payload(live: Live) -> None:
    query = padded(payload(new_cid()), 8193)
    result = debug(live, "POST", query)
    assert result == {
        "hitParsingResult": [{"valid": False, "hit": f"/debug/collect?{query}", "parserMessage": [{
            "messageType": "ERROR", "messageCode": "VALUE_OUT_OF_BOUNDS",
            "description": "The payload is 8193 bytes; at most 8192 are allowed.",
        }]}],
        "parserMessage": FOUND_ONE,
    }


# --- HTTP semantics -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*HIT_PATHS, "/batch", "/debug/collect"])
def test_cors_preflight(live: Live, path: str) -> None:
    r = live.http.options(path, headers={"Origin": "https://shop.example",
                                         "Access-Control-Request-Method": "POST",
                                         "Access-Control-Request-Headers": "content-type"})
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers["access-control-allow-origin"] == "https://shop.example"
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "content-type" in r.headers["access-control-allow-headers"].lower()
    assert "Origin" in r.headers["vary"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/collect"), ("POST", "/r/collect"),
                                              ("POST", "/batch"), ("GET", "/debug/collect")])
def test_the_origin_is_echoed_with_credentials(live: Live, method: str, path: str) -> None:
    body = payload(new_cid())
    url, content = (path, body) if method == "POST" else (f"{path}?{body}", None)
    r = live.http.request(method, url, content=content, headers={"Origin": "http://localhost:3000"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert r.headers["access-control-allow-credentials"] == "true"
    r = live.http.request(method, url, content=content)
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/collect"), ("DELETE", "/collect"), ("PATCH", "/r/collect"), ("PUT", "/j/collect"),
    ("GET", "/batch"), ("PUT", "/batch"), ("PUT", "/debug/collect"),
])
def test_wrong_methods_are_405(live: Live, method: str, path: str) -> None:
    r = live.http.request(method, path, content=payload(new_cid()))
    assert r.status_code == 405
    allowed = {m.strip() for m in r.headers["allow"].split(",")}
    assert method not in allowed
    assert "POST" in allowed


def test_unknown_paths_are_404(live: Live) -> None:
    assert live.http.get("/collectx").status_code == 404
    assert live.http.post("/g/nothing", content=b"v=1").status_code == 404


# --- operations -----------------------------------------------------------------------------


def test_healthz(live: Live) -> None:
    r = live.http.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_readyz(live: Live) -> None:
    r = live.http.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"properties_table": "ok", "stream": "ok"}}


def test_metrics_count_accepted_and_filtered_hits(live: Live) -> None:
    before = live.http.get("/metrics").text
    live.http.post("/collect", content=payload(new_cid()))
    live.http.post("/collect", content="v=1&tid=fake")
    live.http.post("/collect", content=payload(new_cid(), tid="UA-999-1"))
    r = live.http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    after = r.text
    assert "lambdalytics_hits_accepted_total" in after
    assert "lambdalytics_hits_filtered_total" in after

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("lambdalytics_hits_accepted_total", protocol="ua") == 1
    assert delta("lambdalytics_hits_filtered_total", protocol="ua", reason="invalid_hit") == 1
    assert delta("lambdalytics_hits_filtered_total", protocol="ua", reason="unknown_property") == 1


def test_openapi_lists_the_hit_endpoints(live: Live) -> None:
    r = live.http.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in ("/collect", "/batch", "/debug/collect", "/r/collect", "/j/collect"):
        assert path in paths
        assert "post" in paths[path]
    for path in ("/collect", "/debug/collect", "/r/collect", "/j/collect"):
        assert "get" in paths[path]
    assert "get" not in paths["/batch"]


def test_openapi_declares_a_ua_posts_200_without_a_body(live: Live) -> None:
    """A UA POST (and /batch) is answered with an empty 200 and no Content-Type
    (test_post_answers_200): its 200 declares no content; a GET's declares the GIF."""
    paths = live.http.get("/openapi.json").json()["paths"]
    for path in (*HIT_PATHS, "/batch"):
        assert "content" not in paths[path]["post"]["responses"]["200"], path
    for path in HIT_PATHS:
        assert "image/gif" in paths[path]["get"]["responses"]["200"]["content"], path


def test_openapi_operation_ids_are_unique(live: Live) -> None:
    paths = live.http.get("/openapi.json").json()["paths"]
    ids = [op["operationId"] for item in paths.values() for op in item.values() if "operationId" in op]
    assert len(ids) == len(set(ids))
