"""A range of local days as UTC instants, and local time in SQL without time-zone functions.

The engines' time-zone support differs (Trino's ``AT TIME ZONE`` and DuckDB's ICU functions
neither spell nor behave alike), so nothing zone-aware runs in SQL. Python (zoneinfo) turns
the range's local midnights into UTC instants, which the SQL compares ``event_time`` with, and
finds the UTC offset changes (DST transitions) inside the range; the local time of a
timestamp is then ``date_add('second', <offset>, t)`` where ``<offset>`` is a constant or a
``CASE`` on ``t`` over those transitions. Both engines compute the same buckets from it.

Local days start at their first local midnight: where a DST change skips midnight the day
starts when the clock jumps (zoneinfo's ``fold=0``). On the day clocks go back, the repeated
hour's hits share one hourly bucket (labelled by the wall clock, as GA does); on the day they
go forward, the skipped hour has no bucket.
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from dataclasses import dataclass

from dashboard.reports.request import DateRange
from dashboard.reports.sql import literal, timestamp

_HOUR = dt.timedelta(hours=1)
_LABEL_STEP = dt.timedelta(minutes=15)  # finer than any offset change since 1970
DAY_FORMAT = "%Y-%m-%d"
HOUR_FORMAT = "%Y-%m-%d %H:00"


@dataclass(frozen=True, slots=True)
class LocalWindow:
    """``[start, end)`` in UTC for the local days of ``dates`` in ``zone``; ``offsets``: the UTC
    offset in seconds from each instant on (the first from ``start``)."""

    dates: DateRange
    zone: str
    start: dt.datetime
    end: dt.datetime
    offsets: tuple[tuple[dt.datetime, int], ...]

    @classmethod
    def of(cls, dates: DateRange, zone: str) -> LocalWindow:
        tz = zoneinfo.ZoneInfo(zone)
        start = _midnight(dates.start, tz)
        end = _midnight(dates.end + dt.timedelta(days=1), tz)
        return cls(dates, zone, start, end, _offsets(start, end, tz))

    @property
    def first_date(self) -> str:
        """The UTC date (``date`` partition) of the first instant."""
        return self.start.strftime(DAY_FORMAT)

    @property
    def last_date(self) -> str:
        return (self.end - dt.timedelta(microseconds=1)).strftime(DAY_FORMAT)

    def events_where(self) -> str:
        """The partition and time conditions on ``events``."""
        return (f"\"date\" BETWEEN {literal(self.first_date)} AND {literal(self.last_date)} "
                f"AND event_time >= {timestamp(self.start)} AND event_time < {timestamp(self.end)}")

    def filtered_where(self) -> str:
        """The same on ``filtered``, whose ``minute`` is ``YYYY-MM-DDTHH:MMZ`` text (ordered as
        the instants are)."""
        return (f"\"date\" BETWEEN {literal(self.first_date)} AND {literal(self.last_date)} "
                f"AND \"minute\" >= {literal(_minute(self.start))} "
                f"AND \"minute\" < {literal(_minute(self.end))}")

    def offset_sql(self, column: str) -> str:
        """The UTC offset, in seconds, of ``column`` (an expression inside the window)."""
        if len(self.offsets) == 1:
            return str(self.offsets[0][1])
        whens = " ".join(f"WHEN {column} < {timestamp(since)} THEN {before}"
                         for (_, before), (since, _) in itertools.pairwise(self.offsets))
        return f"CASE {whens} ELSE {self.offsets[-1][1]} END"

    def local_sql(self, column: str) -> str:
        """``column`` (UTC) as the local wall-clock time."""
        if self.offsets == ((self.start, 0),):
            return column
        return f"date_add('second', {self.offset_sql(column)}, {column})"

    def day_sql(self, column: str) -> str:
        return f"date_format({self.local_sql(column)}, '{DAY_FORMAT}')"

    def hour_sql(self, column: str) -> str:
        return f"date_format({self.local_sql(column)}, '{HOUR_FORMAT}')"

    def days(self) -> tuple[str, ...]:
        """The local days of the window (``YYYY-MM-DD``), in order."""
        return self._labels(DAY_FORMAT, _HOUR)

    def hours(self) -> tuple[str, ...]:
        """The local hours of the window (``YYYY-MM-DD HH:00``), in order, each once."""
        return self._labels(HOUR_FORMAT, _LABEL_STEP)

    def _labels(self, fmt: str, step: dt.timedelta) -> tuple[str, ...]:
        labels: dict[str, None] = {}
        t = self.start
        while t < self.end:
            labels[(t + dt.timedelta(seconds=self.offset_at(t))).strftime(fmt)] = None
            t += step
        return tuple(sorted(labels))

    def offset_at(self, instant: dt.datetime) -> int:
        current = self.offsets[0][1]
        for since, offset in self.offsets:
            if instant >= since:
                current = offset
        return current


def _midnight(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)


def _offset(instant: dt.datetime, tz: zoneinfo.ZoneInfo) -> int:
    delta = instant.astimezone(tz).utcoffset()
    assert delta is not None
    return int(delta.total_seconds())


def _offsets(start: dt.datetime, end: dt.datetime, tz: zoneinfo.ZoneInfo
             ) -> tuple[tuple[dt.datetime, int], ...]:
    """Probed hour by hour from ``start`` (and at the window's last second), each change of
    offset then found to the second."""
    out = [(start, _offset(start, tz))]
    last = end - dt.timedelta(seconds=1)
    t = start
    while t < last:
        probe = min(t + _HOUR, last)
        if _offset(probe, tz) != out[-1][1]:
            lo, hi = t, probe  # lo has the old offset, hi the new one
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + dt.timedelta(seconds=(hi - lo) // dt.timedelta(seconds=2))
                lo, hi = (mid, hi) if _offset(mid, tz) == out[-1][1] else (lo, mid)
            out.append((hi, _offset(hi, tz)))
        t = probe
    return tuple(out)


def _minute(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
