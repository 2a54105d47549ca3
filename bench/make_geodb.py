"""Write a synthetic GeoLite2-City-shaped database of realistic size, for benchmarks.

MaxMind's City databases cannot be redistributed and their test databases hold a few hundred
networks, too few to measure a lookup or a cache against. This writes one with tens of
thousands of IPv4 and IPv6 networks whose records have the shape and size of GeoLite2-City
records, so that geoip2's City model reads it and a lookup decodes as much as a real one:

- ``continent`` (code, geoname_id, names in the 8 GeoLite2 locales), ``country`` and
  ``registered_country`` (iso_code, geoname_id, names), ``subdivisions`` (one or two, largest
  first: iso_code, geoname_id, names), ``city`` (geoname_id, names in 1 to 8 locales),
  ``location`` (latitude, longitude, accuracy_radius, time_zone, metro_code in the US),
  ``postal`` (code) — about four networks in five have a city, the rest country-level
  records, as in GeoLite2;
- an IPv6 tree (``ip_version`` 6) with IPv4 under ``::/96``, 24-bit or 28-bit records, shared
  values stored once behind pointers, as MaxMind's writer does;
- place names are made up (syllables in Latin, Cyrillic, kana and Han script, for the
  locales that use them), as are ISO codes beyond the continents'; the sizes are what count.

The output is byte-for-byte deterministic for a seed and sizes (the build epoch is fixed).

    python bench/make_geodb.py /tmp/GeoLite2-City-synthetic.mmdb
    python bench/make_geodb.py out.mmdb --ipv4 60000 --ipv6 15000 --seed 7
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter, TreeWriter
from netaddr import IPNetwork, IPSet  # type: ignore[import-untyped]

LOCALES = ("de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN")
CONTINENTS = (("AF", 6255146), ("AN", 6255152), ("AS", 6255147), ("EU", 6255148),
              ("NA", 6255149), ("OC", 6255151), ("SA", 6255150))
ZONES = ("Europe", "America", "Asia", "Africa", "Australia", "Pacific", "Atlantic", "Indian")
BUILD_EPOCH = 1_700_000_000  # fixed, for byte-identical output

_LATIN = ("ba", "be", "bo", "ka", "ke", "ko", "la", "le", "lin", "ma", "mo", "na", "no", "ra",
          "ri", "ro", "sa", "se", "sto", "ta", "te", "to", "va", "vi", "burg", "ford", "ville",
          "holm", "grad", "heim", "ton", "dorf", "ping", "stad")
_CYRILLIC = ("ба", "во", "гра", "до", "ка", "ло", "ми", "но", "ра", "се", "ск", "то", "ов", "ин")
_KANA = ("ア", "イ", "カ", "キ", "サ", "シ", "タ", "ト", "ナ", "ホ", "マ", "ラ", "リ", "ル", "ン", "ー")
_HAN = ("北", "南", "东", "西", "京", "山", "河", "城", "州", "市", "海", "林", "安", "德", "堡")


@dataclass(frozen=True, slots=True)
class Summary:
    path: Path
    ipv4_networks: int
    ipv6_networks: int
    cities: int
    size_bytes: int
    seconds: float


class _Names:
    """Made-up place names, one set per place, in whichever locales the place has."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def _word(self, syllables: tuple[str, ...], low: int, high: int) -> str:
        return "".join(self.rng.choice(syllables) for _ in range(self.rng.randint(low, high)))

    def names(self, locales: tuple[str, ...] = LOCALES) -> dict[str, str]:
        latin = self._word(_LATIN, 2, 4).capitalize()
        if self.rng.random() < 0.2:
            latin += " " + self._word(_LATIN, 1, 3).capitalize()
        out = {}
        for locale in locales:
            if locale == "ja":
                out[locale] = self._word(_KANA, 2, 6)
            elif locale == "zh-CN":
                out[locale] = self._word(_HAN, 2, 3)
            elif locale == "ru":
                out[locale] = self._word(_CYRILLIC, 2, 4).capitalize()
            elif locale == "en" or self.rng.random() < 0.5:
                out[locale] = latin
            else:  # a local spelling
                out[locale] = latin[:-1] + self.rng.choice("aeiousn")
        return out


def _place(rng: random.Random, names: _Names, geoname_ids: set[int],
           locales: tuple[str, ...] = LOCALES) -> dict[str, Any]:
    while (gid := rng.randint(100_000, 12_000_000)) in geoname_ids:
        pass
    geoname_ids.add(gid)
    return {"geoname_id": gid, "names": names.names(locales)}


def _codes(rng: random.Random, count: int, length: int, taken: set[str]) -> list[str]:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if length == 2 else "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    out: list[str] = []
    while len(out) < count:
        code = "".join(rng.choice(alphabet) for _ in range(length))
        if code not in taken:
            taken.add(code)
            out.append(code)
    return out


def _records(rng: random.Random, n_countries: int, n_cities: int) -> tuple[
        list[dict[str, Any]], list[dict[str, Any]]]:
    """City records and country-level records (without the per-network parts)."""
    names = _Names(rng)
    ids: set[int] = set()
    continents = [{"code": code, "geoname_id": gid, "names": names.names()}
                  for code, gid in CONTINENTS]
    countries = []
    for iso in _codes(rng, n_countries, 2, set()):
        country = {"iso_code": iso, **_place(rng, names, ids)}
        if rng.random() < 0.15:
            country["is_in_european_union"] = True
        regions = []
        for code in _codes(rng, rng.randint(1, 30), rng.choice((1, 2, 3)), set()):
            region = {"iso_code": code, **_place(rng, names, ids, LOCALES[: rng.randint(1, 8)])}
            regions.append(region)
        zone = f"{rng.choice(ZONES)}/{names.names(('en',))['en'].replace(' ', '_')}"
        countries.append((rng.choice(continents), country, regions, zone))
    cities = []
    for _ in range(n_cities):
        continent, country, regions, zone = rng.choice(countries)
        subdivisions = [rng.choice(regions)]
        if rng.random() < 0.3:
            subdivisions.append({"iso_code": _codes(rng, 1, 3, set())[0],
                                 **_place(rng, names, ids, LOCALES[: rng.randint(1, 4)])})
        city_locales = ("en",) if rng.random() < 0.5 else LOCALES[: rng.randint(2, 8)]
        lat, lon = rng.uniform(-60, 70), rng.uniform(-180, 180)
        record: dict[str, Any] = {
            "city": _place(rng, names, ids, city_locales),
            "continent": continent,
            "country": country,
            "location": {"accuracy_radius": rng.choice((1, 5, 10, 20, 50, 100, 200, 500, 1000)),
                         "latitude": round(lat, 4), "longitude": round(lon, 4), "time_zone": zone},
            "subdivisions": subdivisions,
        }
        if rng.random() < 0.7:
            record["postal"] = {"code": str(rng.randint(1000, 99999))}
        if country["iso_code"] == "US" or rng.random() < 0.02:
            record["location"]["metro_code"] = rng.randint(500, 881)
        cities.append(record)
    country_level = []
    for continent, country, _, zone in countries:
        country_level.append({
            "continent": continent, "country": country,
            "location": {"accuracy_radius": 1000, "latitude": round(rng.uniform(-60, 70), 4),
                         "longitude": round(rng.uniform(-180, 180), 4), "time_zone": zone},
        })
    return cities, country_level


def _partition(rng: random.Random, network: ipaddress.IPv4Network | ipaddress.IPv6Network,
               max_prefix: int, stop: float,
               out: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
    """Split a block into networks of varied sizes (halving goes on with probability 1 − stop
    at each level), leaving a tenth of the pieces out of the database."""
    if network.prefixlen >= max_prefix or rng.random() < stop:
        if rng.random() < 0.9:
            out.append(network)
        return
    for half in network.subnets(1):
        _partition(rng, half, max_prefix, stop, out)


_V4_EXCLUDED = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3")]


def _networks(rng: random.Random, version: int, target: int) -> list[
        ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """About ``target`` disjoint networks: random public /16s (IPv4; down to /27) or /32s under
    2000::/4 (IPv6; down to /56), each cut into pieces."""
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    used: set[int] = set()
    while len(out) < target:
        block: ipaddress.IPv4Network | ipaddress.IPv6Network
        if version == 4:
            top = rng.randrange(1 << 16)
            block = ipaddress.IPv4Network((top << 16, 16))
            if top in used or any(block.overlaps(x) for x in _V4_EXCLUDED):
                continue
            max_prefix, stop = 27, 0.4
        else:
            top = (0x2 << 28) | rng.randrange(1 << 28)  # 2000::/4
            block = ipaddress.IPv6Network((top << 96, 32))
            if top in used or block.overlaps(ipaddress.IPv6Network("2001:db8::/32")):
                continue
            max_prefix, stop = 56, 0.45
        used.add(top)
        _partition(rng, block, max_prefix, stop, out)
    return out[:target]


def build(path: Path, *, seed: int = 1, ipv4: int = 40_000, ipv6: int = 12_000,
          cities: int = 20_000, countries: int = 200) -> Summary:
    started = time.perf_counter()
    rng = random.Random(seed)
    city_records, country_records = _records(rng, countries, cities)
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", languages=list(LOCALES),
                        description="Lambdalytics synthetic GeoLite2-City-shaped benchmark "
                                    "database (made-up places)", ipv4_compatible=True)
    v4 = _networks(rng, 4, ipv4)
    v6 = _networks(rng, 6, ipv6)
    for network in [*v4, *v6]:
        record = dict(rng.choice(city_records if rng.random() < 0.8 else country_records))
        registered = record["country"] if rng.random() < 0.9 else rng.choice(country_records)["country"]
        record["registered_country"] = registered
        writer.insert_network(IPSet([IPNetwork(str(network))]), record)
    meta = {"ip_version": 6, "database_type": writer.database_type,
            "languages": list(LOCALES), "binary_format_major_version": 2,
            "binary_format_minor_version": 0, "description": writer.description,
            "build_epoch": BUILD_EPOCH}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    TreeWriter(writer.tree, meta, "auto", "f64").write(str(partial))
    partial.replace(path)  # readers never see a half-written file
    return Summary(path, len(v4), len(v6), cities, path.stat().st_size,
                   time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="where to write the .mmdb file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ipv4", type=int, default=40_000, help="IPv4 networks")
    parser.add_argument("--ipv6", type=int, default=12_000, help="IPv6 networks")
    parser.add_argument("--cities", type=int, default=20_000, help="distinct city records")
    args = parser.parse_args(argv)
    s = build(args.out, seed=args.seed, ipv4=args.ipv4, ipv6=args.ipv6, cities=args.cities)
    print(f"{s.path}: {s.ipv4_networks:,} IPv4 + {s.ipv6_networks:,} IPv6 networks, "
          f"{s.cities:,} cities, {s.size_bytes / 1e6:.1f} MB, built in {s.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
