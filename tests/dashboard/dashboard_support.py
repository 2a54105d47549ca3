"""The dashboard service under uvicorn on a loopback port, against moto: tables, the fixture's
properties (tests/dashboard/report_fixture.py) and a server to talk to."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from lambdalytics import aws, bootstrap
from lambdalytics.properties import PropertyStore
from tests.dashboard import report_fixture as fx
from tests.support import serving_app

TOKEN = "d" * 20 + "-dashboard-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# 14:00 in Berlin on 2026-03-29, the fixture's last day: "today" for the range keywords
NOW = dt.datetime(2026, 3, 29, 12, 0, 30, tzinfo=dt.UTC).timestamp()
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class Clock:
    """A settable clock (epoch seconds) for the app."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def provision(moto_url: str, prefix: str, archive: fx.Archive | None = None) -> DashboardSettings:
    """Tables and the fixture's properties (shop in Europe/Berlin with EUR and goals; other,
    fall, flagged in UTC); the archive, when given, is the one the reports read."""
    extra: dict[str, Any] = {}
    if archive is not None:
        extra = {"archive_location": archive.root, "archive_buckets": (archive.bucket,)}
    settings = DashboardSettings(resource_prefix=prefix, aws_endpoint_url=moto_url,
                                 aws_region="us-east-1", log_format="text", admin_token=TOKEN,
                                 **extra)

    async def go() -> None:
        res = settings.resources
        async with aws.client(aws.session(), "dynamodb", settings) as ddb:
            for table in (res.properties, res.rollups):
                await bootstrap.ensure_table(ddb, table)
            store = PropertyStore(ddb, res.properties.name)
            await store.register("Shop", ["UA-1-1", "G-SHOP1"], property_id=fx.SHOP,
                                 timezone=fx.ZONE, currency="EUR", goals=fx.GOALS)
            for n, pid in enumerate((fx.OTHER, fx.FALL, fx.FLAGGED), 2):
                await store.register(pid.title(), [f"UA-{n}-1"], property_id=pid)

    asyncio.run(go())
    return settings


@contextmanager
def running(settings: DashboardSettings, **kwargs: Any) -> Iterator[str]:
    """The app of ``create_app(settings, **kwargs)`` on a loopback port; its URL."""
    with serving_app(create_app(settings, **kwargs), "dashboard") as url:
        yield url


@contextmanager
def client(settings: DashboardSettings, **kwargs: Any) -> Iterator[httpx.Client]:
    with running(settings, **kwargs) as url, httpx.Client(base_url=url, timeout=60) as c:
        yield c


def is_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["content-security-policy"] == CSP
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["title"]
    return body


def report(c: httpx.Client, name: str, prop: str = fx.SHOP, *,
           headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    r = c.get(f"/v1/properties/{prop}/reports/{name}", params=params,
              headers=AUTH if headers is None else headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()
    return body


def rows_of(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(row[c] for c in body["columns"]) for row in body["rows"]]

