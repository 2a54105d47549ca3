"""Geolocation of a client address: a narrow port (:class:`GeoLookup`) and its MaxMind adapter.

:class:`MaxMindGeo` reads a GeoIP2 or GeoLite2 City or Country database (also GeoIP2
Enterprise, and other MMDB files of the City layout) with maxminddb, picking the five values
below from the raw record as geoip2's models would give them (building geoip2's City model,
every section and every locale's names, cost three times the record's decoding: 36 against
13 µs, bench/enrich_geo.py), with English names:

- continent: the continent code (``EU``);
- country: ISO 3166-1 alpha-2 of where the address is (``GB``), never the registered country;
- region: ISO 3166-2 code of the first-level subdivision, country and subdivision joined
  (``GB-ENG``; MaxMind lists subdivisions largest first, so Boxford's ENG, WBK gives
  ``GB-ENG``: the region stays one region across its cities);
- city: English city name (``Linköping``: English does not mean ASCII);
- timezone: IANA time zone (``Europe/London``).

A Country database gives continent and country only. An address that is not in the
database, or whose record has none of these, looks up as None.

Coordinates are not exposed at all. DESIGN allows "coordinates only rounded to city
precision, if at all": we chose none, since the city name carries that precision already and
no report needs a point.

Which address is looked up (:func:`geo_ip`): GA applies ``aip`` *before* geolocation, so with
``aip`` (or ``uip``) the truncated address (/24, /48) is looked up; otherwise the full
address, which never leaves the process: only the :class:`Geo` does. A property's geo
precision is applied by the enricher (collector.enrich), which keeps only the property's
geo fields (:func:`lambdalytics.property_policy.geo_fields`, as :func:`coarsen` does).

Lookups are cached per looked-up address in a bounded LRU (a cache hit costs well under a
microsecond; a miss decodes the whole MaxMind record, about 13 µs: see bench/enrich_geo.py).
:meth:`MaxMindGeo.locate` is the enrichment's entry point: the caller (which caches per
address itself) names the address's /24 or /48 block, and the answer is cached per block
when the database's network holds the whole block (most do: 200,000 addresses fall into
52,000 networks in the benchmark's traffic), so a new address in a known block costs a dict
lookup instead of a record decode. The reader is opened in maxminddb's ``MODE_AUTO``: its C extension
(libmaxminddb over a memory map) when installed, else pure Python, several times slower; the
start-up log says which. Because the file is memory-mapped, replace a database by writing a
new file and renaming it over the old one (as geoipupdate does), never by rewriting it in
place; a running reader keeps the old file until it is reopened.

Failure never reaches a request: :func:`open_geo` turns a missing path, a missing file or a
broken or unsupported database into :class:`NoGeo` with one warning at start-up, and a lookup
answers None rather than raise.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, Self, get_args

import maxminddb

from collector.privacy import MAX_ADDRESS_CHARS, truncate_ip

if TYPE_CHECKING:
    from functools import _lru_cache_wrapper

__all__ = [
    "PRECISIONS", "CacheStats", "Geo", "GeoLookup", "MaxMindGeo", "NoGeo", "Precision",
    "coarsen", "geo_ip", "open_geo",
]

log = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE: Final = 65536
# Start-up probes: a lookup walks the search tree and decodes a record, which opening does not.
_PROBES: Final = ("8.8.8.8", "2001:4860:4860::8888")


@dataclass(frozen=True, slots=True)
class Geo:
    continent: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    timezone: str | None = None


class GeoLookup(Protocol):
    def lookup(self, ip: str) -> Geo | None:
        """Where the address is, as far as known; None when unknown or not an address.
        Never raises."""
        ...


Precision = Literal["city", "region", "country", "none"]
PRECISIONS: Final[tuple[Precision, ...]] = get_args(Precision)

_NOWHERE: Final = Geo()


def coarsen(geo: Geo, precision: str) -> Geo:
    """``geo`` without what is finer than ``precision``:

    - ``city``: everything;
    - ``region``: no city;
    - ``country``: continent and country only (the time zone goes too: in countries with
      several zones it tells the region);
    - ``none``: nothing.

    Any other precision is a ValueError (check property settings with it when loading them).
    """
    if precision == "city":
        return geo
    if precision == "region":
        return Geo(geo.continent, geo.country, geo.region, None, geo.timezone)
    if precision == "country":
        return Geo(geo.continent, geo.country)
    if precision == "none":
        return _NOWHERE
    raise ValueError(f"unknown geo precision {precision!r}; one of {', '.join(PRECISIONS)}")


def geo_ip(ip: str, anonymized: bool) -> str:
    """The address to look up for a hit from ``ip``: truncated to /24 or /48 when the hit asked
    for anonymisation (GA anonymises before it geolocates), else ``ip`` itself. A value that is
    not an address is returned as is (it looks up as None)."""
    if anonymized:
        return truncate_ip(ip) or ip
    return ip


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    size: int
    maxsize: int


class NoGeo:
    """No database: every lookup is None."""

    def lookup(self, ip: str) -> Geo | None:
        return None

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MaxMindGeo:
    """A GeoIP2 / GeoLite2 City or Country database, read through maxminddb.

    Opening raises what maxminddb raises for a missing or broken file (OSError,
    maxminddb.InvalidDatabaseError, ValueError) and ValueError for a database of another kind
    (ASN, Anonymous IP, …): :func:`open_geo` is the forgiving entry point. ``lookup`` and
    ``locate`` never raise.
    """

    __slots__ = ("_block_lookups", "_block_misses", "_block_size", "_blocks", "_cached",
                 "_failed", "_full", "_reader", "database_type", "implementation")

    def __init__(self, path: str | os.PathLike[str], *, cache_size: int = DEFAULT_CACHE_SIZE,
                 mode: int = maxminddb.MODE_AUTO) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be 0 or more, not {cache_size}")
        reader = maxminddb.open_database(os.fspath(path), mode)
        try:
            self.database_type: str = reader.metadata().database_type
            self._full = _has_places(self.database_type)
            self._reader = reader
            for probe in _PROBES:  # corruption the open does not see raises here
                self._read(probe)
        except BaseException:
            reader.close()
            raise
        self.implementation = _implementation(mode)
        self._failed = False
        self._cached: _lru_cache_wrapper[Geo | None] = lru_cache(maxsize=cache_size)(
            self._lookup_uncached)
        # block (an address's /24 or /48) -> its Geo, when one network holds the whole block,
        # or _SPLIT; insertion-ordered, so the oldest entry goes first when it is full
        self._blocks: dict[str, Geo | object | None] = {}
        self._block_size = cache_size
        self._block_lookups = self._block_misses = 0

    def lookup(self, ip: str) -> Geo | None:
        # junk longer than any address never becomes a cache key
        return self._cached(ip) if len(ip) <= MAX_ADDRESS_CHARS else None

    def lookup_uncached(self, ip: str) -> Geo | None:
        """The same answer as :meth:`lookup`, without the cache (for benchmarks and checks)."""
        return self._lookup_uncached(ip)

    def locate(self, ip: str, block: str) -> Geo | None:
        """The same answer as :meth:`lookup`, for a normalised address ``ip`` inside ``block``,
        the network address of its /24 (IPv4) or /48 (IPv6), as
        :func:`collector.privacy.truncate_ip` gives it. Cached per block, not per address:
        the caller caches per address."""
        blocks = self._blocks
        self._block_lookups += 1
        found = blocks.get(block, _UNSEEN)
        if found is not _UNSEEN and found is not _SPLIT:
            return found  # type: ignore[return-value]
        self._block_misses += 1
        if found is _SPLIT:
            return self._lookup_uncached(ip)
        geo, prefix_len = self._lookup_with_prefix(ip)
        if prefix_len is not None and self._block_size:
            if len(blocks) >= self._block_size:
                del blocks[next(iter(blocks))]
            # the network found holds the whole block: every address in it gets this answer
            blocks[block] = geo if prefix_len <= (48 if ":" in block else 24) else _SPLIT
        return geo

    def cache_stats(self) -> CacheStats:
        info = self._cached.cache_info()
        return CacheStats(info.hits, info.misses, info.currsize, info.maxsize or 0)

    def block_stats(self) -> CacheStats:
        """:meth:`locate`'s cache so far (a miss: a record read, for a block not cached or
        spanning several networks)."""
        return CacheStats(self._block_lookups - self._block_misses, self._block_misses,
                          len(self._blocks), self._block_size)

    def close(self) -> None:
        self._cached.cache_clear()
        self._blocks.clear()
        self._reader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, ip: str) -> tuple[Geo | None, int]:
        """Raises what the reader raises (ValueError for what is not an address, or on a
        closed reader; maxminddb.InvalidDatabaseError on corruption)."""
        record, prefix_len = self._reader.get_with_prefix_len(ip)
        if record is None:
            return None, prefix_len
        return _geo(record, self._full), prefix_len

    def _lookup_uncached(self, ip: str) -> Geo | None:
        return self._lookup_with_prefix(ip)[0]

    def _lookup_with_prefix(self, ip: str) -> tuple[Geo | None, int | None]:
        """The answer, and the prefix length of the network it holds for (None: an answer
        that must not be cached per block)."""
        try:
            return self._read(ip)
        except (ValueError, TypeError):
            # not an address (or an IPv6 one in an IPv4 database; or the reader is closed)
            return None, None
        except Exception as exc:
            # A corrupt record past the start-up probes, or a bug: the hit goes on without geo.
            # Only the exception's type is logged: maxminddb's messages quote the address.
            if not self._failed:
                self._failed = True
                log.warning("GeoIP lookups are failing (%s in the %s database); hits get no geo "
                            "fields where they do; later failures are not logged",
                            type(exc).__name__, self.database_type)
            return None, None


def open_geo(path: str | os.PathLike[str] | None, *,
             cache_size: int = DEFAULT_CACHE_SIZE) -> MaxMindGeo | NoGeo:
    """The GeoIP database at ``path`` as a :class:`GeoLookup` (close it on shutdown: both
    results are context managers). No path, a missing file or a broken or unsupported database
    gives :class:`NoGeo`, with one warning; hits then carry no geo fields."""
    if path is None or not os.fspath(path):
        log.warning("GeoIP disabled: no database path is configured; hits get no geo fields")
        return NoGeo()
    try:
        geo = MaxMindGeo(path, cache_size=cache_size)
    except FileNotFoundError:
        log.warning("GeoIP disabled: database %s does not exist; hits get no geo fields",
                    os.fspath(path))
        return NoGeo()
    except Exception as exc:  # a broken or foreign file must not stop the collector
        log.warning("GeoIP disabled: %s is not a usable GeoIP2/GeoLite2 City or Country "
                    "database (%s: %s); hits get no geo fields",
                    os.fspath(path), type(exc).__name__, exc)
        return NoGeo()
    log.info("GeoIP database %s: %s, %s reader", os.fspath(path), geo.database_type,
             geo.implementation)
    if geo.implementation != "C extension":
        log.warning("GeoIP lookups use the pure-Python reader (maxminddb's C extension is not "
                    "installed): uncached lookups are several times slower")
    return geo


# --- adapter internals ---------------------------------------------------------------------

_UNSEEN: Final = object()
_SPLIT: Final = object()  # the block spans several networks: look each address up


def _has_places(database_type: str) -> bool:
    """City and Enterprise databases have cities, regions and time zones; Country ones only
    continents and countries; anything else has no locations at all (ValueError)."""
    if "City" in database_type or "Enterprise" in database_type:
        return True
    if "Country" in database_type:
        return False
    raise ValueError(f"a {database_type} database has no locations; a City or Country one is needed")


def _section(record: Any, key: str) -> Any:
    """A record's section as geoip2 reads it: absent is empty; a section that is not a map
    is a TypeError (as building geoip2's model from it was), which looks up as None."""
    value = record.get(key)
    if value is None:
        return _EMPTY
    if not isinstance(value, dict):
        raise TypeError(f"a {key} section that is not a map")
    return value


_EMPTY: Final[dict[str, Any]] = {}


def _geo(record: Any, full: bool) -> Geo | None:
    """The five values of a raw MaxMind record, exactly as geoip2's models with locales
    ``["en"]`` gave them (``country.iso_code``, ``continent.code``, the first subdivision's
    ``iso_code``, ``city.name``, ``location.time_zone``)."""
    if not isinstance(record, dict):
        raise TypeError("a record that is not a map")
    country = _section(record, "country").get("iso_code")
    continent = _section(record, "continent").get("code")
    region = city = timezone = None
    if full:
        subdivisions = record.get("subdivisions")
        if country and subdivisions:
            first = subdivisions[0]
            if not isinstance(first, dict):
                raise TypeError("a subdivision that is not a map")
            if code := first.get("iso_code"):
                region = f"{country}-{code}"
        names = _section(record, "city").get("names")
        city = names.get("en") if names else None
        timezone = _section(record, "location").get("time_zone")
    if not (continent or country or city or timezone):
        return None
    # Interned, the names are stored once however many cached addresses share a place.
    return Geo(_intern(continent), _intern(country), _intern(region), _intern(city),
               _intern(timezone))


def _intern(value: str | None) -> str | None:
    return None if value is None else sys.intern(value)


def _implementation(mode: int) -> str:
    """Which maxminddb reader ``mode`` opens (MODE_AUTO takes the C extension if it imports)."""
    if mode not in (maxminddb.MODE_AUTO, maxminddb.MODE_MMAP_EXT):
        return "pure-Python"
    try:
        from maxminddb import extension
    except ImportError:
        return "pure-Python"
    return "C extension" if getattr(extension, "Reader", None) is not None else "pure-Python"
