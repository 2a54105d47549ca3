"""Filtered-traffic counters over HTTP, every protocol: a counter whose claimed tracking id
belongs to a property names that property whatever the reason (an invalid hit's too, and a
disabled property's), so it is filed under the property and shows in its excluded-traffic
report; only an id no property has is counted with no property (``_unknown``). An id no
property can have (missing, not a tracking id) is never looked up, and the lookups invalid
hits cause are bounded (:data:`collector.ingest.CLAIM_LOOKUPS_PER_S`). The collector under
uvicorn, properties in the real table (moto), the counter records read back from Kinesis
once the collector has stopped (it flushes them then)."""

from __future__ import annotations

import secrets
import time

import httpx
import orjson

from collector.app import Overrides
from collector.ingest import CLAIM_LOOKUPS_PER_S
from collector.settings import CollectorSettings
from lambdalytics.properties import Property
from tests.collector.test_collect_http import metric, new_cid, padded, payload
from tests.collector.test_enrich_http import GOOGLEBOT, _a_spam_host
from tests.collector.test_ga4_http import CHROME, GID, gtag_query, line, mp_url, new_secret
from tests.collector.test_policy_http import counted, register
from tests.collector.test_properties import Switchable
from tests.support import UA_TID, create_stack, running_collector

LOOKUPS = "lambdalytics_property_lookups_total"


def test_ua_counters_of_a_known_id_name_its_property(settings: CollectorSettings) -> None:
    create_stack(settings)
    pid = register(settings, UA_TID)
    off = register(settings, "UA-301-1", enabled=False)
    spam = _a_spam_host()
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        # invalid hits first: nothing is cached for the property yet
        answers = [
            http.get(f"/collect?{payload(new_cid(), t='bogus')}"),
            http.post("/collect", content=payload(new_cid(), "ev=-1", t="event")),
            http.post("/collect", content=padded(payload(new_cid()), 9000)),
            http.post("/batch", content="\n".join(payload(new_cid()) for _ in range(21))),
            http.get(f"/collect?{payload(new_cid(), f'dr=https%3A%2F%2F{spam}%2F')}",
                     headers={"user-agent": CHROME}),
            http.get(f"/collect?{payload(new_cid())}", headers={"user-agent": GOOGLEBOT}),
            http.get(f"/collect?{payload(new_cid(), tid='UA-301-1', t='bogus')}"),
            http.get(f"/collect?{payload(new_cid(), tid='UA-301-1')}"),
            http.get(f"/collect?{payload(new_cid(), tid='UA-999-1', t='bogus')}"),
            http.get(f"/collect?{payload(new_cid(), tid='UA-999-2')}"),
            http.get("/collect?v=1&tid=fake&t=pageview"),
            http.post("/collect", content=f"v=1&cid={new_cid()}&t=pageview"),
        ]
        lookups = http.get("/metrics").text
    assert [r.status_code for r in answers] == [200] * len(answers)
    assert counted(settings) == {
        (pid, UA_TID, "invalid_hit"): 2,
        (pid, UA_TID, "payload_too_large"): 1,
        (pid, UA_TID, "batch_too_large"): 21,
        (pid, UA_TID, "referrer_spam"): 1,
        (pid, UA_TID, "bot"): 1,
        # a disabled property's: under it too (its hits are refused, not someone else's)
        (off, "UA-301-1", "invalid_hit"): 1,
        (off, "UA-301-1", "disabled_property"): 1,
        (None, "UA-999-1", "invalid_hit"): 1,
        (None, "UA-999-2", "unknown_property"): 1,
        (None, "fake", "invalid_hit"): 1,
        (None, "", "invalid_hit"): 1,
    }
    # one lookup per id through the cache; "fake" and the missing id never reach the table
    assert metric(lookups, LOOKUPS, outcome="hit") == 2
    assert metric(lookups, LOOKUPS, outcome="miss") == 2


def test_gtag_counters_of_a_known_id_name_its_property(settings: CollectorSettings) -> None:
    create_stack(settings)
    pid = register(settings, GID)
    batch = "\n".join([line(en="", _s="1"), line(en="signup", _s="2")]).encode()
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        answers = [
            http.post(f"/g/collect?{gtag_query('1.1', en='')}"),  # no event name
            http.post(f"/g/collect?{gtag_query('1.2', v='1')}"),
            http.post(f"/g/collect?{gtag_query('1.3')}", content=batch),  # one line invalid
            http.post(f"/g/collect?{gtag_query('1.4', tid='G-NOTOURS99', en='')}"),
            http.post(f"/g/collect?{gtag_query('1.5', tid='G-NOTOURS98')}"),
            http.post(f"/g/collect?{gtag_query('1.6', tid='G-lower')}"),  # not a G- id
        ]
        lookups = http.get("/metrics").text
    assert [r.status_code for r in answers] == [204] * len(answers)
    assert counted(settings) == {
        (pid, GID, "invalid_hit"): 3,
        (None, "G-NOTOURS99", "invalid_hit"): 1,
        (None, "G-NOTOURS98", "unknown_property"): 1,
        (None, "G-lower", "invalid_hit"): 1,
    }
    assert metric(lookups, LOOKUPS, outcome="hit") == 1
    assert metric(lookups, LOOKUPS, outcome="miss") == 2


def test_mp_counters_of_a_known_id_name_its_property(settings: CollectorSettings) -> None:
    create_stack(settings)
    pid = register(settings, GID)
    secret = new_secret(settings, pid)
    bad_event = orjson.dumps({"client_id": "1.1", "events": [{"name": "_bad"}]})
    good_event = orjson.dumps({"client_id": "1.2", "events": [{"name": "signup"}]})
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        answers = [
            http.post(mp_url(secret), content=bad_event),  # the event is invalid
            http.post(mp_url(secret), content=b"{nope"),  # the request is
            http.post(mp_url("x" * 40), content=good_event),  # not the property's secret
            http.post(mp_url(secret, tid="G-NOTOURS99"), content=b"{nope"),
            http.post(mp_url(secret, tid="G-NOTOURS98"), content=good_event),
        ]
    assert [r.status_code for r in answers] == [204] * len(answers)
    assert counted(settings) == {
        (pid, GID, "invalid_hit"): 2,
        (pid, GID, "invalid_api_secret"): 1,
        (None, "G-NOTOURS99", "invalid_hit"): 1,
        (None, "G-NOTOURS98", "unknown_property"): 1,
    }


def test_a_flood_of_invalid_hits_with_made_up_ids_does_not_read_the_table_for_each(
        settings: CollectorSettings) -> None:
    create_stack(settings)
    settings = settings.model_copy(update={"property_ttl_s": 0.2})
    pid = register(settings, UA_TID)
    made_up = [f"UA-{secrets.randbelow(10**9)}-1" for _ in range(100)]
    flood = "\n".join([*(payload(new_cid(), tid=t) for t in made_up),
                       payload(new_cid()), payload(new_cid())])  # over 20 lines: too large
    with running_collector(settings) as c, httpx.Client(base_url=c.url) as http:
        assert http.get(f"/collect?{payload(new_cid())}").status_code == 200  # cached now
        time.sleep(0.3)  # and expired
        before = http.get("/metrics").text
        start = time.monotonic()
        assert http.post("/batch", content=flood).status_code == 200
        for tid in made_up[:20]:  # again, one request each
            assert http.get(f"/collect?{payload(new_cid(), tid=tid, t='bogus')}").status_code == 200
        elapsed = time.monotonic() - start
        after = http.get("/metrics").text
    reads = metric(after, LOOKUPS, outcome="miss") - metric(before, LOOKUPS, outcome="miss")
    # the bucket holds one second's worth and refills at the rate
    assert 0 < reads <= CLAIM_LOOKUPS_PER_S * (1 + elapsed) + 1 < len(made_up)
    counts = counted(settings)
    # the property's own lines, after the budget was spent: still under it (its last answer)
    assert counts.pop((pid, UA_TID, "batch_too_large")) == 2
    assert counts == {**{(None, t, "batch_too_large"): 1 for t in made_up},
                      **{(None, t, "invalid_hit"): 1 for t in made_up[:20]}}


def test_invalid_hits_while_the_table_is_down_are_still_answered_and_counted(
        settings: CollectorSettings) -> None:
    create_stack(settings)
    settings = settings.model_copy(update={"property_ttl_s": 0.2})
    switch = Switchable({UA_TID: Property("p1", "site", (UA_TID,))})
    invalid = payload(new_cid(), t="bogus")
    with running_collector(settings, Overrides(properties=switch)) as c, \
            httpx.Client(base_url=c.url) as http:
        down = http.get(f"/collect?{invalid}")  # nothing cached: the property is not known
        switch.down = False
        up = http.get(f"/collect?{invalid}")
        switch.down = True
        time.sleep(0.3)  # past the TTL: the cache serves its last answer
        stale = http.get(f"/collect?{invalid}")
    # an invalid hit is a 200 whatever the table does (a valid one, down, would be a 503)
    assert [r.status_code for r in (down, up, stale)] == [200, 200, 200]
    assert counted(settings) == {(None, UA_TID, "invalid_hit"): 1, ("p1", UA_TID, "invalid_hit"): 2}
