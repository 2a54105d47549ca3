"""`lambdalytics local --demo`: three made-up sites with a month of realistic traffic, and
more arriving live, so a new user sees a full dashboard within a minute.

- :mod:`~lambdalytics.demo.sites`: the sites and their world (places, browsers, sources);
- :mod:`~lambdalytics.demo.traffic`: visitors and sessions, as the requests tags send;
- :mod:`~lambdalytics.demo.geodb`: a GeoLite2-City-format database for the demo's addresses;
- :mod:`~lambdalytics.demo.backfill`: the last 30 days, through the collector's code into
  the archive and the lake (its docstring says exactly which path and why);
- :mod:`~lambdalytics.demo.live`: a few hits a second over HTTP, through Kinesis, so that
  realtime moves.

:func:`register` creates the demo properties (with an API secret each, for their backends'
Measurement Protocol events); :func:`build` makes the database and runs the backfill.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from collector.settings import CollectorSettings
from lambdalytics import api_secrets, aws
from lambdalytics.demo import backfill, geodb, live
from lambdalytics.demo.sites import SITES
from lambdalytics.properties import PropertyExists, PropertyStore, TrackingIdTaken

DEFAULT_HITS = 90_000  # over DEFAULT_DAYS: 3,000 requests a day
DEFAULT_DAYS = 30


async def register(settings: CollectorSettings) -> dict[str, str]:
    """The demo properties, and an API secret made for this run for each (by id)."""
    secrets: dict[str, str] = {}
    async with aws.client(aws.session(), "dynamodb", settings) as ddb:
        store = PropertyStore(ddb, settings.resources.properties.name)
        for site in SITES:
            secret = secrets[site.property_id] = api_secrets.new_secret()
            with contextlib.suppress(TrackingIdTaken, PropertyExists):
                await store.register(
                    site.name, site.tracking_ids, property_id=site.property_id,
                    api_secrets_=[secret], timezone=site.timezone, currency=site.currency,
                    goals=site.goals, allowed_hostnames=(site.hostname,))
    return secrets


@dataclass(frozen=True, slots=True)
class Built:
    report: backfill.Report
    seconds: float
    days: int


async def build(settings: CollectorSettings, secrets: dict[str, str], *,
                hits: int = DEFAULT_HITS, days: int = DEFAULT_DAYS, seed: int = 1,
                workers: int | None = None) -> Built:
    """Backfill ``hits`` requests over the last ``days`` days (``settings``: the collector's,
    its GeoIP database included), on every core (at most one process per ~10,000 requests)."""
    started = time.perf_counter()
    if workers is None:
        workers = max(1, min(os.cpu_count() or 1, hits // 10_000, days))
    report = await backfill.run(settings, secrets, requests=hits, days=days, now=time.time(),
                                seed=seed, workers=workers)
    return Built(report, time.perf_counter() - started, days)


def geo_database(directory: Path) -> Path:
    """Write the demo's GeoIP database into ``directory``."""
    return geodb.build(directory / "GeoLite2-City-demo.mmdb")


LIVE_RATE = 3.0  # hits a second, on average


def start_background(settings: CollectorSettings, secrets: dict[str, str], collector_url: str,
                     built: Built) -> list[asyncio.Task[None]]:
    """The live trickle into ``collector_url``, and the compaction of the backfilled closed
    days into the lake (the reports read them from landing until it is done); cancel both
    to stop."""
    async def compaction() -> None:
        await backfill.compact(settings, [s.property_id for s in SITES], built.report)
        r = built.report
        print(f"demo: {r.days_compacted} closed days compacted into the lake in "
              f"{r.compact_s:.1f} s", flush=True)

    return [asyncio.create_task(live.Live(collector_url, secrets, rate=LIVE_RATE).run(),
                                name="demo live traffic"),
            asyncio.create_task(compaction(), name="demo compaction")]


def banner(built: Built, made_geo: str | None) -> str:
    """The banner's demo section."""
    r = built.report
    rows = []
    for s in SITES:
        tags = " + ".join(t for t, on in (("analytics.js", s.ua_id), ("gtag.js", s.ga4_id),
                                          ("Measurement Protocol", s.backend_events)) if on)
        rows.append(f"  {s.property_id:6} {s.name:26} {' '.join(s.tracking_ids):14} "
                    f"{s.timezone} {s.currency}  {tags}{', ecommerce' if s.ecommerce else ''}")
    geo = (f"  GeoIP         a made-up GeoLite2-City database for the demo's addresses "
           f"(198.18.0.0/15, 2001:db8::/32):\n                {made_geo}; --geoip PATH uses a "
           "real one\n") if made_geo else ""
    return (f"Demo: {len(SITES)} sites, {r.requests:,} requests over the last {built.days} days "
            f"({r.hits:,} hits archived, the rest filtered), built in {built.seconds:.1f} s\n"
            + "\n".join(rows) + "\n"
            f"  live traffic  about {LIVE_RATE:.0f} hits/s through the collector, so realtime "
            "moves\n"
            "  lake          the closed days are being compacted in the background\n"
            + geo + "\n")
