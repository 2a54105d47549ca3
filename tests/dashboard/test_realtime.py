"""Realtime from the rollups table on moto: items written as the archiver writes them (its
processor's cuts, several shards), merged per minute and across the window; the second-long
cache with single flight; a busy window's read time (printed: a figure, not an assertion);
503 when the rollups are unavailable."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Iterable
from typing import Any

import boto3

from archiver import rollup
from archiver.processor import DuplicateWindow, Record, process
from archiver.rollup_store import RollupStore, RollupsUnavailable
from dashboard.realtime import Realtime
from lambdalytics import aws
from lambdalytics.hit import Hit, encode
from tests.dashboard import dashboard_support as ds
from tests.dashboard import report_fixture as fx

NOW = dt.datetime(2026, 3, 29, 12, 0, 30, tzinfo=dt.UTC)


def at(minute: str, second: int = 0) -> dt.datetime:
    return dt.datetime.fromisoformat(f"2026-03-29T{minute}:{second:02d}+00:00")


def pv(minute: str, client: str, path: str, *, prop: str = fx.SHOP, type: str = "pageview",
       country: str = "DE", n: int = 0) -> Hit:
    t = at(minute, n)
    return Hit(hit_id=f"{abs(hash((minute, client, path, n, prop, type))):032x}"[:32],
               received_time=t, event_time=t, property_id=prop, tracking_id="UA-1-1",
               protocol="ua", type=type, client_id=client, page_path=path,
               referrer_source="google", referrer_medium="search", geo_country=country,
               device_category="desktop", browser="Firefox")


def write(settings: Any, items: Iterable[dict[str, Any]]) -> None:
    ddb = boto3.client("dynamodb", endpoint_url=settings.aws_endpoint_url, region_name="us-east-1")
    batch = list(items)
    for i in range(0, len(batch), 25):
        ddb.batch_write_item(RequestItems={settings.resources.rollups.name: [
            {"PutRequest": {"Item": item}} for item in batch[i:i + 25]]})


def cut(hits: list[Hit], shard: str, first: int) -> list[dict[str, Any]]:
    """The rollup items the archiver's processor makes of one cut of a shard."""
    records = [Record(str(first + n), 1_774_785_600_000 + n, encode(h)) for n, h in enumerate(hits)]
    out = process(records, shard_id=shard, first=str(first), last=str(first + len(hits) - 1),
                  window=DuplicateWindow(3_600_000))
    return out.rollup_items


def test_the_realtime_answer(moto_url: str, prefix: str) -> None:
    settings = ds.provision(moto_url, prefix)
    write(settings, cut([pv("12:00", "c1", "/"), pv("12:00", "c2", "/", type="event",
                                                     country="FR"),
                         pv("11:40", "c1", "/"), pv("11:30", "c9", "/old")],
                        "shardId-000000000000", 1))
    write(settings, cut([pv("12:00", "c1", "/", n=1), pv("11:57", "c3", "/pricing"),
                         pv("12:00", "c7", "/", prop=fx.OTHER)], "shardId-000000000001", 1))
    with ds.client(settings, clock=ds.Clock(NOW.timestamp())) as api:
        r = api.get(f"/v1/properties/{fx.SHOP}/realtime", headers=ds.AUTH)
        assert r.status_code == 200, r.text
        body = r.json()
        assert r.headers["content-security-policy"] == ds.CSP
    series = body.pop("series")
    assert body == {
        "property": fx.SHOP, "now": "2026-03-29T12:00:30Z", "minutes": 30,
        "visitors_5m": 3,  # c1, c2 at 12:00, c3 at 11:57
        "visitors_30m": 3,  # and c1 again at 11:40; c9 at 11:30 is outside
        "pageviews_30m": 4, "hits_30m": 5,
        "pages": [{"key": "/", "count": 3}, {"key": "/pricing", "count": 1}],
        "sources": [{"key": "google", "count": 4}],
        "countries": [{"key": "DE", "count": 4}, {"key": "FR", "count": 1}],
        "devices": [{"key": "desktop", "count": 5}],
        "browsers": [{"key": "Firefox", "count": 5}],
    }
    assert [s["minute"] for s in series] == [
        (NOW - dt.timedelta(minutes=29 - i)).strftime("%Y-%m-%dT%H:%M") for i in range(30)]
    assert series[0]["minute"] == "2026-03-29T11:31"
    busy = {s["minute"][-5:]: (s["visitors"], s["pageviews"], s["hits"])
            for s in series if s["hits"]}
    assert busy == {"11:40": (1, 1, 1), "11:57": (1, 1, 1), "12:00": (2, 2, 3)}


class Counting(RollupStore):
    def __init__(self, client: Any, table: str) -> None:
        super().__init__(client, table)
        self.queries = 0

    async def items(self, property_id: str, minute: str, *, now: float | None = None,
                    ) -> list[dict[str, Any]]:
        self.queries += 1
        return await super().items(property_id, minute, now=now)


def test_one_read_a_second_whatever_the_callers(moto_url: str, prefix: str) -> None:
    settings = ds.provision(moto_url, prefix)
    write(settings, cut([pv("12:00", "c1", "/")], "shardId-000000000000", 1))
    clock = ds.Clock(NOW.timestamp())

    async def go() -> None:
        async with aws.client(aws.session(), "dynamodb", settings) as ddb:
            store = Counting(ddb, settings.resources.rollups.name)
            realtime = Realtime(store, clock=clock)
            answers = await asyncio.gather(*(realtime.answer(fx.SHOP) for _ in range(20)))
            assert store.queries == 30  # twenty callers, one read: one Query per minute
            assert all(a == answers[0][0] for a, _ in answers)
            assert answers[0][0]["hits_30m"] == 1
            assert (await realtime.answer(fx.SHOP))[1] is True
            await asyncio.sleep(1.05)
            clock.now += 1
            fresh, cached = await realtime.answer(fx.SHOP)
            # a second later: the three newest minutes are read again; the older ones, which
            # ended over two minutes ago, come from memory (for 15 s)
            assert (cached, store.queries, fresh["now"]) == (False, 33, "2026-03-29T12:00:31Z")
            assert fresh["hits_30m"] == 1

    asyncio.run(go())


def busy_items(rng: random.Random) -> tuple[list[dict[str, Any]], set[str], int]:
    """4 shards x 3 cuts x 30 minutes of a busy site (about 2,000 hits a minute over 5,000
    pages, 20,000 visitors): the items, the visitors and the hits."""
    items: list[dict[str, Any]] = []
    visitors: set[str] = set()
    total = 0
    for m in range(30):
        minute = (NOW - dt.timedelta(minutes=29 - m)).strftime("%Y-%m-%dT%H:%M")
        for shard in range(4):
            for c in range(3):
                hits = []
                for _ in range(170):
                    client = f"c{rng.randrange(20_000)}"
                    visitors.add(client)
                    hits.append({"property_id": fx.SHOP, "event_time": minute + ":00.000Z",
                                 "type": "pageview", "client_id": client,
                                 "page_path": f"/p/{int(rng.paretovariate(1.2)) % 5000}",
                                 "referrer_source": rng.choice(["google", "bing", "x.com"]),
                                 "geo_country": rng.choice(["DE", "FR", "US", "GB"]),
                                 "device_category": "mobile", "browser": "Chrome"})
                total += len(hits)
                for agg in rollup.build(hits).values():
                    items.append(rollup.to_item(
                        agg, shard_id=f"shardId-00000000000{shard}", first_seq=str(1000 * m + c),
                        last_seq=str(1000 * m + c), expires_at=int(NOW.timestamp()) + 86400))
    return items, visitors, total


def test_a_busy_window_is_read_in_one_pass(moto_url: str, prefix: str) -> None:
    settings = ds.provision(moto_url, prefix)
    items, visitors, hits = busy_items(random.Random(7))
    assert len(items) == 360
    write(settings, items)
    clock = ds.Clock(NOW.timestamp())
    with ds.client(settings, clock=clock) as api:
        timings = []
        for _ in range(5):
            clock.now += 2  # past the cache: every request reads the rollups again
            time.sleep(1.05)
            started = time.perf_counter()
            r = api.get(f"/v1/properties/{fx.SHOP}/realtime", headers=ds.AUTH)
            timings.append(time.perf_counter() - started)
            assert r.status_code == 200, r.text
        body = r.json()
        started = time.perf_counter()
        api.get(f"/v1/properties/{fx.SHOP}/realtime", headers=ds.AUTH)
        cached = time.perf_counter() - started
    warm = sorted(timings[1:])
    print(f"\nrealtime over 360 busy items ({hits} hits) on moto: first read "
          f"{timings[0] * 1000:.0f} ms (30 Queries), refreshes {warm[0] * 1000:.0f}-"
          f"{warm[-1] * 1000:.0f} ms (3 Queries, older minutes from memory), "
          f"{cached * 1000:.1f} ms from the 1 s cache")
    assert (body["hits_30m"], body["pageviews_30m"]) == (hits, hits)
    assert all(s["hits"] == 4 * 3 * 170 for s in body["series"])
    assert 0 < body["visitors_5m"] < body["visitors_30m"]
    assert abs(body["visitors_30m"] - len(visitors)) <= rollup.VISITORS_REL_ERR_MERGED * len(visitors)
    assert len(body["pages"]) == 10
    assert body["pages"][0]["count"] >= body["pages"][-1]["count"]


class Unavailable(RollupStore):
    def __init__(self) -> None:
        super().__init__(None, "nowhere")  # type: ignore[arg-type]

    async def items(self, property_id: str, minute: str, *, now: float | None = None,
                    ) -> list[dict[str, Any]]:
        raise RollupsUnavailable("Query on nowhere: throttled")


def test_rollups_unavailable_is_503(moto_url: str, prefix: str) -> None:
    settings = ds.provision(moto_url, prefix)
    with ds.client(settings, rollups=Unavailable()) as api:
        r = api.get(f"/v1/properties/{fx.SHOP}/realtime", headers=ds.AUTH)
        ds.is_problem(r, 503)
        assert r.headers["retry-after"] == "5"
        ds.is_problem(api.get("/v1/properties/missing/realtime", headers=ds.AUTH), 404)
