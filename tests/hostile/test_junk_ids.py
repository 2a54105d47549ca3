"""10,000 distinct junk tracking ids, twice over, cannot grow the property cache, the
filtered-traffic counters or the process's memory without bound, and get no 5xx."""

from __future__ import annotations

import gc
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from collector.app import Overrides
from collector.sink import NullWriter
from lambdalytics.properties import Property
from tests.hostile.conftest import collector_settings
from tests.hostile.test_slow import rss_bytes
from tests.support import UA_TID, RunningCollector, running_collector

CACHE_BOUND = 2_000  # the cache's max_entries, lowered so that 10,000 ids pass it


class Lookup:
    """The properties table in memory: one property; counts the lookups."""

    def __init__(self) -> None:
        self.calls = 0
        self.known = Property("p1", "site", (UA_TID,))

    async def lookup(self, tracking_id: str) -> Property | None:
        self.calls += 1
        return self.known if tracking_id == UA_TID else None


@pytest.fixture(scope="module")
def junk_collector(moto_url: str, module_env: None) -> Iterator[tuple[RunningCollector, Any, Lookup]]:
    lookup = Lookup()
    settings = collector_settings(moto_url)
    with running_collector(settings, Overrides(properties=lookup, writer=NullWriter())) as running:
        ingest = running.server.config.loaded_app.runtime.ingest
        ingest.properties._max_entries = CACHE_BOUND
        yield running, ingest, lookup


def _ids(n: int) -> list[str]:
    """Distinct ids: well-formed UA, GA4 and Firebase ones no property has (each looked up
    once, then cached as unknown), and junk (never looked up)."""
    salt = secrets.randbelow(10**6)
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            out.append(f"UA-{salt}{i}-{i % 9 + 1}")
        elif kind == 1:
            out.append(f"G-{salt:06d}X{i:08d}")
        elif kind == 2:
            out.append(f"1:{salt}{i}:android:{secrets.token_hex(4)}")
        else:
            out.append(secrets.token_urlsafe(8 + i % 50))
    return out


def _flood(http: httpx.Client, ids: list[str]) -> None:
    """Each id in a hit of its own protocol's (junk in all of them): UA in /batch bodies,
    GA4 in /g/collect lines, Firebase in /mp/collect requests; 2xx every one."""
    statuses: dict[int, int] = {}
    ua_ids = [t for t in ids if not t.startswith(("G-", "1:"))]
    ga4_ids = [t for t in ids if t.startswith("G-")] + ua_ids[1::3]
    for start in range(0, len(ua_ids), 20):  # a batch of 20 hits, each with its own id
        lines = [f"v=1&tid={tid}&cid=1.{start}&t=pageview&dp=%2F{j}"
                 for j, tid in enumerate(ua_ids[start:start + 20])]
        r = http.post("/batch", content="\n".join(lines))
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
    for start in range(0, len(ga4_ids), 20):
        lines = [f"tid={tid}&en=page_view&_s={j}" for j, tid in enumerate(ga4_ids[start:start + 20])]
        r = http.post("/g/collect?v=2&cid=1.2&_p=1", content="\n".join(lines))
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
    for tid in [t for t in ids if t.startswith("1:")] + ua_ids[2::6]:
        r = http.post(f"/mp/collect?firebase_app_id={tid}&api_secret=x",
                      json={"app_instance_id": "0" * 32, "events": [{"name": "x"}]})
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
    assert set(statuses) <= {200, 204}, statuses


def test_junk_ids_stay_bounded(junk_collector: tuple[RunningCollector, Any, Lookup]) -> None:
    running, ingest, lookup = junk_collector
    cache, counters = ingest.properties, ingest.counters
    with httpx.Client(base_url=running.url, timeout=30) as http:
        _flood(http, _ids(2_000))  # warm up: allocators, caches, code paths
        gc.collect()
        first = rss_bytes()
        _flood(http, _ids(10_000))
        gc.collect()
        second = rss_bytes()
        _flood(http, _ids(10_000))
        gc.collect()
        third = rss_bytes()
        assert http.get(f"/collect?v=1&tid={UA_TID}&cid=1.2&t=pageview&dp=%2F").status_code == 200
    assert len(cache._entries) <= CACHE_BOUND + 1
    assert cache.last(UA_TID) is lookup.known, "the real property's answer was dropped"
    assert len(counters.pending()) <= counters._max_keys + 200  # + one (other) per reason
    assert len(ingest._verdicts) <= 1
    assert len(ingest.limiter._buckets) <= 1
    # a well-formed id is looked up about once (then cached as unknown), junk never
    assert 3 * 22_000 // 4 - 100 <= lookup.calls <= 22_000
    # What holds memory per id is bounded above (the cache, the counters, the verdicts, the
    # limiter's buckets). The process's RSS is printed, not judged: in the whole suite's
    # process it moves with everything else there (captured log records of every request,
    # other tests' leftovers: +38 MB once, with the bounds above all held); `bench/fuzz.py
    # junk` reports RSS per round in a process of its own.
    print(f"RSS after warm-up {first >> 20} MiB; +10k ids {(second - first) >> 10} KiB; "
          f"+10k more {(third - second) >> 10} KiB; cache {len(cache._entries)} entries")
