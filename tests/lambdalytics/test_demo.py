"""The demo's traffic model: every request it makes is one the collector's own parsers take
as valid (the filtering is the tail's doing: bots, spam, hostnames, unknown ids), sessions
follow the sites' hours, and the demo's GeoIP database places its addresses."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from collector import collect, ga4
from collector.geo import open_geo
from lambdalytics import cli, demo
from lambdalytics.demo import backfill, geodb
from lambdalytics.demo.sites import PLACES, SITES
from lambdalytics.demo.traffic import DemoRequest, Traffic

NOW = 1_780_000_000.0


def _requests(n_days: int = 2) -> list[DemoRequest]:
    traffic = Traffic(3, {s.property_id: "x" * 32 for s in SITES})
    out = []
    for day in range(n_days):
        out += backfill.day_requests(traffic, NOW + day * 86400, NOW + (day + 1) * 86400, 3000)
    return out


def test_every_demo_request_parses_valid() -> None:
    requests = _requests()
    assert 4000 < len(requests) < 8000
    paths = Counter(r.path for r in requests)
    assert set(paths) == {"/collect", "/g/collect", "/mp/collect"}, paths
    for r in requests:
        raw = backfill.raw(r)
        if r.path == "/collect":
            hits = collect.incoming(raw)
        elif r.path == "/g/collect":
            hits = ga4.gtag_incoming(raw)
        else:
            hits = ga4.mp_incoming(ga4._mp_request(raw))
        assert hits, r
        for hit in hits:
            assert hit.problem is None, (hit.problem, r)
            assert hit.fields is not None
            # the receive clock is the backfilled instant
            assert abs(hit.fields["received_time"].timestamp() - r.at) < 0.001


def test_sessions_follow_the_local_hours() -> None:
    traffic = Traffic(1)
    site = SITES[0]
    starts = traffic.starts(site, NOW, NOW + 7 * 86400, 2000)
    hours = Counter(datetime.fromtimestamp(t, ZoneInfo(site.timezone)).hour for t in starts)
    assert hours[14] > 3 * hours[3], hours  # afternoons, not nights, in Berlin
    assert 1500 < len(starts) / 7 < 2500


def test_the_demo_database_places_its_addresses(tmp_path: Path) -> None:
    path = demo.geo_database(tmp_path)
    with open_geo(path) as geo:
        for index, (place, *_w) in enumerate(PLACES):
            for v6 in (False, True):
                found = geo.lookup(geodb.address(index, 123_456, v6=v6))
                assert found is not None
                assert (found.country, found.city, found.timezone) == \
                    (place.country, place.city, place.timezone)


def test_the_cli_defaults_are_the_demos() -> None:
    assert (cli.DEMO_HITS, cli.DEMO_DAYS) == (demo.DEFAULT_HITS, demo.DEFAULT_DAYS)
    args = cli.parser().parse_args(["local", "--demo-hits", "1,000,000", "--dashboard-port", "0"])
    assert (args.demo_hits, args.dashboard_port, args.demo) == (1_000_000, 0, False)
