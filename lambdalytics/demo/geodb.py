"""The demo's GeoIP database: a GeoLite2-City-format file with made-up ranges.

MaxMind's databases cannot be shipped, and their test databases hold a few hundred odd
networks. The demo's visitors come from reserved ranges instead — one /22 of the
benchmarking block 198.18.0.0/15 and one /48 of the documentation block 2001:db8::/32 per
place of :data:`lambdalytics.demo.sites.PLACES` — and this writes a small City database
(written with mmdb-writer, read by the collector's own reader) that maps each range to its
real country, region, city and time zone. Pass a real database with ``--geoip`` and the
demo's addresses simply look up as nothing there; the collector treats both alike.
"""

from __future__ import annotations

import functools
import ipaddress
from pathlib import Path
from typing import Any

from lambdalytics.demo.sites import CONTINENTS, PLACES, Place

V4_BLOCK = ipaddress.IPv4Network("198.18.0.0/15")
V6_BLOCK = ipaddress.IPv6Network("2001:db8::/32")
V4_PREFIX = 22
V6_PREFIX = 48


@functools.cache
def v4_network(index: int) -> ipaddress.IPv4Network:
    base = int(V4_BLOCK.network_address) + (index << (32 - V4_PREFIX))
    return ipaddress.IPv4Network((base, V4_PREFIX))


@functools.cache
def v6_network(index: int) -> ipaddress.IPv6Network:
    base = int(V6_BLOCK.network_address) + (index << (128 - V6_PREFIX))
    return ipaddress.IPv6Network((base, V6_PREFIX))


def address(index: int, n: int, *, v6: bool = False) -> str:
    """The ``n``-th visitor address (any int; wrapped) of place ``index``."""
    net: ipaddress.IPv4Network | ipaddress.IPv6Network = v6_network(index) if v6 \
        else v4_network(index)
    return str(net.network_address + 1 + n % (min(net.num_addresses, 1 << 20) - 2))


def _record(place: Place, index: int) -> dict[str, Any]:
    continent, continent_id = CONTINENTS[place.continent]
    record: dict[str, Any] = {
        "continent": {"code": place.continent, "geoname_id": continent_id,
                      "names": {"en": continent}},
        "country": {"iso_code": place.country, "geoname_id": 1_000_000 + index,
                    "names": {"en": place.country_name}},
        "city": {"geoname_id": 2_000_000 + index, "names": {"en": place.city}},
        "location": {"time_zone": place.timezone, "accuracy_radius": 50},
    }
    record["registered_country"] = record["country"]
    if place.region is not None:
        record["subdivisions"] = [{"iso_code": place.region, "geoname_id": 3_000_000 + index,
                                   "names": {"en": place.region}}]
    return record


class GeoWriterMissing(RuntimeError):
    """mmdb-writer is not installed (it comes with the dev extra)."""


def build(path: Path) -> Path:
    """Write the database to ``path`` (through a temporary name, as geoipupdate does)."""
    try:
        from mmdb_writer import MMDBWriter
        from netaddr import IPNetwork, IPSet  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise GeoWriterMissing(
            "the demo's GeoIP database needs mmdb-writer: pip install 'lambdalytics[dev]', "
            "or pass a database with --geoip") from exc
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", languages=["en"],
                        description="Lambdalytics demo: made-up ranges (198.18.0.0/15, "
                                    "2001:db8::/32) mapped to real places",
                        ipv4_compatible=True)
    for index, (place, *_weights) in enumerate(PLACES):
        record = _record(place, index)
        for net in (v4_network(index), v6_network(index)):
            writer.insert_network(IPSet([IPNetwork(str(net))]), record)
    partial = path.with_name(path.name + ".partial")
    writer.to_db_file(str(partial))
    partial.replace(path)
    return path
