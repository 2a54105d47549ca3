"""Stream, table and bucket names and key schemas (DESIGN.md contract 5).

Defined once and used by the local stack (`lambdalytics local`), the compose bootstrap and
the Pulumi program alike, so that every environment has the same shapes. Pure data: the
code that creates these lives in :mod:`lambdalytics.bootstrap` (and in infra/ for AWS).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyAttribute:
    name: str
    type: str = "S"  # DynamoDB scalar type: S, N or B


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    hash_key: KeyAttribute
    range_key: KeyAttribute | None = None
    ttl_attribute: str | None = None
    point_in_time_recovery: bool = True

    @property
    def key_attributes(self) -> tuple[KeyAttribute, ...]:
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)


@dataclass(frozen=True, slots=True)
class StreamSpec:
    name: str
    shard_count: int | None = None  # None = on-demand capacity
    retention_hours: int = 24


@dataclass(frozen=True, slots=True)
class BucketSpec:
    name: str


@dataclass(frozen=True, slots=True)
class AthenaSpec:
    workgroup: str
    database: str  # the Glue database of the archive's tables and views


@dataclass(frozen=True, slots=True)
class Resources:
    stream: StreamSpec
    properties: TableSpec
    rollups: TableSpec
    leases: TableSpec
    recent: TableSpec
    archive: BucketSpec
    athena: AthenaSpec

    @property
    def tables(self) -> tuple[TableSpec, ...]:
        return (self.properties, self.rollups, self.leases, self.recent)


def resources(prefix: str = "lambdalytics", *, shard_count: int | None = None,
              archive_bucket: str | None = None) -> Resources:
    """The names and shapes for one deployment whose resources share ``prefix``."""
    if not prefix or len(prefix) > 40:
        raise ValueError("resource prefix must be 1–40 characters")
    return Resources(
        stream=StreamSpec(f"{prefix}-hits", shard_count=shard_count),
        # properties: items keyed "property#<id>" and one alias item per tracking id,
        # "tid#<UA-…|G-…|firebase app id>" (lambdalytics.properties)
        # and, for cookieless properties, one "salt#<day>" item a day, expiring by TTL
        # (collector.visitor)
        properties=TableSpec(f"{prefix}-properties", KeyAttribute("pk"),
                             ttl_attribute="expires_at"),
        # rollups: per property per minute, write-sharded partition key (archiver)
        rollups=TableSpec(
            f"{prefix}-rollups", KeyAttribute("pk"), KeyAttribute("sk"), ttl_attribute="expires_at"
        ),
        # leases: KCL's lease table shape (reference/aws.md §1.1)
        leases=TableSpec(f"{prefix}-leases", KeyAttribute("leaseKey"), point_in_time_recovery=False),
        # recent hits: optional (archiver `recent_hits_ttl_s`, off by default), one item per
        # hit under a write-sharded "<property>#<minute>#<k>" key, expiring by TTL
        recent=TableSpec(
            f"{prefix}-recent", KeyAttribute("pk"), KeyAttribute("sk"), ttl_attribute="expires_at",
            point_in_time_recovery=False,
        ),
        archive=BucketSpec(archive_bucket or f"{prefix}-archive"),
        # Glue and Athena lower-case names; a hyphen would need quoting in every query
        athena=AthenaSpec(workgroup=prefix, database=prefix.replace("-", "_")),
    )
