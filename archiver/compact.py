"""Compaction: closed days of landing JSON rewritten as the Parquet lake (DESIGN.md contract 3).

For each property, a run lists its landing objects, and for every **closed** UTC date (one that
ended :data:`CLOSE_DELAY` ago) whose objects are not all in the day's manifest yet, writes the
day's lake object again from all of them plus the day's previous lake object, so late hits
are merged and a rerun replaces the day instead of adding to it (:mod:`archiver.lake_writer`).
Duplicate ``hit_id`` s are dropped there for good. Landing objects are never deleted here:
they stay until their lifecycle expiry, so the landing table keeps working, and a day whose
landing objects have expired keeps its lake object (it is an input of every rewrite).

Order of writes for a day: the lake object, then its manifest (the landing keys it holds);
then, once per property, ``through``, the date through which every landing day is in the lake
(:class:`lambdalytics.lake.Through`), which is what switches the ``events`` view from landing
to lake. A crash anywhere leaves either the old state or a lake object the manifest does not
know yet, which the next run rewrites identically.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archiver.lake_store import LakeStore, ObjectInfo
from archiver.lake_writer import write_day
from lambdalytics import archive_layout as layout
from lambdalytics.lake import FORMAT_VERSION, Through

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

# A UTC day is closed this long after it ends: UA's queue time reaches 4 hours back. Hits
# later than that (Measurement Protocol timestamps reach 72 hours back) are merged by the
# next run.
CLOSE_DELAY = timedelta(hours=4)


@dataclass(frozen=True, slots=True)
class DayResult:
    property_id: str
    date: str
    rows: int
    landing_rows: int
    previous_rows: int
    duplicates: int
    sources: int  # landing objects read
    landing_bytes: int
    lake_bytes: int
    seconds: float


@dataclass(slots=True)
class CompactionReport:
    days: list[DayResult] = field(default_factory=list)
    through: dict[str, str] = field(default_factory=dict)  # property → date, after the run
    skipped_open: int = 0  # landing days not closed yet
    up_to_date: int = 0  # closed days already compacted with every landing object

    def to_json(self) -> dict[str, Any]:
        return {"days": [asdict(d) for d in self.days], "through": self.through,
                "skipped_open": self.skipped_open, "up_to_date": self.up_to_date}


def closed(day: str, now: datetime, close_delay: timedelta = CLOSE_DELAY) -> bool:
    end = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC) + timedelta(days=1)
    return now >= end + close_delay


def landing_days(archive_prefix: str, objects: Iterable[ObjectInfo]) -> dict[str, list[ObjectInfo]]:
    """A property's landing objects by UTC date (keys that are not archive keys are ignored)."""
    days: dict[str, list[ObjectInfo]] = {}
    for o in objects:
        try:
            parsed = layout.parse_key(archive_prefix, o.key)
        except ValueError:
            continue
        days.setdefault(parsed.value("date"), []).append(o)
    return days


def through_date(landing: Iterable[str], compacted: Iterable[str], now: datetime,
                 close_delay: timedelta = CLOSE_DELAY) -> str | None:
    """The last closed date through which every landing date has a lake day."""
    done = set(compacted)
    candidates = sorted({d for d in (*landing, *done) if closed(d, now, close_delay)})
    missing = sorted(d for d in set(landing) if d not in done)
    best = None
    for d in candidates:
        if missing and missing[0] <= d:
            break
        best = d
    return best


class Compactor:
    def __init__(self, store: LakeStore, conn: duckdb.DuckDBPyConnection, *,
                 archive_prefix: str = "", close_delay: timedelta = CLOSE_DELAY,
                 workdir: str | None = None) -> None:
        self._store = store
        self._conn = conn
        self._prefix = layout.prefix_value(archive_prefix)
        self._close_delay = close_delay
        self._workdir = workdir

    async def properties(self) -> list[str]:
        """Every property with landing objects."""
        names = set()
        for o in await self._store.list(self._prefix + layout.HITS + "/property="):
            try:
                names.add(layout.parse_key(self._prefix, o.key).value("property"))
            except ValueError:
                continue
        return sorted(names)

    async def run(self, properties: Iterable[str] | None = None, *, day: str | None = None,
                  now: datetime | None = None) -> CompactionReport:
        """Compact every closed day of ``properties`` (default: all) that needs it, or only
        ``day``; then move each property's ``through``."""
        now = now or datetime.now(UTC)
        if day is not None:
            layout.date_value(day)
            if not closed(day, now, self._close_delay):
                raise ValueError(f"{day} is not closed yet: a UTC day closes "
                                 f"{self._close_delay} after it ends")
        report = CompactionReport()
        for prop in (list(properties) if properties is not None else await self.properties()):
            await self._property(layout.partition_value("property", prop), day, now, report)
        return report

    async def _property(self, prop: str, only: str | None, now: datetime,
                        report: CompactionReport) -> None:
        listed = await self._store.list(layout.hits_property_prefix(self._prefix, prop))
        days = landing_days(self._prefix, listed)
        manifest_prefix = layout.lake_manifest_prefix(self._prefix, prop)
        compacted = {o.key[len(manifest_prefix) + len("date="):-len(".json")]
                     for o in await self._store.list(manifest_prefix)
                     if o.key.startswith(manifest_prefix + "date=")}
        for d, objects in sorted(days.items()):
            if only is not None and d != only:
                continue
            if not closed(d, now, self._close_delay):
                report.skipped_open += 1
                continue
            manifest = await self._manifest(prop, d) if d in compacted else None
            known = set(manifest["sources"]) if manifest else set()
            if manifest and {o.key for o in objects} <= known:
                report.up_to_date += 1
                continue
            result = await self._day(prop, d, objects, manifest is not None, known)
            report.days.append(result)
            compacted.add(d)
        through = through_date(days, compacted, now, self._close_delay)
        if through is not None:
            key = layout.lake_through_key(self._prefix, prop)
            current = await self._store.get(key)
            if current is None or Through.decode(current).date != through:
                await self._store.put(key, Through(prop, through).encode())
            report.through[prop] = through

    async def _manifest(self, prop: str, d: str) -> dict[str, Any] | None:
        body = await self._store.get(layout.lake_manifest_key(self._prefix, prop, d))
        return json.loads(body) if body is not None else None

    async def _day(self, prop: str, d: str, objects: list[ObjectInfo], has_lake: bool,
                   known: set[str]) -> DayResult:
        started = time.perf_counter()
        lake_key = layout.lake_key(self._prefix, prop, d)
        sources = sorted(o.key for o in objects)
        with tempfile.TemporaryDirectory(dir=self._workdir, prefix="lake-") as tmp:
            out = Path(tmp) / layout.LAKE_OBJECT
            written = await asyncio.to_thread(
                write_day, self._conn, [self._store.url(k) for k in sources],
                self._store.url(lake_key) if has_lake else None, out)
            await self._store.publish(lake_key, out)
        manifest = {
            "format_version": FORMAT_VERSION, "property": prop, "date": d,
            "rows": written.rows, "duplicates": written.duplicates,
            "compacted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "sources": sorted(known | set(sources)),
        }
        await self._store.put(layout.lake_manifest_key(self._prefix, prop, d),
                              json.dumps(manifest, indent=0).encode())
        result = DayResult(prop, d, written.rows, written.landing_rows, written.previous_rows,
                           written.duplicates, len(sources), sum(o.size for o in objects),
                           written.bytes, time.perf_counter() - started)
        log.info("compacted %s %s: %d rows (%d duplicates dropped, %d late) from %d objects",
                 prop, d, result.rows, result.duplicates,
                 max(0, result.rows - result.previous_rows) if has_lake else 0, result.sources)
        return result
