"""The data version of a report: a digest of what its query would read, from LISTs.

A report over ``events`` reads, for its property and the UTC dates of its windows, the lake
for the days up to the property's ``through`` date and landing for the days after it
(:mod:`lambdalytics.lake`). So its version is made of

- the ``through`` date and, for each day up to it, the ETag of the day's manifest (rewritten
  whenever the compactor rewrites the day's lake object);
- for each day after it, the landing objects of that day directory (keys and ETags), every
  hit type.

The excluded-traffic reports read ``filtered``, which is never compacted: their version is
the listing of the property's ``filtered`` day directories in range. A range of closed,
compacted days therefore keeps its version until a compaction changes it, and a range that
includes today changes with every cut the archiver writes. Listing is a few LIST calls
(one for the manifests, one for the hit types, one per hit type for the days past
``through``), next to a scan that reads every object.

An :class:`Observation` also says what a DuckDB connection's views must have known to answer
for these days (:meth:`dashboard.duck.BuiltViews.serves`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from dashboard.listing import Entry, Listing
from dashboard.reports.localtime import LocalWindow
from dashboard.reports.request import DateRange
from lambdalytics import archive_layout as layout
from lambdalytics.lake import Through

Table = str  # "events" | "filtered"


@dataclass(frozen=True, slots=True)
class Observation:
    version: str
    through: str | None  # the property's lake is complete through this UTC date
    landing_dirs: frozenset[tuple[str, str]]  # (type, date) read from landing, with objects
    filtered: bool  # the filtered table has objects in range
    # what the query reads, as listed: the landing (or filtered) objects, and the manifests of
    # the lake days and ``through`` (dashboard.mirror copies them before the query runs)
    objects: tuple[Entry, ...] = ()


def utc_dates(windows: Iterable[tuple[DateRange, str]]) -> tuple[str, str]:
    """The first and last UTC date (``date`` partition) the local windows touch."""
    first: str | None = None
    last: str | None = None
    for dates, zone in windows:
        w = LocalWindow.of(dates, zone)
        first = w.first_date if first is None else min(first, w.first_date)
        last = w.last_date if last is None else max(last, w.last_date)
    if first is None or last is None:
        raise ValueError("no window")
    return first, last


def _date_of(key: str) -> str | None:
    for part in key.split("/"):
        if part.startswith("date="):
            return part[len("date="):]
    return None


def _next_day(day: str) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()


def _digest(parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


class DataVersions:
    """Observes the archive through a :class:`Listing` (keys relative to the archive root)."""

    def __init__(self, listing: Listing) -> None:
        self._listing = listing
        self._through: dict[str, tuple[str, str | None]] = {}  # property → (ETag, date)

    async def observe(self, property_id: str, table: Table, first: str, last: str) -> Observation:
        """The version of ``table``'s rows of ``property_id`` on the UTC dates first..last."""
        layout.partition_value("property", property_id)
        if table == "filtered":
            return await self._filtered(property_id, first, last)
        return await self._events(property_id, first, last)

    async def _filtered(self, pid: str, first: str, last: str) -> Observation:
        base = f"{layout.FILTERED}/property={pid}/"
        entries = await self._range(base, first, last)
        parts = [("filtered", e.key, e.tag) for e in entries]
        return Observation(_digest(parts), None, frozenset(), bool(entries), tuple(entries))

    async def _events(self, pid: str, first: str, last: str) -> Observation:
        manifests_prefix = f"{layout.LAKE_MANIFESTS}/property={pid}/"
        hits_prefix = f"{layout.HITS}/property={pid}/"
        manifests, types = await asyncio.gather(self._listing.objects(manifests_prefix),
                                                self._listing.prefixes(hits_prefix))
        by_name = {e.key[len(manifests_prefix):]: e for e in manifests}
        tags = {name: e.tag for name, e in by_name.items()}
        through = await self._through_date(pid, manifests_prefix, tags.get("through.json"))
        parts: list[object] = [("through", through)]
        objects: list[Entry] = []
        if through is not None:
            objects.append(by_name["through.json"])
            day = first
            while day <= min(last, through):
                parts.append(("lake", day, tags.get(f"date={day}.json", "-")))
                if (manifest := by_name.get(f"date={day}.json")) is not None:
                    objects.append(manifest)
                day = _next_day(day)
        start = first if through is None else max(first, _next_day(through))
        dirs: set[tuple[str, str]] = set()
        if start <= last:
            listings = await asyncio.gather(*(self._range(t, start, last) for t in sorted(types)))
            for type_prefix, entries in zip(sorted(types), listings, strict=True):
                kind = type_prefix.rstrip("/").rsplit("=", 1)[-1]
                for e in entries:
                    date = _date_of(e.key)
                    if date is not None:
                        dirs.add((kind, date))
                    parts.append(("landing", e.key, e.tag))
                    objects.append(e)
        return Observation(_digest(parts), through, frozenset(dirs), False, tuple(objects))

    async def _range(self, prefix: str, first: str, last: str) -> list[Entry]:
        """The objects of ``prefix``'s ``date=`` directories from first to last."""
        def past(key: str) -> bool:
            date = _date_of(key[len(prefix):])
            return date is not None and date > last

        entries = await self._listing.objects(prefix, start_after=f"{prefix}date={first}",
                                              stop=past)
        return [e for e in entries if (_date_of(e.key[len(prefix):]) or "") >= first]

    async def _through_date(self, pid: str, prefix: str, tag: str | None) -> str | None:
        if tag is None:
            self._through.pop(pid, None)
            return None
        known = self._through.get(pid)
        if known is not None and known[0] == tag:
            return known[1]
        data = await self._listing.read(prefix + "through.json")
        date = None if data is None else Through.decode(data).date
        self._through[pid] = (tag, date)
        return date
