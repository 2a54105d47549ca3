"""Where the archive's objects live in S3 (DESIGN.md contract 3): keys, partitions, locations.

Pure functions, used by the archiver to write and by :mod:`lambdalytics.ddl` to describe the
tables, so that the keys written and the tables read cannot drift apart::

    {archive_prefix}hits/property={property_id}/type={type}/date={YYYY-MM-DD}/{segment}.json.gz
    {archive_prefix}filtered/property={property_id or "_unknown"}/date={YYYY-MM-DD}/{segment}.json.gz
    {archive_prefix}rejected/date={YYYY-MM-DD}/{segment}.json.gz
    {archive_prefix}lake/property={property_id}/date={YYYY-MM-DD}/hits.parquet
    {archive_prefix}lake-manifests/property={property_id}/date={YYYY-MM-DD}.json
    {archive_prefix}lake-manifests/property={property_id}/through.json

The lake holds one Parquet object per property and UTC date, written by the compactor
(:mod:`archiver.compact`) and replaced whole; its manifests (what each day was built from, and
the day through which the lake is complete) live beside it, not inside the table's location,
so no engine ever reads them as data.

``segment`` is :func:`segment_name` of the shard and the batch's sequence range, so a replayed
batch rewrites the same keys (the key functions accept any safe ``[A-Za-z0-9][A-Za-z0-9_-]*``
name, so that a caller can check partition values with a placeholder).

Partition values are **validated, never escaped**: a property id or hit type that is not a
lower-case ``[a-z0-9][a-z0-9_-]*`` path segment raises :class:`ValueError`. Escaping would
not help: Athena's ``injected`` projection puts the literal from the query's ``WHERE property
= '…'`` into ``storage.location.template`` verbatim, S3 lifecycle rules match raw prefixes, and
Hive/Trino partition discovery expects lower-case ``key=value`` segments. So an escaped key
would be unreachable from SQL; the archiver sends such a record to ``rejected/`` instead. Ids
cannot start with ``_`` so that no property collides with ``_unknown`` (and Hive-style readers
skip names starting with ``_`` or ``.``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from lambdalytics.hit import HIT_TYPES, Hit

HITS = "hits"
FILTERED = "filtered"
REJECTED = "rejected"
LAKE = "lake"
LAKE_MANIFESTS = "lake-manifests"
SUFFIX = ".json.gz"
LAKE_OBJECT = "hits.parquet"
UNKNOWN_PROPERTY = "_unknown"  # filtered traffic whose claimed id resolved to no property

HITS_PARTITIONS = ("property", "type", "date")
FILTERED_PARTITIONS = ("property", "date")
REJECTED_PARTITIONS = ("date",)
LAKE_PARTITIONS = ("property", "date")

MAX_PARTITION_VALUE = 64

_VALUE = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_SHARD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}\Z")
_SEQUENCE = re.compile(r"[0-9]{1,128}\Z")
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,299}\Z")
_PREFIX_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*\Z")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")


# --- validation -----------------------------------------------------------------------------


def partition_value(name: str, value: str) -> str:
    """``value`` if it is a safe partition value, else ValueError (never escaped; see above)."""
    if not isinstance(value, str) or len(value) > MAX_PARTITION_VALUE or not _VALUE.match(value):
        raise ValueError(
            f"{name} {value!r} is not a partition value: lower-case [a-z0-9][a-z0-9_-]*, "
            f"at most {MAX_PARTITION_VALUE} characters")
    return value


def hit_type(value: str) -> str:
    """A hit type as a partition value: one of :data:`lambdalytics.hit.HIT_TYPES` (the Athena
    table projects exactly these, so any other value would be written where no query looks)."""
    if value not in HIT_TYPES:
        raise ValueError(f"type {value!r} is not one of {', '.join(HIT_TYPES)}")
    return value


def date_value(day: dt.date | str) -> str:
    """``YYYY-MM-DD``. A datetime must be timezone-aware and is taken in UTC; a string must
    already be a valid ISO date."""
    if isinstance(day, dt.datetime):
        if day.tzinfo is None:
            raise ValueError("a naive datetime has no UTC date")
        return day.astimezone(dt.UTC).date().isoformat()
    if isinstance(day, dt.date):
        return day.isoformat()
    if not isinstance(day, str) or not _DATE.match(day):
        raise ValueError(f"date {day!r} is not YYYY-MM-DD")
    try:
        dt.date.fromisoformat(day)
    except ValueError:  # 2026-02-30
        raise ValueError(f"date {day!r} is not a calendar date") from None
    return day


def prefix_value(value: str) -> str:
    """The optional key prefix under which the whole archive lives: "" or ``a/b/`` (ends with
    "/", no empty, "." or ".." parts, no "=" so it never looks like a partition)."""
    if value == "":
        return value
    if not value.endswith("/"):
        raise ValueError(f"archive prefix {value!r} must be empty or end with '/'")
    for part in value[:-1].split("/"):
        if part in (".", "..") or not _PREFIX_PART.match(part):
            raise ValueError(f"archive prefix {value!r}: bad path segment {part!r}")
    return value


def bucket_name(value: str) -> str:
    if not _BUCKET.match(value) or ".." in value:
        raise ValueError(f"{value!r} is not an S3 bucket name")
    return value


def segment_name(shard_id: str, first_sequence_number: str, last_sequence_number: str) -> str:
    """``{shard_id}-{first}-{last}``: the object name of one batch, deterministic from the
    shard and the sequence range it holds."""
    if not _SHARD.match(shard_id):
        raise ValueError(f"shard id {shard_id!r} is not [A-Za-z0-9][A-Za-z0-9_-]*")
    for seq in (first_sequence_number, last_sequence_number):
        if not _SEQUENCE.match(seq):
            raise ValueError(f"sequence number {seq!r} is not decimal digits")
    if int(first_sequence_number) > int(last_sequence_number):
        raise ValueError(f"first sequence number {first_sequence_number} > last {last_sequence_number}")
    return f"{shard_id}-{first_sequence_number}-{last_sequence_number}"


def _segment(value: str) -> str:
    # segment_name() makes the real ones; any safe name is accepted here (callers validate
    # partition values with a placeholder segment). Not "_…" or ".…": Hive-style readers skip those.
    if not isinstance(value, str) or not _SEGMENT.match(value):
        raise ValueError(f"segment {value!r} is not a safe object name [A-Za-z0-9][A-Za-z0-9_-]*")
    return value


# --- keys ---------------------------------------------------------------------------------


def partition_path(pairs: tuple[tuple[str, str], ...]) -> str:
    """``k1=v1/k2=v2/`` from already-validated (name, value) pairs."""
    return "".join(f"{name}={value}/" for name, value in pairs)


def hits_key(archive_prefix: str, property_id: str, type: str, date: dt.date | str,
             segment: str) -> str:
    """The key of one batch of hits of one property, type and UTC event date."""
    return (
        prefix_value(archive_prefix) + HITS + "/"
        + partition_path((
            ("property", partition_value("property_id", property_id)),
            ("type", hit_type(type)),
            ("date", date_value(date)),
        ))
        + _segment(segment) + SUFFIX
    )


def hits_key_for(archive_prefix: str, hit: Hit, segment: str) -> str:
    """The key the hit belongs under: its property, its type and the UTC date of its event time."""
    return hits_key(archive_prefix, hit.property_id, hit.type, hit.event_time, segment)


def filtered_property(property_id: str | None) -> str:
    """The ``property=`` value of a filtered-traffic counter: its property, or ``_unknown``
    (given as None or as :data:`UNKNOWN_PROPERTY` itself)."""
    if property_id is None or property_id == UNKNOWN_PROPERTY:
        return UNKNOWN_PROPERTY
    return partition_value("property_id", property_id)


def filtered_key(archive_prefix: str, property_id: str | None, date: dt.date | str,
                 segment: str) -> str:
    """The key of one batch of filtered-traffic counters (``records.FilteredCount`` lines);
    ``date`` is the UTC date of the counters' minute."""
    return (
        prefix_value(archive_prefix) + FILTERED + "/"
        + partition_path((("property", filtered_property(property_id)), ("date", date_value(date))))
        + _segment(segment) + SUFFIX
    )


def rejected_key(archive_prefix: str, date: dt.date | str, segment: str) -> str:
    """The key of one batch of records that could not be decoded or placed (by arrival date)."""
    return (
        prefix_value(archive_prefix) + REJECTED + "/"
        + partition_path((("date", date_value(date)),))
        + _segment(segment) + SUFFIX
    )


def hits_property_prefix(archive_prefix: str, property_id: str) -> str:
    """``{archive_prefix}hits/property={property_id}/``: every landing object of a property."""
    return (prefix_value(archive_prefix) + HITS + "/"
            + partition_path((("property", partition_value("property_id", property_id)),)))


def lake_key(archive_prefix: str, property_id: str, date: dt.date | str) -> str:
    """The one Parquet object that holds a property's hits of one UTC date."""
    return (
        prefix_value(archive_prefix) + LAKE + "/"
        + partition_path((("property", partition_value("property_id", property_id)),
                          ("date", date_value(date))))
        + LAKE_OBJECT
    )


def lake_manifest_prefix(archive_prefix: str, property_id: str) -> str:
    return (prefix_value(archive_prefix) + LAKE_MANIFESTS + "/"
            + partition_path((("property", partition_value("property_id", property_id)),)))


def lake_manifest_key(archive_prefix: str, property_id: str, date: dt.date | str) -> str:
    """What the lake object of a property's date was built from (the compactor's record)."""
    return lake_manifest_prefix(archive_prefix, property_id) + f"date={date_value(date)}.json"


def lake_through_key(archive_prefix: str, property_id: str) -> str:
    """The date through which a property's lake is complete (the ``events`` view's switch)."""
    return lake_manifest_prefix(archive_prefix, property_id) + "through.json"


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """A key taken apart: which table, its partition values in key order, and the segment."""

    table: str
    partitions: tuple[tuple[str, str], ...]
    segment: str

    def value(self, name: str) -> str:
        return dict(self.partitions)[name]


_TABLE_PARTITIONS = {HITS: HITS_PARTITIONS, FILTERED: FILTERED_PARTITIONS, REJECTED: REJECTED_PARTITIONS}
_LOCATIONS = {**_TABLE_PARTITIONS, LAKE: LAKE_PARTITIONS}


def parse_key(archive_prefix: str, key: str) -> ParsedKey:
    """The inverse of the ``*_key`` functions: ValueError for any key they would not write."""
    prefix_value(archive_prefix)
    if not key.startswith(archive_prefix):
        raise ValueError(f"{key!r} is not under {archive_prefix!r}")
    table, *parts = key[len(archive_prefix):].split("/")
    names = _TABLE_PARTITIONS.get(table)
    if names is None or len(parts) != len(names) + 1 or not parts[-1].endswith(SUFFIX):
        raise ValueError(f"{key!r} is not an archive object key")
    pairs = []
    *parts, name = parts
    for expected, part in zip(names, parts, strict=True):
        pname, sep, value = part.partition("=")
        if pname != expected or not sep:
            raise ValueError(f"{key!r}: expected {expected}=… but found {part!r}")
        pairs.append((pname, value))
    parsed = ParsedKey(table, tuple(pairs), name[: -len(SUFFIX)])
    # rebuilding the key validates every value the same way the writers do
    if table == HITS:
        rebuilt = hits_key(archive_prefix, parsed.value("property"), parsed.value("type"),
                           parsed.value("date"), parsed.segment)
    elif table == FILTERED:
        rebuilt = filtered_key(archive_prefix, parsed.value("property"), parsed.value("date"),
                               parsed.segment)
    else:
        rebuilt = rejected_key(archive_prefix, parsed.value("date"), parsed.segment)
    if rebuilt != key:
        raise ValueError(f"{key!r} is not in canonical form ({rebuilt!r})")
    return parsed


# --- locations (for table definitions) ------------------------------------------------------


def archive_root(bucket: str, archive_prefix: str = "") -> str:
    """``s3://bucket/{archive_prefix}``: the root every table location is under."""
    return f"s3://{bucket_name(bucket)}/{prefix_value(archive_prefix)}"


def table_location(root: str, table: str) -> str:
    """``{root}{table}/`` for a root URI or local directory ending in "/"."""
    if table not in _LOCATIONS:
        raise ValueError(f"no archive table {table!r}")
    if not root.endswith("/"):
        root += "/"
    return f"{root}{table}/"


def hits_location(bucket: str, archive_prefix: str = "") -> str:
    return table_location(archive_root(bucket, archive_prefix), HITS)


def filtered_location(bucket: str, archive_prefix: str = "") -> str:
    return table_location(archive_root(bucket, archive_prefix), FILTERED)


def rejected_location(bucket: str, archive_prefix: str = "") -> str:
    return table_location(archive_root(bucket, archive_prefix), REJECTED)


def partitions_of(table: str) -> tuple[str, ...]:
    """The partition names of a table, in key order."""
    return _LOCATIONS[table]
