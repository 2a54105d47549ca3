"""The dashboard's DuckDB engine: views over the archive, made again when they go stale.

The ``events`` view bakes in what existed when it was made (lambdalytics.lake): every
property's ``through`` date, and the landing day directories past it; the ``hits``,
``filtered`` and ``lake`` views are empty ones when their table had no objects yet. So the
views are made again on a new connection when a report's :class:`~dashboard.versions.
Observation` shows something they do not know (a compaction moved ``through``, a new landing
day directory in range, a first object in an empty table) or the UTC date changed, and the
new connection is swapped in: queries running on the old one finish there, and it is closed
once the last of them has. Making views lists the archive (blocking I/O), so it runs in a
worker thread, one rebuild at a time.

Over ``s3://`` the views are made over a local copy (:mod:`dashboard.mirror`): before a report
runs, the objects its observation listed are copied, and the views know the copy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from dashboard.engine import DuckDBEngine, EngineUnavailable, QueryResult
from dashboard.mirror import ArchiveMirror, MirrorUnavailable
from dashboard.versions import Observation
from lambdalytics import archive_layout as layout
from lambdalytics import ddl, ga4_export, lake

log = logging.getLogger(__name__)

QUERY_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class BuiltViews:
    """What a connection's views know: made on ``utc_date`` with these ``through`` dates,
    the properties read from landing whole (no ``through``), and, for the others, the landing
    day directories (type, date) past ``through`` they read."""

    utc_date: str
    through: Mapping[str, str]
    whole: frozenset[str]
    dirs: Mapping[str, frozenset[tuple[str, str]]]
    hits: bool
    filtered: bool

    def serves(self, property_id: str, table: str, seen: Observation) -> bool:
        if table == "filtered":
            return self.filtered or not seen.filtered
        if seen.through != self.through.get(property_id):
            return False
        if not seen.landing_dirs:
            return True
        if seen.through is None:
            return property_id in self.whole
        return seen.landing_dirs <= self.dirs.get(property_id, frozenset())


def built_views(utc_date: str, through: Mapping[str, str], globs: list[str],
                has_data: Mapping[str, bool]) -> BuiltViews:
    """Read back from :func:`lambdalytics.lake.landing_globs`'s globs (their form is fixed:
    ``…hits/property=P/*/*/*.json.gz`` or ``…hits/property=P/type=T/date=D/*.json.gz``)."""
    whole: set[str] = set()
    dirs: dict[str, set[tuple[str, str]]] = {}
    for glob in globs:
        tail = glob[glob.rindex(f"{layout.HITS}/property="):].split("/")
        prop = tail[1][len("property="):]
        if tail[2] == "*":
            whole.add(prop)
        else:
            dirs.setdefault(prop, set()).add((tail[2][len("type="):], tail[3][len("date="):]))
    return BuiltViews(utc_date, dict(through), frozenset(whole),
                      {p: frozenset(d) for p, d in dirs.items()},
                      has_data.get(layout.HITS, False), has_data.get(layout.FILTERED, False))


def connect(root: str, *, endpoint_url: str | None, region: str | None
            ) -> tuple[duckdb.DuckDBPyConnection, BuiltViews]:
    """A new connection with the query layer's views over ``root`` (as
    :func:`lambdalytics.lake.create_duckdb_views` makes them, keeping what they baked in)."""
    conn = duckdb.connect()
    try:
        if root.startswith("s3://"):
            fs: Any = ddl.register_s3(conn, endpoint_url=endpoint_url, region=region)
        else:
            from fsspec.implementations.local import LocalFileSystem
            fs = LocalFileSystem()
        today = dt.datetime.now(dt.UTC).date().isoformat()
        has_data = ddl.create_duckdb_views(conn, root)
        through = lake.read_through(fs, root) if has_data[layout.LAKE] else {}
        globs = lake.landing_globs(fs, root, through) if has_data[layout.HITS] else []
        conn.execute(lake.duckdb_events_sql(through, globs))
        conn.execute(ga4_export.view_sql("duckdb"))
    except BaseException:
        conn.close()
        raise
    return conn, built_views(today, through, globs, has_data)


@dataclass(eq=False)
class _Generation:
    conn: duckdb.DuckDBPyConnection
    views: BuiltViews
    engine: DuckDBEngine
    root: str
    on_closed: Callable[[str], None] | None = None
    running: int = 0
    retired: bool = False

    def release(self) -> None:
        self.running -= 1
        if self.retired and self.running == 0:
            self.close()

    def close(self) -> None:
        self.conn.close()
        if self.on_closed is not None:
            self.on_closed(self.root)


@dataclass
class _Pinned:
    """An Engine on one generation (what a report runs on once its views were checked)."""

    generation: _Generation
    name: str = "duckdb"

    async def query(self, sql: str) -> QueryResult:
        gen = self.generation
        gen.running += 1
        try:
            return await gen.engine.query(sql)
        finally:
            gen.release()


class ManagedDuckDB:
    """Gives an up-to-date :class:`DuckDBEngine` for a property's observation."""

    name = "duckdb"

    def __init__(self, root: str, *, endpoint_url: str | None = None, region: str | None = None,
                 timeout_s: float = QUERY_TIMEOUT_S,
                 today: Callable[[], str] = lambda: dt.datetime.now(dt.UTC).date().isoformat(),
                 mirror: ArchiveMirror | None = None) -> None:
        self.root = root
        self.mirror = mirror
        self._endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or \
            os.environ.get("AWS_ENDPOINT_URL")
        self._region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self._timeout_s = timeout_s
        self._today = today
        self._current: _Generation | None = None
        self._lock = asyncio.Lock()
        self.rebuilds = 0

    def _fresh(self, property_id: str, table: str, seen: Observation | None) -> bool:
        gen = self._current
        if gen is None or gen.views.utc_date != self._today():
            return False
        if self.mirror is not None and gen.root != self.mirror.root:  # the copy started over
            return False
        return seen is None or gen.views.serves(property_id, table, seen)

    async def engine_for(self, property_id: str, table: str, seen: Observation | None) -> _Pinned:
        if self.mirror is not None and seen is not None:
            try:
                await self.mirror.ensure(seen.objects)
            except MirrorUnavailable as exc:
                raise EngineUnavailable(str(exc)) from exc
        if not self._fresh(property_id, table, seen):
            async with self._lock:
                if not self._fresh(property_id, table, seen):  # another request rebuilt it
                    await self._rebuild()
        assert self._current is not None
        return _Pinned(self._current)

    async def _rebuild(self) -> None:
        root = self.root if self.mirror is None else self.mirror.root
        try:
            conn, views = await asyncio.to_thread(connect, root, endpoint_url=self._endpoint,
                                                  region=self._region)
        except (OSError, duckdb.IOException, duckdb.HTTPException) as exc:
            raise EngineUnavailable(f"cannot read the archive: {type(exc).__name__}") from exc
        old, self._current = self._current, _Generation(
            conn, views, DuckDBEngine(conn, timeout_s=self._timeout_s), root,
            None if self.mirror is None else self.mirror.discard)
        self.rebuilds += 1
        log.info("dashboard: DuckDB views made (%d properties through a lake date)",
                 len(views.through))
        if old is not None:
            old.retired = True
            if old.running == 0:
                old.close()

    def close(self) -> None:
        if self._current is not None:
            self._current.retired = True
            if self._current.running == 0:
                self._current.close()
            self._current = None
        if self.mirror is not None:
            self.mirror.close()
