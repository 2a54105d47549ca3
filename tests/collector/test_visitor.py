"""collector.visitor: cookieless visitor ids, and each day's salt shared through the real
properties table (moto): made once however many tasks ask at once, kept for the day,
another one the next day, expiring by TTL; the table down is a 503, not a guess."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest

from collector.errors import PropertiesUnavailable
from collector.settings import CollectorSettings
from collector.visitor import KEEP_DAYS, SALT_BYTES, DailySalts, day_of, visitor_id
from lambdalytics import aws
from tests.support import boto, create_stack

DAY = date(2026, 12, 7)


def test_the_visitor_id_is_a_keyed_hash_of_property_address_and_agent() -> None:
    salt, other = b"s" * SALT_BYTES, b"t" * SALT_BYTES
    one = visitor_id(salt, "p1", "81.2.69.142", "Chrome")
    assert len(one) == 32
    assert one == visitor_id(salt, "p1", "81.2.69.142", "Chrome")
    assert len({one, visitor_id(other, "p1", "81.2.69.142", "Chrome"),
                visitor_id(salt, "p2", "81.2.69.142", "Chrome"),
                visitor_id(salt, "p1", "81.2.69.143", "Chrome"),
                visitor_id(salt, "p1", "81.2.69.142", "Firefox"),
                visitor_id(salt, "p1", None, "Chrome")}) == 6
    assert "81.2.69" not in one
    assert day_of(1_796_601_600.0) == DAY  # 2026-12-07T00:00:00Z


async def _salts(settings: CollectorSettings, tasks: int, day: date) -> list[bytes]:
    async with aws.client(aws.session(), "dynamodb", settings) as ddb:
        each = [DailySalts(ddb, settings.resources.properties.name) for _ in range(tasks)]
        return list(await asyncio.gather(*(s.get(day) for s in each)))


def test_every_task_gets_the_same_salt_for_a_day_and_a_new_one_the_next(
        settings: CollectorSettings) -> None:
    create_stack(settings)
    first = asyncio.run(_salts(settings, 8, DAY))
    assert len(set(first)) == 1
    assert len(first[0]) == SALT_BYTES
    assert asyncio.run(_salts(settings, 2, DAY)) == first[:2]  # read back, not made again
    assert asyncio.run(_salts(settings, 1, date(2026, 12, 8)))[0] != first[0]
    table = settings.resources.properties.name
    item = boto(settings, "dynamodb").get_item(TableName=table, Key={"pk": {"S": "salt#2026-12-07"}})
    assert int(item["Item"]["expires_at"]["N"]) == 1_796_601_600 + KEEP_DAYS * 86400
    ttl = boto(settings, "dynamodb").describe_time_to_live(TableName=table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_one_salts_object_asks_the_table_once_a_day(settings: CollectorSettings) -> None:
    create_stack(settings)

    class Counting:
        def __init__(self, real: Any) -> None:
            self.real, self.calls = real, 0

        def __getattr__(self, name: str) -> Any:
            self.calls += 1
            return getattr(self.real, name)

    async def go() -> tuple[int, int]:
        async with aws.client(aws.session(), "dynamodb", settings) as ddb:
            counting = Counting(ddb)
            salts = DailySalts(counting, settings.resources.properties.name)  # type: ignore[arg-type]
            got = await asyncio.gather(*(salts.get(DAY) for _ in range(20)))
            assert len(set(got)) == 1
            assert salts.cached(DAY) == got[0]
            calls = counting.calls
            await salts.get(DAY)
            return calls, counting.calls

    made, after = asyncio.run(go())
    assert made == 2  # one read, one conditional put
    assert after == made


def test_without_a_table_the_salts_live_in_the_process() -> None:
    salts = DailySalts()
    a = asyncio.run(salts.get(DAY))
    assert salts.cached(DAY) == a
    assert DailySalts().cached(DAY) is None


def test_the_table_down_is_properties_unavailable(settings: CollectorSettings) -> None:
    async def go() -> None:
        async with aws.client(aws.session(), "dynamodb", settings) as ddb:
            await DailySalts(ddb, "no-such-table").get(DAY)

    with pytest.raises(PropertiesUnavailable):
        asyncio.run(go())
