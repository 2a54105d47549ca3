"""Geolocation over MaxMind's own test databases (tests/data/geoip, with their JSON
sources beside them): places, the Country layout, unknown and invalid addresses, the cache,
broken files, aip, and precision."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import maxminddb
import pytest

from collector.geo import (
    PRECISIONS,
    Geo,
    GeoLookup,
    MaxMindGeo,
    NoGeo,
    coarsen,
    geo_ip,
    open_geo,
)
from collector.privacy import truncate_ip
from lambdalytics.hit import Hit
from tests.support import TESTDATA

GEOIP = TESTDATA / "geoip"
CITY_DBS = ("GeoLite2-City-Test", "GeoIP2-City-Test")
COUNTRY_DB = "GeoLite2-Country-Test"


def db(name: str) -> Path:
    return (GEOIP / f"{name}.mmdb").resolve()


@pytest.fixture(params=CITY_DBS)
def city(request: pytest.FixtureRequest) -> Iterator[MaxMindGeo]:
    with MaxMindGeo(db(request.param)) as geo:
        yield geo


@pytest.fixture
def country() -> Iterator[MaxMindGeo]:
    with MaxMindGeo(db(COUNTRY_DB)) as geo:
        yield geo


def geo_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "collector.geo" and r.levelno >= logging.WARNING]


# --- places ---------------------------------------------------------------------------------

PLACES = [
    ("81.2.69.142", Geo("EU", "GB", "GB-ENG", "London", "Europe/London")),
    ("81.2.69.160", Geo("EU", "GB", "GB-ENG", "London", "Europe/London")),
    # Boxford is in England, West Berkshire: the region is the first-level subdivision
    ("2.125.160.216", Geo("EU", "GB", "GB-ENG", "Boxford", "Europe/London")),
    ("89.160.20.112", Geo("EU", "SE", "SE-E", "Linköping", "Europe/Stockholm")),
    ("216.160.83.56", Geo("NA", "US", "US-WA", "Milton", "America/Los_Angeles")),
    ("175.16.199.1", Geo("AS", "CN", "CN-22", "Changchun", "Asia/Harbin")),
    ("67.43.156.1", Geo("AS", "BT", None, None, "Asia/Thimphu")),
    ("202.196.224.1", Geo("AS", "PH", None, None, "Asia/Manila")),
    ("2001:218::1", Geo("AS", "JP", None, None, "Asia/Tokyo")),
    ("2001:218:ffff::42", Geo("AS", "JP", None, None, "Asia/Tokyo")),
    ("2a02:cf40::1", Geo("EU", "NO", None, None, "Europe/Oslo")),
    ("::ffff:81.2.69.142", Geo("EU", "GB", "GB-ENG", "London", "Europe/London")),
    # a continent and a time zone, no country
    ("2a02:d500::1", Geo("EU", None, None, None, "Europe/Vaduz")),
]


@pytest.mark.parametrize(("address", "expected"), PLACES)
def test_city_databases_place_the_test_addresses(city: MaxMindGeo, address: str,
                                                 expected: Geo) -> None:
    assert city.lookup(address) == expected


@pytest.mark.parametrize(("address", "expected"), [
    ("81.2.69.142", Geo("EU", "GB")),
    ("2.125.160.216", Geo("EU", "GB")),
    ("89.160.20.112", Geo("EU", "SE")),
    ("216.160.83.56", Geo("NA", "US")),
    ("67.43.156.1", Geo("AS", "BT")),
    ("2001:218::1", Geo("AS", "JP")),
    ("2001:480::1", Geo("NA", "US")),
    ("2a02:cf40::1", Geo("EU", "NO")),
    ("175.16.199.1", None),  # not in the Country test database
])
def test_the_country_database_gives_continent_and_country(country: MaxMindGeo, address: str,
                                                          expected: Geo | None) -> None:
    assert country.lookup(address) == expected


def _expected(record: dict[str, Any]) -> Geo | None:
    """The Geo a source record should give, computed from MaxMind's JSON independently of the
    adapter's reading of geoip2's models."""
    country = record.get("country", {}).get("iso_code")
    subdivisions = record.get("subdivisions", [])
    region = f"{country}-{subdivisions[0]['iso_code']}" if country and subdivisions else None
    geo = Geo(
        continent=record.get("continent", {}).get("code"),
        country=country,
        region=region,
        city=record.get("city", {}).get("names", {}).get("en"),
        timezone=record.get("location", {}).get("time_zone"),
    )
    return None if geo == Geo() else geo


@pytest.mark.parametrize("name", [*CITY_DBS, COUNTRY_DB])
def test_every_source_network_reads_back_as_its_json_record(name: str) -> None:
    source = json.loads((GEOIP / f"{name}.json").read_text(encoding="utf-8"))
    checked = 0
    with MaxMindGeo(db(name)) as geo:
        for entry in source:
            ((cidr, record),) = entry.items()
            network = ipaddress.ip_network(cidr)
            expected = _expected(record)
            for address in (network.network_address, network.broadcast_address):
                assert geo.lookup(str(address)) == expected, (name, cidr, str(address))
                checked += 1
    assert checked > 400


def test_geo_fields_are_hit_fields() -> None:
    hit_fields = {f.name for f in dataclasses.fields(Hit)}
    assert {f"geo_{f.name}" for f in dataclasses.fields(Geo)} <= hit_fields


# --- unknown and invalid addresses ------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "1.1.1.1", "81.2.69.0", "10.0.0.1", "127.0.0.1", "::1", "2001:db8::1",
    "214.1.1.1",  # GeoIP2-City-Test has a record here with traits only: nothing of a place
])
def test_unknown_addresses_are_none(city: MaxMindGeo, address: str) -> None:
    assert city.lookup(address) is None


@pytest.mark.parametrize("address", [
    "", "not an address", "999.1.1.1", "81.2.69", "81.2.69.142:80", "[2001:218::1]",
    " 81.2.69.142", "2001:218::1::1", "\x00", "81.2.69.142\n",
])
def test_invalid_addresses_are_none(city: MaxMindGeo, address: str) -> None:
    assert city.lookup(address) is None


def test_no_geo_knows_nothing() -> None:
    lookup: GeoLookup = NoGeo()
    assert lookup.lookup("81.2.69.142") is None


def test_both_readers_agree() -> None:
    with MaxMindGeo(db("GeoLite2-City-Test")) as auto, \
            MaxMindGeo(db("GeoLite2-City-Test"), mode=maxminddb.MODE_MEMORY) as python:
        assert python.implementation == "pure-Python"
        for address, expected in PLACES:
            assert auto.lookup(address) == python.lookup(address) == expected


# --- the cache --------------------------------------------------------------------------------


def test_lookups_are_cached_per_address_and_bounded() -> None:
    with MaxMindGeo(db("GeoLite2-City-Test"), cache_size=2) as geo:
        assert geo.lookup("81.2.69.142") == geo.lookup("81.2.69.142")
        assert geo.lookup("1.1.1.1") is None
        assert geo.lookup("1.1.1.1") is None  # unknown answers are cached too
        stats = geo.cache_stats()
        assert (stats.hits, stats.misses, stats.size, stats.maxsize) == (2, 2, 2, 2)
        geo.lookup("89.160.20.112")
        assert geo.cache_stats().size == 2
        assert geo.lookup_uncached("81.2.69.142") == PLACES[0][1]


def test_junk_longer_than_an_address_is_never_cached() -> None:
    with MaxMindGeo(db("GeoLite2-City-Test")) as geo:
        assert geo.lookup("8" * 10_000) is None
        assert geo.lookup(geo_ip("x" * 10_000, anonymized=True)) is None
        assert geo.cache_stats().size == 0
    assert truncate_ip("1" * 10_000) is None


def test_a_closed_database_answers_none() -> None:
    geo = MaxMindGeo(db("GeoLite2-City-Test"))
    assert geo.lookup("81.2.69.142") is not None
    geo.close()
    assert geo.lookup("81.2.69.142") is None


def test_a_negative_cache_size_is_refused() -> None:
    with pytest.raises(ValueError, match="cache_size"):
        MaxMindGeo(db("GeoLite2-City-Test"), cache_size=-1)


# --- opening: a database or NoGeo with one warning ------------------------------------------


def test_open_geo_opens_a_database_and_says_which(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="collector.geo")
    geo = open_geo(str(db("GeoIP2-City-Test")))
    try:
        assert isinstance(geo, MaxMindGeo)
        assert geo.lookup("81.2.69.142") == PLACES[0][1]
        assert any("GeoIP2-City" in r.getMessage() and r.levelno == logging.INFO
                   for r in caplog.records)
        assert not [r for r in geo_warnings(caplog) if "disabled" in r.getMessage()]
    finally:
        geo.close()


def _truncated(tmp: Path) -> Path:
    data = db("GeoLite2-City-Test").read_bytes()
    (tmp / "truncated.mmdb").write_bytes(data[: len(data) // 2])
    return tmp / "truncated.mmdb"


def _garbage(tmp: Path) -> Path:
    (tmp / "garbage.mmdb").write_bytes(bytes(range(256)) * 64)
    return tmp / "garbage.mmdb"


def _empty(tmp: Path) -> Path:
    (tmp / "empty.mmdb").write_bytes(b"")
    return tmp / "empty.mmdb"


def _text(tmp: Path) -> Path:
    shutil.copy(GEOIP / "README.md", tmp / "readme.mmdb")
    return tmp / "readme.mmdb"


def _metadata_only(tmp: Path) -> Path:
    """The search tree and data zeroed, the metadata intact: opening succeeds; the start-up
    probe lookups find the damage."""
    data = db("GeoLite2-City-Test").read_bytes()
    marker = data.rindex(b"\xab\xcd\xefMaxMind.com")
    (tmp / "zeroed.mmdb").write_bytes(bytes(marker) + data[marker:])
    return tmp / "zeroed.mmdb"


def _directory(tmp: Path) -> Path:
    (tmp / "adir.mmdb").mkdir()
    return tmp / "adir.mmdb"


def _asn(tmp: Path) -> Path:
    return db("GeoLite2-ASN-Test")


@pytest.mark.parametrize("make", [_truncated, _garbage, _empty, _text, _metadata_only,
                                  _directory, _asn])
def test_a_broken_or_foreign_file_gives_no_geo_and_one_warning(
        make: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = make(tmp_path)
    geo = open_geo(str(path))
    assert isinstance(geo, NoGeo)
    for _ in range(100):  # requests never log
        assert geo.lookup("81.2.69.142") is None
    (warning,) = geo_warnings(caplog)
    assert "GeoIP disabled" in warning.getMessage()
    assert str(path) in warning.getMessage()


@pytest.mark.parametrize("path", [None, ""])
def test_no_path_gives_no_geo_and_one_warning(path: str | None,
                                              caplog: pytest.LogCaptureFixture) -> None:
    assert isinstance(open_geo(path), NoGeo)
    (warning,) = geo_warnings(caplog)
    assert "no database path" in warning.getMessage()


def test_a_missing_file_gives_no_geo_and_one_warning(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    assert isinstance(open_geo(tmp_path / "GeoLite2-City.mmdb"), NoGeo)
    (warning,) = geo_warnings(caplog)
    assert "does not exist" in warning.getMessage()


def test_a_corrupt_record_past_the_probes_never_raises_and_warns_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = db("GeoLite2-City-Test")
    meta = maxminddb.open_database(str(source)).metadata()
    data = source.read_bytes()
    tree = meta.node_count * meta.record_size * 2 // 8 + 16  # search tree, 16-byte separator
    marker = data.rindex(b"\xab\xcd\xefMaxMind.com")
    path = tmp_path / "bad-data.mmdb"
    path.write_bytes(data[:tree] + b"\xff" * (marker - tree) + data[marker:])
    with MaxMindGeo(path) as geo:  # the probe addresses are not in it: opening succeeds
        for address, _ in PLACES:
            assert geo.lookup(address) is None
            assert geo.lookup_uncached(address) is None
    (warning,) = geo_warnings(caplog)
    message = warning.getMessage()
    assert "failing" in message
    assert not any(address in message for address, _ in PLACES)  # no client address in logs
    assert warning.exc_info is None


# --- which address is looked up: aip ----------------------------------------------------------


@pytest.mark.parametrize(("ip", "anonymized", "expected"), [
    ("81.2.69.142", False, "81.2.69.142"),
    ("81.2.69.142", True, "81.2.69.0"),
    ("2001:218:1234:5678::1", True, "2001:218:1234::"),
    ("2001:218:1234:5678::1", False, "2001:218:1234:5678::1"),
    ("::ffff:81.2.69.142", True, "81.2.69.0"),
    ("not an address", True, "not an address"),
])
def test_geo_ip(ip: str, anonymized: bool, expected: str) -> None:
    assert geo_ip(ip, anonymized) == expected


@pytest.mark.parametrize(("ip", "full", "anonymized"), [
    # 81.2.69.142/31 is London, but 81.2.69.0 is in no network: with aip, no place at all
    ("81.2.69.142", PLACES[0][1], None),
    ("216.160.83.56", Geo("NA", "US", "US-WA", "Milton", "America/Los_Angeles"), None),
    # the /24 of 175.16.199.77 is one network: the same place either way
    ("175.16.199.77", Geo("AS", "CN", "CN-22", "Changchun", "Asia/Harbin"),
     Geo("AS", "CN", "CN-22", "Changchun", "Asia/Harbin")),
    ("2001:218:1234:5678::1", Geo("AS", "JP", None, None, "Asia/Tokyo"),
     Geo("AS", "JP", None, None, "Asia/Tokyo")),
])
def test_aip_looks_up_the_truncated_address(city: MaxMindGeo, ip: str, full: Geo | None,
                                            anonymized: Geo | None) -> None:
    assert city.lookup(geo_ip(ip, anonymized=False)) == full
    assert city.lookup(geo_ip(ip, anonymized=True)) == anonymized
    # the cache holds the truncated key: the full address was never looked up
    assert city.lookup(geo_ip(ip, anonymized=True)) == anonymized


# --- per-property truncation (collector.privacy) ----------------------------------------------


@pytest.mark.parametrize(("address", "v4", "v6", "expected"), [
    ("203.0.113.77", 24, 48, "203.0.113.0"),
    ("203.0.113.77", 16, 48, "203.0.0.0"),
    ("203.0.113.77", 32, 48, "203.0.113.77"),
    ("203.0.113.77", 8, 48, "203.0.0.0"),
    ("2001:db8:abcd:12:1:2:3:4", 24, 32, "2001:db8::"),
    ("2001:db8:abcd:12:1:2:3:4", 24, 128, "2001:db8:abcd:12:1:2:3:4"),
    ("::ffff:198.51.100.9", 16, 32, "198.51.0.0"),
    ("fe80::1%eth0", 24, 48, "fe80::"),
    ("not-an-ip", 16, 32, None),
])
def test_truncate_ip_prefixes(address: str, v4: int, v6: int, expected: str | None) -> None:
    assert truncate_ip(address, v4_prefix=v4, v6_prefix=v6) == expected


def test_truncate_ip_defaults_are_gas() -> None:
    assert truncate_ip("203.0.113.77") == "203.0.113.0"
    assert truncate_ip("2001:db8:abcd:12:1:2:3:4") == "2001:db8:abcd::"


@pytest.mark.parametrize(("v4", "v6"), [(-1, 48), (33, 48), (24, -1), (24, 129)])
def test_truncate_ip_refuses_impossible_prefixes(v4: int, v6: int) -> None:
    with pytest.raises(ValueError, match="prefix"):
        truncate_ip("203.0.113.77", v4_prefix=v4, v6_prefix=v6)


# --- precision --------------------------------------------------------------------------------

LONDON = PLACES[0][1]


@pytest.mark.parametrize(("precision", "expected"), [
    ("city", LONDON),
    ("region", Geo("EU", "GB", "GB-ENG", None, "Europe/London")),
    ("country", Geo("EU", "GB")),
    ("none", Geo()),
])
def test_coarsen(precision: str, expected: Geo) -> None:
    assert coarsen(LONDON, precision) == expected


def test_precisions_are_the_four() -> None:
    assert PRECISIONS == ("city", "region", "country", "none")


@pytest.mark.parametrize("precision", ["", "City", "postal", "coordinates"])
def test_coarsen_refuses_unknown_precisions(precision: str) -> None:
    with pytest.raises(ValueError, match="precision"):
        coarsen(LONDON, precision)


# --- the benchmark's synthetic database -------------------------------------------------------


def test_the_synthetic_benchmark_database_reads_as_a_city_database(tmp_path: Path) -> None:
    from bench import make_geodb

    path = tmp_path / "synthetic.mmdb"
    summary = make_geodb.build(path, seed=3, ipv4=300, ipv6=100, cities=50, countries=10)
    assert (summary.ipv4_networks, summary.ipv6_networks) == (300, 100)
    again = make_geodb.build(tmp_path / "again.mmdb", seed=3, ipv4=300, ipv6=100, cities=50,
                             countries=10)
    assert again.path.read_bytes() == path.read_bytes()  # deterministic
    with maxminddb.open_database(str(path)) as reader:
        assert reader.metadata().database_type == "GeoLite2-City"
        networks = [network for network, _ in reader]
    assert {n.version for n in networks} == {4, 6}
    with MaxMindGeo(path) as geo:
        places = [geo.lookup(str(n.network_address)) for n in networks]
    assert all(p is not None and p.continent and p.country and p.timezone for p in places)
    assert sum(p is not None and p.city is not None for p in places) > len(places) / 2
    assert all(p is None or p.region is None or p.region.startswith(f"{p.country}-")
               for p in places)


def test_the_enrichment_benchmark_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import enrich_geo, make_geodb

    path = make_geodb.build(tmp_path / "synthetic.mmdb", ipv4=300, ipv6=100, cities=50).path
    assert enrich_geo.main(["--db", str(path), "--cache", "64", "--distinct", "200",
                            "--draws", "2000"]) == 0
    out = capsys.readouterr().out
    for line in ("machine:", "python:", "uncached lookups", "cache hit", "miss rate",
                 "cache memory"):
        assert line in out, out
