"""The collector's property cache over the real properties table (moto over HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from collector.app import Overrides
from collector.errors import PropertiesUnavailable
from collector.properties import PropertyCache
from collector.settings import CollectorSettings
from lambdalytics import aws
from lambdalytics.properties import Property, PropertyStore, TrackingIdTaken
from tests.support import UA_TID, create_stack, read_records, running_collector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Flaky:
    """The real store, with a switch that makes every lookup fail like a DynamoDB outage."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.down = False
        self.calls = 0

    async def lookup(self, tracking_id: str) -> Property | None:
        self.calls += 1
        if self.down:
            raise ConnectionError("DynamoDB unreachable")
        return await self.store.lookup(tracking_id)  # type: ignore[no-any-return]


@pytest.fixture
def table(settings: CollectorSettings) -> CollectorSettings:
    create_stack(settings)
    return settings


@pytest.fixture
async def store(table: CollectorSettings) -> AsyncIterator[PropertyStore]:
    settings = table
    async with aws.client(aws.session(), "dynamodb", settings) as ddb:
        yield PropertyStore(ddb, settings.resources.properties.name)


async def test_positive_answers_are_cached_until_the_ttl(store: PropertyStore) -> None:
    prop = await store.register("site", [UA_TID])
    clock = Clock()
    flaky = Flaky(store)
    cache = PropertyCache(flaky, ttl=60, negative_ttl=30, clock=clock)
    assert (await cache.resolve(UA_TID)) == prop
    await store.set_enabled(prop.property_id, False)
    clock.now += 59
    cached = await cache.resolve(UA_TID)
    assert cached is not None
    assert cached.enabled
    assert flaky.calls == 1
    clock.now += 2
    fresh = await cache.resolve(UA_TID)
    assert fresh is not None
    assert not fresh.enabled
    assert flaky.calls == 2


async def test_negative_answers_are_cached_for_their_own_ttl(store: PropertyStore) -> None:
    clock = Clock()
    flaky = Flaky(store)
    cache = PropertyCache(flaky, ttl=60, negative_ttl=30, clock=clock)
    assert await cache.resolve("UA-777-1") is None
    await store.register("late", ["UA-777-1"])
    clock.now += 29
    assert await cache.resolve("UA-777-1") is None
    assert flaky.calls == 1
    clock.now += 2
    found = await cache.resolve("UA-777-1")
    assert found is not None
    assert found.name == "late"


async def test_a_blip_serves_the_cached_answer(store: PropertyStore) -> None:
    prop = await store.register("site", [UA_TID])
    clock = Clock()
    flaky = Flaky(store)
    cache = PropertyCache(flaky, ttl=60, stale_for=600, clock=clock)
    assert await cache.resolve(UA_TID) == prop
    flaky.down = True
    clock.now += 120  # expired, and the table is down: the stale answer is served
    assert await cache.resolve(UA_TID) == prop
    with pytest.raises(PropertiesUnavailable):  # nothing cached for a new id
        await cache.resolve("UA-555-5")
    clock.now += 600  # too stale to trust
    with pytest.raises(PropertiesUnavailable):
        await cache.resolve(UA_TID)
    flaky.down = False
    assert await cache.resolve(UA_TID) == prop


async def test_concurrent_misses_share_one_lookup(store: PropertyStore) -> None:
    await store.register("site", [UA_TID])
    flaky = Flaky(store)
    cache = PropertyCache(flaky)
    answers = await asyncio.gather(*(cache.resolve(UA_TID) for _ in range(20)))
    assert len({a.property_id for a in answers if a}) == 1
    assert flaky.calls == 1


async def test_tracking_ids_are_unique(store: PropertyStore) -> None:
    await store.register("one", [UA_TID])
    with pytest.raises(TrackingIdTaken):
        await store.register("two", ["UA-999-1", UA_TID])
    assert await store.lookup("UA-999-1") is None  # nothing half-written


class Switchable:
    """A property lookup whose backing table can be switched off."""

    def __init__(self, answers: dict[str, Property]) -> None:
        self.answers = answers
        self.down = True

    async def lookup(self, tracking_id: str) -> Property | None:
        if self.down:
            raise ConnectionError("DynamoDB unreachable")
        return self.answers.get(tracking_id)


def test_outage_without_cache_answers_503_then_recovers(settings: CollectorSettings) -> None:
    create_stack(settings)
    switch = Switchable({UA_TID: Property("p1", "site", (UA_TID,))})
    with running_collector(settings, Overrides(properties=switch)) as c:
        down = httpx.get(f"{c.url}/collect", params=_hit(1))
        switch.down = False
        up = httpx.get(f"{c.url}/collect", params=_hit(2))
        switch.down = True  # cached now: a later blip does not fail hits
        still = httpx.get(f"{c.url}/collect", params=_hit(3))
    assert down.status_code == 503
    assert down.headers["retry-after"]
    assert (up.status_code, still.status_code) == (200, 200)
    labels = sorted(r.event_label for r in read_records(settings) if hasattr(r, "event_label"))
    assert labels == ["2", "3"]


def _hit(i: int) -> dict[str, str]:
    return {"v": "1", "tid": UA_TID, "cid": f"{i}.1", "t": "event", "ec": "c", "ea": "a",
            "el": str(i)}
